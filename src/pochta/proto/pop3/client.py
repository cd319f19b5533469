"""The POP3 client core (the fetcher of external accounts): commands out, responses in, sans-IO.

Each method that sends a command returns its bytes and remembers which answer is expected, so the
responses to pipelined commands (RFC 2449 §6.6 PIPELINING) are matched to them in order::

    client = Pop3Client()
    client.receive_data(greeting_bytes)
    client.next_event()                     # Greeting(text=...)
    write(client.capa())                    # -> Capabilities(...)
    write(client.stls())                    # -> Ok("STLS"); the caller starts TLS, then capa() again
    write(client.user(name) + client.pass_(password))   # Ok("USER"), Ok("PASS") or Err(...)
    write(client.uidl())                    # -> UniqueIds({1: "abc", ...})
    write(client.retr(1))                   # -> Message(1, data)  (dot-unstuffed, CRLF lines)
    write(client.dele(1) + client.quit())   # Ok("DELE"), Ok("QUIT"): deletions happen at QUIT

Nothing here reads or writes a socket (``pochta.fetch.pop3_remote`` does), so every exchange can be
tested from transcripts, whole and byte by byte.
"""

from __future__ import annotations

import base64
import re
from collections import deque
from dataclasses import dataclass, field

from pochta.proto.buffer import LineTooLong, ReceiveBuffer

__all__ = [
    "NEED_DATA",
    "Capabilities",
    "Err",
    "Greeting",
    "Listing",
    "Message",
    "NeedData",
    "Ok",
    "Pop3Client",
    "Pop3ClientError",
    "Pop3Response",
    "UniqueIds",
]

# RFC 1939 §3: a status line is at most 512 octets with its CRLF; servers write longer text, so be
# generous with status lines and check the size of multi-line data separately.
MAX_STATUS_LINE = 4096
DEFAULT_MAX_MESSAGE = 64 * 1024 * 1024
# RFC 2449 §8: "[CODE/SUB]" at the start of the text of a -ERR (and +OK) line.
_RESP_CODE = re.compile(rb"\[([A-Za-z0-9/-]+)\]")


class Pop3ClientError(Exception):
    """The server sent something that is not POP3, or more than a limit allows."""


class NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = NeedData()  # next_event(): feed more bytes with receive_data()


@dataclass(frozen=True)
class Greeting:
    """The server's +OK greeting (RFC 1939 §4). ``timestamp``: the APOP banner ``<...>`` if any."""

    text: str
    timestamp: str | None = None


@dataclass(frozen=True)
class Ok:
    command: str  # USER, PASS, AUTH, STLS, DELE, QUIT, NOOP, RSET, STAT
    text: str


@dataclass(frozen=True)
class Err:
    """A -ERR answer. ``code``: its RFC 2449 §8 response code, upper case ("AUTH", "IN-USE",
    "LOGIN-DELAY", "SYS/TEMP", "SYS/PERM"), or "" when none was given."""

    command: str
    text: str
    code: str = ""


@dataclass(frozen=True)
class Capabilities:
    """RFC 2449 §5 CAPA: capability name (upper case) -> its arguments."""

    entries: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        return name.upper() in self.entries

    @property
    def sasl(self) -> tuple[str, ...]:
        return tuple(m.upper() for m in self.entries.get("SASL", ()))


@dataclass(frozen=True)
class Listing:
    """RFC 1939 §5 LIST without an argument: message number -> size in octets."""

    sizes: dict[int, int]


@dataclass(frozen=True)
class UniqueIds:
    """RFC 1939 §7 UIDL without an argument: message number -> unique-id."""

    ids: dict[int, str]


@dataclass(frozen=True)
class Message:
    """RETR (``lines`` None) or TOP: the message text as sent, dot-unstuffed, each line ending CRLF."""

    number: int
    data: bytes
    lines: int | None = None


Pop3Response = Greeting | Ok | Err | Capabilities | Listing | UniqueIds | Message


@dataclass(frozen=True)
class _Expected:
    command: str
    multiline: bool = False  # +OK is followed by lines up to "." (RFC 1939 §3)
    number: int = 0
    lines: int | None = None


