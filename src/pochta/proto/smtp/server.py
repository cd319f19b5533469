"""The SMTP/LMTP server core: session state, the legal-transition table, limits, pipelining.

Sans-IO (DESIGN.md §Principles 2). The runtime loop::

    conn = ServerConnection("smtp", config)
    write(conn.send(replies.greeting(config.hostname)))
    while not conn.closed:
        conn.receive_data(await read())          # b"" at end of stream
        out = bytearray()
        while (event := conn.next_event()) is not NEED_DATA:
            out += handle(conn, event)           # every event but DataChunk/BdatStart owes replies
        write(out)                               # one write per batch: RFC 2920 §3.2

Commands are taken one at a time and each must be answered before the next is read, so a whole
pipelined group in one packet is processed exactly as if it came line by line (RFC 2920 §3.1).
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from pochta.proto.buffer import BareLineFeed, LineTooLong, ReceiveBuffer
from pochta.proto.sasl import PLAINTEXT_MECHANISMS, SERVER_MECHANISMS, Cancel, Malformed, decode_sasl_line
from pochta.proto.smtp import replies
from pochta.proto.smtp.commands import (
    Command,
    CommandError,
    Extensions,
    parse_bdat,
    parse_command,
    parse_hello,
    parse_mail,
    parse_rcpt,
)
from pochta.proto.smtp.data import BodyScanner, DataDecoder
from pochta.proto.smtp.events import (
    NEED_DATA,
    AuthResponse,
    AuthStart,
    BdatChunkEnd,
    BdatStart,
    ConnectionClosed,
    DataChunk,
    DataEnd,
    DataRejected,
    DataStart,
    Ehlo,
    Event,
    Helo,
    Help,
    Lhlo,
    MailFrom,
    Noop,
    ProtocolError,
    Quit,
    RcptTo,
    Rset,
    StartTls,
    Vrfy,
    _NeedData,
)
from pochta.proto.smtp.replies import Reply

Role = Literal["smtp", "submission", "lmtp"]

AUTH_LINE_LIMIT = 12288  # RFC 4954 §4: AUTH command and response lines up to 12288 octets
# RFC 5321 §4.5.3.1.4: extensions may lengthen MAIL/RCPT lines. SIZE (RFC 1870 §3: 26), BODY,
# SMTPUTF8, RET/ENVID (RFC 3461 §5: 100+) and AUTH= (RFC 4954 §5: 500) on MAIL; NOTIFY and
# ORCPT (RFC 3461 §5: 500) on RCPT. Rounded up to one allowance.
PARAMETER_ALLOWANCE = 1024


@dataclass(frozen=True)
class SmtpCoreConfig:
    """Limits and offered extensions for one listener (``dataclasses.replace`` per connection)."""

    hostname: str = "localhost"
    max_command_line: int = 512  # RFC 5321 §4.5.3.1.4: including CRLF
    max_message_size: int = 50 * 1024 * 1024  # 0: no limit; advertised as SIZE (RFC 1870)
    max_recipients: int = 100  # RFC 5321 §4.5.3.1.8: at least 100 must be accepted
    max_errors: int = 10  # error replies before 421 and close
    max_messages: int = 0  # messages per connection; 0: no limit
    max_header_count: int = 1000
    max_header_size: int = 1024 * 1024
    pipelining: bool = True
    eightbitmime: bool = True
    smtputf8: bool = True
    chunking: bool = True
    dsn: bool = True
    starttls: bool = False  # offer STARTTLS (a certificate is there)
    require_tls: bool = False  # MAIL and AUTH only after STARTTLS (RFC 3207 §4: 530 5.7.0)
    auth_mechanisms: tuple[str, ...] = ()  # offered when allowed; e.g. SERVER_MECHANISMS
    auth_plaintext_without_tls: bool = False  # PLAIN/LOGIN in clear text (loopback only)
    require_auth: bool | None = None  # None: True for the submission role (RFC 4954 §6: 530 5.7.0)
    requiretls: bool = False  # RFC 8689: offer REQUIRETLS inside TLS (the queue honours it)


class State(enum.Enum):
    GREETING = "greeting"  # the greeting has not been sent
    REFUSED = "refused"  # 554 greeting: only QUIT (RFC 5321 §3.1)
    READY = "ready"  # before HELO/EHLO/LHLO
    GREETED = "greeted"
    MAIL = "mail"  # MAIL accepted, no recipient accepted yet
    RCPT = "rcpt"  # at least one recipient accepted
    DATA = "data"  # receiving DATA text
    BDAT = "bdat"  # receiving a BDAT chunk
    AUTH = "auth"  # a SASL exchange is going on
    CLOSED = "closed"


class SmtpStateError(RuntimeError):
    """The handler used the core out of order (a bug in the handler, never caused by the peer)."""


_ANY = frozenset(State) - {State.GREETING, State.REFUSED, State.CLOSED, State.DATA, State.BDAT, State.AUTH}
_IN_TXN = frozenset({State.MAIL, State.RCPT})


@dataclass(frozen=True)
class _Rule:
    states: frozenset[State]  # where the command is legal
    argument: Literal["none", "optional", "required"]
    ends_group: bool = False  # RFC 2920 §3.1: may only be the last command of a pipelined group


# The legal-transition table (DESIGN.md: transitions are a table; effects live in send()).
# RFC 5321 §4.1.4: MAIL needs a prior HELO/EHLO; RCPT needs MAIL; DATA/BDAT need a recipient.
COMMANDS: dict[str, _Rule] = {
    "HELO": _Rule(_ANY, "required", ends_group=True),
    "EHLO": _Rule(_ANY, "required", ends_group=True),
    "LHLO": _Rule(_ANY, "required", ends_group=True),
    "MAIL": _Rule(frozenset({State.GREETED}), "required"),
    "RCPT": _Rule(_IN_TXN, "required"),
    "DATA": _Rule(frozenset({State.RCPT}), "none", ends_group=True),
    "BDAT": _Rule(frozenset({State.RCPT}), "required"),
    "RSET": _Rule(_ANY, "none"),
    "NOOP": _Rule(_ANY, "optional", ends_group=True),
    "QUIT": _Rule(_ANY | {State.REFUSED}, "none", ends_group=True),
    "VRFY": _Rule(_ANY, "required", ends_group=True),
    "EXPN": _Rule(_ANY, "required", ends_group=True),
    "HELP": _Rule(_ANY, "optional"),
    "STARTTLS": _Rule(frozenset({State.GREETED}), "none", ends_group=True),  # RFC 3207 §4
    "AUTH": _Rule(frozenset({State.GREETED}), "required", ends_group=True),  # RFC 4954 §4
}


@dataclass
class Transaction:
    mail: MailFrom
    recipients: list[RcptTo] = field(default_factory=list)
    rcpt_attempted: bool = False
    bdat_size: int = 0  # octets received by BDAT so far
    bdat_used: bool = False  # RFC 3030 §3: DATA and BDAT cannot be mixed


class ServerConnection:
    def __init__(self, role: Role, config: SmtpCoreConfig, *, tls: bool = False) -> None:
        if role not in ("smtp", "submission", "lmtp"):
            raise ValueError(f"unknown role {role!r}")
        self.role: Role = role
        self.config = config
        self.tls = tls  # implicit TLS (RFC 8314), or after STARTTLS
        self.authenticated = False
        self.esmtp = False  # the client said EHLO/LHLO
        self.client_name: str | None = None
        self.transaction: Transaction | None = None
        self.messages = 0  # messages accepted or rejected after their data
        self.errors = 0
        # RFC 2920 §3.1: commands sent without waiting for a reply the client had to wait for
        # (after a group-ending command, or any pipelining when PIPELINING was not negotiated).
        # Policy (for example Postfix's reject_unauth_pipelining) is the handler's decision.
        self.pipelining_violations = 0
        self._state = State.GREETING
        self._eof = False
        self._events: deque[Event] = deque()
        self._pending: Event | None = None
        self._owed = 0
        self._decoder: DataDecoder | None = None
        self._extensions_for: tuple[SmtpCoreConfig, Extensions, bool] | None = None
        self._scanner: BodyScanner | None = None
        self._bdat_left = 0
        self._bdat_last = False
        self._bdat_size = 0
        self._bdat_discard: Reply | None = None  # a refused BDAT: its octets are read and dropped
        self._return_state = State.GREETED  # where a BDAT chunk returns to
        limit = config.max_command_line + PARAMETER_ALLOWANCE
        if config.auth_mechanisms:
            limit = max(limit, AUTH_LINE_LIMIT)
        self._buffer = ReceiveBuffer(limit - 2, strict_crlf=True)

    # --- state -----------------------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def closed(self) -> bool:
        return self._state is State.CLOSED

    @property
    def replies_owed(self) -> int:
        return self._owed

    @property
    def require_auth(self) -> bool:
        return self.role == "submission" if self.config.require_auth is None else self.config.require_auth

    def offered_mechanisms(self) -> tuple[str, ...]:
        """AUTH mechanisms allowed now: plaintext ones only under TLS unless configured otherwise."""
        if self.authenticated:
            return ()
        plain_ok = self.tls or self.config.auth_plaintext_without_tls
        if self.config.require_tls and not self.tls:
            return ()
        return tuple(
            m.upper()
            for m in self.config.auth_mechanisms
            if m.upper() in SERVER_MECHANISMS and (plain_ok or m.upper() not in PLAINTEXT_MECHANISMS)
        )

    def capabilities(self) -> list[str]:
        """EHLO keywords (RFC 5321 §4.1.1.1), advertised only for what the core implements."""
        cfg = self.config
        caps: list[str] = []
        if cfg.pipelining:
            caps.append("PIPELINING")  # RFC 2920
        caps.append(f"SIZE {cfg.max_message_size}")  # RFC 1870 §4: 0 means no fixed limit
        if cfg.eightbitmime:
            caps.append("8BITMIME")  # RFC 1652
        if cfg.smtputf8 and cfg.eightbitmime:
            caps.append("SMTPUTF8")  # RFC 6531 §3.1 (requires 8BITMIME)
        if cfg.chunking:
            caps.append("CHUNKING")  # RFC 3030
        if cfg.dsn:
            caps.append("DSN")  # RFC 3461
        if cfg.requiretls and self.tls:
            caps.append("REQUIRETLS")  # RFC 8689 section 2: offered only over TLS
        caps.append("ENHANCEDSTATUSCODES")  # RFC 2034
        if cfg.starttls and not self.tls:
            caps.append("STARTTLS")  # RFC 3207 §4.2: not offered again inside TLS
        mechanisms = self.offered_mechanisms()
        if mechanisms:
            caps.append("AUTH " + " ".join(mechanisms))  # RFC 4954 §3
        return caps

    def hello_reply(self, event: Helo | Ehlo | Lhlo, text: str = "") -> Reply:
        """The 250 answer to HELO/EHLO/LHLO: with capabilities for EHLO/LHLO (RFC 2034 §3: no code)."""
        first = f"{self.config.hostname} {text}".rstrip() if text else self.config.hostname
        if isinstance(event, Helo):
            return Reply(250, (first,))
        return Reply(250, (first, *self.capabilities()))

    def _extensions(self) -> Extensions:
        """What MAIL and RCPT parameters may use: made once per configuration (it is immutable)."""
        cfg = self.config
        cached = self._extensions_for
        if cached is not None and cached[0] is cfg and cached[2] == self.tls:
            return cached[1]
        extensions = Extensions(
            size=True,
            eightbitmime=cfg.eightbitmime,
            smtputf8=cfg.smtputf8 and cfg.eightbitmime,
            dsn=cfg.dsn,
            auth=bool(cfg.auth_mechanisms),
            max_size=cfg.max_message_size,
            requiretls=cfg.requiretls and self.tls,
            requiretls_without_tls=cfg.requiretls and not self.tls,
        )
        self._extensions_for = (cfg, extensions, self.tls)
        return extensions

    # --- input -----------------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feeds octets from the peer; ``b""`` means the peer closed its side."""
        if self._state is State.CLOSED:
            return
        if not data:
            self._eof = True
        else:
            self._buffer.feed(data)

    def discard_buffered(self) -> int:
        """Drops unprocessed input (STARTTLS, RFC 3207 §4.2; done by ``send`` on the 220 reply too)."""
        return self._buffer.discard()

    @property
    def line_open(self) -> bool:
        """Once ``next_event`` needs data: a command line (or SASL response) has begun and not ended.
        DATA text and BDAT chunks are message data, not command lines."""
        return self._state not in (State.DATA, State.BDAT) and self._buffer.line_open

    def next_event(self) -> Event | _NeedData:
        if self._owed:
            raise SmtpStateError(f"a reply to {self._pending!r} is owed")
        if self._events:
            return self._owe(self._events.popleft())
        if self._state is State.CLOSED:
            return ConnectionClosed()
        if self._state is State.GREETING:
            raise SmtpStateError("send the greeting first")
        if self._state is State.DATA:
            return self._data_event()
        if self._state is State.BDAT:
            return self._bdat_event()
        if self.errors >= self.config.max_errors:
            # the error budget is spent: answer 421 and close (RFC 5321 §3.8)
            return self._owe(ProtocolError(replies.too_many_errors(self.config.hostname)))
        try:
            line = self._buffer.next_line()
        except LineTooLong:
            return self._line_error(replies.line_too_long())
        except BareLineFeed:
            return self._line_error(replies.syntax_error("Bare LF in command; lines end with CRLF"))
        if line is None:
            if self._eof:
                return self._closed_by_peer()
            return NEED_DATA
        if self._state is State.AUTH:
            return self._owe(self._auth_response(line))
        event = self._command(line)
        if event is None:
            return self._bdat_event()  # a refused BDAT: its octets are read and dropped first
        return self._owe(event)

    def _line_error(self, reply: Reply) -> Event:
        if self._state is State.AUTH:
            self._state = State.GREETED  # RFC 4954 §4: the exchange ends with an error
        return self._owe(ProtocolError(reply))

    def _closed_by_peer(self) -> Event:
        in_txn = self._state in (State.DATA, State.BDAT) or self.transaction is not None
        self._state = State.CLOSED
        self.transaction = None
        return ConnectionClosed(in_transaction=in_txn)

    def _owe(self, event: Event) -> Event:
        if isinstance(event, DataChunk | BdatStart | ConnectionClosed):
            return event
        self._pending = event
        if isinstance(event, ProtocolError):
            self._owed = len(event.replies)
        elif isinstance(event, DataEnd) and self.role == "lmtp":
            self._owed = len(event.recipients)  # RFC 2033 §4.2: one reply per accepted RCPT
        else:
            self._owed = 1
        return event

    # --- commands --------------------------------------------------------------------------------

    def _command(self, line: bytes) -> Event | None:
        parsed = parse_command(line)
        if isinstance(parsed, CommandError):
            return ProtocolError(parsed.reply)
        verb = parsed.verb
        limit = self.config.max_command_line - 2
        if verb in ("MAIL", "RCPT"):
            limit += PARAMETER_ALLOWANCE
        elif verb == "AUTH":
            limit = AUTH_LINE_LIMIT - 2
        if len(line) > limit:
            return ProtocolError(replies.line_too_long())  # RFC 5321 §4.5.3.1.4: 500
        if (verb == "LHLO") != (self.role == "lmtp") and verb in ("HELO", "EHLO", "LHLO"):
            return ProtocolError(replies.unknown_command())  # RFC 2033 §4.1: LMTP has only LHLO
        if self._state is State.REFUSED and verb != "QUIT":
            return ProtocolError(replies.bad_sequence("No service here; only QUIT"))  # RFC 5321 §3.1
        rule = COMMANDS[verb]
        if self._buffer.pending() and verb not in ("QUIT", "BDAT"):
            negotiated = self.esmtp and self.config.pipelining
            if rule.ends_group or not negotiated:
                self.pipelining_violations += 1
        if rule.argument == "none" and parsed.argument and verb != "BDAT":
            return ProtocolError(replies.bad_arguments(f"{verb} takes no arguments"))
        if rule.argument == "required" and not parsed.argument:
            return ProtocolError(replies.bad_arguments(f"{verb} needs an argument"))
        handler = getattr(self, "_cmd_" + verb.lower())
        result: Event | None = handler(parsed, rule)
        return result

    def _sequence_error(self, verb: str) -> ProtocolError:
        if self._state is State.READY:
            return ProtocolError(replies.bad_sequence("Send HELO/EHLO first"))
        if verb == "MAIL" and self._state in _IN_TXN:
            return ProtocolError(replies.bad_sequence("Nested MAIL command"))  # RFC 5321 §4.1.1.2
        if verb in ("DATA", "BDAT") and self.transaction is not None and self.transaction.rcpt_attempted:
            return ProtocolError(replies.no_valid_recipients())  # RFC 5321 §3.3, RFC 2920 §3.1
        if verb in ("RCPT", "DATA", "BDAT"):
            return ProtocolError(replies.bad_sequence("Need MAIL command" if verb == "RCPT" else "Need RCPT"))
        return ProtocolError(replies.bad_sequence())

    def _cmd_hello(self, cmd: Command, rule: _Rule, kind: type[Helo | Ehlo | Lhlo]) -> Event:
        if self._state not in rule.states:
            return self._sequence_error(cmd.verb)
        name = parse_hello(cmd.argument)
        if isinstance(name, CommandError):
            return ProtocolError(name.reply)
        return kind(name)

    def _cmd_helo(self, cmd: Command, rule: _Rule) -> Event:
        return self._cmd_hello(cmd, rule, Helo)

    def _cmd_ehlo(self, cmd: Command, rule: _Rule) -> Event:
        return self._cmd_hello(cmd, rule, Ehlo)

    def _cmd_lhlo(self, cmd: Command, rule: _Rule) -> Event:
        return self._cmd_hello(cmd, rule, Lhlo)

    def _cmd_mail(self, cmd: Command, rule: _Rule) -> Event:
        if self._state not in rule.states:
            return self._sequence_error("MAIL")
        if self.config.require_tls and self.config.starttls and not self.tls:
            return ProtocolError(replies.tls_required())  # RFC 3207 §4
        if self.require_auth and not self.authenticated:
            return ProtocolError(replies.auth_required())  # RFC 4954 §6: 530 5.7.0
        if self.config.max_messages and self.messages >= self.config.max_messages:
            return ProtocolError(Reply(421, ("Too many messages in this session",), "4.7.0"))
        parsed = parse_mail(cmd.argument, self._extensions())
        if isinstance(parsed, CommandError):
            return ProtocolError(parsed.reply)
        return MailFrom(*parsed)

    def _cmd_rcpt(self, cmd: Command, rule: _Rule) -> Event:
        if self._state not in rule.states or self.transaction is None:
            return self._sequence_error("RCPT")
        txn = self.transaction
        parsed = parse_rcpt(cmd.argument, self._extensions(), txn.mail.params.smtputf8)
        if isinstance(parsed, CommandError):
            txn.rcpt_attempted = True
            return ProtocolError(parsed.reply)
        if len(txn.recipients) >= self.config.max_recipients:
            return ProtocolError(replies.too_many_recipients())  # RFC 5321 §4.5.3.1.10: 452 4.5.3
        return RcptTo(*parsed)

    def _cmd_data(self, cmd: Command, rule: _Rule) -> Event:
        if self._state not in rule.states:
            return self._sequence_error("DATA")
        if self.transaction is not None and self.transaction.bdat_used:
            return ProtocolError(replies.bad_sequence("DATA after BDAT"))  # RFC 3030 §3
        return DataStart()

    def _cmd_bdat(self, cmd: Command, rule: _Rule) -> Event | None:
        parsed = parse_bdat(cmd.argument)
        if isinstance(parsed, CommandError):
            # the size is unknown, so the chunk cannot be skipped: treat as a plain syntax error
            return ProtocolError(parsed.reply)
        size, last = parsed
        refusal: Reply | None = None
        if not self.config.chunking:
            refusal = replies.unknown_command()
        elif self._state not in rule.states:
            refusal = self._sequence_error("BDAT").reply
        else:
            assert self.transaction is not None
            total = self.transaction.bdat_size + size
            if self.config.max_message_size and total > self.config.max_message_size:
                refusal = replies.message_too_big()  # RFC 1870 §6.3, RFC 3030 §4.2
                self._reset_transaction()
                self._state = State.GREETED
        self._bdat_left, self._bdat_last, self._bdat_size = size, last, size
        self._bdat_discard = refusal
        self._return_state = self._state
        self._state = State.BDAT  # RFC 3030 §2: the chunk is read (and dropped) even when refused
        if refusal is not None:
            return None
        assert self.transaction is not None
        first = not self.transaction.bdat_used
        if first:
            self._start_body()
        self.transaction.bdat_used = True
        return BdatStart(size, last, first)

    def _cmd_rset(self, cmd: Command, rule: _Rule) -> Event:
        if self._state not in rule.states:
            return self._sequence_error("RSET")
        return Rset()

    def _cmd_noop(self, cmd: Command, rule: _Rule) -> Event:
        return Noop() if self._state in rule.states else self._sequence_error("NOOP")

    def _cmd_quit(self, cmd: Command, rule: _Rule) -> Event:
        return Quit()

    def _cmd_vrfy(self, cmd: Command, rule: _Rule) -> Event:
        return Vrfy(cmd.argument) if self._state in rule.states else self._sequence_error("VRFY")

    def _cmd_expn(self, cmd: Command, rule: _Rule) -> Event:
        return ProtocolError(replies.not_implemented("EXPN not available"))  # RFC 5321 §3.5.2

    def _cmd_help(self, cmd: Command, rule: _Rule) -> Event:
        return Help(cmd.argument) if self._state in rule.states else self._sequence_error("HELP")

    def _cmd_starttls(self, cmd: Command, rule: _Rule) -> Event:
        if not self.config.starttls or self.tls:
            return ProtocolError(replies.not_implemented("STARTTLS not available"))
        if self._state not in rule.states:
            return self._sequence_error("STARTTLS")
        return StartTls()

    def _cmd_auth(self, cmd: Command, rule: _Rule) -> Event:
        if not self.config.auth_mechanisms:
            return ProtocolError(replies.not_implemented("AUTH not available"))
        if self.authenticated:
            return ProtocolError(replies.already_authenticated())  # RFC 4954 §4
        if self._state is not State.GREETED:
            if self._state in _IN_TXN:  # RFC 4954 §4: not during a mail transaction
                return ProtocolError(replies.bad_sequence("AUTH not permitted during a mail transaction"))
            return self._sequence_error("AUTH")
        if self.config.require_tls and self.config.starttls and not self.tls:
            return ProtocolError(replies.tls_required())
        mechanism, _, initial = cmd.argument.partition(" ")
        mechanism = mechanism.upper()
        if mechanism not in self.offered_mechanisms():
            if mechanism in (m.upper() for m in self.config.auth_mechanisms):
                return ProtocolError(replies.encryption_required())  # RFC 4954 §6: 538 5.7.11
            return ProtocolError(replies.mechanism_unknown())
        response: bytes | None = None
        if initial:
            decoded = decode_sasl_line(initial.encode("ascii"), initial=True)  # RFC 4954 §4: "=" empty
            if not isinstance(decoded, bytes):
                return ProtocolError(replies.auth_malformed())
            response = decoded
        return AuthStart(mechanism, response)

    def _auth_response(self, line: bytes) -> Event:
        decoded = decode_sasl_line(line)
        if isinstance(decoded, Cancel):
            self._state = State.GREETED
            return ProtocolError(replies.auth_cancelled())  # RFC 4954 §4: "*" cancels, 501
        if isinstance(decoded, Malformed):
            self._state = State.GREETED
            return ProtocolError(replies.auth_malformed())
        return AuthResponse(decoded)

    # --- message data ----------------------------------------------------------------------------

    def _start_body(self) -> None:
        cfg = self.config
        self._scanner = BodyScanner(cfg.max_message_size, cfg.max_header_count, cfg.max_header_size)

    def _data_event(self) -> Event | _NeedData:
        assert self._decoder is not None
        assert self._scanner is not None
        raw = self._buffer.take_all()
        if not raw:
            return self._closed_by_peer() if self._eof else NEED_DATA
        content, used = self._decoder.feed(raw)
        if used < len(raw):
            self._buffer.feed(raw[used:])  # the next pipelined command
        scanner = self._scanner
        if content:
            was_ok = scanner.error is None
            scanner.feed(content)
            if was_ok and scanner.error is None:
                self._events.append(DataChunk(content))  # never the whole message: piece by piece
        if self._decoder.done:
            self._decoder = None
            self._events.append(self._message_end())
        if self._events:
            return self._owe(self._events.popleft())
        return NEED_DATA

    def _bdat_event(self) -> Event | _NeedData:
        if self._bdat_left:
            piece = self._buffer.read_up_to(self._bdat_left)
            if not piece:
                return self._closed_by_peer() if self._eof else NEED_DATA
            self._bdat_left -= len(piece)
            if self._bdat_discard is None:
                assert self._scanner is not None
                assert self.transaction is not None
                self.transaction.bdat_size += len(piece)
                was_ok = self._scanner.error is None
                self._scanner.feed(piece)
                if was_ok and self._scanner.error is None:
                    return DataChunk(piece)
            if self._bdat_left:
                return NEED_DATA if not self._buffer.pending() else self._bdat_event()
        # the whole chunk is in
        self._state = self._return_state
        if self._bdat_discard is not None:
            refusal, self._bdat_discard = self._bdat_discard, None
            return self._owe(ProtocolError(refusal))
        assert self._scanner is not None
        if self._bdat_last:
            return self._owe(self._message_end())
        if self._scanner.error is not None:
            return self._owe(self._rejection(count=1))
        return self._owe(BdatChunkEnd(self._bdat_size))

    def _message_end(self) -> Event:
        assert self._scanner is not None
        assert self.transaction is not None
        self._scanner.finish()
        self._state = State.RCPT
        count = len(self.transaction.recipients) if self.role == "lmtp" else 1
        if self._scanner.error is not None:
            return self._rejection(count)
        return DataEnd(self._scanner.size, tuple(self.transaction.recipients))

    def _rejection(self, count: int) -> DataRejected:
        assert self._scanner is not None
        reply = {
            "bare": replies.bare_line_ending(),
            "size": replies.message_too_big(),
            "headers": replies.headers_too_big(),
        }[self._scanner.error or "bare"]
        return DataRejected(reply, count)

    # --- output ----------------------------------------------------------------------------------

    def send(self, reply: Reply) -> bytes:
        """Serialises the reply owed to the last event and applies its effect on the session."""
        if self._state is State.CLOSED:
            raise SmtpStateError("the session is closed")
        data = reply.to_bytes()
        event = self._pending
        if event is None:
            if self._state is State.GREETING:
                # RFC 5321 §3.1: 220 opens the session, 554 refuses it (then only QUIT), 421 closes
                self._state = State.READY if reply.code == 220 else State.REFUSED
            elif reply.code != 421:  # 421 may be sent at any time (timeouts, shutdown)
                raise SmtpStateError("no reply is owed")
        else:
            self._owed -= 1
            if self._owed == 0:
                self._pending = None
            # The error budget counts the client's mistakes and refusals (unknown users: harvesting),
            # once per event; not our own resource limits (452: too many recipients, storage, quota),
            # nor the outcome of a delivery.
            first = self._owed == 0 or not isinstance(event, DataEnd | DataRejected)
            counted = reply.code >= 400 and reply.code not in (421, 452)
            if counted and first and not isinstance(event, DataEnd):
                self.errors += 1
            self._apply(event, reply)
        if reply.code == 421:
            self._state = State.CLOSED  # RFC 5321 §3.8: the server closes after 421
            self.transaction = None
        return data

    def send_many(self, replies_: list[Reply] | tuple[Reply, ...]) -> bytes:
        return b"".join(self.send(r) for r in replies_)

    def _apply(self, event: Event, reply: Reply) -> None:
        ok = 200 <= reply.code < 300
        match event:
            case Helo() | Ehlo() | Lhlo() if ok:
                self._reset_transaction()  # RFC 5321 §4.1.4: EHLO clears the transaction
                self.esmtp = not isinstance(event, Helo)
                self.client_name = event.name
                self._state = State.GREETED
            case StartTls() if reply.code == 220:
                # RFC 3207 §4.2: discard all knowledge from the client, and pipelined plaintext
                self._buffer.discard()
                self.tls = True
                self.authenticated = False
                self.esmtp = False
                self.client_name = None
                self._reset_transaction()
                self._state = State.READY
            case AuthStart() | AuthResponse():
                if reply.code == 334:
                    self._state = State.AUTH
                else:
                    self.authenticated = reply.code == 235
                    self._state = State.GREETED
            case MailFrom() if ok:
                self.transaction = Transaction(event)
                self._state = State.MAIL
            case RcptTo():
                if self.transaction is not None:
                    self.transaction.rcpt_attempted = True
                    if ok:
                        self.transaction.recipients.append(event)
                        self._state = State.RCPT
            case DataStart() if reply.code == 354:
                self._decoder = DataDecoder()
                self._start_body()
                self._state = State.DATA
            case BdatChunkEnd() if not ok:
                self._reset_transaction()  # RFC 3030 §2: a failed chunk fails the transaction
                self._state = State.GREETED
            case DataEnd() | DataRejected() if self._owed == 0:
                self.messages += 1
                self._reset_transaction()
                self._state = State.GREETED
            case Rset():
                self._reset_transaction()  # RFC 5321 §4.1.1.5
                if self._state in _IN_TXN:
                    self._state = State.GREETED
            case Quit() if reply.code == 221:
                self._state = State.CLOSED
                self.transaction = None
            case _:
                pass

    def _reset_transaction(self) -> None:
        self.transaction = None
        self._scanner = None
        self._decoder = None
