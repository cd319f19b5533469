"""The single writer: group commit, per-job savepoints, results only after COMMIT."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy.exc
from sqlalchemy import Connection

from pochta.config import Settings
from pochta.store.model import Change, ChangeKind, Target
from pochta.store.sqlite.engine import make_engine
from pochta.store.sqlite.store import SqliteStore, open_sqlite_store
from pochta.store.sqlite.writer import Writer, WriteTurn, cancel_deferred, defer_until_commit
from pochta.testing.store_suite import make_account, make_message, put


def _init(conn: Connection) -> None:
    with conn.begin():
        # The deferred foreign key lets a test make COMMIT itself fail.
        conn.exec_driver_sql(
            "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, "
            "parent INTEGER REFERENCES t(id) DEFERRABLE INITIALLY DEFERRED)"
        )


def _rows(path: Path) -> list[int]:
    # An independent connection sees only what was committed.
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute("SELECT id FROM t ORDER BY id")]
    finally:
        conn.close()


def _insert(row_id: int, parent: int | None = None) -> Callable[[Connection], int]:
    def job(conn: Connection) -> int:
        conn.exec_driver_sql("INSERT INTO t (id, parent) VALUES (?, ?)", (row_id, parent))
        return row_id

    return job


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "writer.db"


@pytest.fixture
async def writer(db_path: Path) -> AsyncIterator[Writer]:
    published: list[Change] = []
    engine = make_engine(db_path, 5.0, writer=True)
    instance = Writer(engine, group_commit_max=64, init=_init, publish=published.extend)
    await instance.start()
    yield instance
    await instance.close()
    engine.dispose()


class Gate:
    """A job that holds the writer thread until released, so that the next jobs queue up."""

    def __init__(self, writer: Writer) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.future = writer.submit(self._hold)

    def _hold(self, conn: Connection) -> None:
        self.started.set()
        self.release.wait(10)

    async def wait_started(self) -> None:
        assert await asyncio.to_thread(self.started.wait, 10)


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")


@pytest.fixture
def gate(writer: Writer) -> Iterator[Gate]:
    held = Gate(writer)
    yield held
    held.release.set()


async def test_group_commit_folds_queued_jobs_into_one_commit(
    writer: Writer, gate: Gate, db_path: Path
) -> None:
    await gate.wait_started()
    before = writer.stats.snapshot()
    tasks = [asyncio.ensure_future(writer.run(_insert(n))) for n in range(1, 17)]
    await _until(lambda: writer.pending == 17)  # the gate plus 16 queued jobs
    gate.release.set()
    assert await asyncio.gather(*tasks) == list(range(1, 17))
    assert writer.stats.commits - before.commits == 2  # the gate's batch, then all 16 at once
    assert writer.stats.largest_batch == 16
    assert _rows(db_path) == list(range(1, 17))


async def test_background_jobs_commit_after_the_others_taken_with_them(
    writer: Writer, gate: Gate, db_path: Path
) -> None:
    await gate.wait_started()
    before = writer.stats.snapshot()
    seen: list[list[int]] = []

    def background(conn: Connection) -> int:
        # What a job that ran in the same transaction before this one would leave uncommitted
        # is visible here; an independent connection shows only what was committed.
        seen.append(_rows(db_path))
        conn.exec_driver_sql("INSERT INTO t (id) VALUES (100)")
        return 100

    tasks = [asyncio.ensure_future(writer.run(_insert(1)))]
    await _until(lambda: writer.pending == 2)
    tasks.append(asyncio.ensure_future(writer.run(background, background=True)))
    await _until(lambda: writer.pending == 3)
    tasks += [asyncio.ensure_future(writer.run(_insert(n))) for n in (2, 3)]
    await _until(lambda: writer.pending == 5)
    gate.release.set()
    assert await asyncio.gather(*tasks) == [1, 100, 2, 3]
    # Queued before and after it, the other jobs committed first in one batch; it ran alone after.
    assert seen == [[1, 2, 3]]
    assert writer.stats.batch_sizes[-2:] == [3, 1]
    assert writer.stats.commits - before.commits == 3  # the gate's, the three jobs', the background's
    assert _rows(db_path) == [1, 2, 3, 100]


async def test_batches_are_capped(db_path: Path) -> None:
    engine = make_engine(db_path, 5.0, writer=True)
    capped = Writer(engine, group_commit_max=4, init=_init)
    await capped.start()
    try:
        gate = Gate(capped)
        await gate.wait_started()
        tasks = [asyncio.ensure_future(capped.run(_insert(n))) for n in range(1, 11)]
        await _until(lambda: capped.pending == 11)
        gate.release.set()
        await asyncio.gather(*tasks)
        assert capped.stats.batch_sizes[-3:] == [4, 4, 2]
    finally:
        await capped.close()
        engine.dispose()


async def test_failing_job_does_not_spoil_its_batch(writer: Writer, gate: Gate, db_path: Path) -> None:
    await gate.wait_started()

    def insert_then_fail(conn: Connection) -> None:
        conn.exec_driver_sql("INSERT INTO t (id) VALUES (2)")
        raise ValueError("job failed after writing")

    futures = [
        writer.submit(_insert(1)),
        writer.submit(insert_then_fail),
        writer.submit(_insert(3)),
        writer.submit(_insert(1)),  # duplicate key: an SQL error in the middle of the batch
        writer.submit(_insert(4)),
    ]
    await _until(lambda: writer.pending == 6)
    failed_before = writer.stats.failed_jobs
    gate.release.set()
    results = [asyncio.wrap_future(f) for f in futures]
    assert await results[0] == 1
    with pytest.raises(ValueError, match="after writing"):
        await results[1]
    assert await results[2] == 3
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        await results[3]
    assert await results[4] == 4
    assert _rows(db_path) == [1, 3, 4]  # job 2's insert was rolled back with its savepoint
    assert writer.stats.failed_jobs - failed_before == 2


async def test_a_lone_failing_job_writes_nothing(writer: Writer, db_path: Path) -> None:
    # Alone in its batch it runs without a savepoint: the transaction's rollback undoes it.
    def insert_then_fail(conn: Connection) -> None:
        conn.exec_driver_sql("INSERT INTO t (id) VALUES (7)")
        raise ValueError("lone job failed after writing")

    commits = writer.stats.commits
    with pytest.raises(ValueError, match="lone job"):
        await writer.run(insert_then_fail)
    assert writer.stats.commits == commits
    assert await writer.run(_insert(8)) == 8
    assert _rows(db_path) == [8]


async def test_commit_failure_fails_every_job_of_the_batch(writer: Writer, gate: Gate, db_path: Path) -> None:
    await gate.wait_started()
    good = writer.submit(_insert(10))
    bad = writer.submit(_insert(11, parent=999))  # a deferred FK violation: COMMIT itself fails
    await _until(lambda: writer.pending == 3)
    gate.release.set()
    for future in (good, bad):
        with pytest.raises(sqlalchemy.exc.IntegrityError):
            await asyncio.wrap_future(future)
    assert _rows(db_path) == []
    assert await writer.run(_insert(12)) == 12  # the writer carries on
    assert _rows(db_path) == [12]


async def test_results_and_events_only_after_commit(db_path: Path) -> None:
    order: list[str] = []

    def publish(changes: list[Change]) -> None:
        order.append(f"publish {[c.modseq for c in changes]} visible={_rows(db_path)}")

    engine = make_engine(db_path, 5.0, writer=True)
    instance = Writer(engine, group_commit_max=8, init=_init, publish=publish)
    await instance.start()
    try:
        events = [Change(ChangeKind.APPENDED, 1, 1, 5, (7,))]
        future = instance.submit(_insert(7), events)
        future.add_done_callback(lambda f: order.append(f"resolved visible={_rows(db_path)}"))
        assert await asyncio.wrap_future(future) == 7
        assert order == ["publish [5] visible=[7]", "resolved visible=[7]"]

        def fail(conn: Connection) -> None:
            conn.exec_driver_sql("INSERT INTO t (id) VALUES (8)")
            raise RuntimeError("no")

        with pytest.raises(RuntimeError):
            await instance.run(fail, [Change(ChangeKind.APPENDED, 1, 1, 6, (8,))])
        assert len([o for o in order if o.startswith("publish")]) == 1  # nothing for the failed job
    finally:
        await instance.close()
        engine.dispose()


async def test_cancelled_job_is_not_run(writer: Writer, gate: Gate, db_path: Path) -> None:
    await gate.wait_started()
    cancelled = writer.submit(_insert(20))
    assert cancelled.cancel()
    gate.release.set()
    assert await writer.run(_insert(21)) == 21
    assert _rows(db_path) == [21]


async def test_close_finishes_queued_jobs_then_refuses(db_path: Path) -> None:
    engine = make_engine(db_path, 5.0, writer=True)
    instance = Writer(engine, group_commit_max=8, init=_init)
    await instance.start()
    futures = [instance.submit(_insert(n)) for n in range(1, 6)]
    await instance.close()
    assert [f.result() for f in futures] == [1, 2, 3, 4, 5]
    with pytest.raises(RuntimeError):
        instance.submit(_insert(6))
    engine.dispose()


async def test_start_reports_init_failure(db_path: Path) -> None:
    def broken(conn: Connection) -> None:
        raise OSError("cannot migrate")

    engine = make_engine(db_path, 5.0, writer=True)
    instance = Writer(engine, group_commit_max=8, init=broken)
    with pytest.raises(OSError, match="cannot migrate"):
        await instance.start()
    engine.dispose()


# Rows deferred to the end of the batch


_DEFERRED_INSERT = "INSERT INTO t (id) VALUES (?)"


def _defer(
    key: str, row_id: int, *, fail: bool = False, cancel: str | None = None
) -> Callable[[Connection], int]:
    def job(conn: Connection) -> int:
        defer_until_commit(conn, _DEFERRED_INSERT, key, (row_id,))
        if cancel is not None:
            assert cancel_deferred(conn, _DEFERRED_INSERT, cancel)
        if fail:
            raise ValueError("job failed after deferring")
        # Not written yet: deferred rows come after the last job of the batch.
        return int(conn.exec_driver_sql("SELECT count(*) FROM t WHERE id >= 100").scalar_one())

    return job


async def test_deferred_rows_are_written_before_commit(writer: Writer, gate: Gate, db_path: Path) -> None:
    await gate.wait_started()
    futures = [
        writer.submit(_defer("a", 100)),
        writer.submit(_defer("b", 101, fail=True)),  # its row goes with its savepoint
        writer.submit(_defer("c", 102)),
        writer.submit(_defer("c", 103)),  # the same key again: replaces 102
        writer.submit(_defer("d", 104, cancel="a")),  # and takes back 100
        writer.submit(_defer("c", 105, fail=True)),  # replaces 103, fails: 103 is back
        writer.submit(_defer("e", 106, cancel="d", fail=True)),  # its cancellation is undone too
        writer.submit(_insert(5)),
    ]
    await _until(lambda: writer.pending == 9)
    gate.release.set()
    results = [asyncio.wrap_future(f) for f in futures]
    for index in (1, 5, 6):
        with pytest.raises(ValueError, match="after deferring"):
            await results[index]
    assert [await results[i] for i in (0, 2, 3, 4, 7)] == [0, 0, 0, 0, 5]
    assert _rows(db_path) == [5, 103, 104]


def test_defer_outside_a_writer_job_is_refused(db_path: Path) -> None:
    engine = make_engine(db_path, 1.0, writer=True)
    try:
        with engine.connect() as conn:
            with pytest.raises(RuntimeError, match="outside a writer job"):
                defer_until_commit(conn, _DEFERRED_INSERT, "k", (1,))
            assert not cancel_deferred(conn, _DEFERRED_INSERT, "k")
    finally:
        engine.dispose()


async def test_failing_deferred_rows_fail_the_batch(writer: Writer, gate: Gate, db_path: Path) -> None:
    await gate.wait_started()
    first = writer.submit(_insert(30))
    clash = writer.submit(_defer("x", 30))  # written after the jobs: duplicates the row of the first
    await _until(lambda: writer.pending == 3)
    gate.release.set()
    for future in (first, clash):
        with pytest.raises(sqlite3.IntegrityError):
            await asyncio.wrap_future(future)
    assert _rows(db_path) == []
    assert await writer.run(_defer("y", 131)) == 0  # the writer carries on, with nothing left over
    assert _rows(db_path) == [131]


# Through the store: concurrent deliveries share fsyncs


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = await open_sqlite_store(tmp_path / "data", Settings())
    yield opened
    await opened.close()


async def test_concurrent_deliveries_cost_fewer_commits_than_deliveries(store: SqliteStore) -> None:
    account = await make_account(store)
    inbox = await store.get_mailbox(account.id, "INBOX")
    assert inbox is not None
    messages = [await put(store, make_message(n=n)) for n in range(16)]
    gate = Gate(store.writer)
    await gate.wait_started()
    before = store.writer_stats.snapshot()
    deliveries = [asyncio.ensure_future(store.deliver(b, p, [Target(inbox.id)])) for b, p in messages]
    await _until(lambda: store.writer.pending == 17)
    gate.release.set()
    placed = await asyncio.gather(*deliveries)
    commits = store.writer_stats.commits - before.commits
    assert sorted(p[0].uid for p in placed) == list(range(1, 17))
    assert commits < 16
    assert commits / len(placed) < 1  # fsyncs per delivery
    info = await store.get_mailbox_by_id(inbox.id)
    assert info is not None
    assert info.messages == 16


async def test_a_write_waits_for_the_turn_another_process_holds(db_path: Path, tmp_path: Path) -> None:
    """Two writers (two worker processes) on one database: while one holds the write turn, the
    other's job waits, and runs as soon as the turn is free (no busy-polling sleep)."""
    lock = tmp_path / "run" / "writer.lock"
    engine = make_engine(db_path, 5.0, writer=True)
    instance = Writer(engine, group_commit_max=64, init=_init, turn=WriteTurn(lock))
    await instance.start()
    # Another process's turn: flock conflicts between open file descriptions, in one process too.
    other = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(other, fcntl.LOCK_EX)
        future = instance.submit(_insert(1))
        await asyncio.sleep(0.3)
        assert not future.done()
        assert _rows(db_path) == []
        fcntl.flock(other, fcntl.LOCK_UN)
        assert await asyncio.wrap_future(future) == 1
        assert _rows(db_path) == [1]
    finally:
        os.close(other)
        await instance.close()
        engine.dispose()


