"""The POP3 connection loop: read -> feed ``Pop3Core`` -> fulfil its events -> write.

One handler per event kind below binds the sans-IO session to the store; the semantics of the
maildrop (policies, snapshot, lock, QUIT's commit) live in ``maildrop``, the logins in ``login``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import mmap
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
    State,
    TopFilter,
    needs_stuffing,
    stuff_whole,
    terminator,
)
from pochta.proto.sasl import PLAINTEXT_MECHANISMS, SERVER_MECHANISMS
from pochta.server.blob_window import BlobWindow
from pochta.server.connection import Connection, IdleTimeout
from pochta.server.pop3.login import LoginFlow
from pochta.server.pop3.maildrop import Maildrop, MaildropLocks, Pop3Policy, commit
from pochta.server.sasl_driver import SaslExchange
from pochta.store.api import Store, StoreError
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


def _open_and_scan(store: Store, ref: BlobRef) -> tuple[BinaryIO, bool, bool] | None:
    """Runs in a worker thread: the open blob, whether it needs byte-stuffing, whether it ends with
    a line end; None (the file closed) if it cannot be mapped (empty: shorter than recorded)."""
    blob = store.open_blob(ref)
    if isinstance(blob, io.BytesIO):  # kept in the database (store.inline_blob_max): no file to map
        blob.close()
        return None
    try:
        length = min(os.fstat(blob.fileno()).st_size, ref.size)
        if length == 0:
            blob.close()
            return None
        with mmap.mmap(blob.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            # A scan at memchr speed, which also brings the pages in for sendfile.
            return blob, needs_stuffing(mapped, length), mapped[length - 1] == 0x0A
    except BaseException:
        blob.close()
        raise


@dataclass
class Session:
    """What one connection holds beside its core."""

    conn: Connection
    core: Pop3Core
    maildrop: Maildrop | None = None
    sasl: SaslExchange | None = None  # an AUTH exchange waiting for the client's answer
    locked: tuple[int, bool] | None = None
    # Replies of the current batch of (pipelined) commands not yet written, in order: the core's
    # output so far and message texts read in one piece.
    out: bytearray = dataclasses.field(default_factory=bytearray)
    # The fast reader (``_receive_fast``) handed over to the loop: the event it could not answer
    # without awaiting (answered first), and that the loop's read returning b"" is no end of stream.
    parked: Event | None = None
    resume: bool = False
    fast: bool = False  # the fast reader is installed (once in TRANSACTION)
    # Small messages read ahead for RETR/TOP (``BlobWindow``), made with the maildrop's first one.
    window: BlobWindow | None = None
    # The message a RETR asked for last, and (index, needs byte-stuffing) of the one after it,
    # scanned while the client was reading that reply (``_scan_ahead``).
    last_retrieved: int = -1
    scanned: tuple[int, bool] = (-1, False)

    def take_output(self) -> bytearray:
        """Everything due to the client, in order: ``out`` and then the core's output. Handed
        over, not copied: ``out`` starts afresh and the returned buffer is never changed again."""
        data, self.out = self.out, bytearray()
        data += self.core.data_to_send()
        return data


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
            conn.set_fast_reader(None)
            if session.window is not None:
                session.window.close()
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
            if data:
                core.receive_data(data)
            elif not session.resume:
                return  # dropped: RFC 1939 §6, nothing changes without QUIT
            session.resume = False
            with conn.busy_section():
                event, session.parked = session.parked, None
                if event is None:
                    event = core.next_event()
                while event is not None:
                    if isinstance(event, Close):
                        await conn.send(session.take_output())
                        conn.log.info("pop3 close", reason=event.reason)
                        return
                    await self._handle(session, event)
                    event = core.next_event()
                # RFC 2449 §6.6 PIPELINING: replies to a batch of commands go out together.
                await conn.send(session.take_output())
            if not session.fast and core.state is State.TRANSACTION:
                session.fast = True
                conn.set_fast_reader(lambda data: self._receive_fast(session, data))

    def _receive_fast(self, session: Session, data: bytes) -> None:
        """Commands that arrive while the loop waits, answered in the socket callback (see
        ``Connection.set_fast_reader``): everything but RETR/TOP is answered by the core alone, and
        a RETR/TOP of a message up to ``inline_read_max`` needs one read. The first event that
        needs more is parked for the loop, which is woken for it."""
        conn, core = session.conn, session.core
        core.receive_data(data)
        chunk_size = self.settings.pop3.chunk_size
        while not conn.writing_paused:
            event = core.next_event()
            if event is None:
                break
            if not (isinstance(event, Retrieve) and self._retrieve_inline(session, event)):
                session.parked = event
                break
            if len(session.out) >= chunk_size:
                conn.write(session.take_output())
        conn.write(session.take_output())
        if session.parked is not None or core.line_open or conn.writing_paused:
            # The loop takes over: the parked event, the unfinished line (its deadline), or the
            # rest of a pipelined batch once the peer has read (drain).
            session.resume = True
            conn.interrupt_read()
        else:
            self._scan_ahead(session)

    def _scan_ahead(self, session: Session) -> None:
        """Whether the message after the one RETR asked for last needs byte-stuffing, found now,
        while the client reads that reply: a client downloading its maildrop asks for it next, and
        the scan (~0.4 ns an octet) is then no longer between its command and our reply."""
        index = session.last_retrieved + 1
        window = session.window
        sizes = session.core.listing.sizes
        if index == 0 or session.scanned[0] == index or window is None or index >= len(sizes):
            return
        text = window.take(index)
        if text is not None:
            text = text[: sizes[index]]
            session.scanned = (index, needs_stuffing(text, len(text)))

    async def _handle(self, session: Session, event: Event) -> None:
        match event:
            case PasswordLogin() | ApopLogin() | AuthStart() | SaslResponse():
                await self.login.handle(session, event)
            case StartTls():
                await session.conn.send(session.take_output())
                await session.conn.start_tls()
                session.core.tls_started(self.capabilities(session.conn))
            case Retrieve(index, body_lines):
                await self._retrieve(session, index, body_lines)
            case Commit(deleted, retrieved):
                await self._commit(session, deleted, retrieved)

    # -- RETR / TOP ----------------------------------------------------------------------------------

    async def _retrieve(self, session: Session, index: int, body_lines: int | None) -> None:
        """RFC 1939 §7 RETR and TOP: "+OK", the message byte-stuffed (RFC 1939 §3), ".CRLF".

        Three ways, by size and connection: a small message is read in one read on this thread and
        joins the batch's replies (one write for a pipelined batch); a larger one that needs no
        stuffing goes by sendfile(2) on a plain connection; anything else streams in chunks read by
        a worker thread. All three give the same octets."""
        conn, maildrop = session.conn, session.maildrop
        assert maildrop is not None
        pop3 = self.settings.pop3
        ref = maildrop.blob(index)
        window = self._window(session, maildrop)
        if ref.size <= pop3.inline_read_max and window.take(index) is None:
            await window.settle()  # a read ahead in progress may bring it
        if ref.size <= pop3.inline_read_max and window.take(index) is None:
            # Not held: this message and the next small ones, in one reader job (the socket
            # callback then answers their RETRs from memory).
            try:
                await window.load(index)
            except (OSError, StoreError) as exc:
                conn.log.error("pop3 blob unreadable", error=str(exc), uid=maildrop.uid(index))
                session.core.retrieve_failed("Message cannot be read now")
                return
        if self._retrieve_inline(session, Retrieve(index, body_lines)):
            if len(session.out) >= pop3.chunk_size:
                # A long pipelined batch: write what has gathered, and wait if the client lags.
                await conn.send(session.take_output())
            return
        try:
            if body_lines is None and pop3.sendfile and conn.can_sendfile:
                scanned = await asyncio.to_thread(_open_and_scan, self.store, ref)
                if scanned is not None and not scanned[1]:
                    blob, _, line_end = scanned
                    with blob:
                        await self._retrieve_sendfile(session, index, blob, ref.size, line_end)
                    return
                if scanned is not None:
                    scanned[0].close()
            # Opening and the first read share one trip to a worker thread.
            blob, chunk = await asyncio.to_thread(_open_and_read, self.store, ref, pop3.chunk_size)
        except (OSError, StoreError) as exc:  # StoreError: NotFound, the blob is missing
            conn.log.error("pop3 blob unreadable", error=str(exc), uid=maildrop.uid(index))
            session.core.retrieve_failed("Message cannot be read now")
            return
        with blob:
            await self._retrieve_chunks(session, index, body_lines, blob, chunk, ref.size - len(chunk))

    def _window(self, session: Session, maildrop: Maildrop) -> BlobWindow:
        if session.window is None:
            pop3 = self.settings.pop3
            prefetch = self.settings.store.blob_prefetch_bytes
            session.window = BlobWindow(
                self.store, maildrop.blob, len(maildrop), pop3.inline_read_max, prefetch
            )
        return session.window

    def _retrieve_inline(self, session: Session, event: Retrieve) -> bool:
        """A message up to ``inline_read_max`` whose bytes the session's ``BlobWindow`` holds (read
        ahead by a reader job, rows of the database and files alike: no I/O on this thread), added
        to ``session.out`` with its "+OK" and terminator. False (nothing done) for a larger one or
        one not held; True, with the error reply, for one that the window found missing."""
        maildrop, core = session.maildrop, session.core
        assert maildrop is not None
        index, body_lines = event.index, event.body_lines
        size = core.listing.sizes[index]  # the blob's recorded size, as listed at login
        if size > self.settings.pop3.inline_read_max:
            return False
        window = session.window or self._window(session, maildrop)
        text = window.take(index)
        if text is None:
            if not window.tried(index):
                return False  # the loop reads it ahead (``_retrieve``)
            # NotFound: the blob is missing.
            session.conn.log.error("pop3 blob unreadable", error="missing", uid=maildrop.uid(index))
            core.retrieve_failed("Message cannot be read now")
            return True
        window.read_ahead(index)  # the next run, while the client takes this one
        text = text[:size]
        core.retrieve_begin(index, body_lines)
        out = session.out
        out += core.data_to_send()
        if body_lines is not None:
            top = TopFilter(body_lines)
            text = top.feed(text) + top.flush()
            stuffing = needs_stuffing(text, len(text))
        else:
            session.last_retrieved = index
            scanned, session.scanned = session.scanned, (-1, False)
            stuffing = scanned[1] if scanned[0] == index else needs_stuffing(text, len(text))
        if stuffing:
            out += stuff_whole(text)
        else:  # RFC 1939 §3: no line starts with ".", the text as it is (no copy made by stuffing)
            out += text
            out += terminator(not text or text[-1] == 0x0A)
        return True

    async def _retrieve_sendfile(
        self, session: Session, index: int, blob: BinaryIO, size: int, line_end: bool
    ) -> None:
        conn = session.conn
        session.core.retrieve_begin(index, None)
        conn.write(session.take_output())
        # RFC 1939 §3: no line starts with ".", so the stuffed text is the file itself.
        sent = await conn.sendfile(blob, 0, size, self.settings.pop3.chunk_size)
        if sent < size:  # shorter than recorded: send what there is (reconstruct will report it)
            blob.seek(max(sent - 1, 0))
            line_end = sent == 0 or blob.read(1) == b"\n"
        conn.write(terminator(line_end))

    async def _retrieve_chunks(
        self,
        session: Session,
        index: int,
        body_lines: int | None,
        blob: BinaryIO,
        chunk: bytes,
        remaining: int,
    ) -> None:
        conn = session.conn
        session.core.retrieve_begin(index, body_lines)
        conn.write(session.take_output())
        stuffer = DotStuffer()
        top = None if body_lines is None else TopFilter(body_lines)
        # RFC 1939 §3: the message streams from its file in chunks, byte-stuffed; never whole
        # in memory.
        while True:
            if top is not None:
                chunk = top.feed(chunk)
            conn.write(stuffer.feed(chunk))
            if top is not None and top.done:
                break
            if remaining <= 0:
                break
            await conn.drain()
            chunk = await asyncio.to_thread(blob.read, min(self.settings.pop3.chunk_size, remaining))
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
