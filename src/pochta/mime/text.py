"""Text for full-text search and the preview: transfer decoding (RFC 2045 §6.7, §6.8), charset
decoding, HTML reduced to text. All work is bounded by the text budget: only as much of a body
as can still contribute is decoded, and every scan is linear (no regex that can backtrack
across the input, no quadratic search on unterminated constructs).
"""

from __future__ import annotations

import binascii
import html
import re

from pochta.mime.charset import decode_bytes
from pochta.mime.encoded_words import decode_b64, decode_encoded_words
from pochta.mime.envelope import Envelope
from pochta.mime.model import Part
from pochta.mime.source import Source

_SURROGATES = re.compile(r"[\ud800-\udfff]")
_RAW_TAGS = re.compile(r"<(script|style)\b", re.I)
_RAW_CLOSE = {name: re.compile(rf"</{name}\s*>", re.I) for name in ("script", "style")}
# Tags that break lines (opening or closing); table cells become line breaks too, which is
# good enough for search and previews.
_BLOCK_TAG = re.compile(
    r"</?(?:br|p|div|tr|td|th|li|h[1-6]|table|blockquote|hr|pre|ul|ol|dl|dt|dd)\b[^<>]*>", re.I
)
_ANY_TAG = re.compile(r"<[^<>]*>")  # "[^<>]" keeps a stray "<" from scanning to the end again
_ODD_SPACE = re.compile(r"[^\S\n]{2,}|[^\S\n ]")  # a whitespace run that is not one SP
_META_CHARSET = re.compile(rb"""<meta[^<>]{0,512}?charset\s*=\s*["']?([A-Za-z0-9_.:-]{1,40})""", re.I)

# Encoded octets read per octet of text budget: QP is at most 3:1; HTML markup past 4x the
# budget is not read, which bounds the work (and the text of such documents rarely matters).
_READ_RATIO = 4
_PREVIEW_WINDOW = 64 * 1024


def scrub(text: str) -> str:
    """Replace lone surrogates (some codecs, e.g. UTF-7, can produce them) with U+FFFD."""
    if text.isascii():  # a flag of the string: no scan
        return text
    return _SURROGATES.sub("\ufffd", text) if _SURROGATES.search(text) else text


def transfer_decode(raw: bytes, encoding: str) -> bytes:
    """Undo a Content-Transfer-Encoding for reading; unknown encodings pass through."""
    if encoding == "base64":  # RFC 2045 §6.8
        return decode_b64(raw)
    if encoding == "quoted-printable":  # RFC 2045 §6.7
        try:
            return binascii.a2b_qp(raw)
        except (binascii.Error, ValueError):
            return raw
    return raw


def _skip_raw_blocks(text: str) -> str:
    """Drop comments and <script>/<style> contents, each found once: linear in the text."""
    out: list[str] = []
    pos = 0
    end = len(text)
    comment = text.find("<!--")
    raw_tag = _RAW_TAGS.search(text)
    while comment >= 0 or raw_tag is not None:
        if raw_tag is None or 0 <= comment < raw_tag.start():
            out.append(text[pos:comment])
            close = text.find("-->", comment + 4)
            pos = close + 3 if close >= 0 else end
        else:
            out.append(text[pos : raw_tag.start()])
            closer = _RAW_CLOSE[raw_tag.group(1).lower()].search(text, raw_tag.end())
            pos = closer.end() if closer is not None else end
            out.append("\n")
        if 0 <= comment < pos:
            comment = text.find("<!--", pos)
        if raw_tag is not None and raw_tag.start() < pos:
            raw_tag = _RAW_TAGS.search(text, pos)
    out.append(text[pos:])
    return "".join(out)


def html_to_text(markup: str) -> str:
    """Readable text of an HTML document (RFC 2854 text/html) for search and preview."""
    text = _skip_raw_blocks(markup)
    text = _BLOCK_TAG.sub("\n", text)
    text = _ANY_TAG.sub("", text)
    if "&" in text:
        text = html.unescape(text)
    return tidy(text)