async def test_jobs_queued_while_another_process_holds_the_turn_share_one_commit(
    db_path: Path, tmp_path: Path
) -> None:
    """The writer takes its turn before the rest of its queue: what arrived while another worker
    held the turn (its commit's fsync) goes into the same commit as the job that waited first."""
    lock = tmp_path / "run" / "writer.lock"
    engine = make_engine(db_path, 5.0, writer=True)
    instance = Writer(engine, group_commit_max=64, init=_init, turn=WriteTurn(lock))
    await instance.start()
    other = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(other, fcntl.LOCK_EX)
        before = instance.stats.snapshot()
        first = asyncio.ensure_future(instance.run(_insert(1)))
        await asyncio.sleep(0.2)  # the writer took job 1 and waits in flock
        rest = [asyncio.ensure_future(instance.run(_insert(n))) for n in range(2, 6)]
        await _until(lambda: instance.pending == 5)
        fcntl.flock(other, fcntl.LOCK_UN)
        assert await asyncio.gather(first, *rest) == [1, 2, 3, 4, 5]
        assert instance.stats.commits - before.commits == 1
        assert instance.stats.batch_sizes[-1] == 5
        assert _rows(db_path) == [1, 2, 3, 4, 5]
    finally:
        os.close(other)
        await instance.close()
        engine.dispose()


