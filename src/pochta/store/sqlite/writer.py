"""The single writer: one thread owns the write connection and folds concurrent writes into one commit.

Jobs are functions ``fn(conn) -> T`` submitted from any thread and awaited as futures. The writer
takes every job queued (up to ``group_commit_max``), runs each inside its own SAVEPOINT within one
``BEGIN IMMEDIATE`` transaction and COMMITs once: N parallel deliveries cost one fsync, not N.

- A job that raises has its savepoint rolled back and gets its exception; the others still commit.
  (A job alone in its batch runs without a savepoint: when it raises, the transaction rolls back.)
- A job may hand rows to the end of its batch (``defer_until_commit``): they are written with one
  ``executemany`` per statement after the last job, just before COMMIT, and dropped with the job's
  savepoint if it fails. (FTS5 writes its pending index data at every savepoint, so rows meant for an
  FTS5 table are cheaper written this way, once per batch; the search indexer avoids the question by
  indexing many messages in one job.)
- If BEGIN or COMMIT fails (disk full, lock timeout), every job of the batch gets that error.
- Futures resolve only after COMMIT returned, so "done" means durable (DESIGN.md principle 1).
  The one exception is asked for by name: a job submitted with ``durable=False`` (taking IMAP
  \\Recent, whose loss in a crash of the machine only shows messages as recent once more, as RFC
  3501 §2.3.2 allows when it cannot be told) is committed without an fsync when every job of its
  batch is such a job (``PRAGMA synchronous = NORMAL`` for that commit: in WAL mode the commit is
  still atomic and ordered, and the next durable commit's fsync of the WAL makes it durable too).
- Change-feed events a job recorded are published after the commit, before its future resolves,
  so a session sees its own change on the feed no later than its command completes.
- A job submitted with ``background=True`` (the search indexer's batches) lets the other jobs taken
  with it commit first, then runs in a transaction of its own: a delivery never shares a commit with
  an indexer batch (its commit waits for none queued with it, only for one already running, which
  ``search.index_batch`` bounds).

BEGIN IMMEDIATE takes SQLite's write lock up front: another process (the CLI) waits for it with the
busy timeout rather than failing with SQLITE_BUSY when upgrading a read transaction.

Several processes of one server (worker processes, each with its own writer) take turns through a
``WriteTurn`` first: an exclusive ``flock`` held from BEGIN to COMMIT. Waiting for SQLite's lock
alone means polling it, with sleeps that grow (1, 2, 5, 10 ... 100 ms) while the other process has
long committed; a process blocked in ``flock`` is woken the moment the lock is free, so the
database is never idle while someone waits to write. The writer waits for its turn with the first
job only and takes the rest of its queue once it has the turn: the jobs that arrived while another
process committed go into this batch, not the next.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine

from pochta.store.model import Change
from pochta.store.sqlite.view_stamps import ViewStamps

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class _Job(Generic[T]):
    fn: Callable[[Connection], T]
    future: concurrent.futures.Future[T]
    events: list[Change] | None
    durable: bool = True
    background: bool = False
    ok: bool = False
    value: Any = None
    error: BaseException | None = None


_STOP = object()

# Key of the batch's deferred rows in the write connection's ``info`` (present only during a batch).
_DEFERRED = "pochta.writer.deferred"


def driver_connection(conn: Connection) -> sqlite3.Connection:
    """The sqlite3 connection under ``conn``, inside the same transaction.

    Hot paths run their statements here: SQLAlchemy's own work per statement (cache lookup,
    parameter processing, result set-up, events) costs several times what SQLite spends on a small
    statement.
    """
    raw = conn.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    return raw


_ABSENT = object()


@dataclass
class _Deferred:
    """Rows queued by the jobs of one batch: statement -> key -> parameters, in the order queued."""

    rows: dict[str, dict[Hashable, Sequence[Any]]] = field(default_factory=dict)
    # What the running job changed, to undo if it fails: (statement, key, previous row or _ABSENT).
    undo: list[tuple[str, Hashable, Any]] = field(default_factory=list)

    def put(self, statement: str, key: Hashable, params: Sequence[Any]) -> None:
        rows = self.rows.setdefault(statement, {})
        self.undo.append((statement, key, rows.get(key, _ABSENT)))
        rows[key] = params

    def cancel(self, statement: str, key: Hashable) -> bool:
        rows = self.rows.get(statement)
        if rows is None or key not in rows:
            return False
        self.undo.append((statement, key, rows.pop(key)))
        return True

    def forget_job(self) -> None:
        """The running job failed: its savepoint rolled back, so do its changes to the queue."""
        for statement, key, previous in reversed(self.undo):
            if previous is _ABSENT:
                self.rows[statement].pop(key, None)
            else:
                self.rows[statement][key] = previous
        self.undo.clear()

    def write(self, raw: sqlite3.Connection) -> None:
        for statement, rows in self.rows.items():
            if rows:
                raw.executemany(statement, list(rows.values()))


def defer_until_commit(conn: Connection, statement: str, key: Hashable, params: Sequence[Any]) -> None:
    """From a writer job: run ``statement`` (raw SQLite SQL, ``?`` parameters) with ``params`` at the
    end of this batch, after the last job and before COMMIT, in one ``executemany`` with the other rows
    queued for the same statement.

    A row queued again under the same key replaces the earlier one. If the job fails, what it queued
    or cancelled is undone with its savepoint. The statement must cope with the state the later jobs
    of the batch leave (for example, insert only if the row it refers to still exists). If it fails,
    the whole batch fails, as when COMMIT fails.
    """
    deferred: _Deferred | None = conn.info.get(_DEFERRED)
    if deferred is None:
        raise RuntimeError("defer_until_commit() outside a writer job")
    deferred.put(statement, key, params)


def cancel_deferred(conn: Connection, statement: str, key: Hashable) -> bool:
    """From a writer job: drop a row queued earlier in this batch; True if there was one."""
    deferred: _Deferred | None = conn.info.get(_DEFERRED)
    return deferred is not None and deferred.cancel(statement, key)


class WriteTurn:
    """Whose turn it is to write, among the processes sharing one database (see the module doc).

    The lock file is opened once; the lock is taken with a blocking ``flock`` on the writer thread
    (its only work) and dropped after COMMIT. The kernel drops it too if its holder dies."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)