class Pop3Client:
    """One connection's client state: what answers are due, and the bytes received so far."""

    def __init__(self, *, max_message_size: int = DEFAULT_MAX_MESSAGE) -> None:
        self.max_message_size = max_message_size
        self._buffer = ReceiveBuffer(MAX_STATUS_LINE, strict_crlf=False)
        self._expect: deque[_Expected] = deque([_Expected("GREETING")])
        self._status: bytes | None = None  # the +OK line of the multi-line answer being read
        self._body: list[bytes] = []
        self._body_size = 0
        self.closed = False

    # --- commands ----------------------------------------------------------------------------------

    def _command(self, expected: _Expected, line: str) -> bytes:
        if self.closed:
            raise Pop3ClientError("the connection is closed")
        if "\r" in line or "\n" in line:
            raise Pop3ClientError("a line break in a command argument")
        self._expect.append(expected)
        return line.encode("utf-8") + b"\r\n"

    @property
    def waiting(self) -> int:
        """Answers still due."""
        return len(self._expect)

    def capa(self) -> bytes:
        return self._command(_Expected("CAPA", multiline=True), "CAPA")  # RFC 2449 §5

    def stls(self) -> bytes:
        return self._command(_Expected("STLS"), "STLS")  # RFC 2595 §4

    def user(self, name: str) -> bytes:
        return self._command(_Expected("USER"), f"USER {_argument(name)}")  # RFC 1939 §7

    def pass_(self, password: str) -> bytes:
        # RFC 1939 §7: "the argument ... is the server/mailbox-specific password" (the rest of the
        # line: it may contain spaces).
        return self._command(_Expected("PASS"), f"PASS {password}")

    def auth_plain(self, username: str, password: str, authzid: str = "") -> bytes:
        """RFC 5034 section 4 AUTH with RFC 4616 PLAIN and its initial response on the command line."""
        token = base64.b64encode(f"{authzid}\0{username}\0{password}".encode()).decode("ascii")
        return self._command(_Expected("AUTH"), f"AUTH PLAIN {token}")

    def stat(self) -> bytes:
        return self._command(_Expected("STAT"), "STAT")

    def list_(self) -> bytes:
        return self._command(_Expected("LIST", multiline=True), "LIST")

    def uidl(self) -> bytes:
        return self._command(_Expected("UIDL", multiline=True), "UIDL")

    def retr(self, number: int) -> bytes:
        return self._command(_Expected("RETR", multiline=True, number=number), f"RETR {_number(number)}")

    def top(self, number: int, lines: int) -> bytes:
        if lines < 0:
            raise Pop3ClientError("TOP takes a line count of 0 or more")
        line = f"TOP {_number(number)} {lines}"
        return self._command(_Expected("TOP", multiline=True, number=number, lines=lines), line)

    def dele(self, number: int) -> bytes:
        return self._command(_Expected("DELE", number=number), f"DELE {_number(number)}")

    def noop(self) -> bytes:
        return self._command(_Expected("NOOP"), "NOOP")

    def rset(self) -> bytes:
        return self._command(_Expected("RSET"), "RSET")

    def quit(self) -> bytes:
        return self._command(_Expected("QUIT"), "QUIT")

    def start_tls(self) -> None:
        """After +OK to STLS: RFC 2595 §4 / RFC 3207 §4.2: anything the server sent after its answer
        in plain text is dropped, never read as part of the TLS session."""
        self._buffer.discard()

    # --- responses ---------------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        self._buffer.feed(data)

    def next_event(self) -> Pop3Response | NeedData:
        """The next complete answer, or NEED_DATA. Raises Pop3ClientError on what is not POP3."""
        while True:
            if not self._expect:
                if self._buffer.pending():
                    raise Pop3ClientError("the server sent data nobody asked for")
                return NEED_DATA
            expected = self._expect[0]
            try:
                line = self._buffer.next_line()
            except LineTooLong:
                raise Pop3ClientError("the server sent a line that is too long") from None
            if line is None:
                return NEED_DATA
            if self._status is None:
                event = self._status_line(expected, line)
                if event is not None:
                    return event
                continue
            # RFC 1939 §3: a line of "." alone ends the multi-line response; a line beginning with
            # "." otherwise has had one prepended ("byte-stuffed"), which comes off again.
            if line == b".":
                return self._finish(expected)
            if line.startswith(b"."):
                line = line[1:]
            self._body_size += len(line) + 2
            if self._body_size > self.max_message_size:
                self.closed = True
                raise Pop3ClientError(
                    f"a {expected.command} answer longer than {self.max_message_size} octets"
                )
            self._body.append(line)

    def _status_line(self, expected: _Expected, line: bytes) -> Pop3Response | None:
        """The event of a status line; None when lines of a multi-line answer follow."""
        if line.startswith(b"+OK"):
            text = _text(line[3:])
            if expected.command == "GREETING":
                self._expect.popleft()
                stamp = re.search(r"<[^<>\s]+@[^<>\s]+>", text)  # RFC 1939 §7 APOP banner
                return Greeting(text, stamp.group(0) if stamp else None)
            if expected.multiline:
                # Lines follow up to ".": a status line's limit is too small for a message's lines.
                self._status = line
                self._buffer.max_line_length = max(self.max_message_size, MAX_STATUS_LINE)
                return None
            self._expect.popleft()
            if expected.command == "QUIT":
                self.closed = True
            return Ok(expected.command, text)
        if line.startswith(b"-ERR"):
            self._expect.popleft()
            text = _text(line[4:])
            code = _RESP_CODE.match(line[4:].lstrip())
            if expected.command in ("GREETING", "QUIT"):
                self.closed = True
            return Err(expected.command, text, code.group(1).decode("ascii").upper() if code else "")
        if line.startswith(b"+") and expected.command == "AUTH":
            # RFC 5034 section 4: a continuation: PLAIN's whole answer went with the command, so the
            # server asking for more is a failure we cannot answer otherwise.
            raise Pop3ClientError("the server asked for more AUTH data after PLAIN's initial response")
        self.closed = True
        raise Pop3ClientError(f"not a POP3 status line: {line[:80]!r}")

    def _finish(self, expected: _Expected) -> Pop3Response:
        self._expect.popleft()
        body, self._body, self._body_size, self._status = self._body, [], 0, None
        self._buffer.max_line_length = MAX_STATUS_LINE
        match expected.command:
            case "CAPA":
                entries: dict[str, tuple[str, ...]] = {}
                for raw in body:
                    words = _text(raw).split()
                    if words:
                        entries[words[0].upper()] = tuple(words[1:])
                return Capabilities(entries)
            case "LIST":
                return Listing({n: int(v) for n, v in _pairs(body, "LIST")})
            case "UIDL":
                return UniqueIds({n: v for n, v in _pairs(body, "UIDL")})
            case _:  # RETR, TOP
                data = b"".join(line + b"\r\n" for line in body)
                return Message(expected.number, data, expected.lines)


