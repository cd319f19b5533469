"""Sans-IO receiver of ManageSieve command lines (RFC 5804 §4): atoms, quoted strings and literals.

``receive_data(bytes)`` then ``next_line()`` until it answers ``NeedMoreData``. A line is a sequence
of tokens up to CRLF: ``Atom`` (command names, numbers) and ``bytes`` (strings, quoted or literal).
The command layer (``commands``) gives them meaning; SASL answers are lines of one string.

- Quoted strings hold at most 1024 octets; ``\\"`` and ``\\\\`` are their only escapes; CR, LF and NUL
  are not allowed in them (RFC 5804 §4: quoted, QUOTED-CHAR, SAFE-CHAR).
- Literals: ``{n+}`` CRLF n octets (literal-c2s). ``{n}`` (which the ABNF keeps for the server) is
  taken alike, without a go-ahead: ManageSieve has no continuation response, and a client that sends
  it waits for nothing. After the literal the line continues (more arguments, then CRLF).
- Limits: each piece of a line between literals (``max_line``), one literal (``max_literal``), all
  literals of one line (``max_literal_total``), tokens per line. A literal over its limit is read and
  dropped as it arrives (the client sends it without waiting) and the line is answered with an error;
  one past ``max_discard`` ends the session, since reading it would only burn bandwidth.
- After a syntax error the rest of the line is skipped, literals included, so that the octets of a
  script can never be executed as commands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pochta.proto.buffer import LineTooLong, ReceiveBuffer

__all__ = [
    "MAX_QUOTED",
    "Atom",
    "Line",
    "LineError",
    "NeedMoreData",
    "Receiver",
    "ReceiverLimits",
    "Token",
    "parse_number",
]

MAX_QUOTED = 1024  # RFC 5804 §4: quoted = DQUOTE *1024QUOTED-CHAR DQUOTE
MAX_ATOM = 1024  # RFC 5804 §4: atom = 1*1024ATOM-CHAR
_MAX_NUMBER = 2**32 - 1  # RFC 5804 §4: number, a 32-bit unsigned number


@dataclass(frozen=True)
class Atom:
    """An unquoted token: a command name or a number (``HAVESPACE "x" 1000``)."""

    text: str


Token = Atom | bytes


@dataclass(frozen=True)
class Line:
    """A complete line."""

    tokens: tuple[Token, ...]


@dataclass(frozen=True)
class LineError:
    """A line that could not be read. ``command`` is its first atom when known (the command layer
    picks a response code by it); ``too_big``: a literal over its limit; ``close``: end the session."""

    message: str
    command: str | None = None
    too_big: bool = False
    close: bool = False


@dataclass(frozen=True)
class NeedMoreData:
    pass


NEED_MORE = NeedMoreData()


@dataclass(frozen=True)
class ReceiverLimits:
    max_line: int = 8192
    max_literal: int = 1024 * 1024
    max_literal_total: int = 2 * 1024 * 1024
    max_discard: int = 16 * 1024 * 1024
    max_tokens: int = 16
    max_errors: int = 10


# RFC 5804 §4: ATOM-CHAR = any CHAR except "(" ")" "{" SP CTL DQUOTE "\"
_ATOM = re.compile(rb"[!#-'*-\[\]-z|-~]+")
_LITERAL = re.compile(rb"\{([0-9]{1,20})(\+?)\}\Z")
_QUOTED_SPECIAL = re.compile(rb'["\\\r\n\x00]')


class _Syntax(Exception):
    pass


class Receiver:
    def __init__(self, limits: ReceiverLimits | None = None) -> None:
        self.limits = limits or ReceiverLimits()
        self._buffer = ReceiveBuffer(self.limits.max_line, strict_crlf=False)
        self._tokens: list[Token] = []
        self._literal: int | None = None  # octets of the literal being read
        self._literal_total = 0
        self._discard = 0  # octets of a literal still to drop
        self._failed: LineError | None = None  # the error of the line being skipped
        self._line_bytes = 0
        self.errors = 0  # consecutive errors (the session counts them with ``error_counted``)

    # -- feeding -----------------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        self._buffer.feed(data)

    @property
    def line_open(self) -> bool:
        """A line has begun and its end has not arrived (the line deadline runs). Literal data is
        no line."""
        if self._literal is not None or self._discard:
            return False
        return bool(self._tokens) or self._failed is not None or self._buffer.line_open

    def discard_buffered(self) -> int:
        """STARTTLS (RFC 5804 §2.2): nothing the client pipelined in plaintext is executed."""
        self._reset()
        return self._buffer.discard()

    # -- reading -----------------------------------------------------------------------------------

    def next_line(self) -> Line | LineError | NeedMoreData:
        buffer = self._buffer
        while True:
            if self._discard:
                dropped = buffer.read_up_to(self._discard)
                self._discard -= len(dropped)
                if self._discard:
                    return NEED_MORE
                continue
            if self._literal is not None:
                data = buffer.read_exact(self._literal)
                if data is None:
                    return NEED_MORE
                self._literal = None
                if self._failed is None:
                    self._tokens.append(data)
                continue
            try:
                segment = buffer.next_line()
            except LineTooLong:
                # Its end (perhaps a literal header) is dropped unseen: what follows cannot be told
                # from commands any more, so the session ends.
                name = self._command_name()
                self._reset()
                return LineError("Line too long", name, close=True)
            if segment is None:
                return NEED_MORE
            literal = _LITERAL.search(segment, max(0, len(segment) - 24))
            if self._failed is None:
                self._line_bytes += len(segment)
                try:
                    self._tokenize(segment if literal is None else segment[: literal.start()])
                except _Syntax as exc:
                    self._fail(LineError(str(exc), self._command_name()))
            if literal is not None:
                digits = literal.group(1)
                if len(digits) > 1 and digits[0] == 0x30:
                    self._fail(LineError("Invalid literal length", self._command_name()))
                closing = self._begin_literal(int(digits))
                if closing is not None:
                    return closing
                continue
            # The line ended.
            failed, tokens = self._failed, tuple(self._tokens)
            self._reset()
            if failed is not None:
                return self._count(failed)
            if not tokens:
                return self._count(LineError("Empty command line"))
            self.errors = 0
            return Line(tokens)

    def _begin_literal(self, size: int) -> LineError | None:
        """Read (or drop) the literal announced; an error that ends the session at once."""
        limits = self.limits
        if size > limits.max_discard:
            # Not worth reading: the session ends before the client sends more.
            error = self._failed or LineError("Literal too large", self._command_name(), too_big=True)
            self._reset()
            return LineError(error.message, error.command, error.too_big, close=True)
        if self._failed is not None:
            self._discard = size
            return None
        self._literal_total += size
        if size > limits.max_literal or self._literal_total > limits.max_literal_total:
            self._fail(LineError("Literal too large", self._command_name(), too_big=True))
            self._discard = size
            return None
        if len(self._tokens) >= limits.max_tokens:
            self._fail(LineError("Too many arguments", self._command_name()))
            self._discard = size
            return None
        self._literal = size
        return None

    def _fail(self, error: LineError) -> None:
        if self._failed is None:
            self._failed = error
            self._tokens.clear()

    def _count(self, error: LineError) -> LineError:
        self.errors += 1
        if self.errors >= self.limits.max_errors and not error.close:
            return LineError("Too many errors", error.command, error.too_big, close=True)
        return error

    def _reset(self) -> None:
        self._tokens.clear()
        self._literal = None
        self._literal_total = 0
        self._discard = 0
        self._failed = None
        self._line_bytes = 0

    def _command_name(self) -> str | None:
        first = self._tokens[0] if self._tokens else None
        return first.text.upper() if isinstance(first, Atom) else None

    def _tokenize(self, segment: bytes) -> None:
        if self._line_bytes > self.limits.max_line:
            raise _Syntax("Line too long")
        tokens = self._tokens
        pos, end = 0, len(segment)
        while pos < end:
            char = segment[pos]
            if char == 0x20:
                pos += 1
                continue
            if len(tokens) >= self.limits.max_tokens:
                raise _Syntax("Too many arguments")
            if char == 0x22:  # DQUOTE
                pos = self._quoted(segment, pos + 1)
                continue
            match = _ATOM.match(segment, pos)
            if match is None:
                raise _Syntax(f"Unexpected character {chr(char)!r}" if 32 < char < 127 else "Invalid octet")
            if match.end() - pos > MAX_ATOM:
                raise _Syntax("Atom too long")
            tokens.append(Atom(match.group().decode("ascii")))
            pos = match.end()

    def _quoted(self, segment: bytes, pos: int) -> int:
        value = bytearray()
        while True:
            special = _QUOTED_SPECIAL.search(segment, pos)
            if special is None:
                raise _Syntax("Unterminated quoted string")
            value += segment[pos : special.start()]
            char = segment[special.start()]
            if char == 0x22:
                pos = special.end()
                break
            if char == 0x5C and special.start() + 1 < len(segment) and segment[special.start() + 1] in b'"\\':
                value.append(segment[special.start() + 1])  # RFC 5804 §4: "\" QUOTED-SPECIALS
                pos = special.start() + 2
                continue
            raise _Syntax("Invalid character in quoted string")
        if len(value) > MAX_QUOTED:
            raise _Syntax(f"Quoted string longer than {MAX_QUOTED} octets")
        self._tokens.append(bytes(value))
        if pos < len(segment) and segment[pos] != 0x20:
            raise _Syntax("Expected a space after a quoted string")
        return pos


def parse_number(token: Token) -> int | None:
    """RFC 5804 §4 number: digits without extra leading zeros, below 2**32."""
    if not isinstance(token, Atom) or not token.text.isascii() or not token.text.isdigit():
        return None
    text = token.text
    if len(text) > 1 and text[0] == "0":
        return None
    value = int(text)
    return value if value <= _MAX_NUMBER else None
