"""Binary content of an APPEND literal8 made storable as a CRLF message, without losing an octet.

RFC 3516 §4.4: a client may APPEND data holding NUL (and any other octet) as a literal8; "the server
MAY modify the CTE of the appended data, however any such transformation MUST NOT result in a loss
of data". pochta stores messages with CRLF line ends (DESIGN data model; bare LF becomes CRLF at
APPEND), which would change a binary body. So each leaf part in an identity encoding (7bit, 8bit,
binary) that holds NUL, is labelled binary, or is not text and holds a bare LF (``needs_base64``) is
re-encoded in base64 and its Content-Transfer-Encoding field says so; everything else is left to
the usual line-end rule.
BINARY[n] then gives back exactly the octets the client sent (RFC 3516 §4.2), and BODY[n] and
BODYSTRUCTURE describe the part "as though the binary-encoded sections are encoded in a CTE
acceptable to the IMAP4 base specification" (RFC 3516 §6).

``storable_pieces`` yields the new message in pieces from any buffer (bytes, or a memory map of a
spool file), so that a large literal8 is converted without a copy of the whole message in memory;
the caller runs the line-end rule over the pieces (base64 lines already end in CRLF).
"""

from __future__ import annotations

import base64
import mmap
import re
from collections.abc import Iterator

from pochta.mime.model import ParsedMessage, Part

__all__ = ["BinaryContentError", "needs_base64", "storable_pieces"]

Buffer = bytes | mmap.mmap  # a message in memory, or a spool file mapped

IDENTITY = frozenset({"7bit", "8bit", "binary"})
_PIECE = 1 << 20  # octets of text copied per piece
_BASE64_IN = 57 * 1024  # 1,024 lines of 76 base64 characters (RFC 2045 §6.8) per piece
_CTE_FIELD = re.compile(rb"(?im)^content-transfer-encoding[ \t]*:.*(?:\r?\n[ \t].*)*(?:\r?\n)?")


class BinaryContentError(ValueError):
    """A part that cannot be made CRLF text without loss (a multipart kept whole by the limits)."""


def _scan(body: memoryview) -> tuple[bool, bool]:
    """(holds NUL, holds a bare LF), a piece at a time (no copy of a large body at once)."""
    crlf = lf = 0
    previous_cr = False
    for offset in range(0, len(body), _PIECE):
        piece = bytes(body[offset : offset + _PIECE])
        if b"\x00" in piece:
            return True, True
        crlf += piece.count(b"\r\n") + (previous_cr and piece.startswith(b"\n"))
        lf += piece.count(b"\n")
        previous_cr = piece.endswith(b"\r")
    return False, lf != crlf


def needs_base64(data: Buffer, part: Part) -> bool:
    """A leaf in an identity encoding that the line-end rule (bare LF -> CRLF) would change or that
    the base specification cannot carry: NUL anywhere; CTE binary (RFC 3516 §6: BODYSTRUCTURE must
    name a CTE of the base specification); a bare LF in a part that is not text (in text it is a
    line end, and CRLF is its canonical form, RFC 2046 §4.1.1). A lone CR is kept as it is."""
    if part.children or part.message is not None or part.encoding not in IDENTITY:
        return False
    body = memoryview(data)[part.body_start : part.body_end]
    if not body:
        return False
    if part.encoding == "binary":
        return True
    nul, bare_lf = _scan(body)
    return nul or (bare_lf and part.type != "text")


def _header_with_base64(header: bytes) -> bytes:
    """The part header with its Content-Transfer-Encoding field (every one; folded lines too)
    replaced by one that says base64; added before the blank line when there was none."""
    field = b"Content-Transfer-Encoding: base64\r\n"
    stripped = _CTE_FIELD.sub(b"", header)
    if stripped in (b"", b"\r\n", b"\n"):
        return field + b"\r\n"  # no other field (or no header at all): the field and the empty line
    # The header ends with its empty line (after the last field's line end): the field goes before.
    empty = b"\r\n" if stripped.endswith(b"\r\n") else b"\n"
    return stripped[: len(stripped) - len(empty)] + field + empty


def _base64_lines(body: memoryview) -> Iterator[bytes]:
    """RFC 2045 §6.8 lines of at most 76 characters, CRLF between them, none after the last."""
    for start in range(0, len(body), _BASE64_IN):
        lines = base64.encodebytes(body[start : start + _BASE64_IN]).replace(b"\n", b"\r\n")
        if start + _BASE64_IN >= len(body):
            # The last line: the CRLF before a delimiter belongs to the delimiter (RFC 2046 §5.1.1).
            lines = lines[:-2]
        yield lines


def storable_pieces(data: Buffer, parsed: ParsedMessage) -> Iterator[bytes] | None:
    """The message with its binary leaves in base64, in order, as pieces; None when no part needs
    it (store the data as it is). Raises BinaryContentError for binary content in a part the MIME
    limits kept whole."""
    converted: list[Part] = []
    for part in parsed.root.walk():
        if needs_base64(data, part):
            if part.opaque:
                # A multipart or message kept whole by the MIME limits: base64 would hide its
                # structure behind a Content-Type that still names it (RFC 2045 §6.4).
                raise BinaryContentError("binary content inside a part beyond the MIME limits")
            converted.append(part)
    if not converted:
        return None
    converted.sort(key=lambda part: part.header_start)
    return _pieces(memoryview(data), converted)


def _pieces(view: memoryview, converted: list[Part]) -> Iterator[bytes]:
    position = 0
    for part in converted:
        yield from _text(view, position, part.header_start)
        yield _header_with_base64(bytes(view[part.header_start : part.body_start]))
        yield from _base64_lines(view[part.body_start : part.body_end])
        position = part.body_end
    yield from _text(view, position, len(view))


def _text(view: memoryview, start: int, end: int) -> Iterator[bytes]:
    for offset in range(start, end, _PIECE):
        yield bytes(view[offset : min(offset + _PIECE, end)])
