"""The IMAP command receiver: bytes in, whole typed commands out (sans-IO).

Usage by a connection handler::

    receiver = Receiver(Limits(append_limit=50 << 20))
    receiver.receive_data(data_from_socket)
    while True:
        event = receiver.next_command()
        match event:
            case NeedMoreData():            break            # read more from the socket
            case NeedLiteral(sync=True):    write(b"+ Ready for literal data\\r\\n")
            case NeedLiteral():             pass             # {n+}: nothing to send
            case CommandError(reply=reply, close=close):
                write(serialise(reply)); close and disconnect
            case Command():                 dispatch(event)   # event.args is typed
            case LiteralChunk():            spool(event)     # only with Limits.stream_over set
            case IdleDone() | ContinuationLine(): ...        # only after expect_idle_done()/expect_line()

Framing rules:
- RFC 9051 §4.3 / RFC 7888 §4: every line is checked for ``{n}``, ``{n+}``, ``~{n}`` (literal8, RFC 3516
  §4.2) or ``~{n+}`` just before its CRLF; the octets after it and the next line belong to the same
  command. A synchronising literal is answered (``NeedLiteral(sync=True)``: send ``+``) only after its size
  is checked: too big gives a tagged ``NO [TOOBIG]`` (RFC 4469 §4.2, RFC 7889 §4) and the client never
  sends it. A non-synchronising literal that is too big (or above 4096 under LITERAL-, RFC 7888 §5)
  is on its way already: its octets are read and dropped, never kept, and the command is answered
  with a tagged error once it ends (RFC 7888 §4, choice 1), so that the session goes on. Past
  ``Limits.max_discard`` dropped octets in one command the connection is closed with
  ``* BYE [TOOBIG]`` instead (choice 2): reading a client's gigabytes to stay polite is no defence.
- The command line outside literals is limited in total (``max_line``, all pieces of one command);
  over-long input closes the connection (its rest could otherwise run as commands, as Dovecot does).
- Literal octets are never copied into one piece: they are kept in the chunks they arrived in. With
  ``Limits.stream_over`` set, an APPEND literal larger than that (or one that would take the literals
  kept for the command past ``max_literal_total``) is not kept at all: its chunks are handed out as
  ``LiteralChunk`` events while they arrive (the handler spools them to a temporary file), and the
  command's ``LiteralData`` is marked ``streamed``. The command may still turn out to be
  invalid (a ``CommandError`` instead of a ``Command``): the handler then drops what it spooled.
- NUL outside a literal8 is a BAD (RFC 9051 §9 CHAR8 excludes %x00). Every BAD counts against an error
  budget; when it is spent the connection is closed with BYE.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pochta.proto.buffer import BareLineFeed, LineTooLong, ReceiveBuffer
from pochta.proto.imap.commands import Command, Flag, State, check_state, lookup, parse_command, parse_head
from pochta.proto.imap.responses import Bye, Status, Tagged
from pochta.proto.imap.wire import Assembled, LiteralData, ParseError

# RFC 7888 §4: the literal marker immediately precedes CRLF.
_MARKER = re.compile(rb"(~?)\{([0-9]{1,20})(\+?)\}\Z")
LITERAL_MINUS_MAX = 4096  # RFC 7888 §5


@dataclass(frozen=True)
class Limits:
    """Every limit the receiver enforces (DESIGN.md principle 5); the server fills them from config."""

    max_line: int = 64 * 1024  # command octets outside literals, all pieces of one command
    max_literal: int = 64 * 1024  # any literal of a command other than APPEND
    max_literal_total: int = 256 * 1024  # all literals of one command other than APPEND
    append_limit: int = 50 * 1024 * 1024  # one APPEND message (advertised as APPENDLIMIT, RFC 7889)
    max_append_total: int = 200 * 1024 * 1024  # all literals of one (MULTI)APPEND command
    max_literals: int = 1000  # literals in one command
    max_depth: int = 64  # nesting of parenthesised lists and SEARCH programs
    max_errors: int = 10  # consecutive BAD responses before the connection is closed
    # APPEND literals above this many octets come as LiteralChunk events; so do smaller ones once
    # those kept in memory would exceed max_literal_total (the memory any command may hold).
    stream_over: int | None = None
    literal_minus: bool = True  # LITERAL- (IMAP4rev2 always); False: LITERAL+
    # Octets of refused non-synchronising literals one command may still send (read and dropped);
    # past it the connection is closed.
    max_discard: int = 50 * 1024 * 1024


@dataclass(frozen=True)
class NeedMoreData:
    """Nothing complete is buffered: read from the socket and ``receive_data`` again."""


@dataclass(frozen=True)
class NeedLiteral:
    """A literal of ``size`` octets is expected. ``sync``: send a continuation request now."""

    size: int
    sync: bool
    binary: bool = False


@dataclass(frozen=True)
class CommandError:
    """A command failed before execution; send ``reply``. ``close``: disconnect after writing it."""

    tag: bytes | None
    reply: Tagged | Bye
    close: bool = False


@dataclass(frozen=True)
class LiteralChunk:
    """Octets of literal number ``index`` of the command being received (see ``Limits.stream_over``)."""

    index: int
    data: bytes
    last: bool
    binary: bool = False  # a literal8 (RFC 3516 §4.2): its octets are not text


@dataclass(frozen=True)
class IdleDone:
    """RFC 2177 §3: the client ended IDLE with DONE."""


@dataclass(frozen=True)
class ContinuationLine:
    """A line answering a continuation request (an AUTHENTICATE response, RFC 9051 §6.2.2)."""

    line: bytes


Event = NeedMoreData | NeedLiteral | LiteralChunk | CommandError | Command | IdleDone | ContinuationLine

_NEED_MORE = NeedMoreData()


@dataclass
class _Pending:
    """A command being assembled across literals."""

    assembled: Assembled = field(default_factory=Assembled)
    tag: bytes | None = None
    append: bool = False
    line_octets: int = 0
    literal_total: int = 0
    kept: int = 0  # octets of the literals kept in memory (not streamed)
    # a literal in progress
    remaining: int = 0
    binary: bool = False
    streaming: bool = False
    size: int = 0
    chunks: list[bytes] = field(default_factory=list)
    discarding: bool = False  # the literal in progress is refused: its octets are dropped
    discarded: int = 0  # octets of refused literals of this command
    doomed: CommandError | None = None  # consume its literals, then report this


class Receiver:
    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._buf = ReceiveBuffer(self.limits.max_line, strict_crlf=False)
        self._pending: _Pending | None = None
        self._mode = "command"  # or "idle", "line", "closed"
        self._idle_tag: bytes | None = None
        self.errors = 0
        self.utf8 = False  # set after ENABLE IMAP4rev2 / UTF8=ACCEPT: UTF-8 in quoted strings
        self.state: State | None = None  # when set, commands illegal in this state are answered BAD

    # --- input ------------------------------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        if self._mode != "closed":
            self._buf.feed(data)

    @property
    def closed(self) -> bool:
        return self._mode == "closed"

    @property
    def line_open(self) -> bool:
        """Once ``next_command`` needs data: a line has begun and not ended (a command line, also the
        part after a literal, a DONE or a continuation line). Literal octets are not a line."""
        pending = self._pending
        if self._mode == "closed" or (pending is not None and pending.remaining):
            return False
        return pending is not None or self._buf.line_open

    def discard_buffered(self) -> int:
        """After STARTTLS: plaintext pipelined behind it must not run (RFC 9051 §6.2.1)."""
        return self._buf.discard()

    def expect_idle_done(self, tag: bytes) -> None:
        """After sending ``+ idling`` for IDLE ``tag``: the next line must be DONE (RFC 2177 §3)."""
        self._mode = "idle"
        self._idle_tag = tag

    def expect_line(self) -> None:
        """After a continuation request of AUTHENTICATE: the next line is the client's response."""
        self._mode = "line"

    # --- output -----------------------------------------------------------------------------------
    def next_command(self) -> Event:
        if self._mode == "closed":
            return _NEED_MORE
        pending = self._pending
        if pending is not None and pending.remaining:
            return self._read_literal(pending)
        try:
            line = self._buf.next_line()
        except LineTooLong:
            return self._fatal("Command line too long", "TOOBIG")
        except BareLineFeed as exc:  # cannot happen with strict_crlf=False; kept for safety
            line = exc.line
        if line is None:
            return _NEED_MORE
        if self._mode == "idle":
            self._mode = "command"
            if line.upper() == b"DONE":
                return IdleDone()
            return self._bad(self._idle_tag, "Expected DONE")
        if self._mode == "line":
            self._mode = "command"
            return ContinuationLine(line)
        return self._line(line)

    # --- internals --------------------------------------------------------------------------------
    def _line(self, line: bytes) -> Event:
        pending = self._pending
        first = pending is None
        if pending is None:
            pending = self._pending = _Pending()
            if not line.strip():
                self._pending = None
                return self._bad(None, "Empty command line")
        marker = _MARKER.search(line)
        piece = line[: marker.start()] if marker else line
        pending.line_octets += len(piece)
        if pending.line_octets > self.limits.max_line:
            return self._fatal("Command line too long", "TOOBIG")
        pending.assembled.lines.append(piece)
        if first:
            self._inspect_head(pending, piece)
        if b"\x00" in piece and pending.doomed is None:
            pending.doomed = self._error(pending.tag, "NUL in command")
        if marker is None:
            return self._finish(pending)
        size = int(marker.group(2))
        binary = bool(marker.group(1))
        sync = not marker.group(3)
        limits = self.limits
        if pending.append:
            limit, total = limits.append_limit, limits.max_append_total
        else:
            limit, total = limits.max_literal, limits.max_literal_total
        if len(pending.assembled.literals) >= limits.max_literals:
            return self._reject_literal(pending, size, sync, "Too many literals in one command")
        if size > limit or pending.literal_total + size > total:
            return self._reject_literal(pending, size, sync, "Literal too big")
        if not sync and self.limits.literal_minus and size > LITERAL_MINUS_MAX:
            # RFC 7888 §5: under LITERAL- a non-synchronising literal is at most 4096 octets; the
            # tagged answer to it is BAD with TOOBIG.
            return self._reject_literal(
                pending, size, sync, "Non-synchronizing literal over 4096 octets", Status.BAD
            )
        if not sync and pending.doomed is not None:
            # The command fails anyway: its literals need not be kept, only read past.
            return self._discard_literal(pending, size)
        if sync and pending.doomed is not None:
            # The command fails anyway: answer now, so that the client does not send the literal.
            self._pending = None
            return self._count(pending.doomed)
        pending.remaining = size
        pending.size = size
        pending.binary = binary
        pending.literal_total += size
        pending.chunks = []
        stream_over = self.limits.stream_over
        pending.streaming = (
            pending.append
            and stream_over is not None
            and (size > stream_over or pending.kept + size > limits.max_literal_total)
        )
        if not pending.streaming:
            pending.kept += size
        if size == 0:
            self._store_literal(pending)
        return NeedLiteral(size, sync, binary)

    def _inspect_head(self, pending: _Pending, piece: bytes) -> None:
        """The tag and command name are known from the first line: literal limits depend on them."""
        try:
            tag, name, _uid = parse_head(piece)
        except ParseError as exc:
            pending.tag = _tag_of(piece)
            pending.doomed = self._error(pending.tag, exc.message)
            return
        pending.tag = tag
        spec = lookup(name)
        pending.append = spec is not None and Flag.MESSAGE_LITERALS in spec.flags  # APPEND, REPLACE
        if spec is None:
            pending.doomed = self._error(tag, "Unknown command")
        elif self.state is not None and (reason := check_state(spec, self.state)) is not None:
            pending.doomed = self._error(tag, reason)

    def _reject_literal(
        self, pending: _Pending, size: int, sync: bool, text: str, status: Status = Status.NO
    ) -> Event:
        reply = CommandError(pending.tag, Tagged(pending.tag or b"*", status, text, code="TOOBIG"))
        if not sync:
            # RFC 7888 §4, choice 1: a non-synchronising literal cannot be refused before it comes;
            # read it, drop it, and answer the command with the refusal once it ends.
            if pending.doomed is None:
                pending.doomed = reply
            return self._discard_literal(pending, size)
        self._pending = None
        # RFC 4469 §4.2 / RFC 7889 §4: NO [TOOBIG] before the continuation; the client sends nothing more.
        return reply

    def _discard_literal(self, pending: _Pending, size: int) -> Event:
        """Read past a non-synchronising literal of a failed command without keeping it."""
        pending.discarded += size
        if pending.discarded > self.limits.max_discard:
            # RFC 7888 §4, choice 2: too much to read only to drop it.
            return self._fatal("Literal too big", "TOOBIG")
        pending.remaining = size
        pending.size = size
        pending.discarding = size > 0
        pending.streaming = False
        return NeedLiteral(size, False)

    def _read_literal(self, pending: _Pending) -> Event:
        chunk = self._buf.read_up_to(pending.remaining)
        if not chunk:
            return _NEED_MORE
        pending.remaining -= len(chunk)
        if pending.discarding:
            if pending.remaining:
                return _NEED_MORE
            pending.discarding = False
            return self.next_command()
        if pending.streaming:
            if not pending.binary and pending.doomed is None and b"\x00" in chunk:
                pending.doomed = self._error(pending.tag, "NUL in literal; use literal8")
            index = len(pending.assembled.literals)
            if not pending.remaining:
                self._store_literal(pending)
            return LiteralChunk(index, chunk, last=not pending.remaining, binary=pending.binary)
        pending.chunks.append(chunk)
        if pending.remaining:
            return _NEED_MORE
        self._store_literal(pending)
        return self.next_command()

    def _store_literal(self, pending: _Pending) -> None:
        if pending.streaming:
            index = len(pending.assembled.literals)
            pending.streaming = False
            lit = LiteralData((), pending.binary, streamed=True, index=index, streamed_size=pending.size)
            pending.assembled.literals.append(lit)
            return
        lit = LiteralData(tuple(pending.chunks), pending.binary)
        pending.chunks = []
        if not pending.binary and pending.doomed is None and any(b"\x00" in c for c in lit.chunks):
            pending.doomed = self._error(pending.tag, "NUL in literal; use literal8")
        pending.assembled.literals.append(lit)

    def _finish(self, pending: _Pending) -> Event:
        self._pending = None
        if pending.doomed is not None:
            return self._count(pending.doomed)
        try:
            command = parse_command(pending.assembled, utf8=self.utf8, max_depth=self.limits.max_depth)
        except ParseError as exc:
            return self._count(self._error(pending.tag, exc.message, exc.code))
        self.errors = 0  # the budget counts consecutive BADs (as Dovecot's bad_counter)
        return command

    def record_bad(self) -> CommandError | None:
        """A handler answered BAD (a sequence number past EXISTS, RFC 9051 §9 seq-number): it counts too.

        Returns the closing BYE when the budget is spent (send it and disconnect), else None.
        """
        self.errors += 1
        if self.errors >= self.limits.max_errors:
            return self._fatal("Too many invalid commands")
        return None

    def _error(self, tag: bytes | None, text: str, code: str | None = None) -> CommandError:
        # RFC 9051 §7.1: BAD for a protocol error; untagged when the tag itself is unreadable.
        return CommandError(tag, Tagged(tag or b"*", Status.BAD, text, code=code))

    def _bad(self, tag: bytes | None, text: str) -> Event:
        return self._count(self._error(tag, text))

    def _count(self, error: CommandError) -> Event:
        if error.reply.status is Status.BAD:
            self.errors += 1
            if self.errors >= self.limits.max_errors:
                return self._fatal("Too many invalid commands")
        return error

    def _fatal(self, text: str, code: str | None = None) -> CommandError:
        tag = self._pending.tag if self._pending else None
        self._pending = None
        self._mode = "closed"
        self._buf.discard()
        return CommandError(tag, Bye(text, code=code), close=True)


_TAG_PREFIX = re.compile(rb"[^ \x00-\x1f\x7f-\xff(){%*\"\\]+")


def _tag_of(piece: bytes) -> bytes | None:
    """The tag to answer a command that did not parse with, or None for an untagged BAD."""
    m = _TAG_PREFIX.match(piece)
    if m is None or b"+" in m.group():
        return None
    after = piece[m.end() : m.end() + 1]
    # RFC 9051 §9: tag = 1*<any ASTRING-CHAR except "+">, 7-bit; a tag running on into an 8-bit
    # byte or a control is not one, and echoing it would put that byte where a tag must be.
    if after and not 0x20 <= after[0] < 0x7F:
        return None
    return m.group()
