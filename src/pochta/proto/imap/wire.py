"""IMAP wire syntax: the argument cursor the command parsers read from, and the string writer.

A received command is a list of line pieces with the literals between them (``Assembled``): the
receiver has cut each ``{n}`` / ``{n+}`` / ``~{n}`` marker off the end of its line and read the octets
that follow. The ``Cursor`` reads RFC 9051 §9 tokens across them: at the end of a piece that is followed
by a literal, a string-valued token *is* that literal.

The writer side (``astring``, ``string``, ``nstring``) is the one owner of quoting rules for responses
and client commands: a quoted string when that is safe, otherwise a literal (RFC 9051 §4.3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pochta.proto.imap.sequence import SequenceSet, SequenceSetError


class ParseError(ValueError):
    """A syntax error in a command: answered with a tagged BAD (``code`` is a response code atom)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True, slots=True)
class LiteralData:
    """The octets of one literal, kept in the chunks they arrived in (never copied into one piece).

    A message given to APPEND may be megabytes long; the handler writes ``chunks`` to the blob file
    one by one. ``bytes(literal)`` joins them (small literals: strings, names, passwords).

    ``streamed``: the receiver handed the octets to the handler as ``LiteralChunk`` events while they
    arrived (``Limits.stream_over``) and keeps none of them; ``index`` tells which literal of the
    command it is, ``size`` how many octets there were.
    """

    chunks: tuple[bytes, ...]
    binary: bool = False  # literal8 (RFC 3516 §4.2 / RFC 9051 §4.3)
    streamed: bool = False
    index: int = 0
    streamed_size: int = 0

    @classmethod
    def of(cls, data: bytes, *, binary: bool = False) -> LiteralData:
        return cls((data,), binary)

    @property
    def size(self) -> int:
        return self.streamed_size if self.streamed else sum(len(c) for c in self.chunks)

    def __bytes__(self) -> bytes:
        if self.streamed:
            raise ValueError("a streamed literal was delivered in LiteralChunk events")
        return self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)

    def __eq__(self, other: object) -> bool:
        # Equal when the same octets arrived, however they were chunked.
        if not isinstance(other, LiteralData):
            return NotImplemented
        if self.streamed or other.streamed:
            return (self.streamed, self.index, self.size, self.binary) == (
                other.streamed, other.index, other.size, other.binary
            )  # fmt: skip
        return self.binary == other.binary and bytes(self) == bytes(other)

    def __hash__(self) -> int:
        return hash((self.binary, self.size))


@dataclass(slots=True)
class Assembled:
    """One whole command as received: ``len(lines) == len(literals) + 1``."""

    lines: list[bytes] = field(default_factory=list)
    literals: list[LiteralData] = field(default_factory=list)


def _class(chars: bytes) -> bytes:
    return b"".join(b"\\x%02x" % c for c in chars)


# RFC 9051 §9: atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards / quoted-specials / resp-specials
_ATOM_SPECIALS = b'(){ %*"\\]'
_ATOM_CHARS = bytes(c for c in range(0x21, 0x7F) if c not in _ATOM_SPECIALS)
_ASTRING_CHARS = _ATOM_CHARS + b"]"  # ASTRING-CHAR = ATOM-CHAR / resp-specials
_LIST_CHARS = _ASTRING_CHARS + b"%*"  # list-char = ATOM-CHAR / list-wildcards / resp-specials
_TAG_CHARS = bytes(c for c in _ASTRING_CHARS if c != ord("+"))  # tag: ASTRING-CHAR except "+"
ATOM_RE = re.compile(b"[" + _class(_ATOM_CHARS) + b"]+")
ASTRING_RE = re.compile(b"[" + _class(_ASTRING_CHARS) + b"]+")
LIST_RE = re.compile(b"[" + _class(_LIST_CHARS) + b"]+")
TAG_RE = re.compile(b"[" + _class(_TAG_CHARS) + b"]+")
# RFC 9051 §9 quoted: QUOTED-CHAR is a TEXT-CHAR except quoted-specials, or "\" quoted-specials.
_QUOTED_RE = re.compile(rb'"((?:[^"\\\r\n]|\\["\\])*)"')
_UNQUOTE_RE = re.compile(rb"\\(.)")
_NUMBER_RE = re.compile(rb"[0-9]+")
# RFC 4466 tagged-ext-simple (sequence-set / number / number64) and other unquoted atoms in ext values.
EXT_ATOM_RE = re.compile(rb'\\?[^\x00-\x20()"{\x7f\\]+')  # a leading "\" for flags (USE (\Sent))
MAX_NUMBER64 = 0x7FFFFFFFFFFFFFFF


