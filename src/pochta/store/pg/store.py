"""``PgStore``: the store on PostgreSQL, so far its portable part and the first part of the mail
core (``pg/mail_methods``; docs/scaling.md says exactly which parts serve). Built by
``open_pg_store``; tests construct it directly, ``pochta.store.factory`` does not open it yet.

The portable method mixins of ``store/sql`` (directory, ACL, metadata, Sieve scripts and state,
mail rules, DKIM, DMARC, TLS results, greylisting, sending limits, fetch accounts) run unchanged on
it: each method is one ``run_read`` or ``run_write`` job over a SQLAlchemy Connection, as on SQLite.
The outbound queue is ``pg/queue_methods`` (claims with ``FOR UPDATE SKIP LOCKED`` at READ
COMMITTED: ``run_write_committed``). Reconstruct, verify, expunge pruning and the import and
migration state are ``pg/maintenance``'s. Not yet: search.

Jobs run on a pool of threads (``store.pg_pool_size``), each on its own pooled connection for one
transaction: a read in REPEATABLE READ READ ONLY, a write in SERIALIZABLE, retried when PostgreSQL
aborts it for a race (``engine``). Unlike SQLite's one writer with group commit, writes run side by
side, each its own commit (PostgreSQL groups the WAL flushes of concurrent commits itself).
No database call runs on the event loop thread.

Change-feed events a write records are published to this process's feed after its commit; the
server relays them to every other process of every node as NOTIFY payloads (``server.peers_pg``,
``pg/notify``). Session locks (``try_lock``) are
advisory locks, each on a connection of its own (``pg/locks``); ``directory_version`` is one read
per turn of the event loop on another connection of its own (``pg/version``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, TypeVar

from sqlalchemy import Connection, Engine

from pochta.config import Settings
from pochta.store.api import DirectoryReader
from pochta.store.changes import LocalChangeFeed
from pochta.store.model import BlobRef, Change
from pochta.store.pg import mail as pg_mail
from pochta.store.pg.blob_methods import PgBlobMethods, open_blobs
from pochta.store.pg.blobs import PgBlobs
from pochta.store.pg.engine import is_retryable, make_engines
from pochta.store.pg.locks import PgLock, PgLocks
from pochta.store.pg.mail_methods import MailMethods
from pochta.store.pg.maintenance import PgMaintenanceMethods
from pochta.store.pg.queue_methods import PgQueueMethods
from pochta.store.pg.reader import CoreDirectoryReader
from pochta.store.pg.schema import create_schema
from pochta.store.pg.search_methods import SearchMethods
from pochta.store.pg.server_hooks import ServerHooks
from pochta.store.pg.version import VersionReader
from pochta.store.sql.account_state_methods import AccountStateMethods
from pochta.store.sql.acl import AclMethods
from pochta.store.sql.directory_methods import DirectoryMethods
from pochta.store.sql.dkim import DkimMethods
from pochta.store.sql.dmarc import DmarcMethods
from pochta.store.sql.fetch import FetchMethods
from pochta.store.sql.greylist import GreylistMethods
from pochta.store.sql.indexer import IndexerMethods
from pochta.store.sql.jmap_records import JmapRecordMethods
from pochta.store.sql.mail_rules import MailRuleMethods
from pochta.store.sql.mail_write_methods import MailWriteMethods
from pochta.store.sql.mail_writes import MailOps
from pochta.store.sql.mailbox_methods import MailboxTreeMethods
from pochta.store.sql.metadata import MetadataMethods
from pochta.store.sql.send_limits import SendLimitMethods
from pochta.store.sql.sieve import SieveMethods
from pochta.store.sql.sieve_state import SieveStateMethods
from pochta.store.sql.transport import TransportMethods
from pochta.store.sql.uploads import UploadMethods
from pochta.store.sql.web_sessions import WebSessionMethods

__all__ = ["PgStore", "open_pg_store"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_RETRY_PAUSE = 0.005  # seconds, doubled with each retry of one write and spread at random


class PgStore(
    PgBlobMethods,
    MailMethods,
    MailWriteMethods,
    MailboxTreeMethods,
    AccountStateMethods,
    PgMaintenanceMethods,
    SearchMethods,
    IndexerMethods,
    DirectoryMethods,
    AclMethods,
    MetadataMethods,
    SieveMethods,
    SieveStateMethods,
    MailRuleMethods,
    DkimMethods,
    DmarcMethods,
    TransportMethods,
    GreylistMethods,
    WebSessionMethods,
    UploadMethods,
    JmapRecordMethods,
    SendLimitMethods,
    FetchMethods,
    PgQueueMethods,
    ServerHooks,
):
    """The portable part of ``pochta.store.api.Store`` over PostgreSQL. Create with ``open_pg_store``."""

    _mail_ops: ClassVar[MailOps] = pg_mail  # the statements of the mail core's writes (MailWriteMethods)

    def __init__(
        self,
        settings: Settings,
        engines: tuple[Engine, Engine, Engine],
        blobs: PgBlobs,
        feed: LocalChangeFeed,
        url: str,
    ) -> None:
        self.settings = settings
        self.blobs = blobs
        self._engine, self._read_engine, self._write_engine = engines
        # The queue's claims (pg/queue.py: FOR UPDATE SKIP LOCKED wants READ COMMITTED)
        self._committed_engine = self._engine.execution_options(isolation_level="READ COMMITTED")
        self._feed = feed
        self._jobs = concurrent.futures.ThreadPoolExecutor(
            settings.store.pg_pool_size, thread_name_prefix="pochta-pg"
        )
        self._closed = False
        self.write_retries = 0  # writes run again after a serialization failure or a deadlock
        self._commits = 0  # write transactions committed (commit_count: pochta_store_commits)
        self._commits_lock = threading.Lock()  # the pool's threads commit side by side
        self._locks = PgLocks(url)  # try_lock: an advisory lock on a connection of its own (pg/locks.py)
        self._version = VersionReader(url)  # directory_version's connection (pg/version.py)
        self._version_memo: int | None = None  # directory_version's answer for this turn of the loop

    @property
    def engine(self) -> Engine:
        return self._engine

    def commit_count(self) -> int:
        return self._commits

    async def run_read(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` on a pool thread inside one REPEATABLE READ, READ ONLY transaction."""
        return await asyncio.get_running_loop().run_in_executor(self._jobs, self._read_sync, fn)

    def _read_sync(self, fn: Callable[[Connection], T]) -> T:
        with self._read_engine.connect() as conn, conn.begin():
            return fn(conn)

    async def run_write(
        self, fn: Callable[[Connection, list[Change]], T], *, durable: bool = True, background: bool = False
    ) -> T:
        """Run ``fn`` in one SERIALIZABLE transaction on a pool thread, again from the start when
        PostgreSQL aborted it for a race; the feed events it records are published once it
        commits. ``durable`` and ``background`` are SQLite's writer's (every commit here is
        durable, and writes do not queue behind one another)."""
        del durable, background
        return await self._write(self._write_engine, fn)

    async def run_write_committed(self, fn: Callable[[Connection, list[Change]], T]) -> T:
        """``run_write`` at READ COMMITTED: for a write whose statements lock the rows they take
        and recheck their conditions on them (the queue's claim, ``FOR UPDATE SKIP LOCKED``), and
        so need no serializable snapshot. Retried on a deadlock."""
        return await self._write(self._committed_engine, fn)

    async def _write(self, engine: Engine, fn: Callable[[Connection, list[Change]], T]) -> T:
        events: list[Change] = []
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self._jobs, self._write_sync, engine, fn, events)
        if events:
            self._feed.publish(events)
        return result

    def _write_sync(
        self, engine: Engine, fn: Callable[[Connection, list[Change]], T], events: list[Change]
    ) -> T:
        retries = self.settings.store.pg_write_retries
        pause = _RETRY_PAUSE
        for attempt in range(retries + 1):
            events.clear()  # a retried job records its events afresh
            try:
                with engine.connect() as conn, conn.begin():
                    result = fn(conn, events)
                with self._commits_lock:
                    self._commits += 1
                return result
            except Exception as error:
                if attempt == retries or not is_retryable(error):
                    raise
                self.write_retries += 1
                log.debug("write lost a race (attempt %d), running it again: %s", attempt + 1, error)
                time.sleep(pause * (1 + random.random()))
                pause *= 2
        raise AssertionError("unreachable")  # the loop returns or raises

    async def _run_mail_write(self, fn: Callable[[Connection, list[Change]], T]) -> T:
        # READ COMMITTED with row locks (pg/mail.py): writers that meet on a mailbox or a quota
        # wait for each other; serializable, they aborted each other past any number of retries.
        return await self.run_write_committed(fn)

    def _store_blob(self, conn: Connection, blob: BlobRef) -> None:
        self.blobs.ensure_stored(conn, blob)  # PgBlobs: whichever layout store.blobs names

    async def read_directory(self, fn: Callable[[DirectoryReader], T]) -> T:
        return await self.run_read(lambda c: fn(CoreDirectoryReader(c)))

    def directory_version(self) -> int | None:
        # One round trip on the caller's thread (the event loop), bounded by pg/version.py's
        # timeouts, and at most one per turn of the loop: as SqliteStore's, the answer is kept until
        # the loop's next turn, so a change committed later reaches no session of this turn with
        # the old number (a callback queued after the one that forgets it).
        if self._closed:
            return None
        memo = self._version_memo
        if memo is not None:
            return memo
        version = self._version.read()
        if version is not None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return version  # not on a loop (a CLI or test thread): no turn to keep it for
            self._version_memo = version
            loop.call_soon(self._forget_directory_version)
        return version

    def _forget_directory_version(self) -> None:
        self._version_memo = None

    # Session locks

    async def try_lock(self, name: str) -> PgLock | None:
        # A connection of its own per lock, opened on a worker thread (pg/locks.py).
        return await self._locks.try_lock(name)

    def feed(self) -> LocalChangeFeed:
        return self._feed

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.stop_indexer()
        self._feed.close()
        await asyncio.to_thread(self._jobs.shutdown, True)
        await asyncio.to_thread(self.blobs.close)
        await asyncio.to_thread(self._version.close)
        await asyncio.to_thread(self._locks.close)
        await asyncio.to_thread(self._engine.dispose)


