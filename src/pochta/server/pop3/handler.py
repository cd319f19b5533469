"""The POP3 connection loop: read -> feed ``Pop3Core`` -> fulfil its events -> write.

One handler per event kind below binds the sans-IO session to the store; the semantics of the
maildrop (policies, snapshot, lock, QUIT's commit) live in ``maildrop``, the logins in ``login``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO

from pochta.auth.authenticator import Authenticator, plaintext_allowed
from pochta.config import Settings
from pochta.mail.ops import MailOps
from pochta.plural import plural
from pochta.proto.pop3 import (
    ApopLogin,
    AuthStart,
    Capabilities,
    Close,
    Commit,
    DotStuffer,
    Event,
    PasswordLogin,
    Pop3Core,
    Retrieve,
    SaslResponse,
    StartTls,
    TopFilter,
)
from pochta.proto.sasl import PLAINTEXT_MECHANISMS, SERVER_MECHANISMS, ServerMechanism
from pochta.server.connection import Connection, IdleTimeout
from pochta.server.pop3.login import LoginFlow
from pochta.server.pop3.maildrop import Maildrop, MaildropLocks, Pop3Policy, commit
from pochta.store.api import Store
from pochta.store.model import BlobRef

__all__ = ["Pop3Handler"]


def _open_and_read(store: Store, ref: BlobRef, size: int) -> tuple[BinaryIO, bytes]:
    """Runs in a worker thread."""
    blob = store.open_blob(ref)
    try:
        return blob, blob.read(size)
    except BaseException:
        blob.close()
        raise


@dataclass
class Session:
    """What one connection holds beside its core."""

    conn: Connection
    core: Pop3Core
    maildrop: Maildrop | None = None
    mechanism: ServerMechanism | None = None
    sasl_user: str = ""
    sasl_success: str | None = None  # SCRAM succeeded; waiting for the client's empty line
    locked: tuple[int, bool] | None = None


class Pop3Handler:
    """The ``ProtocolHandler`` for the pop3 and pop3s listeners."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        authenticator: Authenticator | None = None,
        ops: MailOps | None = None,
        scram_secret: bytes | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.authenticator = authenticator or Authenticator(store, settings.login, server_secret=scram_secret)
        self.ops = ops or MailOps.from_settings(store, settings)
        self.locks = MaildropLocks(store)
        self.login = LoginFlow(self, scram_secret)
        self._clock = 0

    def reconfigure(self, settings: Settings) -> None:
        """Settings from a reload, for logins from now on; maildrop locks are kept."""
        self.settings = settings
        self.authenticator.reconfigure(settings.login)
        self.ops = MailOps.from_settings(self.store, settings)

    # -- ProtocolHandler -----------------------------------------------------------------------------

    async def __call__(self, conn: Connection) -> None:
        pop3 = self.settings.pop3
        core = Pop3Core(
            self.capabilities(conn),
            timestamp=self._timestamp(),
            greeting=f"{self.settings.hostname} pochta POP3 ready",
            max_errors=pop3.max_errors,
            max_argument_length=pop3.max_argument_length,
        )
        session = Session(conn, core)
        try:
            await conn.send(core.data_to_send())
            await self._serve(session)
        except IdleTimeout as exc:
            conn.log.info("pop3 autologout", authenticated=session.maildrop is not None, reason=str(exc))
            if session.maildrop is not None:
                # RFC 1939 §3: the autologout timer expired; the session ends without UPDATE.
                goodbye = b"-ERR [SYS/TEMP] Autologout: idle for too long, nothing changed\r\n"
            else:
                # Before login: idle, or server.login_timeout / server.line_timeout passed.
                goodbye = f"-ERR Autologout: {exc}\r\n".encode()
            with contextlib.suppress(OSError):
                await conn.send(goodbye)
        finally:
            if session.locked is not None:
                await self.locks.release(*session.locked)

    async def busy(self, conn: Connection) -> None:
        await conn.send(b"-ERR [SYS/TEMP] Too many connections, try again later\r\n")

    async def shutdown(self, conn: Connection) -> None:
        await conn.send(b"-ERR [SYS/TEMP] Server shutting down, nothing changed\r\n")

    # -- the loop ------------------------------------------------------------------------------------

    async def _serve(self, session: Session) -> None:
        conn, core = session.conn, session.core
        while True:
            data = await conn.read_some(line_open=core.line_open)
            if not data:
                return  # dropped: RFC 1939 §6, nothing changes without QUIT
            core.receive_data(data)
            with conn.busy_section():
                while (event := core.next_event()) is not None:
                    if isinstance(event, Close):
                        await conn.send(core.data_to_send())
                        conn.log.info("pop3 close", reason=event.reason)
                        return
                    await self._handle(session, event)
                # RFC 2449 §6.6 PIPELINING: replies to a batch of commands go out together.
                await conn.send(core.data_to_send())

    async def _handle(self, session: Session, event: Event) -> None:
        match event:
            case PasswordLogin() | ApopLogin() | AuthStart() | SaslResponse():
                await self.login.handle(session, event)
            case StartTls():
                await session.conn.send(session.core.data_to_send())
                await session.conn.start_tls()
                session.core.tls_started(self.capabilities(session.conn))
            case Retrieve(index, body_lines):
                await self._retrieve(session, index, body_lines)
            case Commit(deleted, retrieved):
                await self._commit(session, deleted, retrieved)

    # -- RETR / TOP ----------------------------------------------------------------------------------

    async def _retrieve(self, session: Session, index: int, body_lines: int | None) -> None:
        conn, core, maildrop = session.conn, session.core, session.maildrop
        assert maildrop is not None
        ref = maildrop.blob(index)
        chunk_size = self.settings.pop3.chunk_size
        try:
            # Opening and the first read share one trip to a worker thread: most messages are
            # smaller than a chunk, so a RETR usually costs exactly one.
            blob, chunk = await asyncio.to_thread(_open_and_read, self.store, ref, chunk_size)
        except OSError as exc:
            conn.log.error("pop3 blob unreadable", error=str(exc), uid=maildrop.uid(index))
            core.retrieve_failed("Message cannot be read now")
            return
        with blob:
            core.retrieve_begin(index, body_lines)
            conn.write(core.data_to_send())
            stuffer = DotStuffer()
            top = None if body_lines is None else TopFilter(body_lines)
            remaining = ref.size - len(chunk)
            # RFC 1939 §3: the message streams from its file in chunks, byte-stuffed; never whole
            # in memory. (sendfile cannot be used: stuffing has to look at every line start.)
            while True:
                if top is not None:
                    chunk = top.feed(chunk)
                conn.write(stuffer.feed(chunk))
                if top is not None and top.done:
                    break
                if remaining <= 0:
                    break
                await conn.drain()
                chunk = await asyncio.to_thread(blob.read, min(chunk_size, remaining))
                if not chunk:
                    break  # shorter than recorded: send what there is (reconstruct will report it)
                remaining -= len(chunk)
            if top is not None:
                conn.write(stuffer.feed(top.flush()))
            conn.write(stuffer.end())

    # -- QUIT ----------------------------------------------------------------------------------------

    async def _commit(self, session: Session, deleted: tuple[int, ...], retrieved: tuple[int, ...]) -> None:
        maildrop = session.maildrop
        assert maildrop is not None
        ok = await commit(self.ops, maildrop, deleted, retrieved)
        session.conn.log.info(
            "pop3 quit", deleted=len(deleted), retrieved=len(retrieved), ok=ok, recent=maildrop.recent
        )
        left = len(maildrop) - (0 if maildrop.recent else len(deleted))
        session.core.commit_done(ok, f"Bye, {plural(left, 'message')} left" if ok else "")

    # -- helpers -------------------------------------------------------------------------------------

    def capabilities(
        self, conn: Connection, policy: Pop3Policy | None = None, recent: bool = False
    ) -> Capabilities:
        plain = plaintext_allowed(self.settings.login, conn.is_secure, conn.peer_ip)
        delay = self.settings.pop3.login_delay if policy is None else policy.login_delay
        return Capabilities(
            sasl=tuple(m for m in SERVER_MECHANISMS if plain or m not in PLAINTEXT_MECHANISMS),
            user=plain,
            apop=True,
            stls=conn.starttls_available,
            login_delay=delay,
            login_delay_per_user=policy is not None,
            # RFC 2449 §6.7: this server never removes mail by itself; a recent: session only ever
            # lists the last recent_days days, which looks to the client like expiry.
            expire=f"{self.settings.pop3.recent_days} USER" if recent else "NEVER",
        )

    def _timestamp(self) -> str:
        """RFC 1939 §7 APOP: "<process-ID.clock@hostname>", different for every connection."""
        self._clock = max(self._clock + 1, time.time_ns())
        return f"<{os.getpid()}.{self._clock}@{self.settings.hostname}>"

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)