@dataclass
class WriterStats:
    """Counters a test or bench reads to show how well group commit works."""

    commits: int = 0  # successful COMMITs: each costs one fsync of the WAL (unless lazy)
    lazy_commits: int = 0  # batches of jobs none of which was durable: committed without an fsync
    batches: int = 0  # transactions begun (committed, rolled back or failed)
    jobs: int = 0  # jobs committed
    failed_jobs: int = 0  # jobs that raised (rolled back to their savepoint, or whole batch failed)
    largest_batch: int = 0
    batch_sizes: list[int] = field(default_factory=list)  # of committed batches, most recent last

    def snapshot(self) -> WriterStats:
        return WriterStats(
            self.commits,
            self.lazy_commits,
            self.batches,
            self.jobs,
            self.failed_jobs,
            self.largest_batch,
            list(self.batch_sizes),
        )


class Writer:
    def __init__(
        self,
        engine: Engine,
        *,
        group_commit_max: int,
        init: Callable[[Connection], None] | None = None,
        publish: Callable[[Sequence[Change]], None] | None = None,
        name: str = "pochta-writer",
        turn: WriteTurn | None = None,
        stamps: ViewStamps | None = None,
    ) -> None:
        self._engine = engine
        self._turn = turn
        # Mailboxes the current transaction changed, bumped in ``stamps`` after its commit.
        self._stamps = stamps
        self._touched: set[int] = set()
        self._max = group_commit_max
        self._init = init
        self._publish = publish
        self._queue: queue.SimpleQueue[_Job[Any] | object] = queue.SimpleQueue()
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._closed = False
        self._lock = threading.Lock()
        self._pending = 0
        self.stats = WriterStats()

    # Life cycle

    async def start(self) -> None:
        """Start the thread: it connects, runs ``init`` (migrations) and then serves jobs."""
        self._thread.start()
        await asyncio.wrap_future(self._ready)

    def start_sync(self) -> None:
        self._thread.start()
        self._ready.result()

    async def close(self) -> None:
        """Finish every job already submitted, then stop the thread and close the connection."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)
        if self._turn is not None:
            self._turn.close()

    @property
    def pending(self) -> int:
        """Jobs submitted and not yet finished (a test uses this to line up a batch)."""
        return self._pending

    # Submitting

    def submit(
        self,
        fn: Callable[[Connection], T],
        events: list[Change] | None = None,
        *,
        durable: bool = True,
        background: bool = False,
    ) -> concurrent.futures.Future[T]:
        """Queue a job from any thread. ``events`` (filled by the job) are published after commit.
        ``durable=False``: the job's effect may be lost in a crash of the machine (module docstring);
        ``background=True``: the job lets every other queued job go first (module docstring)."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the store is closed")
            self._pending += 1
            self._queue.put(_Job(fn, future, events, durable, background))
        return future

    async def run(
        self,
        fn: Callable[[Connection], T],
        events: list[Change] | None = None,
        *,
        durable: bool = True,
        background: bool = False,
    ) -> T:
        return await asyncio.wrap_future(self.submit(fn, events, durable=durable, background=background))

    # The thread

    def _connect(self) -> Connection:
        conn = self._engine.connect()
        try:
            if self._init is not None:
                self._init(conn)
            self._watch(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _main(self) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:
            self._ready.set_exception(exc)
            return
        self._ready.set_result(None)
        try:
            stop = False
            while not stop:
                first = self._queue.get()
                if first is _STOP:
                    break
                assert isinstance(first, _Job)
                conn, stop = self._serve(conn, first)
        finally:
            conn.close()

    def _serve(self, conn: Connection, first: _Job[Any]) -> tuple[Connection, bool]:
        """``first`` and what queued behind it: one batch, then its background jobs in their own
        transaction; returns the connection to use next and whether a stop was taken."""
        taken = [first]
        stop = False
        try:
            # The write turn first, the rest of the queue after: while another process holds the
            # turn (its COMMIT's fsync), the jobs that arrive meanwhile join this batch rather than
            # wait for the next one: fewer commits per delivery when the workers take turns
            # (bench/README.md, "LMTP and the first SELECT, eighth session").
            with self._turn_held():
                taken, stop = self._take(taken)
                # Background jobs let the others taken with them commit first, then run in a
                # transaction of their own: never inside a delivery's commit.
                batch = [job for job in taken if not job.background]
                conn, live = self._run_batch(conn, batch)
            self._finish(live)  # callers answered with the turn already free for the others
            background = [job for job in taken if job.background]
            if background:
                with self._turn_held():
                    conn, live = self._run_batch(conn, background)
                self._finish(live)
        except Exception as exc:  # taking or dropping the turn failed (an I/O error on its lock file)
            log.exception("the write turn failed")
            unfinished = [job for job in taken if not job.future.done()]
            with self._lock:
                self._pending -= len(unfinished)
            for job in unfinished:
                if not job.future.running() and not job.future.set_running_or_notify_cancel():
                    continue  # cancelled before it ran
                if job.ok:  # committed before the turn's lock failed to drop
                    job.future.set_result(job.value)
                else:
                    job.future.set_exception(job.error or exc)
        return conn, stop

    def _turn_held(self) -> contextlib.AbstractContextManager[None]:
        """The write turn among the server's processes (none for a writer alone on its database)."""
        return self._turn.held() if self._turn is not None else contextlib.nullcontext()

    def _take(self, taken: list[_Job[Any]]) -> tuple[list[_Job[Any]], bool]:
        """``taken`` and the jobs queued behind it, up to ``group_commit_max``; whether a stop came."""
        while len(taken) < self._max:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return taken, False
            if item is _STOP:
                return taken, True
            assert isinstance(item, _Job)
            taken.append(item)
        return taken, False

    def _run_batch(self, conn: Connection, batch: list[_Job[Any]]) -> tuple[Connection, list[_Job[Any]]]:
        """Run one batch in one transaction (the caller holds the write turn); returns the
        connection to use next and the jobs that ran, to ``_finish`` once the turn is free."""
        if not batch:
            return conn, []
        if conn.closed:
            conn = self._reconnect(conn)
        # A caller that was cancelled before its job started does not get it run.
        live = [job for job in batch if job.future.set_running_or_notify_cancel()]
        with self._lock:
            self._pending -= len(batch) - len(live)
        if not live:
            return conn, []
        self.stats.batches += 1
        deferred = _Deferred()
        info: dict[Any, Any] = {}
        try:
            info = conn.info
            info[_DEFERRED] = deferred
            try:
                self._transaction(conn, live, deferred)
            finally:
                info.pop(_DEFERRED, None)
        except Exception as exc:
            log.exception("store write batch of %d jobs failed", len(live))
            for job in live:
                job.ok = False
                if job.error is None:
                    job.error = exc
            # The connection may be unusable after an I/O error; start afresh for the next batch.
            conn = self._reconnect(conn)
        return conn, live

    def _watch(self, conn: Connection) -> None:
        if self._stamps is not None:
            self._stamps.watch(driver_connection(conn), self._touched)

    def _transaction(self, conn: Connection, live: list[_Job[Any]], deferred: _Deferred) -> None:
        self._touched.clear()
        try:
            self._transaction_body(conn, live, deferred)
        finally:
            # Still in the write turn, before any caller is answered or the feed told (view_stamps).
            # Also after a failed COMMIT: a stamp bumped for nothing only costs a database read.
            if self._touched and self._stamps is not None:
                self._stamps.bump(self._touched)
            self._touched.clear()

    def _transaction_body(self, conn: Connection, live: list[_Job[Any]], deferred: _Deferred) -> None:
        if any(job.durable for job in live):
            self._transaction_jobs(conn, live, deferred)
            return
        # Only jobs whose effect may be lost in a crash of the machine: the commit is not fsync'ed
        # (synchronous=NORMAL in WAL mode; the next durable commit's fsync of the WAL carries it).
        raw = driver_connection(conn)
        raw.execute("PRAGMA synchronous = NORMAL")
        try:
            if self._transaction_jobs(conn, live, deferred):
                self.stats.lazy_commits += 1
        finally:
            raw.execute("PRAGMA synchronous = FULL")

    def _transaction_jobs(self, conn: Connection, live: list[_Job[Any]], deferred: _Deferred) -> bool:
        """Run the jobs in one transaction; whether it committed."""
        transaction = conn.begin()  # BEGIN IMMEDIATE (see sqlite.py's begin hook)
        try:
            # Savepoints straight on the driver: SQLAlchemy's begin_nested() costs half a
            # millisecond per job, more than a small delivery's statements.
            raw = driver_connection(conn)
            # A job alone in its batch needs no savepoint: if it fails, the transaction rolls back.
            savepoints = len(live) > 1
            for job in live:
                deferred.undo.clear()
                if savepoints:
                    raw.execute("SAVEPOINT job")
                try:
                    job.value = job.fn(conn)
                except Exception as exc:
                    # If SQLite already rolled the whole transaction back (I/O error, disk full),
                    # this raises too and the batch fails in the caller.
                    if savepoints:
                        raw.execute("ROLLBACK TO job")
                        raw.execute("RELEASE job")
                    deferred.forget_job()
                    job.error = exc
                else:
                    if savepoints:
                        raw.execute("RELEASE job")
                    job.ok = True
            if any(job.ok for job in live):
                deferred.write(raw)
                transaction.commit()
                self.stats.commits += 1
                return True
            transaction.rollback()
            return False
        except BaseException:
            if transaction.is_active:
                transaction.rollback()
            raise

    def _reconnect(self, conn: Connection) -> Connection:
        try:
            conn.close()
        except Exception:
            log.exception("closing the write connection failed")
        try:
            fresh = self._engine.connect()
        except Exception:
            # Keep serving: the next batch fails fast on the closed connection and tries again,
            # rather than leaving callers waiting on a dead thread.
            log.exception("reconnecting the writer failed")
            return conn
        try:
            self._watch(fresh)  # a connection that would not stamp its changes is not written with
        except Exception:
            log.exception("reconnecting the writer failed")
            fresh.close()
            return conn
        return fresh

    def _finish(self, live: list[_Job[Any]]) -> None:
        ok = [job for job in live if job.ok]
        self.stats.jobs += len(ok)
        self.stats.failed_jobs += len(live) - len(ok)
        if ok:
            self.stats.largest_batch = max(self.stats.largest_batch, len(ok))
            self.stats.batch_sizes.append(len(ok))
            del self.stats.batch_sizes[:-1000]
        if self._publish is not None:
            events = [event for job in ok if job.events for event in job.events]
            if events:
                try:
                    self._publish(events)
                except Exception:
                    log.exception("publishing %d changes failed", len(events))
        with self._lock:
            self._pending -= len(live)
        for job in live:
            if job.ok:
                job.future.set_result(job.value)
            else:
                assert job.error is not None
                job.future.set_exception(job.error)
