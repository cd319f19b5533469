"""The POP3 server session as a sans-IO state machine (RFC 1939, RFC 2449, RFC 2595, RFC 5034,
RFC 3206, LAST from RFC 1225).

Usage::

    core = Pop3Core(capabilities, timestamp="<123.456@host>")
    send(core.data_to_send())               # the greeting
    core.receive_data(bytes_from_socket)
    while (event := core.next_event()) is not None:
        ... answer the event through the core method its docstring names ...
    send(core.data_to_send())

The core holds the maildrop listing (sizes and unique ids, fixed at login), the DELE marks and the
error budget, so STAT, LIST, UIDL, DELE, RSET, NOOP, LAST and CAPA are answered here without I/O.
It never reads a message, checks a password or writes to the store: those become events.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from pochta.plural import plural
from pochta.proto.buffer import LineTooLong, ReceiveBuffer
from pochta.proto.pop3.events import (
    ApopLogin,
    AuthStart,
    Close,
    Commit,
    Event,
    PasswordLogin,
    Retrieve,
    SaslResponse,
    StartTls,
)
from pochta.proto.pop3.stuffing import stuff
from pochta.proto.sasl import decode_sasl_line, encode_sasl

__all__ = [
    "MAX_RESPONSE_LINE",
    "Capabilities",
    "Listing",
    "Pop3Core",
    "Pop3StateError",
    "State",
    "err",
    "ok",
]

# RFC 2449 §4: "Responses may be up to 512 characters long, including the terminating CRLF."
MAX_RESPONSE_LINE = 512
# RFC 2449 §4 allows command lines of 255 octets with CRLF; we take up to this many (a long PLAIN
# initial response), and the argument limit below still applies to every short argument.
MAX_COMMAND_LINE = 1024
# RFC 5034 §4: lines answering a SASL challenge are not bound by the command line limit.
MAX_SASL_LINE = 16 * 1024
# A user name is a mail address (up to 254 octets, RFC 5321 §4.5.3.1.3) or "recent:" + one; the
# RFC 2449 §4 40-octet argument limit would refuse real addresses, so names get this bound instead.
MAX_NAME = 300


class State(StrEnum):
    AUTHORIZATION = "authorization"
    TRANSACTION = "transaction"
    UPDATE = "update"
    CLOSED = "closed"


class Pop3StateError(RuntimeError):
    """The handler called the core out of order (a bug in the handler, never bad client input)."""


@dataclass(frozen=True)
class Capabilities:
    """What CAPA lists (RFC 2449 §5-6) and which login commands are open, for the current state."""

    sasl: tuple[str, ...] = ()  # mechanisms offered now (PLAIN/LOGIN only where plaintext is allowed)
    user: bool = True  # USER/PASS offered (RFC 2449 §6.8)
    apop: bool = True  # APOP accepted (the banner carries a timestamp)
    stls: bool = False  # RFC 2595 §4
    login_delay: int = 0  # RFC 2449 §6.5, seconds; 0 is not advertised
    login_delay_per_user: bool = False  # "USER" suffix in TRANSACTION (RFC 2449 §6.5)
    expire: str = "NEVER"  # RFC 2449 §6.7
    implementation: str = "pochta"  # RFC 2449 §6.9


@dataclass(frozen=True)
class Listing:
    """The maildrop as fixed at login: message n is ``sizes[n-1]`` octets with id ``uids[n-1]``."""

    sizes: Sequence[int]
    uids: Sequence[str]  # RFC 1939 §7 UIDL: 1 to 70 octets in 0x21..0x7E
    last: int = 0  # RFC 1225 LAST at login: the highest message already seen (0: none)

    def __post_init__(self) -> None:
        if len(self.sizes) != len(self.uids):
            raise ValueError("listing columns differ in length")


def _line(prefix: str, text: str) -> bytes:
    """One response line, cut to the RFC 2449 §4 limit of 512 octets with CRLF."""
    data = (prefix + text).encode("utf-8", "replace").replace(b"\r", b" ").replace(b"\n", b" ")
    if len(data) > MAX_RESPONSE_LINE - 2:
        data = data[: MAX_RESPONSE_LINE - 2].decode("utf-8", "ignore").encode()
    return data + b"\r\n"


def ok(text: str = "") -> bytes:
    return _line("+OK", " " + text if text else "")


def err(text: str, code: str | None = None) -> bytes:
    # RFC 2449 §8: a response code is "[" CODE "]" right after "-ERR ".
    return _line("-ERR ", f"[{code}] {text}" if code else text)


def _octets_line(size: int) -> bytes:
    """``ok(plural(size, "octet"))`` for RETR (RFC 1939 §7: "+OK 120 octets"), without the checks a
    free text needs: a number cannot hold a line end or pass the line limit."""
    return b"+OK 1 octet\r\n" if size == 1 else b"+OK %d octets\r\n" % size


def _parse_number(arg: str, limit: int) -> int | None:
    """RFC 1939 §3: numbers are decimal; no sign, no blanks, at most ``limit`` octets."""
    if not arg or len(arg) > limit or not arg.isascii() or not arg.isdigit():
        return None
    return int(arg)


_Handler = Callable[["Pop3Core", str], "Event | None"]


class Pop3Core:
    def __init__(
        self,
        capabilities: Capabilities,
        *,
        timestamp: str,
        greeting: str = "pochta POP3 server ready",
        max_errors: int = 10,
        max_argument_length: int = 40,
    ) -> None:
        if max_errors < 1 or max_argument_length < 1:
            raise ValueError("limits must be positive")
        self.capabilities = capabilities
        self.timestamp = timestamp  # RFC 1939 §7 APOP: "<process-ID.clock@hostname>"
        self.max_errors = max_errors
        self.max_argument_length = max_argument_length
        self.state = State.AUTHORIZATION
        self.errors = 0
        self._buffer = ReceiveBuffer(MAX_COMMAND_LINE, strict_crlf=False)
        self._out = bytearray()
        self._events: deque[Event] = deque()
        self._awaiting: str | None = None  # the core method an outstanding event must be answered by
        self._user: str | None = None  # USER given, waiting for PASS
        self._sasl = False
        self._listing = Listing((), ())
        self._deleted: set[int] = set()
        self._retrieved: set[int] = set()
        self._last = 0
        # RFC 1939 §4: the greeting; a timestamp in it announces APOP.
        self._out += ok(f"{greeting} {timestamp}" if capabilities.apop else greeting)

    # -- I/O boundary --------------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        self._buffer.feed(data)

    @property
    def line_open(self) -> bool:
        """Once ``next_event`` returned None: a command line has begun and its end has not arrived."""
        return self._buffer.line_open

    def data_to_send(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data

    def next_event(self) -> Event | None:
        """The next event for the handler, or None when more data is needed."""
        if self._awaiting is not None:
            raise Pop3StateError(f"answer the last event with {self._awaiting} first")
        while not self._events:
            if self.state in (State.CLOSED, State.UPDATE):
                return None
            try:
                line = self._buffer.next_line()
            except LineTooLong:
                if self._sasl:
                    self._sasl = False
                    self._buffer.max_line_length = MAX_COMMAND_LINE
                    self._fail_login("SASL response too long", "AUTH")
                else:
                    self._error("Line too long")
                continue
            if line is None:
                return None
            event = self._sasl_line(line) if self._sasl else self._command(line)
            if event is not None:
                self._events.append(event)
        event = self._events.popleft()
        self._awaiting = _ANSWERS.get(type(event))
        if isinstance(event, Close):
            self.state = State.CLOSED
        return event

    @property
    def listing(self) -> Listing:
        return self._listing

    @property
    def deleted(self) -> frozenset[int]:
        return frozenset(self._deleted)

    # -- answers to events ---------------------------------------------------------------------------

    def login_succeeded(
        self, listing: Listing, capabilities: Capabilities | None = None, text: str = ""
    ) -> None:
        """RFC 1939 §4: the maildrop is locked and the session enters TRANSACTION."""
        self._answer("login")
        self._end_sasl()
        self.state = State.TRANSACTION
        self._listing = listing
        self._last = listing.last
        if capabilities is not None:
            self.capabilities = capabilities
        self._out += ok(text or f"Logged in, {self._stat_text()}")

    def login_failed(self, text: str, code: str | None = "AUTH") -> None:
        """Stays in AUTHORIZATION (RFC 1939 §7 PASS/APOP); counts against the error budget."""
        self._answer("login")
        self._end_sasl()
        self._fail_login(text, code)

    def sasl_challenge(self, data: bytes) -> None:
        """RFC 5034 §4: "+ " and the base64 challenge; the client's next line answers it."""
        self._answer("login")
        self._sasl = True
        self._buffer.max_line_length = MAX_SASL_LINE
        self._out += b"+ " + encode_sasl(data) + b"\r\n"

    def tls_started(self, capabilities: Capabilities) -> None:
        """RFC 2595 §4: after the handshake the session starts over in AUTHORIZATION."""
        self._answer("tls_started")
        self.capabilities = capabilities
        self._user = None

    def retrieve_begin(self, index: int, body_lines: int | None) -> None:
        """Queues "+OK"; the handler sends the stuffed message and the terminator after it."""
        self._answer("retrieve_begin")
        if body_lines is None:
            self._retrieved.add(index)
            # RFC 1225 LAST: the highest message number accessed.
            self._last = max(self._last, index + 1)
            self._out += _octets_line(self._listing.sizes[index])
        else:
            self._out += ok("top of message follows")

    def retrieve_failed(self, text: str, code: str | None = "SYS/TEMP") -> None:
        self._answer("retrieve_begin")
        self._error(text, code)

    def commit_done(self, success: bool, text: str = "") -> None:
        """RFC 1939 §6: "+OK" when every DELE took effect, else "-ERR"; then the session ends."""
        self._answer("commit_done")
        if success:
            self._out += ok(text or "Bye")
        else:
            # RFC 2449 §8.1 / RFC 3206 §4: a temporary system failure.
            self._out += err(text or "Some deleted messages not removed", "SYS/TEMP")
        self._events.append(Close("quit"))

    # -- internals -----------------------------------------------------------------------------------

    def _answer(self, method: str) -> None:
        if self._awaiting != method:
            raise Pop3StateError(f"{method} called while awaiting {self._awaiting}")
        self._awaiting = None

    def _end_sasl(self) -> None:
        self._sasl = False
        self._buffer.max_line_length = MAX_COMMAND_LINE

    def _error(self, text: str, code: str | None = None) -> None:
        self._out += err(text, code)
        self.errors += 1
        if self.errors >= self.max_errors and self.state is not State.CLOSED:
            # Issue 4 §2: "after N errors the server closes the connection".
            self._out += err("Too many errors, closing connection")
            self._events.append(Close("too many errors"))

    def _fail_login(self, text: str, code: str | None) -> None:
        self._user = None
        self._error(text, code)

    def _sasl_line(self, line: bytes) -> Event:
        self._sasl = False
        self._buffer.max_line_length = MAX_COMMAND_LINE
        return SaslResponse(decode_sasl_line(line.rstrip(b" ")))

    def _command(self, raw: bytes) -> Event | None:
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            self._error("Command is not UTF-8")
            return None
        line = line.rstrip(" \t")
        keyword, _, argument = line.partition(" ")
        name = keyword.upper()
        entry = _COMMANDS.get(name)
        if entry is None:
            self._error("Unknown command")
            return None
        states, handler = entry
        if self.state not in states:
            self._error(f"{name} is not valid in the {self.state.value.upper()} state")
            return None
        if name != "PASS":
            self._user = None  # RFC 1939 §7: PASS must directly follow a successful USER
        return handler(self, argument)

    def _no_arguments(self, argument: str) -> bool:
        if argument:
            self._error("Syntax error: no argument expected")
            return False
        return True

    def _args(self, argument: str, count_min: int, count_max: int) -> list[str] | None:
        """Split arguments on single spaces (RFC 1939 §3); enforce count and the 40-octet limit."""
        args = argument.split(" ") if argument else []
        if not count_min <= len(args) <= count_max or "" in args:
            self._error("Syntax error")
            return None
        limit = self.max_argument_length
        for arg in args:
            # RFC 2449 §4: "Each argument may be up to 40 characters long." (octets: an ASCII
            # argument, the usual message number, is as long as its encoding)
            if len(arg) > limit or (not arg.isascii() and len(arg.encode()) > limit):
                self._error(f"Argument longer than {limit} octets")
                return None
        return args

    def _message(self, arg: str) -> int | None:
        """A message number (RFC 1939 §7) that exists and is not deleted, as a 0-based index."""
        number = _parse_number(arg, self.max_argument_length)
        if number is None:
            self._error("Invalid message number")
            return None
        index = number - 1
        if not 0 <= index < len(self._listing.sizes):
            self._error("No such message")
            return None
        if index in self._deleted:
            self._error("Message already deleted")
            return None
        return index

    def _stat_text(self) -> str:
        count, octets = self._stat()
        return f"{plural(count, 'message')} ({plural(octets, 'octet')})"

    def _stat(self) -> tuple[int, int]:
        sizes = self._listing.sizes
        octets = sum(sizes) - sum(sizes[i] for i in self._deleted)
        return len(sizes) - len(self._deleted), octets

    # -- AUTHORIZATION commands ----------------------------------------------------------------------

    def _cmd_user(self, argument: str) -> Event | None:
        if not self.capabilities.user:
            # RFC 2595 §4 / RFC 3206 §4: refuse plaintext before the password is sent.
            self._error("Plaintext authentication disallowed on non-secure connections", "AUTH")
            return None
        if not argument or " " in argument or len(argument.encode()) > MAX_NAME:
            self._error("Syntax error: USER name")
            return None
        self._user = argument
        self._out += ok("Send your password")
        return None

    def _cmd_pass(self, argument: str) -> Event | None:
        user, self._user = self._user, None
        if user is None:
            self._error("Send USER first")
            return None
        if not argument:
            self._error("Syntax error: PASS password")
            return None
        # RFC 1939 §7 PASS: "a POP3 server may treat spaces in the argument as part of the password".
        return PasswordLogin(user, argument)

    def _cmd_apop(self, argument: str) -> Event | None:
        if not self.capabilities.apop:
            self._error("APOP is not available", "AUTH")
            return None
        name, _, digest = argument.rpartition(" ")
        if not name or " " in name or len(name.encode()) > MAX_NAME:
            self._error("Syntax error: APOP name digest")
            return None
        digest = digest.lower()
        if len(digest) != 32 or any(c not in "0123456789abcdef" for c in digest):
            self._error("Syntax error: the digest is 32 hex digits")
            return None
        return ApopLogin(name, digest, self.timestamp)

    def _cmd_auth(self, argument: str) -> Event | None:
        if not argument:
            # The pre-RFC 5034 form (RFC 1734 era clients): list the mechanisms.
            self._out += ok("Mechanisms follow") + stuff([m.encode() for m in self.capabilities.sasl])
            return None
        mechanism, _, initial = argument.partition(" ")
        mechanism = mechanism.upper()
        if " " in initial or len(mechanism) > 20:  # RFC 4422 §3.1: names are at most 20 characters
            self._error("Syntax error: AUTH mechanism [initial-response]")
            return None
        if mechanism not in self.capabilities.sasl:
            self._error("Unsupported authentication mechanism", "AUTH" if mechanism else None)
            return None
        # RFC 5034 §4: "=" is an empty initial response.
        return AuthStart(mechanism, decode_sasl_line(initial.encode(), initial=True) if initial else None)

    def _cmd_stls(self, argument: str) -> Event | None:
        if not self._no_arguments(argument):
            return None
        if not self.capabilities.stls:
            self._error("STLS not available")
            return None
        # RFC 2595 §4: "+OK Begin TLS negotiation"; nothing the client pipelined after STLS in
        # clear may be executed (CVE-2011-0411 class), so our buffer is dropped here and the
        # connection drops its own in start_tls.
        self._out += ok("Begin TLS negotiation")
        self._buffer.discard()
        self._user = None
        return StartTls()

    # -- either state ---------------------------------------------------------------------------------

    def _cmd_capa(self, argument: str) -> Event | None:
        if not self._no_arguments(argument):
            return None
        caps = self.capabilities
        auth = self.state is State.AUTHORIZATION
        lines = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"]
        if auth and caps.user:
            lines.append("USER")
        if auth and caps.sasl:
            lines.append("SASL " + " ".join(caps.sasl))
        if auth and caps.stls:
            lines.append("STLS")
        lines.append(f"EXPIRE {caps.expire}")
        if caps.login_delay > 0:
            per_user = " USER" if caps.login_delay_per_user and not auth else ""
            lines.append(f"LOGIN-DELAY {caps.login_delay}{per_user}")
        lines.append(f"IMPLEMENTATION {caps.implementation}")
        # RFC 2449 §4: every response line fits in 512 octets with its CRLF.
        self._out += ok("Capability list follows") + stuff([_line("", line)[:-2] for line in lines])
        return None

    def _cmd_quit(self, argument: str) -> Event | None:
        if self.state is State.AUTHORIZATION:
            # RFC 1939 §4: QUIT in AUTHORIZATION ends the session without entering UPDATE.
            self._out += ok("Bye")
            return Close("quit")
        # RFC 1939 §6: QUIT in TRANSACTION enters UPDATE.
        self.state = State.UPDATE
        return Commit(tuple(sorted(self._deleted)), tuple(sorted(self._retrieved)))

    # -- TRANSACTION commands ------------------------------------------------------------------------

    def _cmd_stat(self, argument: str) -> Event | None:
        if self._no_arguments(argument):
            count, octets = self._stat()
            self._out += ok(f"{count} {octets}")  # RFC 1939 §5: "+OK nn mm", exactly so
        return None

    def _cmd_list(self, argument: str) -> Event | None:
        return self._scan_listing(argument, lambda i: str(self._listing.sizes[i]))

    def _cmd_uidl(self, argument: str) -> Event | None:
        return self._scan_listing(argument, lambda i: self._listing.uids[i])

    def _scan_listing(self, argument: str, value: Callable[[int], str]) -> Event | None:
        args = self._args(argument, 0, 1)
        if args is None:
            return None
        if args:
            index = self._message(args[0])
            if index is not None:
                self._out += ok(f"{index + 1} {value(index)}")
            return None
        # RFC 1939 §7 LIST/UIDL: one line per message not marked as deleted.
        out = bytearray(ok(self._stat_text()))
        deleted = self._deleted
        for index in range(len(self._listing.sizes)):
            if index not in deleted:
                out += f"{index + 1} {value(index)}\r\n".encode()
        out += b".\r\n"
        self._out += out
        return None

    def _cmd_retr(self, argument: str) -> Event | None:
        args = self._args(argument, 1, 1)
        index = None if args is None else self._message(args[0])
        return None if index is None else self._retrieve(index, None)

    def _cmd_top(self, argument: str) -> Event | None:
        args = self._args(argument, 2, 2)
        if args is None:
            return None
        index = self._message(args[0])
        if index is None:
            return None
        lines = _parse_number(args[1], self.max_argument_length)
        if lines is None:
            self._error("Invalid number of lines")
            return None
        return self._retrieve(index, lines)

    def _retrieve(self, index: int, body_lines: int | None) -> Event:
        return Retrieve(index, body_lines)

    def _cmd_dele(self, argument: str) -> Event | None:
        args = self._args(argument, 1, 1)
        index = None if args is None else self._message(args[0])
        if index is not None:
            self._deleted.add(index)
            # RFC 1225 LAST: a deleted message counts as accessed.
            self._last = max(self._last, index + 1)
            self._out += ok(f"Message {index + 1} deleted")
        return None

    def _cmd_noop(self, argument: str) -> Event | None:
        if self._no_arguments(argument):
            self._out += ok()
        return None

    def _cmd_rset(self, argument: str) -> Event | None:
        if self._no_arguments(argument):
            # RFC 1939 §7 RSET: unmark every deleted message; RFC 1225: LAST goes back, too.
            self._deleted.clear()
            self._last = self._listing.last
            self._out += ok(f"Maildrop has {self._stat_text()}")
        return None

    def _cmd_last(self, argument: str) -> Event | None:
        if self._no_arguments(argument):
            self._out += ok(str(self._last))  # RFC 1225: "+OK nn"
        return None


