"""The ManageSieve connection loop (RFC 5804) on the shared loop (``server.session_loop``): read ->
``Receiver`` -> one command at a time -> write.

- Greeting: the capabilities and ``OK`` (RFC 5804 §1.7). Before login the listener's
  ``server.idle_timeout_unauthenticated`` and ``server.login_timeout`` apply, after it
  ``managesieve.autologout``; ``BYE`` says why the session ends.
- Limits: a command line outside literals (``limits.max_line_length``), one literal (the largest
  script, ``sieve.max_script_size``, with room for the rest of the line), what is read and dropped of
  a larger one (``managesieve.max_literal_discard``), consecutive errors (``managesieve.max_errors``).
- Graceful stop: ``BYE (TRYLATER)`` between commands.
"""

from __future__ import annotations

import contextlib
import dataclasses

from pochta.auth.authenticator import Authenticator
from pochta.config import Settings
from pochta.mail.sieve_scripts import SieveScripts
from pochta.proto.managesieve import (
    CommandRefused,
    Line,
    LineError,
    NeedMoreData,
    Receiver,
    ReceiverLimits,
    Response,
    Status,
    parse_command,
)
from pochta.server.connection import Connection, DeadlineExpired, IdleTimeout
from pochta.server.listeners import ProtocolHandler
from pochta.server.managesieve.commands import HANDLERS, capabilities
from pochta.server.managesieve.session import Services, Session, SessionEnded
from pochta.server.session_loop import serve_commands
from pochta.store.api import Store

__all__ = ["ManageSieveHandler", "managesieve_handlers", "receiver_limits"]

# Room on a PUTSCRIPT line beside its script literal: command name, script name, spaces.
_LINE_ROOM = 4096


def receiver_limits(settings: Settings) -> ReceiverLimits:
    script = settings.sieve.max_script_size
    return ReceiverLimits(
        max_line=settings.limits.max_line_length,
        max_literal=script,
        max_literal_total=script + _LINE_ROOM,
        max_discard=settings.managesieve.max_literal_discard,
        max_errors=settings.managesieve.max_errors,
    )


class ManageSieveHandler:
    """The ``ProtocolHandler`` for the managesieve listener."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        authenticator: Authenticator | None = None,
        scram_secret: bytes | None = None,
    ) -> None:
        self.store = store
        self.services = Services(
            settings=settings,
            authenticator=authenticator or Authenticator(store, settings.login, server_secret=scram_secret),
            scripts=SieveScripts(store, settings.sieve),
            scram_secret=scram_secret,
        )
        self.limits = receiver_limits(settings)

    def reconfigure(self, settings: Settings) -> None:
        """Settings from a reload, for sessions from now on."""
        services = self.services
        services.authenticator.reconfigure(settings.login)
        self.services = dataclasses.replace(
            services, settings=settings, scripts=SieveScripts(self.store, settings.sieve)
        )
        self.limits = receiver_limits(settings)

    # -- ProtocolHandler -----------------------------------------------------------------------------

    async def __call__(self, conn: Connection) -> None:
        session = Session(conn, Receiver(self.limits), self.services)
        conn.set_idle_timeout(self.services.settings.server.idle_timeout_unauthenticated)
        try:
            session.send(capabilities(session))
            session.send(Response(Status.OK, f"{self.services.settings.hostname} pochta ManageSieve ready"))
            await session.flush()
            await serve_commands(_Loop(session))
        except IdleTimeout as exc:
            conn.log.info(
                "managesieve autologout", authenticated=session.account is not None, reason=str(exc)
            )
            text = (
                f"Autologout; {exc}" if isinstance(exc, DeadlineExpired) else "Autologout; idle for too long"
            )
            with contextlib.suppress(OSError):
                await conn.send(Response(Status.BYE, text).encode())

    async def busy(self, conn: Connection) -> None:
        await conn.send(Response(Status.BYE, "Too many connections, try again later", "TRYLATER").encode())

    async def shutdown(self, conn: Connection) -> None:
        await conn.send(Response(Status.BYE, "Server shutting down", "TRYLATER").encode())


class _Loop:
    """The session as the shared loop sees it."""

    __slots__ = ("conn", "session")

    def __init__(self, session: Session) -> None:
        self.session, self.conn = session, session.conn

    @property
    def line_open(self) -> bool:
        return self.session.receiver.line_open

    @property
    def finished(self) -> bool:
        return self.session.finished

    def receive(self, data: bytes) -> None:
        self.session.receiver.receive_data(data)

    async def flush(self) -> None:
        await self.session.flush()

    async def run_buffered(self) -> None:
        session = self.session
        with contextlib.suppress(SessionEnded):
            while not session.finished:
                event = session.receiver.next_line()
                if isinstance(event, NeedMoreData):
                    return
                session.send(await _run(session, event))
                await session.flush()


async def _run(session: Session, event: Line | LineError) -> Response:
    if isinstance(event, LineError):
        if event.close:
            session.finished = True
            return Response(Status.BYE, event.message)
        if event.too_big and event.command in ("PUTSCRIPT", "CHECKSCRIPT"):
            # RFC 5804 §2.6: a script over the size limit is a QUOTA/MAXSIZE refusal.
            return Response(Status.NO, "Script too large", "QUOTA/MAXSIZE")
        return Response(Status.NO, event.message)
    command = parse_command(event, session.state)
    if isinstance(command, CommandRefused):
        return Response(Status.NO, command.text)
    return await HANDLERS[command.name](session, command)


def managesieve_handlers(
    store: Store,
    settings: Settings,
    *,
    scram_secret: bytes | None = None,
    authenticator: Authenticator | None = None,
) -> dict[str, ProtocolHandler]:
    """The handler of the "managesieve" protocol (listener managesieve)."""
    return {
        "managesieve": ManageSieveHandler(
            store, settings, scram_secret=scram_secret, authenticator=authenticator
        )
    }