def _insert_seeing_synchronous(row_id: int) -> Callable[[Connection], int]:
    """Inserts the row; returns the connection's ``synchronous`` level (1 NORMAL, 2 FULL)."""

    def job(conn: Connection) -> int:
        _insert(row_id)(conn)
        return int(conn.exec_driver_sql("PRAGMA synchronous").scalar_one())

    return job


async def test_only_a_batch_of_jobs_none_durable_commits_without_fsync(writer: Writer, db_path: Path) -> None:
    """``durable=False`` (taking \\Recent): committed with synchronous=NORMAL (no fsync of the WAL)
    when its batch holds no durable job; beside one, the whole batch is fsync'ed as ever."""
    assert await writer.run(_insert_seeing_synchronous(1)) == 2
    before = writer.stats.snapshot()
    assert await writer.run(_insert_seeing_synchronous(2), durable=False) == 1
    assert writer.stats.lazy_commits - before.lazy_commits == 1
    assert await writer.run(_insert_seeing_synchronous(3)) == 2  # FULL again afterwards
    gate = Gate(writer)
    await gate.wait_started()
    mixed = [
        asyncio.ensure_future(writer.run(_insert_seeing_synchronous(4), durable=False)),
        asyncio.ensure_future(writer.run(_insert_seeing_synchronous(5))),
    ]
    await _until(lambda: writer.pending == 3)
    gate.release.set()
    assert await asyncio.gather(*mixed) == [2, 2]
    assert writer.stats.lazy_commits - before.lazy_commits == 1
    assert _rows(db_path) == [1, 2, 3, 4, 5]
