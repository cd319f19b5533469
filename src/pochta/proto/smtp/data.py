"""Message text: the DATA decoder (dot-unstuffing, end detection), the body checks, the encoder.

Smuggling-proof by construction (CVE-2023-51764 class): the decoder only enters "beginning of line"
after a real CRLF, so only ``<CRLF>.<CRLF>`` ends DATA; ``<LF>.<LF>``, ``<CR>.<CR>``, ``<LF>.<CRLF>``
and ``<CRLF>.<LF>`` are message content. ``BodyScanner`` then flags any bare CR or LF in the content
so that the server rejects the message after its real end (RFC 5321 §2.3.8, §4.1.1.4).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

_CR = 0x0D
_LF = 0x0A
_DOT = 0x2E

# decoder states
_BOL = 0  # at the beginning of a line (after CRLF, or right after the 354)
_DOT_SEEN = 1  # "." at the beginning of a line
_DOT_CR = 2  # ".\r" at the beginning of a line
_MID = 3  # inside a line
_CR_SEEN = 4  # "\r" inside a line


class DataDecoder:
    """Turns the octets after ``354`` into message content; ``feed`` returns (content, consumed).

    RFC 5321 §4.5.2: a line starting with "." has that period removed; the line "." alone ends the
    text. Content is returned as it arrives (never the whole message); octets after the end marker
    are left unconsumed (they are the next pipelined command).
    """

    def __init__(self) -> None:
        self._state = _BOL
        self.done = False

    def feed(self, data: bytes) -> tuple[bytes, int]:
        if self.done:
            return b"", 0
        pieces: list[bytes] = []
        state = self._state
        i, n = 0, len(data)
        while i < n:
            if state == _MID:
                # Inside a line only CRLF leads to the beginning of a line (a bare LF or CR stays
                # inside it), and only a period there matters: the text up to the next CRLF "."
                # is content as it stands, copied in one slice however many lines it spans.
                j = data.find(b"\r\n.", i)
                if j < 0:
                    tail = data[i:] if i else data
                    pieces.append(tail)
                    if tail.endswith(b"\r\n"):
                        state = _BOL
                    elif tail.endswith(b"\r"):
                        state = _CR_SEEN
                    i = n
                    break
                pieces.append(data[i : j + 2])
                state = _DOT_SEEN  # RFC 5321 §4.5.2: the period is removed (or ends the text)
                i = j + 3
                continue
            byte = data[i]
            i += 1
            if state == _BOL:
                if byte == _DOT:
                    state = _DOT_SEEN  # RFC 5321 §4.5.2: the period is removed (or ends the text)
                    continue
                state = _MID
                i -= 1  # the byte is ordinary line content
            elif state == _DOT_SEEN:
                if byte == _CR:
                    state = _DOT_CR
                else:
                    state = _MID  # ".x": the period was stuffing; ".\n" is a bare LF, not an end
                    i -= 1
            elif state == _DOT_CR:
                if byte == _LF:
                    self.done = True  # <CRLF>.<CRLF>: the only end of DATA
                    self._state = _BOL
                    return b"".join(pieces), i
                pieces.append(b"\r")  # ".\r" + other: a bare CR (rejected later by the scanner)
                state = _MID
                i -= 1
            elif state == _CR_SEEN:
                if byte == _LF:
                    pieces.append(b"\n")
                    state = _BOL
                elif byte == _CR:
                    pieces.append(b"\r")  # the previous CR was bare; this one may still end the line
                else:
                    state = _MID
                    i -= 1
        self._state = state
        if len(pieces) == 1:
            return pieces[0], i
        return b"".join(pieces), i


class DataEncoder:
    """Dot-stuffs CRLF message text for DATA (RFC 5321 §4.5.2) one chunk at a time, for a caller
    that reads the message asynchronously; ``end()`` gives the end marker.

    The content should use CRLF line ends; a last line without CRLF gets one (the marker needs it).
    """

    def __init__(self) -> None:
        self._bol = True  # the content so far ends with CRLF (or is empty)
        self._cr = False  # the content so far ends with CR

    def feed(self, chunk: bytes) -> bytes:
        if not chunk:
            return b""
        stuffed = chunk.replace(b"\r\n.", b"\r\n..")  # RFC 5321 §4.5.2: double a leading period
        if self._bol and chunk[:1] == b".":
            stuffed = b"." + stuffed
        elif self._cr and chunk[:2] == b"\n.":
            stuffed = b"\n." + stuffed[1:]  # a CRLF split between two chunks
        self._bol = chunk.endswith(b"\r\n") or (self._cr and chunk == b"\n")
        self._cr = chunk.endswith(b"\r")
        return stuffed

    def end(self) -> bytes:
        return b".\r\n" if self._bol else b"\r\n.\r\n"


def encode_data(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """``DataEncoder`` over an iterable: the stuffed chunks, then the end marker."""
    encoder = DataEncoder()
    for chunk in chunks:
        if chunk:
            yield encoder.feed(chunk)
    yield encoder.end()


class BodyScanner:
    """Checks message content as it streams: line ends, size, header count and size.

    ``error`` names the first problem found; the caller keeps reading to the end of the message
    and then rejects it. Content is never stored here.
    """

    def __init__(self, max_size: int, max_header_count: int, max_header_size: int) -> None:
        self.max_size = max_size
        self.max_header_count = max_header_count
        self.max_header_size = max_header_size
        self.size = 0
        self.error: str | None = None  # "bare" | "size" | "headers"
        self._prev = _LF  # as if a line had just ended
        self._in_header = True
        self._header_size = 0
        self._header_count = 0
        self._line_start = True
        self._blank_cr = False

    def feed(self, data: bytes) -> None:
        if not data:
            return
        self.size += len(data)
        if self.error is None:
            if self.max_size and self.size > self.max_size:
                self.error = "size"  # RFC 1870 §6.3: seen while streaming, rejected at the end
            elif self._bare_line_end(data):
                self.error = "bare"
        if self._in_header:
            self._headers(data)
        self._prev = data[-1]

    def finish(self) -> None:
        if self._prev == _CR and self.error is None:
            self.error = "bare"  # content ending in CR (possible with BDAT): a bare CR

    def _bare_line_end(self, data: bytes) -> bool:
        # RFC 5321 §2.3.8: every CR is followed by LF and every LF follows a CR
        if self._prev == _CR and data[0] != _LF:
            return True
        if data[0] == _LF and self._prev != _CR:
            return True
        pairs = data.count(b"\r\n")
        if data.count(b"\r") != pairs + (data[-1] == _CR):
            return True
        return data.count(b"\n") != pairs + (data[0] == _LF)

    def _headers(self, data: bytes) -> None:
        i, n = 0, len(data)
        while i < n and self._in_header:
            if self._line_start:
                byte = data[i]
                if self._blank_cr:  # the previous piece ended with a CR at the start of a line
                    self._blank_cr = False
                    if byte == _LF:
                        self._in_header = False  # RFC 5322 §2.1: an empty line ends the header section
                        return
                elif byte == _CR:
                    if i + 1 == n:
                        self._blank_cr = True
                        return
                    if data[i + 1] == _LF:
                        self._in_header = False
                        return
                elif byte == _LF:
                    self._in_header = False
                    return
                if byte not in (0x20, 0x09):
                    self._header_count += 1  # RFC 5322 §2.2.3: folded lines start with WSP
                self._line_start = False
            end = data.find(b"\n", i)
            stop = n if end < 0 else end + 1
            self._header_size += stop - i
            self._line_start = end >= 0
            i = stop
            if self.error is None and (
                self._header_count > self.max_header_count or self._header_size > self.max_header_size
            ):
                self.error = "headers"
