"""Encoding client commands (RFC 9051 §2.2.1, §4): tags, atoms, quoted strings, literals.

``CommandEncoder.encode(name, *args)`` gives an ``Encoded`` command: its tag and the chunks to
send. A synchronizing literal splits a command: ``chunks[i + 1]`` may only be sent once the server
has answered ``chunks[i]`` with a continuation request (RFC 9051 §7.6). With LITERAL+ (RFC 7888
§3) no literal waits, and with LITERAL- only literals up to 4096 octets do not; then a command is
one chunk.

Arguments: ``Raw`` octets go out as given (sequence sets, parenthesized item lists the caller
built), a ``str`` or ``bytes`` is an astring (an atom when it can be one, else a quoted string,
else a literal), ``Mailbox`` is a mailbox name (modified UTF-7, or UTF-8 once UTF8=ACCEPT is
enabled, RFC 6855 §3) and ``Literal`` is always a literal (``binary``: a literal8, RFC 3516 §4.3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pochta.proto.imap.mutf7 import modified_utf7_encode

__all__ = ["CommandEncoder", "Encoded", "Literal", "Mailbox", "Raw", "quote_or_literal"]

LITERAL_MINUS_MAX = 4096  # RFC 7888 §4: a non-synchronizing literal under LITERAL- is at most this

# RFC 9051 §9: ASTRING-CHAR = ATOM-CHAR / resp-specials, i.e. no "(" ")" "{" SP CTL "%" "*" '"' "\".
# "[" and "]" are sent quoted all the same: a bare "[" reads as the start of a section (BODY[...]) to
# many parsers, ours among them (found by hypothesis: b"[" did not read back).
_ATOM = re.compile(rb"[!#$&'+-Z^-z|}~]+\Z")
# A quoted string holds any TEXT-CHAR (no CR, LF or NUL); we quote only 7-bit text here.
_QUOTABLE = re.compile(rb"[\x01-\x09\x0b\x0c\x0e-\x7f]*\Z")


@dataclass(frozen=True)
class Raw:
    octets: bytes


@dataclass(frozen=True)
class Literal:
    data: bytes
    binary: bool = False


@dataclass(frozen=True)
class Mailbox:
    name: str


Arg = Raw | Literal | Mailbox | str | bytes


@dataclass(frozen=True)
class Encoded:
    tag: str
    chunks: tuple[bytes, ...]  # each but the last ends with a synchronizing literal's announcement

    @property
    def size(self) -> int:
        return sum(map(len, self.chunks))


def quote_or_literal(value: bytes, *, utf8: bool = False) -> bytes | Literal:
    """An astring's wire form: an atom, a quoted string, or (CR, LF, NUL, 8-bit without UTF8=ACCEPT)
    a literal."""
    if value and _ATOM.match(value) and value.upper() != b"NIL":
        return value
    if _QUOTABLE.match(value) or (utf8 and b"\0" not in value and b"\r" not in value and b"\n" not in value):
        return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return Literal(value)


class CommandEncoder:
    def __init__(self, *, prefix: str = "p", literal_plus: bool = False, literal_minus: bool = False) -> None:
        self.prefix = prefix
        self.literal_plus = literal_plus
        self.literal_minus = literal_minus
        self.utf8 = False  # set once the server ENABLEd UTF8=ACCEPT
        self._counter = 0

    def next_tag(self) -> str:
        self._counter += 1
        return f"{self.prefix}{self._counter}"

    def _waits(self, literal: Literal) -> bool:
        if self.literal_plus:
            return False
        return not (self.literal_minus and len(literal.data) <= LITERAL_MINUS_MAX)

    def encode(self, name: str, *args: Arg) -> Encoded:
        tag = self.next_tag()
        chunks: list[bytes] = []
        current = bytearray(f"{tag} {name}".encode("ascii"))
        for arg in args:
            current += b" "
            piece: bytes | Literal
            if isinstance(arg, Raw):
                piece = arg.octets
            elif isinstance(arg, Literal):
                piece = arg
            elif isinstance(arg, Mailbox):
                text = arg.name.encode() if self.utf8 else modified_utf7_encode(arg.name).encode("ascii")
                piece = quote_or_literal(text, utf8=self.utf8)
            else:
                piece = quote_or_literal(arg.encode() if isinstance(arg, str) else arg, utf8=self.utf8)
            if isinstance(piece, bytes):
                current += piece
                continue
            waits = self._waits(piece)
            # RFC 9051 §4.3 literal, RFC 7888 §3 "{n+}", RFC 3516 §4.3 literal8 "~{n}".
            current += b"~" if piece.binary else b""
            current += b"{%d%s}\r\n" % (len(piece.data), b"" if waits else b"+")
            if waits:
                chunks.append(bytes(current))
                current = bytearray()
            current += piece.data
        current += b"\r\n"
        chunks.append(bytes(current))
        return Encoded(tag, tuple(chunks))
