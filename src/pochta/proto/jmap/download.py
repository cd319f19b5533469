"""The headers of a blob download (RFC 8620 section 6.2): the Content-Type the client asks for in
``accept``, and Content-Disposition ``attachment`` with the file name in both forms RFC 6266
section 4.3 describes (``filename`` in ASCII, ``filename*`` in UTF-8 by RFC 5987 section 3.2)."""

from __future__ import annotations

import re
from urllib.parse import quote

__all__ = ["DEFAULT_TYPE", "INLINE_TYPES", "content_disposition", "content_type", "download_policy"]

DEFAULT_TYPE = "application/octet-stream"
# RFC 6838 section 4.2 restricted names, with RFC 2045 parameters (a token or a quoted string).
_NAME = r"[A-Za-z0-9!#$&^_.+-]{1,127}"
_PARAMETER = rf"\s*;\s*{_NAME}=(?:{_NAME}|\"[^\"\\\x00-\x1f\x7f]*\")"
_MEDIA_TYPE = re.compile(rf"{_NAME}/{_NAME}(?:{_PARAMETER})*\s*")
# The types a download shows in the browser when asked (``inline``, the webmail's previews):
# raster images and PDF (the browser's own viewer). Never HTML, SVG, XML or anything a browser
# runs script in: those always download.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"})
# RFC 5987 section 3.2.1 attr-char: what a filename* value may hold without percent-encoding.
_ATTR_CHARS = "!#$&+-.^_`|~"


def content_type(accept: str | None) -> str:
    """RFC 8620 section 6.2 ``type``: the media type the client asks for is the Content-Type of the
    response; one that is not a media type (or none) gives application/octet-stream, never a
    header the client could inject into."""
    if accept is None or _MEDIA_TYPE.fullmatch(accept) is None:
        return DEFAULT_TYPE
    return accept.strip()


def download_policy(media_type: str, *, inline: bool) -> str:
    """The Content-Security-Policy of a download: framed only by our own pages; nothing shown
    runs or fetches anything (a PDF shown inline keeps the browser's viewer working: its viewer
    is no part of the document a policy could govern, so only the framing rule is set)."""
    if inline and media_type == "application/pdf":
        return "frame-ancestors 'self'"
    return "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'self'; sandbox"


def content_disposition(name: str, *, inline: bool = False) -> str:
    """``attachment`` (``inline`` when true) with ``name``: an ASCII ``filename`` (other
    characters, quotes, backslashes and controls as ``_``) and, when the name is not plain
    ASCII, ``filename*`` with its UTF-8 octets percent-encoded (RFC 6266 section 4.3: a
    recipient that knows ``filename*`` prefers it)."""
    plain = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in name) or "download"
    header = f'{"inline" if inline else "attachment"}; filename="{plain}"'
    if name and plain != name:
        header += "; filename*=UTF-8''" + quote(name, safe=_ATTR_CHARS)
    return header