_AUTH = frozenset({State.AUTHORIZATION})
_TRANS = frozenset({State.TRANSACTION})
_BOTH = _AUTH | _TRANS

# The command table (RFC 1939 §4-7, RFC 2449 §5, RFC 2595 §4, RFC 5034 §4, RFC 1225): which
# states accept each command, and its implementation.
_COMMANDS: dict[str, tuple[frozenset[State], _Handler]] = {
    "USER": (_AUTH, Pop3Core._cmd_user),
    "PASS": (_AUTH, Pop3Core._cmd_pass),
    "APOP": (_AUTH, Pop3Core._cmd_apop),
    "AUTH": (_AUTH, Pop3Core._cmd_auth),
    "STLS": (_AUTH, Pop3Core._cmd_stls),
    "CAPA": (_BOTH, Pop3Core._cmd_capa),
    "QUIT": (_BOTH, Pop3Core._cmd_quit),
    "STAT": (_TRANS, Pop3Core._cmd_stat),
    "LIST": (_TRANS, Pop3Core._cmd_list),
    "UIDL": (_TRANS, Pop3Core._cmd_uidl),
    "RETR": (_TRANS, Pop3Core._cmd_retr),
    "TOP": (_TRANS, Pop3Core._cmd_top),
    "DELE": (_TRANS, Pop3Core._cmd_dele),
    "NOOP": (_TRANS, Pop3Core._cmd_noop),
    "RSET": (_TRANS, Pop3Core._cmd_rset),
    "LAST": (_TRANS, Pop3Core._cmd_last),
}

# Which core method answers each event.
_ANSWERS: dict[type, str] = {
    PasswordLogin: "login",
    ApopLogin: "login",
    AuthStart: "login",
    SaslResponse: "login",
    StartTls: "tls_started",
    Retrieve: "retrieve_begin",
    Commit: "commit_done",
}
