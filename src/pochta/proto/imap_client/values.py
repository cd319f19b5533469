"""Reading the values of one framed response (RFC 9051 §4): atoms, numbers, quoted strings,
literals, NIL and parenthesized lists, plus the raw text a status response ends with.

Values come out as Python objects: ``Atom`` (a str subclass) for atoms, ``bytes`` for strings
(quoted or literal, never decoded: a message or a UTF-8 name), ``None`` for NIL and ``list`` for a
parenthesized list. Lists are read with an explicit stack (``max_depth``), never by recursion:
the peer controls the nesting.
"""

from __future__ import annotations

from pochta.proto.imap_client.framing import Framed, ResponseError

__all__ = ["Atom", "Cursor", "Value"]


class Atom(str):
    """An atom as the server spelled it (compare with ``.upper()``)."""

    __slots__ = ()


Value = Atom | bytes | None | list["Value"]

# RFC 9051 §9: atom-specials are "(" ")" "{" SP CTL list-wildcards quoted-specials resp-specials.
# We read leniently: "%", "*" and "\" stay in atoms (flags "\Seen", "\*"), "]" ends one unless
# it closes a "[" the atom opened (a FETCH item name such as BODY[HEADER.FIELDS (TO)]<0>).
_ATOM_STOP = frozenset(b'(){ "]') | frozenset(range(0x20)) | {0x7F}


class Cursor:
    """A read position in a ``Framed`` response."""

    def __init__(self, framed: Framed, *, max_depth: int = 64) -> None:
        self._texts = framed.texts
        self._literals = framed.literals
        self._index = 0  # which text
        self._pos = 0  # offset in it
        self.max_depth = max_depth

    @property
    def _text(self) -> bytes:
        return self._texts[self._index]

    def at_end(self) -> bool:
        return self._index == len(self._texts) - 1 and self._pos >= len(self._text)

    def peek(self) -> int | None:
        """The next octet of the current text (None at its end)."""
        return self._text[self._pos] if self._pos < len(self._text) else None

    def error(self, what: str) -> ResponseError:
        shown = self._text[max(0, self._pos - 20) : self._pos + 20]
        return ResponseError(f"{what} at octet {self._pos} of {shown!r}")

    def expect(self, octets: bytes) -> None:
        if not self._text.startswith(octets, self._pos):
            raise self.error(f"expected {octets!r}")
        self._pos += len(octets)

    def skip_space(self) -> bool:
        """Consumes one SP when there is one."""
        if self.peek() == 0x20:
            self._pos += 1
            return True
        return False

    def space(self) -> None:
        self.expect(b" ")

    def rest(self) -> bytes:
        """Everything up to the end of the current text (a status response's human text)."""
        if self._index != len(self._texts) - 1:
            raise self.error("a literal inside response text")
        text = self._text[self._pos :]
        self._pos = len(self._text)
        return text

    def until(self, stop: int) -> bytes:
        """The octets up to ``stop`` (not taken), outside quoted strings: a response code's body."""
        start, pos, text, quoted = self._pos, self._pos, self._text, False
        while pos < len(text):
            octet = text[pos]
            if quoted and octet == 0x5C:  # a backslash escapes the next octet
                pos += 2
                continue
            if octet == 0x22:
                quoted = not quoted
            elif octet == stop and not quoted:
                self._pos = pos
                return text[start:pos]
            pos += 1
        raise self.error(f"no closing {chr(stop)!r}")

    def atom(self) -> Atom:
        text, start, pos, bracket = self._text, self._pos, self._pos, False
        while pos < len(text):
            octet = text[pos]
            if bracket:
                bracket = octet != 0x5D  # "]" closes the section
            elif octet == 0x5B:  # "["
                bracket = True
            elif octet in _ATOM_STOP:
                break
            pos += 1
        if bracket:
            raise self.error("no ']' closing the section")
        if pos == start:
            raise self.error("expected an atom")
        self._pos = pos
        return Atom(text[start:pos].decode("utf-8", "replace"))

    def number(self) -> int:
        text, start, pos = self._text, self._pos, self._pos
        while pos < len(text) and 0x30 <= text[pos] <= 0x39:
            pos += 1
        if pos == start or pos - start > 20:
            raise self.error("expected a number")
        self._pos = pos
        return int(text[start:pos])

    def _quoted(self) -> bytes:
        text, pos = self._text, self._pos + 1
        out = bytearray()
        while pos < len(text):
            octet = text[pos]
            if octet == 0x22:
                self._pos = pos + 1
                return bytes(out)
            if octet == 0x5C:
                pos += 1
                if pos >= len(text) or text[pos] not in b'"\\':
                    raise self.error("bad escape in a quoted string")
                octet = text[pos]
            out.append(octet)
            pos += 1
        raise self.error("unterminated quoted string")

    def _literal(self) -> bytes:
        if self.peek() == 0x7E:  # "~" of a literal8
            self._pos += 1
        close = self._text.find(b"}", self._pos)
        if close != len(self._text) - 1 or self._index >= len(self._literals):
            raise self.error("a literal's announcement not at the end of a line")
        literal = self._literals[self._index]
        self._index += 1
        self._pos = 0
        return literal

    def value(self) -> Value:
        """One value: a string, NIL, an atom or a parenthesized list of values."""
        stack: list[list[Value]] = []
        while True:
            octet = self.peek()
            item: Value
            if octet == 0x28:  # "("
                if len(stack) >= self.max_depth:
                    raise self.error(f"lists nested deeper than {self.max_depth}")
                self._pos += 1
                stack.append([])
                continue
            if octet == 0x29 and stack:  # ")" of an empty list, or after a space-less item
                self._pos += 1
                item = stack.pop()
            elif octet == 0x22:
                item = self._quoted()
            elif octet == 0x7B or (octet == 0x7E and self._text[self._pos + 1 : self._pos + 2] == b"{"):
                item = self._literal()
            elif octet is None:
                raise self.error("expected a value")
            else:
                word = self.atom()
                item = None if word.upper() == "NIL" else word
            # Close every list this item ends, then either a space before the next item or done.
            while True:
                if not stack:
                    return item
                stack[-1].append(item)
                if self.peek() == 0x29:
                    self._pos += 1
                    item = stack.pop()
                    continue
                break
            self.space()

    def values_to_end(self) -> list[Value]:
        """Every value up to the end of the response, separated by single spaces."""
        found: list[Value] = []
        while not self.at_end():
            if found:
                self.space()
            found.append(self.value())
        return found
