"""Header fields a script adds (RFC 5293): which may not be touched, and how a value becomes a
field body that RFC 5322 accepts."""

from __future__ import annotations

import base64

__all__ = ["MAX_LINE", "PROTECTED_FIELDS", "encode_field_value"]

# RFC 5293 §6: never delete these (we do not add them either: they are the trace of delivery).
PROTECTED_FIELDS = frozenset({"received", "auto-submitted"})
MAX_LINE = 998  # RFC 5322 §2.1.1, without the CRLF
_WORD_OCTETS = 45  # of UTF-8 per encoded word: 60 base64 characters, 72 with the =?UTF-8?B?...?=


def encode_field_value(name: str, value: str) -> bytes:
    """``value`` as an RFC 5322 unstructured field body (§4: folded, and RFC 2047 encoded words
    when it is not 7-bit ASCII, so that no line passes ``MAX_LINE``)."""
    # Line breaks in the value become folds (a continuation line starts with white space).
    lines = value.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    flat = lines[0] + "".join(line if line[:1] in (" ", "\t") else " " + line for line in lines[1:])
    if flat.isascii() and all(32 <= ord(char) < 127 or char == "\t" for char in flat):
        return _fold(flat, len(name) + 2).encode("ascii")
    words = []
    raw = flat.encode("utf-8", "surrogateescape")
    start = 0
    while start < len(raw):
        end = min(start + _WORD_OCTETS, len(raw))
        while end < len(raw) and (raw[end] & 0xC0) == 0x80:  # never split a character
            end -= 1
        words.append("=?UTF-8?B?" + base64.b64encode(raw[start:end]).decode("ascii") + "?=")
        start = end
    return "\r\n ".join(words).encode("ascii")


def _fold(text: str, used: int) -> str:
    """Fold at spaces so that lines stay within ``MAX_LINE`` where a space allows it."""
    if used + len(text) <= MAX_LINE:
        return text
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        if current and used + len(current) + 1 + len(word) > MAX_LINE:
            lines.append(current)
            current, used = word, 1
        else:
            current = f"{current} {word}" if current else word
    lines.append(current)
    return "\r\n ".join(lines)