def _warn_if_not_durable(engine: Engine) -> None:
    """A commit acknowledges mail (DESIGN: acknowledged means fsync'ed): say so when the server
    would not flush it. Not refused: tests run a throw-away cluster that flushes nothing."""
    with engine.connect() as conn:
        fsync = conn.exec_driver_sql("SHOW fsync").scalar_one()
        synchronous = conn.exec_driver_sql("SHOW synchronous_commit").scalar_one()
    if fsync != "on" or synchronous == "off":
        log.warning(
            "PostgreSQL does not make commits durable (fsync=%s, synchronous_commit=%s): "
            "mail acknowledged before a crash of the database server may be lost",
            fsync,
            synchronous,
        )


async def open_pg_store(url: str, data_dir: Path, settings: Settings) -> PgStore:
    """Open the store in the PostgreSQL database at ``url`` (building its schema at the head when
    it is empty, upgrading an older one), with its blobs where ``store.blobs`` says (``pg/blobs``;
    ``data_dir`` holds this node's own files: its blob directory by default, temporary files)."""
    blobs = await asyncio.to_thread(open_blobs, url, Path(data_dir), settings)
    engines = make_engines(url, settings.store.pg_pool_size)
    try:

        def build() -> None:
            with engines[0].begin() as conn:
                create_schema(conn)

        await asyncio.to_thread(build)
        await asyncio.to_thread(_warn_if_not_durable, engines[0])
    except BaseException:
        engines[0].dispose()
        blobs.close()
        raise
    return PgStore(settings, engines, blobs, LocalChangeFeed(), url)