def _pairs(body: list[bytes], command: str) -> list[tuple[int, str]]:
    """RFC 1939 §5 scan listings / §7 unique-id listings: "msg-number SP value" per line."""
    out: list[tuple[int, str]] = []
    for raw in body:
        parts = raw.split()
        if len(parts) < 2 or not parts[0].isdigit():
            raise Pop3ClientError(f"a {command} line that is not 'number value': {raw[:80]!r}")
        value = parts[1].decode("ascii", "replace")
        if command == "LIST" and not value.isdigit():
            raise Pop3ClientError(f"a LIST size that is not a number: {raw[:80]!r}")
        # RFC 1939 §7: a unique-id is 1 to 70 characters in the range 0x21 to 0x7E.
        if command == "UIDL" and not (0 < len(value) <= 70 and all("!" <= c <= "~" for c in value)):
            raise Pop3ClientError(f"a unique-id RFC 1939 does not allow: {raw[:80]!r}")
        out.append((int(parts[0]), value))
    return out


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").strip()


def _number(number: int) -> str:
    if number < 1:
        raise Pop3ClientError("message numbers start at 1")
    return str(number)


def _argument(value: str) -> str:
    if not value or " " in value:
        # RFC 1939 §3: arguments are separated by a single space; a USER name cannot hold one.
        raise Pop3ClientError("a POP3 user name is one word")
    return value