class Cursor:
    """Reads tokens from an assembled command; every method raises ParseError on a mismatch."""

    __slots__ = ("_lines", "_literals", "_piece", "_pos", "utf8")

    def __init__(self, assembled: Assembled, *, utf8: bool = False) -> None:
        self._lines = assembled.lines
        self._literals = assembled.literals
        self._piece = 0
        self._pos = 0
        self.utf8 = utf8  # 8-bit (UTF-8) allowed in quoted strings (RFC 9051 §4.3, RFC 6855 §3)

    # --- position ---------------------------------------------------------------------------------
    @property
    def _line(self) -> bytes:
        return self._lines[self._piece]

    def at_literal(self) -> bool:
        return self._pos == len(self._line) and self._piece < len(self._literals)

    def at_end(self) -> bool:
        return self._piece == len(self._literals) and self._pos == len(self._line)

    def peek(self) -> int | None:
        """The next octet of the current line piece, or None at a literal or the end."""
        line = self._line
        return line[self._pos] if self._pos < len(line) else None

    def peek_is(self, data: bytes) -> bool:
        """Whether the current piece continues with ``data`` (ASCII case-insensitive)."""
        end = self._pos + len(data)
        return self._line[self._pos : end].upper() == data.upper()

    def peek_keyword(self, word: bytes) -> bool:
        """``word`` follows as a whole token (followed by SP, parenthesis, bracket or the end)."""
        if not self.peek_is(word):
            return False
        end = self._pos + len(word)
        line = self._line
        return end == len(line) or line[end] in b" ()[]<"

    def skip(self, n: int) -> None:
        self._pos += n

    def end(self) -> None:
        if not self.at_end():
            raise ParseError("Unexpected extra arguments")

    # --- fixed tokens -----------------------------------------------------------------------------
    def sp(self) -> None:
        if self.peek() != 0x20:
            raise ParseError("Expected a space")
        self._pos += 1

    def maybe_sp(self) -> bool:
        if self.peek() == 0x20:
            self._pos += 1
            return True
        return False

    def expect(self, data: bytes) -> None:
        if not self.peek_is(data):
            raise ParseError(f"Expected {data.decode('ascii')}")
        self._pos += len(data)

    def maybe(self, data: bytes) -> bool:
        if self.peek_is(data):
            self._pos += len(data)
            return True
        return False

    def match_regex(self, regex: re.Pattern[bytes]) -> re.Match[bytes] | None:
        """Match ``regex`` at the position in the current piece; consumes it on success."""
        m = regex.match(self._line, self._pos)
        if m:
            self._pos = m.end()
        return m

    def _match(self, regex: re.Pattern[bytes], what: str) -> bytes:
        m = regex.match(self._line, self._pos)
        if not m:
            raise ParseError(f"Expected {what}")
        self._pos = m.end()
        return m.group()

    # --- tokens -----------------------------------------------------------------------------------
    def atom(self) -> bytes:
        return self._match(ATOM_RE, "an atom")

    def keyword(self) -> str:
        """An atom, upper-cased (command names, options, attribute names)."""
        return self.atom().decode("ascii").upper()

    def tag(self) -> bytes:
        return self._match(TAG_RE, "a tag")

    def number(self, *, nonzero: bool = False, limit: int = 0xFFFFFFFF) -> int:
        """RFC 9051 §9 number (32 bit), nz-number, or number64 with ``limit=MAX_NUMBER64``."""
        text = self._match(_NUMBER_RE, "a number")
        value = int(text) if len(text) <= 20 else limit + 1
        if value > limit or (nonzero and value == 0):
            raise ParseError("Number out of range")
        return value

    def literal(self) -> LiteralData:
        if not self.at_literal():
            raise ParseError("Expected a literal")
        lit = self._literals[self._piece]
        self._piece += 1
        self._pos = 0
        return lit

    def quoted(self) -> bytes:
        m = _QUOTED_RE.match(self._line, self._pos)
        if not m:
            raise ParseError("Invalid quoted string")
        self._pos = m.end()
        raw = m.group(1)
        if not raw.isascii():
            # RFC 9051 §4.3 / RFC 6855 §3: 8-bit only after ENABLE IMAP4rev2 / UTF8=ACCEPT, as UTF-8.
            if not self.utf8:
                raise ParseError("8-bit characters in a quoted string")
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ParseError("Invalid UTF-8 in a quoted string") from None
        return _UNQUOTE_RE.sub(rb"\1", raw) if b"\\" in raw else raw

    def string(self) -> bytes:
        if self.at_literal():
            lit = self.literal()
            if lit.streamed:
                raise ParseError("Literal too big for a string", "TOOBIG")
            return bytes(lit)
        if self.peek() == 0x22:
            return self.quoted()
        raise ParseError("Expected a string")

    def astring(self) -> bytes:
        if self.at_literal() or self.peek() == 0x22:
            return self.string()
        return self._match(ASTRING_RE, "a string")

    def nstring(self) -> bytes | None:
        if self.peek_keyword(b"NIL"):
            self._pos += 3
            return None
        return self.string()

    def list_mailbox(self) -> bytes:
        """RFC 9051 §9 list-mailbox = 1*list-char / string."""
        if self.at_literal() or self.peek() == 0x22:
            return self.string()
        return self._match(LIST_RE, "a mailbox pattern")

    def sequence_set(self) -> SequenceSet:
        m = EXT_ATOM_RE.match(self._line, self._pos)
        if not m:
            raise ParseError("Expected a sequence set")
        try:
            value = SequenceSet.parse(m.group())
        except SequenceSetError as exc:
            raise ParseError(str(exc)) from None
        self._pos = m.end()
        return value

    def ext_atom(self) -> bytes:
        return self._match(EXT_ATOM_RE, "a value")

    def flag(self) -> str:
        """RFC 9051 §9 flag = "\\" atom / atom (keywords); returned as written."""
        prefix = b"\\" if self.maybe(b"\\") else b""
        return (prefix + self.atom()).decode("ascii")

    def flag_list(self) -> tuple[str, ...]:
        """RFC 9051 §9 flag-list = "(" [flag *(SP flag)] ")"."""
        self.expect(b"(")
        flags: list[str] = []
        if not self.maybe(b")"):
            flags.append(self.flag())
            while not self.maybe(b")"):
                self.sp()
                flags.append(self.flag())
        return tuple(flags)


