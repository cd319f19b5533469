"""The IMAP connection loop: read -> feed ``Receiver`` -> dispatch each command -> write.

- Greeting ``* OK [CAPABILITY ...]`` (RFC 9051 §7.1.1); autologout: the listener's
  ``server.idle_timeout_unauthenticated`` before login, ``imap.autologout`` (at least 30 minutes,
  RFC 9051 §5.4) after, then ``* BYE Autologout``; likewise when ``server.login_timeout`` passes
  before login or ``server.line_timeout`` during one command line (``Connection`` keeps them).
- Limits are the receiver's (``Limits`` from config): the command line outside literals
  (``limits.max_line_length``), literals of APPEND (``limits.max_message_size``, APPENDLIMIT) and of
  other commands (``imap.max_literal_size``), the error budget (``limits.max_errors`` consecutive
  BADs, then ``* BYE``). LITERAL+ (RFC 7888 §3; or LITERAL- by config, §5): non-synchronising literals.
- Commands run one after another; the responses of each are written, and the write awaited, before
  the next command is taken (backpressure: a client that does not read stops being read).
- Graceful stop: ``* BYE [UNAVAILABLE]`` between commands (RFC 9051 §7.1.5).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path

from pochta.auth.authenticator import Authenticator
from pochta.config import Settings
from pochta.mail.ops import MailOps
from pochta.mail.spam_training import SpamTraining
from pochta.proto.imap import (
    Command,
    CommandError,
    Continuation,
    Limits,
    LiteralChunk,
    NeedLiteral,
    NeedMoreData,
    Receiver,
    Status,
    Untagged,
)
from pochta.proto.imap.responses import Bye, Code
from pochta.server.connection import CompressionError, Connection, DeadlineExpired, IdleTimeout
from pochta.server.imap import notify
from pochta.server.imap.commands import capabilities, dispatch
from pochta.server.imap.imapsieve import ImapSieve, Outbound
from pochta.server.imap.kept_threads import KeptThreads
from pochta.server.imap.session import Services, Session, SessionClosed
from pochta.server.listeners import ProtocolHandler
from pochta.server.session_loop import serve_commands
from pochta.store.api import Store

__all__ = ["ImapHandler", "imap_handlers"]


def receiver_limits(settings: Settings) -> Limits:
    limits, imap = settings.limits, settings.imap
    return Limits(
        max_line=limits.max_line_length,
        max_literal=imap.max_literal_size,
        max_literal_total=imap.max_literals_total,
        append_limit=limits.max_message_size,
        # MULTIAPPEND (RFC 3502): all messages of one APPEND together are bounded like one message
        # (the spool space one command may take, server.imap.append).
        max_append_total=limits.max_message_size,
        # APPEND literals larger than any other command's literal, or past what any command may keep
        # in memory, are written to spool files as they arrive (server.imap.uploads).
        stream_over=imap.max_literal_size,
        max_errors=limits.max_errors,
        # RFC 7888: LITERAL+ or LITERAL- as advertised by commands.capabilities.
        literal_minus=not imap.literal_plus,
        max_discard=imap.max_discarded_literal,
    )


class ImapHandler:
    """The ``ProtocolHandler`` for the imap (STARTTLS) and imaps (implicit TLS) listeners."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        authenticator: Authenticator | None = None,
        ops: MailOps | None = None,
        scram_secret: bytes | None = None,
        spool_dir: Path,
        outbound: Outbound | None = None,
    ) -> None:
        ops = ops or MailOps.from_settings(store, settings)
        self.outbound = outbound  # where Sieve on IMAP events sends (the outbound queue)
        self.services = Services(
            store=store,
            settings=settings,
            ops=ops,
            authenticator=authenticator or Authenticator(store, settings.login, server_secret=scram_secret),
            scram_secret=scram_secret,
            capabilities=capabilities,
            spool_dir=spool_dir,
            threads=KeptThreads(settings.imap.thread_cache_kb, settings.store.sort_cache_min_messages),
            imapsieve=ImapSieve(store, settings, ops, outbound),
            spam_training=SpamTraining(store, settings.antispam),
        )
        self.limits = receiver_limits(settings)

    def reconfigure(self, settings: Settings) -> None:
        """Settings from a reload, for sessions from now on (open ones keep their ``Services``)."""
        services = self.services
        services.authenticator.reconfigure(settings.login)
        if services.spam_training is not None:
            services.spam_training.reconfigure(settings.antispam)
        ops = MailOps.from_settings(services.store, settings)
        self.services = dataclasses.replace(
            services,
            settings=settings,
            ops=ops,
            imapsieve=ImapSieve(services.store, settings, ops, self.outbound),
        )
        self.limits = receiver_limits(settings)

    # -- ProtocolHandler -----------------------------------------------------------------------------

    async def __call__(self, conn: Connection) -> None:
        session = Session(conn, Receiver(self.limits), self.services)
        conn.set_idle_timeout(self.services.settings.server.idle_timeout_unauthenticated)
        try:
            caps = Code.capability(capabilities(session))
            greeting = f"{self.services.settings.hostname} pochta IMAP ready"
            session.send(Untagged(Status.OK, greeting, code=caps))  # RFC 9051 §7.1.1
            await session.flush()
            await self._serve(session)
        except IdleTimeout as exc:
            # RFC 9051 §5.4: the autologout timer expired, or a deadline passed (login, one line).
            conn.log.info("imap autologout", authenticated=session.account is not None, reason=str(exc))
            text = (
                f"Autologout; {exc}" if isinstance(exc, DeadlineExpired) else "Autologout; idle for too long"
            )
            with contextlib.suppress(OSError):
                await conn.send(Bye(text).encode())
        except CompressionError as exc:
            # RFC 4978: the client's DEFLATE stream is broken; nothing more of it can be read.
            conn.log.info("imap compression error", error=str(exc))
            with contextlib.suppress(OSError):
                await conn.send(Bye("Invalid compressed data").encode())
        finally:
            await session.uploads.discard()  # an APPEND cut off: its spool files go
            await session.unselect()
            await session.stop_notify()

    async def busy(self, conn: Connection) -> None:
        await conn.send(b"* BYE [UNAVAILABLE] Too many connections, try again later\r\n")

    async def shutdown(self, conn: Connection) -> None:
        await conn.send(b"* BYE [UNAVAILABLE] Server shutting down\r\n")

    # -- the loop ------------------------------------------------------------------------------------

    async def _serve(self, session: Session) -> None:
        await serve_commands(_Loop(session, self._run_buffered), _reader(session))
        if session.logout:
            conn = session.conn
            conn.log.info("imap logout")

    async def _run_buffered(self, session: Session) -> None:
        """Everything the receiver can make of what is buffered, one event at a time."""
        receiver = session.receiver
        while not session.logout:
            event = receiver.next_command()
            match event:
                case NeedMoreData():
                    return
                case NeedLiteral(sync=True):
                    session.send(Continuation("Ready for literal data"))  # RFC 9051 §7.6
                    await session.flush()
                case NeedLiteral():
                    pass  # {n-}: nothing to send
                case LiteralChunk(index=index, data=data, last=last, binary=binary):
                    await session.uploads.write(index, data, last, binary=binary)  # to its spool
                case CommandError(reply=reply, close=close):
                    await session.uploads.discard()
                    session.send(reply)
                    if close:
                        session.logout = True
                case Command():
                    try:
                        await dispatch(session, event)
                    finally:
                        await session.uploads.discard()  # what APPEND did not store
                    await session.flush()
                case _:  # IdleDone, ContinuationLine: only while a command drives the receiver
                    pass


