"""Cutting a server's byte stream into whole IMAP responses (RFC 9051 §2.2.2, §4.3).

A response is one line, except that a line ending in a literal's announcement (``{n}`` or, for
BINARY, ``~{n}``) goes on after exactly ``n`` octets. ``ResponseFramer`` collects those pieces and
hands out ``Framed`` responses: the text pieces and the literals between them, in order. It holds
at most one line (``max_line`` octets, CRLF included), one literal (``max_literal``) and one
response (``max_response``, its lines and literals together) beyond what it has handed out,
whatever the peer sends; anything larger is a ``ResponseError``, and the framer stays broken after
one (the stream cannot be resynchronised).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Framed", "ResponseError", "ResponseFramer"]

# RFC 9051 §4.3: literal = "{" number64 ["+"] "}" CRLF; RFC 3516 §4.3 literal8 = "~{" number "}".
# A server never sends the "+" (a client's LITERAL+), but reading it costs nothing.
_LITERAL_AT_END = re.compile(rb"~?\{([0-9]{1,20})\+?\}\Z")


class ResponseError(ValueError):
    """The server sent something that is not an IMAP response, or broke a limit of ours."""


@dataclass(frozen=True)
class Framed:
    """One whole response: ``texts[i]`` is followed by ``literals[i]`` (``len(texts) ==
    len(literals) + 1``); texts exclude the CRLF."""

    texts: tuple[bytes, ...]
    literals: tuple[bytes, ...]

    @property
    def size(self) -> int:
        return sum(map(len, self.texts)) + sum(map(len, self.literals))


class ResponseFramer:
    def __init__(
        self, *, max_line: int = 65536, max_literal: int = 64 * 1024 * 1024, max_response: int | None = None
    ) -> None:
        self.max_line = max_line
        self.max_literal = max_literal
        self.max_response = max_literal + 1024 * 1024 if max_response is None else max_response
        self._held = 0  # octets of the response being collected
        self._buffer = bytearray()
        self._texts: list[bytes] = []
        self._literals: list[bytes] = []
        self._literal_size: int | None = None  # octets of the literal being read
        self._broken: ResponseError | None = None

    def receive_data(self, data: bytes) -> None:
        if self._broken is not None:
            raise self._broken
        self._buffer += data

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def next_response(self) -> Framed | None:
        """The next whole response, or None when more data is needed."""
        if self._broken is not None:
            raise self._broken
        try:
            return self._next()
        except ResponseError as exc:
            self._broken = exc
            raise

    def _next(self) -> Framed | None:
        while True:
            if self._literal_size is not None:
                if len(self._buffer) < self._literal_size:
                    return None
                self._held += self._literal_size
                self._literals.append(bytes(self._buffer[: self._literal_size]))
                del self._buffer[: self._literal_size]
                self._literal_size = None
            end = self._buffer.find(b"\r\n")
            if end < 0:
                if len(self._buffer) > self.max_line:
                    raise ResponseError(f"response line longer than {self.max_line} octets")
                return None
            if end + 2 > self.max_line:
                raise ResponseError(f"response line longer than {self.max_line} octets")
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 2]
            self._texts.append(line)
            self._held += len(line)
            if self._held > self.max_response:
                raise ResponseError(f"response longer than {self.max_response} octets")
            announced = _LITERAL_AT_END.search(line)
            if announced is None:
                framed = Framed(tuple(self._texts), tuple(self._literals))
                self._texts, self._literals, self._held = [], [], 0
                return framed
            size = int(announced.group(1))
            if size > self.max_literal:
                raise ResponseError(f"literal of {size} octets, more than the limit of {self.max_literal}")
            if self._held + size > self.max_response:
                raise ResponseError(f"response longer than {self.max_response} octets")
            self._literal_size = size
