"""Header blocks: where a header ends, and its fields as (name, unfolded raw value) pairs.

Works on offsets into the whole message so that nothing is copied: the end of the header is
found with ``bytes.find`` and each field (with its continuation lines) is one anchored regex
match, so the cost is one C scan plus one Python step per field, whatever the line lengths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pochta.mime.charset import decode_utf8_or_latin1
from pochta.mime.source import Source, starts_with

# RFC 5322 §2.2: field-name ":" unstructured, continuation lines start with WSP (§2.2.3 folding).
# The name admits any octet but controls, SP and ":" (8-bit tolerated, RFC 7103 §7.4); WSP before
# the colon is obsolete syntax (RFC 5322 §4.5) and accepted.
_FIELD = re.compile(rb"([^\x00-\x20\x7f:]+)[ \t]*:([^\n]*(?:\n[ \t][^\n]*)*)")


@dataclass(slots=True)
class HeaderBlock:
    fields: list[tuple[str, bytes]]  # (name as written, raw value with folding still in it)
    body_start: int  # offset of the first body octet (after the blank line, if any)
    separator: bool  # a blank line ended the header (RFC 5322 §2.1)
    truncated: bool  # more fields than the limit: the rest were ignored
    stray_lines: bool = False  # lines that are not fields were kept as continuations


def parse_header(
    data: Source, start: int, end: int, max_fields: int, *, mbox_from: bool = False
) -> HeaderBlock:
    """Parse the header of the entity at ``data[start:end]``.

    The header ends at the first empty line (RFC 5322 §2.1). A line that is neither a field nor
    a continuation (RFC 7103 §7.2) is read as a continuation its generator forgot to indent when
    a field follows it, and otherwise as the start of a body that lacks its separator line.
    ``mbox_from`` skips a leading mbox ``From `` line (RFC 4155).
    """
    if start >= end:
        return HeaderBlock([], end, False, False)
    if starts_with(data, b"\r\n", start, end):
        return HeaderBlock([], start + 2, True, False)
    if starts_with(data, b"\n", start, end):
        return HeaderBlock([], start + 1, True, False)
    crlf = data.find(b"\n\r\n", start, end)
    lf = data.find(b"\n\n", start, crlf + 2 if crlf >= 0 else end)  # RFC 7103 §6: bare LF
    if lf >= 0:
        header_end, body_start, separator = lf + 1, lf + 2, True
    elif crlf >= 0:
        header_end, body_start, separator = crlf + 1, crlf + 3, True
    else:
        header_end, body_start, separator = end, end, False

    pos = start
    if mbox_from and starts_with(data, b"From ", pos, header_end):
        newline = data.find(b"\n", pos, header_end)
        pos = newline + 1 if newline >= 0 else header_end
    fields: list[tuple[str, bytes]] = []
    match = _FIELD.match
    stray = False
    while pos < header_end:
        if len(fields) >= max_fields:
            return HeaderBlock(fields, body_start, separator, True, stray)
        found = match(data, pos, header_end)
        if found is None:
            newline = data.find(b"\n", pos, header_end)
            following = newline + 1 if newline >= 0 else header_end
            if fields and following < header_end and match(data, following, header_end) is not None:
                # RFC 7103 §7.2 (third reading): an unindented continuation line.
                name, value = fields[-1]
                fields[-1] = (name, value + b"\n " + data[pos:following].rstrip(b"\r\n"))
                pos, stray = following, True
                continue
            # RFC 7103 §7.2 (second reading): the body starts here, without a separator.
            return HeaderBlock(fields, pos, False, False, stray)
        fields.append((found.group(1).decode("latin-1"), found.group(2)))
        pos = found.end() + 1
    return HeaderBlock(fields, body_start, separator, False, stray)


def unfold(raw: bytes) -> bytes:
    """RFC 5322 §2.2.3: unfolding removes each CRLF that precedes WSP; then trim WSP."""
    if b"\n" in raw:
        raw = raw.replace(b"\r\n", b"").replace(b"\n", b"")
    return raw.strip(b" \t\r")


def field_text(raw: bytes) -> str:
    """Unfolded field value as text: UTF-8 when valid (RFC 6532 §3), else latin-1."""
    return decode_utf8_or_latin1(unfold(raw))


def first_of_each(fields: list[tuple[str, bytes]]) -> dict[str, bytes]:
    """Lower-case field name -> raw value of its first occurrence, for every name: one pass over a
    header serves every lookup of an entity (MIME fields, ENVELOPE, search values)."""
    found: dict[str, bytes] = {}
    for name, value in reversed(fields):
        found[name.lower()] = value
    return found