def tidy(text: str) -> str:
    """Whitespace runs within a line become one space; blank lines go."""
    text = "\n".join(filter(None, map(str.strip, text.split("\n"))))
    if (
        "  " in text or "\t" in text or "\xa0" in text or "\r" in text
    ):  # str.find is fast; a regex scan is not
        text = _ODD_SPACE.sub(" ", text)
    return text


def _html_charset(raw: bytes) -> str | None:
    found = _META_CHARSET.search(raw[:4096])
    return found.group(1).decode("ascii") if found else None


def part_text(data: Source, part: Part, limit: int) -> str:
    """Text of a text/* leaf, reading at most what ``limit`` octets of text can need."""
    is_html = part.subtype == "html"
    window = limit * _READ_RATIO + 4096
    raw = data[part.body_start : min(part.body_end, part.body_start + window)]
    decoded = transfer_decode(raw, part.encoding)
    charset = part.charset
    if is_html and charset is None:
        charset = _html_charset(decoded)
    text = scrub(decode_bytes(decoded, charset))
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    return html_to_text(text) if is_html else text


def collapse(text: str, chars: int) -> str:
    """First ``chars`` characters of ``text`` with whitespace runs made single spaces."""
    if chars <= 0:
        return ""
    window = chars * 4
    while True:
        head = " ".join(text[:window].split())  # str.split and regex \s: the same whitespace
        if len(head) >= chars or window >= len(text):
            return head[:chars].rstrip()
        window *= 4


def _envelope_text(env: Envelope) -> str:
    lines: list[str] = []
    if env.subject:
        lines.append("Subject: " + decode_encoded_words(env.subject))
    for label, addresses in (("From", env.from_), ("To", env.to), ("Cc", env.cc)):
        shown = [
            " ".join(
                filter(None, (decode_encoded_words(a.name) if a.name else None, f"{a.mailbox}@{a.host}"))
            )
            for a in addresses
            if a.host is not None
        ]
        if shown:
            lines.append(f"{label}: {', '.join(shown)}")
    return "\n".join(lines)


def _choose_alternative(part: Part) -> tuple[Part, ...]:
    """RFC 2046 §5.1.4: the alternatives say the same thing; index one, preferring text/plain."""
    for child in part.children:
        if child.type == "text" and child.subtype == "plain" and not child.opaque:
            return (child,)
    return part.children[-1:]


def extract_text(data: Source, root: Part, max_bytes: int, preview_chars: int) -> tuple[str, str, bool]:
    """(body text capped at ``max_bytes`` UTF-8 octets, preview, whether text was cut)."""
    chunks: list[str] = []
    budget = max_bytes
    truncated = False
    preview: str | None = None
    stack: list[Part] = [root]
    while stack:
        part = stack.pop()
        if part.opaque:
            continue
        if part.message is not None:
            if part.message.envelope is not None and budget > 0:
                chunks.append(_envelope_text(part.message.envelope))
                budget -= len(chunks[-1].encode("utf-8"))
            stack.append(part.message)
            continue
        if part.is_multipart:
            kids = _choose_alternative(part) if part.subtype == "alternative" else part.children
            stack.extend(reversed(kids))
            continue
        if part.type != "text":
            continue
        wants_preview = preview is None and not part.is_attachment and part.subtype in ("plain", "html")
        if budget <= 0 and not wants_preview:
            truncated = truncated or part.size > 0
            continue
        text = part_text(data, part, max(budget, _PREVIEW_WINDOW if wants_preview else 0))
        if wants_preview and text.strip():
            preview = collapse(text, preview_chars)
        if budget > 0:
            encoded = text.encode("utf-8")
            if len(encoded) > budget:
                text = encoded[:budget].decode("utf-8", "ignore")
                truncated = True
                budget = 0
            else:
                budget -= len(encoded)
            chunks.append(text)
        elif part.size > 0:
            truncated = True
    body = "\n".join(chunk for chunk in chunks if chunk)
    encoded_body = body.encode("utf-8")
    if len(encoded_body) > max_bytes:  # separators may push it over by a few octets
        body = encoded_body[:max_bytes].decode("utf-8", "ignore")
        truncated = True
    return body, preview or "", truncated