# --- writer ---------------------------------------------------------------------------------------

MAX_QUOTED = 1024  # longer strings go out as literals (pochta.mime.imapform writes through here)
_NEEDS_LITERAL = re.compile(rb"[\x00\r\n]")
_ASTRING_FULL = re.compile(ASTRING_RE.pattern + rb"\Z")


def string(data: bytes, *, utf8: bool = False, literal_plus: bool = False) -> bytes:
    """RFC 9051 §4.3 string for any octets but NUL: quoted when safe, else a literal.

    Quoted when it has no CR, LF or NUL, is at most MAX_QUOTED octets and is 7-bit (or valid UTF-8 in
    a UTF-8 session). ``literal_plus`` writes ``{n+}`` (a client sending to a LITERAL+ server). NUL
    cannot be carried by a string at all (CHAR8 excludes it): ValueError; send such octets as literal8
    where the grammar allows one (``literal8``).
    """
    if b"\x00" in data:
        raise ValueError("NUL cannot be sent in an IMAP string")
    if (
        len(data) <= MAX_QUOTED
        and not _NEEDS_LITERAL.search(data)
        and (data.isascii() or _utf8_ok(data, utf8))
    ):
        if b"\\" in data or b'"' in data:
            data = data.replace(b"\\", b"\\\\").replace(b'"', b'\\"')
        return b'"' + data + b'"'
    return literal(data, literal_plus=literal_plus)


def _utf8_ok(data: bytes, utf8: bool) -> bool:
    if not utf8:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def literal(data: bytes, *, literal_plus: bool = False) -> bytes:
    return (b"{%d+}\r\n" if literal_plus else b"{%d}\r\n") % len(data) + data


def literal8(data: bytes) -> bytes:
    """RFC 3516 §4.2 literal8: any octets, NUL included (BINARY fetch results, APPEND of binary)."""
    return b"~{%d}\r\n" % len(data) + data


def literal_prefix(size: int, *, binary: bool = False) -> bytes:
    """The ``{n}\\r\\n`` / ``~{n}\\r\\n`` prefix for a literal the handler streams itself."""
    return (b"~{%d}\r\n" if binary else b"{%d}\r\n") % size


def astring(data: bytes, *, utf8: bool = False, literal_plus: bool = False) -> bytes:
    """An atom when every octet is an ASTRING-CHAR (and it is not NIL), else a string."""
    if data and _ASTRING_FULL.match(data) and data.upper() != b"NIL":
        return data
    return string(data, utf8=utf8, literal_plus=literal_plus)


def nstring(data: bytes | None, *, utf8: bool = False) -> bytes:
    return b"NIL" if data is None else string(data, utf8=utf8)
