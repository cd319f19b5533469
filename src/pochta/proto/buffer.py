"""Sans-IO receive buffer: lines with a length limit, literals and chunks by count.

Shared by the SMTP, LMTP, POP3 and IMAP cores. The connection loop calls ``feed()`` with whatever the
socket gave; the core pulls ``next_line()`` (or ``read_exact()`` / ``read_up_to()`` for IMAP literals and
BDAT chunks) until it answers None / empty, which means "need more data".

Rules:
- A line is returned without its terminator. With ``strict_crlf`` a bare LF raises ``BareLineFeed``
  (RFC 5321 §2.3.8: CR and LF only occur together as CRLF; SMTP smuggling relies on servers that accept
  a lone LF). Otherwise LF and CRLF both end a line. A lone CR inside a line is content either way;
  the DATA layer decides about it.
- ``max_line_length`` counts the octets of a line without its terminator. When a line exceeds it,
  ``next_line()`` raises ``LineTooLong`` once, as soon as the excess is seen (a peer that never sends
  LF still gets an answer), and the rest of that line is then dropped as it arrives, up to and
  including its LF. At most ``max_line_length + 1`` octets of an unfinished line are ever held.
- The LF search resumes where the previous one stopped, so a long line arriving in many small pieces
  costs O(n), not O(n²). Consumed data is cut from the front of a ``bytearray``, which CPython does in
  amortised O(1).
"""

from __future__ import annotations

_LF = 0x0A
_CR = 0x0D


class ReceiveError(Exception):
    """A framing error in the received bytes; the protocol turns it into its own error reply."""


class LineTooLong(ReceiveError):
    """A line exceeded the limit. Raised once per long line; the rest of the line is discarded."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"line longer than {limit} octets")
        self.limit = limit


class BareLineFeed(ReceiveError):
    """A line ended in LF without CR while strict CRLF is on. The line has been consumed."""

    def __init__(self, line: bytes) -> None:
        super().__init__("line ended with a bare LF")
        self.line = line


class ReceiveBuffer:
    def __init__(self, max_line_length: int, *, strict_crlf: bool = True) -> None:
        if max_line_length < 1:
            raise ValueError("max_line_length must be positive")
        self._buf = bytearray()
        self._scan = 0  # no LF in self._buf[:self._scan]
        self._max = max_line_length
        self._discarding = False  # dropping the rest of a line that was too long
        self.strict_crlf = strict_crlf

    @property
    def max_line_length(self) -> int:
        return self._max

    @max_line_length.setter
    def max_line_length(self, value: int) -> None:
        """May change between lines (for example SMTP command lines vs. DATA text lines)."""
        if value < 1:
            raise ValueError("max_line_length must be positive")
        self._max = value

    @property
    def discarding(self) -> bool:
        """True while the remainder of an over-long line is being dropped."""
        return self._discarding

    def feed(self, data: bytes) -> None:
        if self._discarding:
            end = data.find(b"\n")
            if end < 0:
                return
            self._discarding = False
            data = data[end + 1 :]
        self._buf += data

    def next_line(self) -> bytes | None:
        """One line without its terminator, or None until a whole line is buffered.

        Raises LineTooLong or (with strict_crlf) BareLineFeed; the buffer stays usable afterwards.
        """
        buf = self._buf
        end = buf.find(b"\n", self._scan)
        if end < 0:
            self._scan = len(buf)
            held = len(buf) - (1 if buf and buf[-1] == _CR else 0)  # a final CR may be the terminator
            if held > self._max:
                self._buf.clear()
                self._scan = 0
                self._discarding = True
                raise LineTooLong(self._max)
            return None
        crlf = end > 0 and buf[end - 1] == _CR
        content_end = end - 1 if crlf else end
        line = bytes(buf[:content_end])
        del buf[: end + 1]
        self._scan = 0
        if content_end > self._max:
            raise LineTooLong(self._max)
        if not crlf and self.strict_crlf:
            raise BareLineFeed(line)
        return line

    def read_exact(self, n: int) -> bytes | None:
        """Exactly n octets (an IMAP literal, a small BDAT chunk), or None until all are buffered."""
        if n < 0:
            raise ValueError("n must not be negative")
        if len(self._buf) < n:
            return None
        return self._take(n)

    def read_up_to(self, n: int) -> bytes:
        """Up to n octets, as many as are buffered (b"" when none): streams a large literal or chunk."""
        if n < 0:
            raise ValueError("n must not be negative")
        return self._take(min(n, len(self._buf)))

    def pending(self) -> int:
        """Octets buffered and not yet consumed."""
        return len(self._buf)

    @property
    def line_open(self) -> bool:
        """Once ``next_line`` returned None: a line has begun and its end has not arrived (octets
        are held, or the rest of an over-long line is being dropped). For line deadlines."""
        return bool(self._buf) or self._discarding

    def take_all(self) -> bytes:
        """Hands over everything buffered (for example to a new protocol phase)."""
        return self._take(len(self._buf))

    def discard(self) -> int:
        """Drops everything buffered and any over-long line in progress; returns the octets dropped.

        STARTTLS uses this: plaintext pipelined after the command must not be executed inside the TLS
        session (RFC 3207 §4.2, RFC 2595 §3.1, CVE-2011-0411).
        """
        dropped = len(self._buf)
        self._buf.clear()
        self._scan = 0
        self._discarding = False
        return dropped

    def _take(self, n: int) -> bytes:
        data = bytes(self._buf[:n])
        del self._buf[:n]
        self._scan = max(0, self._scan - n)
        return data
