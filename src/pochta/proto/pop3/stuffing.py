"""Streaming byte-stuffing and TOP cutting for POP3 multi-line responses (RFC 1939 §3).

Both work chunk by chunk, so a message of any size is sent from its blob file without ever being
held whole in memory, and give the same bytes whatever the chunk boundaries are.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import mmap

__all__ = ["DotStuffer", "TopFilter", "needs_stuffing", "stuff", "stuff_whole", "terminator"]

_TERMINATOR = b".\r\n"
# A line that begins with ".", after the first: the regular expression engine finds it several
# times faster than bytes.find/replace with this two-octet needle (RFC 1939 §3 byte-stuffing).
_DOT_LINE = re.compile(rb"\n\.")


class DotStuffer:
    """RFC 1939 §3: "If any line of the multi-line response begins with the termination octet,
    the line is 'byte-stuffed' by pre-pending the termination octet to that line."

    ``feed`` returns the stuffed bytes of a chunk; ``end`` returns what closes the response: a CRLF
    if the data did not end with one (a message whose last line lacks its line end), then ".CRLF".
    """

    __slots__ = ("_at_line_start", "_last")

    def __init__(self) -> None:
        self._at_line_start = True
        self._last = b"\n"  # the last octet fed; an empty message needs no extra CRLF

    def feed(self, chunk: bytes) -> bytes:
        if not chunk:
            return b""
        stuffed = chunk.replace(b"\n.", b"\n..")
        if self._at_line_start and chunk[0] == 0x2E:  # "."
            stuffed = b"." + stuffed
        self._at_line_start = chunk[-1] == 0x0A
        self._last = chunk[-1:]
        return stuffed

    def end(self) -> bytes:
        if self._last == b"\n":
            return _TERMINATOR
        return b"\r\n" + _TERMINATOR


def needs_stuffing(data: bytes | mmap.mmap, size: int) -> bool:
    """Whether any line of the first ``size`` octets of ``data`` (bytes, or a memory map of a
    message file) begins with "." (RFC 1939 §3). When none does, the stuffed text is the text
    itself and can be sent as it is (``sendfile``)."""
    return size > 0 and (data[0] == 0x2E or _DOT_LINE.search(data, 0, size) is not None)


def terminator(ends_with_line_end: bool) -> bytes:
    """What follows a multi-line response's text: ".CRLF", after a CRLF if the text's last line
    lacks its line end (``DotStuffer.end`` for text sent without a stuffer)."""
    return _TERMINATOR if ends_with_line_end else b"\r\n" + _TERMINATOR


def stuff_whole(data: bytes) -> bytes:
    """A whole message, stuffed and terminated: what ``DotStuffer`` gives for it in one chunk."""
    if not needs_stuffing(data, len(data)):
        return data + terminator(not data or data[-1] == 0x0A)
    stuffer = DotStuffer()
    return stuffer.feed(data) + stuffer.end()


def stuff(lines: list[bytes]) -> bytes:
    """A whole multi-line body from lines without terminators (CAPA, LIST, UIDL), then ".CRLF"."""
    out = bytearray()
    for line in lines:
        if line.startswith(b"."):
            out += b"."
        out += line + b"\r\n"
    out += _TERMINATOR
    return bytes(out)


class TopFilter:
    """RFC 1939 §7 TOP msg n: "the headers of the message, the blank line separating the headers
    from the body, and then the number of lines of the indicated message's body".

    Feed the message in chunks; ``feed`` returns the part to send and ``done`` turns True once
    everything wanted has been returned (the caller may stop reading the blob then); at the end of
    the message call ``flush`` for an octet held back. A message without a blank line is all header.
    """

    __slots__ = ("_body_lines_left", "_done", "_held", "_in_header", "_line_start")

    def __init__(self, body_lines: int) -> None:
        if body_lines < 0:
            raise ValueError("body_lines must not be negative")
        self._body_lines_left = body_lines
        self._in_header = True
        self._line_start = True  # the next octet starts a line
        self._done = False
        self._held = b""  # a CR at the end of a chunk, until we know whether LF follows

    @property
    def done(self) -> bool:
        return self._done

    def flush(self) -> bytes:
        held, self._held = self._held, b""
        return b"" if self._done else held

    def feed(self, chunk: bytes) -> bytes:
        if self._done or not chunk:
            return b""
        chunk = self._held + chunk
        self._held = b""
        if self._in_header and chunk.endswith(b"\r"):
            self._held = b"\r"
            chunk = chunk[:-1]
        position = 0
        n = len(chunk)
        while position < n:
            end = chunk.find(b"\n", position)
            if end < 0:
                self._line_start = False
                return chunk
            if self._in_header:
                if self._line_start and chunk[position:end] in (b"", b"\r"):
                    self._in_header = False  # the blank line ends the header (RFC 5322 §2.1)
                    self._done = self._body_lines_left == 0
            else:
                self._body_lines_left -= 1
                self._done = self._body_lines_left == 0
            position = end + 1
            self._line_start = True
            if self._done:
                return chunk[:position]
        return chunk