class _Loop:
    """The IMAP session as the shared loop sees it (``server.session_loop``)."""

    __slots__ = ("_run", "conn", "session")

    def __init__(self, session: Session, run: Callable[[Session], Awaitable[None]]) -> None:
        self.session, self.conn, self._run = session, session.conn, run

    @property
    def line_open(self) -> bool:
        return self.session.receiver.line_open

    @property
    def finished(self) -> bool:
        return self.session.logout

    def receive(self, data: bytes) -> None:
        self.session.receiver.receive_data(data)

    async def run_buffered(self) -> None:
        with contextlib.suppress(SessionClosed):  # session.logout is set: the loop ends
            await self._run(self.session)

    async def flush(self) -> None:
        await self.session.flush()


def _reader(session: Session) -> Callable[[], Awaitable[bytes]]:
    conn, receiver = session.conn, session.receiver

    def read() -> Awaitable[bytes]:
        if session.notifier is None:
            return conn.read_some(line_open=receiver.line_open)
        return notify.read_between_commands(session)  # RFC 5465 §3: news meanwhile

    return read


def imap_handlers(
    store: Store,
    settings: Settings,
    *,
    spool_dir: Path,
    scram_secret: bytes | None = None,
    authenticator: Authenticator | None = None,
    outbound: Outbound | None = None,
) -> dict[str, ProtocolHandler]:
    """The handler of the "imap" protocol (listeners imap and imaps, config.LISTENER_KINDS);
    ``outbound``: where Sieve scripts on IMAP events send mail (``Delivery.send_outgoing``)."""
    return {
        "imap": ImapHandler(
            store,
            settings,
            scram_secret=scram_secret,
            authenticator=authenticator,
            spool_dir=spool_dir,
            outbound=outbound,
        )
    }
