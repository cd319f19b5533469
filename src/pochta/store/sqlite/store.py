"""The embedded store: SQLite metadata (WAL) beside content-addressed blob files.

``open_sqlite_store(data_dir, settings)`` returns a ``SqliteStore`` implementing
``pochta.store.api.Store``. Threads:

- one writer thread owns the only write connection (``writer.Writer``: group commit, BEGIN
  IMMEDIATE, ``synchronous=FULL``);
- a small pool of reader threads, each read in one transaction on its own connection (one snapshot);
- blob writes and hashing in ``asyncio.to_thread``.

No SQLite call runs on the event loop thread. Several processes may open the same data directory
(the server and the CLI): WAL lets readers run beside a writer, and a second process's writes wait
for the lock (``busy_timeout``) instead of failing. The feed is per process; a server's worker
processes relay their commits to each other (``LocalChangeFeed.relay``, ``server.peers``), while a
change made by the CLI reaches the server's sessions through the database, not the feed. Session
locks (``try_lock``, the POP3 maildrop lock) are ``flock``s on files under ``DATA/run/locks``
(``locks.py``), so they hold across every process on the directory and die with their holder.

The logic lives in plain functions over a Connection (``sql/directory``, ``sqlite/mail``,
``sqlite/maintenance``); this module is the async face and the plumbing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar, TypeVar

from sqlalchemy import Connection, Engine

from pochta.config import Settings

if TYPE_CHECKING:
    pass
from pochta.store.blobs import BlobStore
from pochta.store.changes import LocalChangeFeed
from pochta.store.locks import FileLock, FileLocks
from pochta.store.model import (
    AccountId,
    BlobRef,
    CachedMessage,
    Change,
    ChangeSet,
    IndexResult,
    MailboxId,
    MailboxView,
    MessageId,
    ModSeq,
    ObjectRow,
    ReconstructReport,
    Uid,
    VerifyReport,
)
from pochta.store.schema import INDEX_ADD
from pochta.store.sql.account_state_methods import AccountStateMethods
from pochta.store.sql.acl import AclMethods
from pochta.store.sql.directory_methods import DirectoryMethods
from pochta.store.sql.dkim import DkimMethods
from pochta.store.sql.dmarc import DmarcMethods
from pochta.store.sql.fetch import FetchMethods
from pochta.store.sql.greylist import GreylistMethods
from pochta.store.sql.import_journal import ImportJournalMethods
from pochta.store.sql.indexer import IndexerMethods
from pochta.store.sql.jmap_records import JmapRecordMethods
from pochta.store.sql.mail_rows import normalize_uids
from pochta.store.sql.mail_rules import MailRuleMethods
from pochta.store.sql.mail_write_methods import MailWriteMethods
from pochta.store.sql.mail_writes import MailOps
from pochta.store.sql.mailbox_methods import MailboxTreeMethods
from pochta.store.sql.metadata import MetadataMethods
from pochta.store.sql.migrate_state import MigrateStateMethods
from pochta.store.sql.queue_methods import QueueMethods
from pochta.store.sql.send_limits import SendLimitMethods
from pochta.store.sql.sieve import SieveMethods
from pochta.store.sql.sieve_state import SieveStateMethods
from pochta.store.sql.transport import TransportMethods
from pochta.store.sql.uploads import UploadMethods
from pochta.store.sql.web_sessions import WebSessionMethods
from pochta.store.sqlite import inline, mail, maintenance, search, sortkeys, threads, views, wire
from pochta.store.sqlite import mailboxes as mailbox_tree
from pochta.store.sqlite.engine import READER_THREADS, make_engine, migrate
from pochta.store.sqlite.opener import ViewOpener
from pochta.store.sqlite.query_methods import QueryMethods
from pochta.store.sqlite.sort_orders import KeptOrders
from pochta.store.sqlite.view_stamps import STAMPS_FILE, ViewStamps
from pochta.store.sqlite.writer import Writer, WriterStats, WriteTurn, driver_connection
from pochta.store.wire_cache import WireCache

log = logging.getLogger(__name__)

T = TypeVar("T")

DB_FILE_NAME = "pochta.db"
WRITE_TURN_LOCK = Path("run") / "writer.lock"
BLOB_DIR_NAME = "blobs"


_SQL_DIRECTORY_VERSION = "SELECT version FROM directory_version WHERE id = 1"


class SqliteStore(
    MailWriteMethods,
    MailboxTreeMethods,
    AccountStateMethods,
    DirectoryMethods,
    QueueMethods,
    QueryMethods,
    AclMethods,
    MetadataMethods,
    SieveMethods,
    SieveStateMethods,
    MailRuleMethods,
    DkimMethods,
    DmarcMethods,
    TransportMethods,
    GreylistMethods,
    SendLimitMethods,
    FetchMethods,
    MigrateStateMethods,
    ImportJournalMethods,
    IndexerMethods,
    WebSessionMethods,
    UploadMethods,
    JmapRecordMethods,
):
    """``pochta.store.api.Store`` over SQLite and blob files. Create with ``open_sqlite_store``."""

    _mail_ops: ClassVar[MailOps] = mail  # the statements of the mail core's writes (MailWriteMethods)

    def __init__(
        self,
        data_dir: Path,
        settings: Settings,
        writer: Writer,
        write_engine: Engine,
        read_engine: Engine,
        blobs: BlobStore,
        feed: LocalChangeFeed,
        reader_threads: int,
        stamps: ViewStamps | None = None,
    ) -> None:
        self.data_dir = data_dir
        self._stamps = stamps  # shared with the writer: view_stamps
        self.settings = settings
        self.blobs = blobs
        self._writer = writer
        self._write_engine = write_engine
        self._read_engine = read_engine
        self._feed = feed
        self._readers = concurrent.futures.ThreadPoolExecutor(
            reader_threads, thread_name_prefix="pochta-reader"
        )
        self._reader_count = reader_threads
        self._reader_local = threading.local()  # each reader thread's own Connection (``_read_sync``)
        self._reader_conns: list[Connection] = []  # all of them, closed by ``close``
        self._reader_conns_lock = threading.Lock()
        self._closed = False
        self._opener = ViewOpener(settings.store, self.run_read, self.run_write, stamps)  # views
        # SORT's kept orders of big mailboxes (sort_orders), brought forward to the views above
        self._kept_orders = KeptOrders(settings.store.sort_cache_mb, settings.store.sort_cache_min_messages)
        self._wire_cache = WireCache(settings.store.wire_cache_mb * 1024 * 1024)  # FETCH's kept forms
        # Told the ids of forms this process read from the database (the other workers read them
        # into their caches too: ``prefetch_forms``, server/peers.py).
        self.forms_read: Callable[[list[MessageId], list[str], bool], None] | None = None
        self._locks = FileLocks(data_dir)  # DATA/run/locks: flock, see locks.py
        self._version_conn: sqlite3.Connection | None = None  # directory_version's, opened on first use
        self._version_memo: int | None = None  # directory_version's answer for this turn of the loop
        self._blob_reader = inline.BlobReader(
            data_dir / DB_FILE_NAME, blobs, settings.store.inline_blob_max, settings.store.busy_timeout
        )

    # Plumbing (public for maintenance code, tests and benches)

    @property
    def writer(self) -> Writer:
        return self._writer

    @property
    def blob_reader(self) -> inline.BlobReader:
        """Blob bytes from files and ``inline_blobs`` rows alike (worker threads only)."""
        return self._blob_reader

    @property
    def writer_stats(self) -> WriterStats:
        """Commits, batches and jobs so far: commits/jobs is the fsyncs paid per write."""
        return self._writer.stats

    def commit_count(self) -> int:
        return self._writer.stats.commits

    async def run_read(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in a reader thread inside one read transaction (one consistent snapshot)."""
        return await asyncio.get_running_loop().run_in_executor(self._readers, self._read_sync, fn)

    async def start_readers(self) -> None:
        """Start every reader thread with its connection now (the server does, before it accepts).

        The pool otherwise starts a thread, and the thread its SQLite connection, on first use:
        inside some session's command, which then waits for the thread to be scheduled (10-15 ms of
        a first SELECT on a loaded machine)."""
        count = self._reader_count
        barrier = threading.Barrier(count)

        def hold(conn: Connection) -> None:
            conn.exec_driver_sql("SELECT 1")  # the connection is open and its schema read
            barrier.wait(30)  # every job on its own thread: each thread starts and connects

        await asyncio.gather(*(self.run_read(hold) for _ in range(count)))

    def _read_sync(self, fn: Callable[[Connection], T]) -> T:
        # Each reader thread keeps its Connection from first use to ``close``: checking one out of
        # the pool and back in per read cost more than many of the reads themselves.
        conn: Connection | None = getattr(self._reader_local, "conn", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self._read_engine.connect()
            self._reader_local.conn = conn
            with self._reader_conns_lock:
                self._reader_conns.append(conn)
        with conn.begin():
            return fn(conn)

    async def run_write(
        self, fn: Callable[[Connection, list[Change]], T], *, durable: bool = True, background: bool = False
    ) -> T:
        """Run ``fn`` as a writer job; it appends the feed events to publish once committed.
        ``durable=False``: see ``writer`` (only for what a crash of the machine may lose);
        ``background=True``: jobs that are not background go first (``Writer.submit``)."""
        events: list[Change] = []
        return await self._writer.run(
            lambda conn: fn(conn, events), events, durable=durable, background=background
        )

    def directory_version(self) -> int | None:
        # On the caller's thread (the event loop), an exception to "no SQLite call on the loop"
        # (DESIGN, Data model) because it can never wait: a one-row read in WAL mode takes no lock a
        # writer holds, and with timeout=0 the one case that could wait (SQLITE_BUSY while another
        # connection recovers the WAL after a crash) answers None at once: "read it the usual way"
        # (a reader-thread job), not a stalled loop. It costs what a Python call does, not a hop.
        if self._closed:
            return None
        memo = self._version_memo
        if memo is not None:
            return memo
        version = self._read_directory_version()
        if version is not None:
            # Kept for the rest of this turn of the event loop: the sessions served in one turn
            # share one read (its GIL hand-back to the writer thread was ~10 % of a worker's busy
            # loop under 10 LMTP sessions). A change committed later reaches the loop only through a
            # callback queued after the one that forgets it, so no session acts on it with the old
            # version (bench/README.md, "LMTP and the first SELECT, eighth session").
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return version  # not on a loop (a CLI or test thread): no turn to keep it for
            self._version_memo = version
            loop.call_soon(self._forget_directory_version)
        return version

    def _forget_directory_version(self) -> None:
        self._version_memo = None

    def _read_directory_version(self) -> int | None:
        try:
            if self._version_conn is None:
                conn = sqlite3.connect(
                    self.data_dir / DB_FILE_NAME, timeout=0, isolation_level=None, check_same_thread=False
                )
                conn.execute("PRAGMA query_only = ON")
                self._version_conn = conn
            row = self._version_conn.execute(_SQL_DIRECTORY_VERSION).fetchone()
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                return None  # busy for a moment: this lookup goes through a reader job
            log.warning("reading the directory version failed", exc_info=True)
            return None
        except sqlite3.Error:
            log.warning("reading the directory version failed", exc_info=True)
            return None
        return None if row is None else int(row[0])

    # Mailboxes

    async def delete_mailbox(self, account_id: AccountId, name: str) -> None:
        await self.run_write(lambda c, e: mailbox_tree.delete_mailbox(c, e, account_id, name))

    async def take_recent(self, mailbox_id: MailboxId, before: Uid) -> Uid:
        # Not fsync'ed (writer: durable=False): a take lost in a crash of the machine shows those
        # messages as \\Recent once more, as RFC 3501 §2.3.2 asks when it cannot be told.
        first = await self.run_write(
            lambda c, _e: mailbox_tree.take_recent(c, mailbox_id, before), durable=False
        )
        if first < before:
            self._opener.row_changed(mailbox_id)  # the boundary moved: refresh the views of it
        return first

    # Blobs

    async def put_blob(self, data: bytes) -> BlobRef:
        return await self.blobs.put(data)

    async def put_blob_file(self, path: str) -> BlobRef:
        return await self.blobs.put_file(path)

    async def new_blob(self, data: bytes) -> BlobRef:
        # Up to inline_blob_max: hashed (on this thread when small enough) and stored by the write
        # that refers to it (sqlite_inline). Larger: a file, durable when this returns.
        if len(data) > self.settings.store.inline_blob_max:
            return await self.blobs.put(data)
        if len(data) <= self.settings.server.inline_message_max:
            return inline.new_blob(data)
        return await asyncio.to_thread(inline.new_blob, data)

    def open_blob(self, blob: BlobRef) -> BinaryIO:
        return self._blob_reader.open(blob)

    def read_blob(self, blob: BlobRef) -> bytes:
        return self._blob_reader.read(blob)

    async def read_blobs(self, blobs: Sequence[BlobRef]) -> dict[str, bytes]:
        refs = list(blobs)
        return await self.run_read(lambda c: self._blob_reader.read_many(driver_connection(c), refs))

    # Messages

    async def _run_mail_write(self, fn: Callable[[Connection, list[Change]], T]) -> T:
        return await self.run_write(fn)  # the one writer: every write has the database to itself

    def _store_blob(self, conn: Connection, blob: BlobRef) -> None:
        # A small message's bytes are stored here, in this transaction (sqlite/inline); any other
        # blob is checked inside it: collection removes blobs only inside a write too, so a blob
        # seen here cannot vanish before this reference commits.
        inline.ensure_stored(driver_connection(conn), self.blobs, blob)

    async def open_view(self, mailbox_id: MailboxId) -> MailboxView:
        return (await self._opener.open_view_traced(mailbox_id)).view

    async def open_view_traced(self, mailbox_id: MailboxId, *, announce: bool = True) -> views.Opened:
        return await self._opener.open_view_traced(mailbox_id, announce=announce)

    def prefetch_view(self, mailbox_id: MailboxId) -> None:
        self._opener.prefetch_view(mailbox_id)

    def mailbox_hint(self, account_id: AccountId, name: str) -> MailboxId | None:
        return self._opener.mailbox_hint(account_id, name)

    def current_view(self, mailbox_id: MailboxId) -> MailboxView | None:
        return self._opener.current_view(mailbox_id)

    async def open_named_view(
        self, account_id: AccountId, name: str, guess: MailboxId | None = None
    ) -> MailboxView | None:
        return await self._opener.open_named_view(account_id, name, guess)

    @property
    def view_loaded(self) -> Callable[[MailboxId], None] | None:
        """Told a big mailbox's id the first time this process serves a client its view."""
        return self._opener.view_loaded

    @view_loaded.setter
    def view_loaded(self, callback: Callable[[MailboxId], None] | None) -> None:
        self._opener.view_loaded = callback

    @property
    def snapshot_stored(self) -> Callable[[MailboxId, int], None] | None:
        """Told ``(id, messages)`` of each big mailbox whose snapshot ``refresh_snapshots`` stored."""
        return self._opener.snapshot_stored

    @snapshot_stored.setter
    def snapshot_stored(self, callback: Callable[[MailboxId, int], None] | None) -> None:
        self._opener.snapshot_stored = callback

    def warm_view(self, mailbox_id: MailboxId, messages: int) -> None:
        self._opener.warm_view(mailbox_id, messages)

    @property
    def order_built(self) -> Callable[[MailboxId, str], None] | None:
        """Told (mailbox, key) when a client's SORT built a kept order of a big mailbox
        (``sort_orders``): the server tells the other workers (``warm_order``)."""
        return self._kept_orders.built

    @order_built.setter
    def order_built(self, callback: Callable[[MailboxId, str], None] | None) -> None:
        self._kept_orders.built = callback

    async def refresh_snapshots(self, limit: int = 100) -> int:
        return await self._opener.refresh_snapshots(limit)

    async def wait_snapshots(self) -> None:
        await self._opener.wait_snapshots()

    async def changes_since(self, mailbox_id: MailboxId, modseq: ModSeq) -> ChangeSet:
        return await self.run_read(lambda c: mail.changes_since(c, mailbox_id, modseq))

    async def expunged_since(self, mailbox_id: MailboxId, modseq: ModSeq) -> tuple[Uid, ...] | None:
        return await self.run_read(lambda c: mail.expunged_since(c, mailbox_id, modseq))

    async def cached(self, mailbox_id: MailboxId, uids: Iterable[Uid]) -> list[CachedMessage]:
        uid_list = normalize_uids(uids)
        return await self.run_read(lambda c: mail.cached(c, mailbox_id, uid_list))

    @property
    def wire_cache(self) -> WireCache:
        """This process's kept wire forms (``wire_cache``)."""
        return self._wire_cache

    async def wire_forms(
        self, message_ids: Iterable[MessageId], names: Sequence[str], utf8: bool, *, share: bool = False
    ) -> list[tuple[Any, ...]]:
        return await self._wire_forms(list(message_ids), list(names), utf8, share=share)

    async def prefetch_forms(
        self, message_ids: Sequence[MessageId], names: Sequence[str], utf8: bool
    ) -> None:
        """Read into this process's cache the forms another worker just read for a client
        (``forms_read``), those not held yet: a client of this worker fetching them next (a new
        connection of the same client, its other connections) is answered without a read."""
        await self._wire_forms(list(message_ids), list(names), utf8, share=False)

    async def _wire_forms(
        self, id_list: list[MessageId], name_list: list[str], utf8: bool, *, share: bool
    ) -> list[tuple[Any, ...]]:

        def read(ids: list[MessageId]) -> Callable[[Connection], list[tuple[Any, ...]]]:
            return lambda c: wire.read_forms(driver_connection(c), ids, name_list, utf8)

        cache = self._wire_cache
        # The version is read before the database: what the read returns is at least that recent.
        version = self.directory_version() if cache.budget > 0 else None
        if version is None:  # no cache, or the version could not be read at once: the database
            return await self.run_read(read(id_list))
        rows, lacking = cache.lookup(version, id_list, name_list, utf8)
        if lacking:  # only these are read; every form held: no hop to a reader thread
            found = await self.run_read(read(lacking))
            cache.fill(version, found, name_list, utf8)
            rows.extend(found)
            told = self.forms_read
            if share and told is not None and len(lacking) <= self.settings.store.wire_cache_share:
                told(lacking, name_list, utf8)
        return rows

    def feed(self) -> LocalChangeFeed:
        return self._feed

    # Session locks

    async def try_lock(self, name: str) -> FileLock | None:
        # One open and one non-blocking flock: no thread hop (see locks.py).
        return self._locks.try_lock(name)

    # The search indexer (sqlite_search): deliveries queue messages, this catches up in batches

    async def index_pending(self, limit: int | None = None) -> IndexResult:
        """Index up to ``limit`` queued messages (default ``search.index_batch``), store their SORT and
        THREAD keys (revision 0015, ``sqlite/sortkeys``) and thread up to ``limit`` new membership rows
        (RFC 8474 §5.2, ``sqlite/threads``) in one write transaction, re-parsing the blobs of messages
        stored before the index existed. One read before it (is there work; the keys, derived from the
        parse records on a reader thread). The writes are background jobs: deliveries queued at the
        writer go first (``Writer.submit``). Safe to run in several processes at once: queue rows are
        claimed inside the write transaction."""
        limit = self.settings.search.index_batch if limit is None else limit

        def look(conn: Connection) -> tuple[bool, bool, sortkeys.Derived]:
            backlog = search.has_backlog(conn)
            derived = sortkeys.derive_queued(driver_connection(conn), INDEX_ADD, limit) if backlog else []
            return backlog, threads.has_pending(conn), derived

        backlog, unthreaded, derived = await self.run_read(look)
        if not (backlog or unthreaded):
            return IndexResult()
        max_chars = self.settings.search.index_batch_chars

        def batch(conn: Connection) -> IndexResult:
            result = search.index_pending(conn, limit, max_chars) if backlog else IndexResult()
            if result.added_ids:
                # The keys of what this batch indexed, off the delivery path: derived before, but for
                # messages queued after the look (few); a row is stored only for a message that exists.
                raw = driver_connection(conn)
                known = {message_id for message_id, _ in derived}
                late = [message_id for message_id in result.added_ids if message_id not in known]
                sortkeys.store_keys(raw, derived + (sortkeys.derive(raw, late) if late else []))
            if unthreaded:
                # THREADID off the delivery path: the new messages of any mailbox, same commit.
                result.threaded, more = threads.thread_pending(conn, limit)
                result.more = result.more or more
            return result

        result = await self.run_write(lambda c, e: batch(c), background=True)
        if result.fill:
            blobs, mime = self._blob_reader, self.settings.mime
            items = await asyncio.to_thread(
                lambda: [(mid, search.parse_for_fill(blobs, mime, sha)) for mid, sha in result.fill]
            )
            result.filled = await self.run_write(lambda c, e: search.fill_messages(c, items), background=True)
        return result

    async def thread_now(self, mailbox_id: MailboxId) -> int:
        """Thread the mailbox's messages the indexer has not reached, in batches of
        ``search.index_batch`` (one writer job each); returns how many rows were threaded."""
        limit, total, more = self.settings.search.index_batch, 0, True
        while more:
            done, more = await self.run_write(lambda c, e: threads.thread_pending(c, limit, mailbox_id))
            total += done
        return total

    async def message_objects(
        self, mailbox_id: MailboxId, uids: Iterable[Uid] | None, *, preview: bool = False
    ) -> list[ObjectRow]:
        uid_list = None if uids is None else normalize_uids(uids)
        return await self.run_read(lambda c: threads.read_objects(c, mailbox_id, uid_list, preview))

    async def index_backlog(self) -> int:
        """Messages waiting for the indexer (added, removed, or stored before revision 0007)."""
        return await self.run_read(search.backlog)

    # Maintenance

    async def reconstruct(self, dry_run: bool = False) -> ReconstructReport:
        return await maintenance.reconstruct(self, dry_run)

    async def verify(self) -> VerifyReport:
        return await maintenance.verify(self)

    async def collect_blobs(self, grace_seconds: float | None = None) -> list[str]:
        """Remove blob files no message refers to, once older than the grace period (settings)."""
        grace = self.settings.store.blob_grace_seconds if grace_seconds is None else grace_seconds
        return await maintenance.collect_blobs(self, grace)

    async def prune_expunged(self, older_than_seconds: float) -> int:
        """Delete expunge records older than this (QRESYNC stays correct: ``sqlite/maintenance``)."""
        return await maintenance.prune_expunged(self, older_than_seconds)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.stop_indexer()
        await self._opener.close()
        await self._writer.close()
        self._feed.close()
        await asyncio.to_thread(self._readers.shutdown, True)
        with self._reader_conns_lock:
            conns, self._reader_conns = self._reader_conns, []
        for conn in conns:
            await asyncio.to_thread(conn.close)  # the reader threads are gone: nothing else uses it
        await asyncio.to_thread(self.blobs.close)
        self._blob_reader.close()
        self._read_engine.dispose()
        self._write_engine.dispose()
        if self._version_conn is not None:
            self._version_conn.close()
        stamps, self._stamps = self._stamps, None
        if stamps is not None:
            stamps.close()


def _prepare_directories(data_dir: Path, blobs: BlobStore) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    blobs.ensure_dirs()
    blobs.sweep_tmp_sync()


async def open_sqlite_store(
    data_dir: Path, settings: Settings, *, reader_threads: int = READER_THREADS, indexer: bool | None = None
) -> SqliteStore:
    """Open (creating or upgrading as needed) the store in ``data_dir``. The background search
    indexer starts with it when ``indexer`` (default: ``search.indexer`` in settings) is true."""
    data_dir = Path(data_dir)
    blobs = BlobStore(data_dir / BLOB_DIR_NAME, write_threads=settings.store.blob_threads)
    await asyncio.to_thread(_prepare_directories, data_dir, blobs)
    path = data_dir / DB_FILE_NAME
    timeout = settings.store.busy_timeout
    write_engine = make_engine(path, timeout, writer=True)
    feed = LocalChangeFeed()
    # The processes of a server (its workers) take turns to write: writer.WriteTurn.
    turn = await asyncio.to_thread(WriteTurn, data_dir / WRITE_TURN_LOCK)
    # Mailbox change stamps, bumped by the writer in its turn: SELECT without a read (view_stamps).
    stamps = await asyncio.to_thread(ViewStamps, data_dir / STAMPS_FILE)
    writer = Writer(
        write_engine,
        group_commit_max=settings.store.group_commit_max,
        init=migrate,
        publish=feed.publish,
        turn=turn,
        stamps=stamps,
    )
    try:
        await writer.start()
    except BaseException:
        write_engine.dispose()
        turn.close()
        stamps.close()
        raise
    read_engine = make_engine(
        path, timeout, writer=False, pool_size=reader_threads, mmap_bytes=settings.store.read_mmap_mb * 2**20
    )
    store = SqliteStore(
        data_dir, settings, writer, write_engine, read_engine, blobs, feed, reader_threads, stamps
    )
    if settings.search.indexer if indexer is None else indexer:
        store.start_indexer()
    return store
