"""Blobs on PostgreSQL (``pochta.store.pg.blobs``): the three layouts of ``store.blobs`` (the data
directory, a directory every node mounts, chunked rows of the database), small blobs in
``inline_blobs``, and collection racing deliveries of another node on one database.

The races are run with two stores (two nodes) on one database, each step pinned: a hook on the
collector's own statements holds it at the point of the protocol under test (after it took its
locks, before it deletes) while the other node's write runs into it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, inspect, select, text

import pg_env
from pochta.config import Settings
from pochta.mime import parse_message
from pochta.store.api import NotFound
from pochta.store.blobs import BlobStore
from pochta.store.model import BlobRef, NewBlob, Target
from pochta.store.pg import queue as pg_queue
from pochta.store.pg.blob_chunks import CHUNK, ChunkedBlobs
from pochta.store.pg.blob_files import FileBlobs
from pochta.store.pg.schema import current_revision
from pochta.store.pg.store import PgStore, open_pg_store
from pochta.store.queue_model import NewQueueEntry, NewQueueRecipient
from pochta.store.schema import inline_blobs, large_blob_chunks, large_blobs
from pochta.store.sqlite.engine import SCHEMA_HEAD
from pochta.store.sqlite.inline import new_blob
from pochta.testing.store_suite import make_account
from pochta.testing.store_suite.support import MIME, mailbox, make_message

pg_cluster = pg_env.pg_cluster
pg_url = pg_env.pg_url

T0 = datetime(2026, 12, 7, tzinfo=UTC)


def _settings(**store: Any) -> Settings:
    return Settings.model_validate({"store": store})


def _big(label: str, size: int) -> bytes:
    """A message of ``size`` octets whose bytes differ from chunk to chunk."""
    head = f"Subject: {label}\r\n\r\n".encode()
    body = b"".join(f"{label} line {n:09d}\r\n".encode() for n in range(size // 20 + 1))
    return (head + body)[:size]


def _queued(blob: BlobRef, address: str = "bob@remote.example") -> NewQueueEntry:
    return NewQueueEntry(blob, "alice@example.org", (NewQueueRecipient(address),), "submission", T0)


@pytest.fixture
async def nodes(pg_url: str, tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[PgStore]]]:
    """Opens stores on one database, each with a data directory of its own (a node each)."""
    opened: list[PgStore] = []

    async def node(**store: Any) -> PgStore:
        settings = _settings(url=pg_url, **store)
        handle = await open_pg_store(pg_url, tmp_path / f"node{len(opened)}", settings)
        opened.append(handle)
        return handle

    yield node
    for handle in opened:
        await handle.close()


async def _rows(store: PgStore, table: Any) -> set[str]:
    return set(await store.run_read(lambda c: c.execute(select(table.c.sha256)).scalars().all()))


# The setting


def test_the_setting_names_a_place_and_postgresql_needs_a_postgresql_store() -> None:
    url = "postgresql://mail@db.example/pochta"
    assert Settings().store.blobs == ""
    assert _settings(url=url, blobs="postgresql").store.blobs == "postgresql"
    assert _settings(url=url, blobs="/srv/pochta-blobs").store.blobs == "/srv/pochta-blobs"
    with pytest.raises(ValueError, match="needs a PostgreSQL store"):
        _settings(blobs="postgresql")
    with pytest.raises(ValueError, match="needs a PostgreSQL store"):
        _settings(url="sqlite:///pochta.db", blobs="/srv/pochta-blobs")
    with pytest.raises(ValueError, match="an absolute path"):
        _settings(url=url, blobs="relative/blobs")
    with pytest.raises(ValueError, match="an absolute path"):
        _settings(url=url, blobs="PostgreSQL")


# Blobs in the database (store.blobs = "postgresql")


async def test_large_blobs_are_chunked_rows_read_back_as_a_file(
    nodes: Callable[..., Awaitable[PgStore]],
) -> None:
    store = await nodes(blobs="postgresql")
    assert isinstance(store.blobs.large, ChunkedBlobs)
    data = _big("three chunks", 2 * CHUNK + 1234)
    blob = await store.new_blob(data)
    assert not isinstance(blob, NewBlob)  # larger than inline_blob_max: stored now, durably
    assert await _rows(store, large_blobs) == {blob.sha256}
    seqs = await store.run_read(
        lambda c: c.execute(select(large_blob_chunks.c.seq).order_by(large_blob_chunks.c.seq)).scalars().all()
    )
    assert seqs == [0, 1, 2]
    assert not any(p.is_file() for p in (store.blobs.large.tmp_dir.parent).rglob("*"))  # no file anywhere

    def read_both() -> tuple[bytes, int, bytes]:
        with store.open_blob(BlobRef(blob.sha256, blob.size)) as f:
            # A blob of several chunks is copied into an unnamed temporary file, chunk by chunk: a
            # real file, for callers that map it or send it with sendfile (POP3, the parser).
            fileno = f.fileno()
            opened = f.read()
        return opened, fileno, store.read_blob(BlobRef(blob.sha256, blob.size))

    opened, fileno, read = await asyncio.to_thread(read_both)
    assert opened == data
    assert read == data
    assert fileno >= 0
    assert list(store.blobs.large.tmp_dir.iterdir()) == []  # nothing left behind
    inbox = await mailbox(store, await make_account(store))
    await store.deliver(blob, parse_message(data, MIME), [Target(inbox.id)])
    assert await store.read_blobs([blob]) == {blob.sha256: data}


async def test_chunked_blobs_are_single_instance_and_adopt_files(
    nodes: Callable[..., Awaitable[PgStore]], tmp_path: Path
) -> None:
    store = await nodes(blobs="postgresql", inline_blob_max=0)
    data = make_message("one chunk")
    first, second = await store.put_blob(data), await store.new_blob(data)
    assert first == second == BlobRef(first.sha256, len(data))
    spool = tmp_path / "spool.eml"
    spool.write_bytes(data)
    assert await store.put_blob_file(str(spool)) == first
    assert not spool.exists()  # adopted: its bytes are rows now
    assert await _rows(store, large_blobs) == {first.sha256}
    with await asyncio.to_thread(store.open_blob, first) as f:
        assert f.read() == data  # one chunk: in memory
    with pytest.raises(NotFound):
        await asyncio.to_thread(store.read_blob, BlobRef("e" * 64, 5))


async def test_chunked_blobs_collected_after_the_grace_period_when_unreferenced(
    nodes: Callable[..., Awaitable[PgStore]],
) -> None:
    store = await nodes(blobs="postgresql", inline_blob_max=0)
    inbox = await mailbox(store, await make_account(store))
    kept, dropped = make_message("kept"), make_message("dropped")
    kept_blob, dropped_blob = await store.put_blob(kept), await store.put_blob(dropped)
    await store.deliver(kept_blob, parse_message(kept, MIME), [Target(inbox.id)])
    assert await store.collect_blobs(grace_seconds=3600) == []  # written a moment ago
    assert await store.collect_blobs(grace_seconds=0) == [dropped_blob.sha256]
    assert await _rows(store, large_blobs) == {kept_blob.sha256}
    chunks = await store.run_read(lambda c: c.execute(select(large_blob_chunks.c.sha256)).scalars().all())
    assert set(chunks) == {kept_blob.sha256}
    with pytest.raises(NotFound):
        await store.deliver(dropped_blob, parse_message(dropped, MIME), [Target(inbox.id)])


async def test_a_changed_inline_threshold_leaves_every_blob_readable(
    nodes: Callable[..., Awaitable[PgStore]],
) -> None:
    # The suite's test of the same name ends with verify (not on PostgreSQL yet): its reads here.
    small = await nodes(blobs="postgresql", inline_blob_max=64 * 1024)
    inbox = await mailbox(small, await make_account(small))
    data = make_message("kept in inline_blobs")
    row = await small.new_blob(data)
    assert isinstance(row, NewBlob)
    await small.deliver(row, parse_message(data, MIME), [Target(inbox.id)])
    none = await nodes(blobs="postgresql", inline_blob_max=0)
    chunked_data = make_message("kept in large_blobs")
    chunked = await none.new_blob(chunked_data)
    assert not isinstance(chunked, NewBlob)
    for store in (small, none):
        assert await asyncio.to_thread(store.read_blob, BlobRef(row.sha256, row.size)) == data
        assert await asyncio.to_thread(store.read_blob, chunked) == chunked_data
        assert await store.read_blobs([BlobRef(row.sha256, row.size), chunked]) == {
            row.sha256: data,
            chunked.sha256: chunked_data,
        }


# A directory every node mounts (store.blobs = a path)


async def test_nodes_share_a_blob_directory(nodes: Callable[..., Awaitable[PgStore]], tmp_path: Path) -> None:
    shared = tmp_path / "shared-blobs"
    a, b = await nodes(blobs=str(shared)), await nodes(blobs=str(shared))
    assert isinstance(a.blobs.large, FileBlobs)
    assert a.blobs.large.files.root == shared
    inbox = await mailbox(a, await make_account(a))
    data = _big("shared", 100_000)
    blob = await a.put_blob(data)
    assert a.blobs.large.files.path_for(blob.sha256).is_file()
    # Node B refers to what node A wrote, and reads it.
    await b.deliver(BlobRef(blob.sha256, blob.size), parse_message(data, MIME), [Target(inbox.id)])
    assert await asyncio.to_thread(b.read_blob, blob) == data
    for own in ("node0", "node1"):  # the nodes' own blobs/ hold no blob, only their tmp/ (spool files)
        assert BlobStore(tmp_path / own / "blobs").list_sync() == set()
        assert (tmp_path / own / "blobs" / "tmp").is_dir()
    await b.expunge(inbox.id, None)
    assert await a.collect_blobs(grace_seconds=0) == [blob.sha256]
    with pytest.raises(NotFound):
        await asyncio.to_thread(b.read_blob, blob)


# Collection racing a delivery on another node: each ordering of the two locks


class Hold:
    """Holds the thread that runs a statement containing ``marker`` on ``engine`` (after it ran,
    or before) until ``release``; ``reached`` is set when it gets there."""

    def __init__(self, engine: Engine, marker: str, *, after: bool) -> None:
        self.reached = threading.Event()
        self._go = threading.Event()
        self._marker = marker
        self._done = False

        def hook(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if self._marker in statement and not self._done:
                self._done = True
                self.reached.set()
                self._go.wait(30)

        event.listen(engine, "after_cursor_execute" if after else "before_cursor_execute", hook)

    def release(self) -> None:
        self._go.set()


async def _unreferenced_inline_blob(store: PgStore, label: str) -> BlobRef:
    """A row of inline_blobs nothing refers to any more (a queue entry that held it was deleted)."""
    blob = new_blob(make_message(label))
    queue_id = await store.enqueue(_queued(blob))
    assert await store.delete_queue_entry(queue_id)
    return BlobRef(blob.sha256, blob.size)


async def test_a_collector_skips_a_row_a_write_of_another_node_has_referenced(
    nodes: Callable[..., Awaitable[PgStore]], pg_url: str
) -> None:
    a, b = await nodes(), await nodes()
    blob = await _unreferenced_inline_blob(a, "referenced while collected")
    engine = create_engine(pg_url, isolation_level="SERIALIZABLE")
    try:
        with engine.connect() as conn:
            conn.begin()
            # Node A's write has taken its reference and not committed yet: B's collector skips it.
            pg_queue.enqueue(conn, [], a.blobs, _queued(blob))
            assert await b.collect_blobs(grace_seconds=0) == []
            conn.commit()
    finally:
        engine.dispose()
    assert await b.collect_blobs(grace_seconds=0) == []  # committed: referenced
    assert blob.sha256 in await _rows(b, inline_blobs)


async def test_a_write_that_meets_a_collection_of_its_row_runs_again_and_finds_it_gone(
    nodes: Callable[..., Awaitable[PgStore]],
) -> None:
    a, b = await nodes(), await nodes()
    blob = await _unreferenced_inline_blob(a, "collected while referenced")
    # B's collector has locked the row and is about to delete it; then A's write wants it.
    hold = Hold(b.blobs.engine, "DELETE FROM inline_blobs", after=False)
    collecting = asyncio.create_task(b.collect_blobs(grace_seconds=0))
    assert await asyncio.to_thread(hold.reached.wait, 30)
    writing = asyncio.create_task(a.enqueue(_queued(blob)))
    await asyncio.sleep(0.3)  # A's lock waits for B's transaction
    assert not writing.done()
    retries = a.write_retries
    hold.release()
    assert await collecting == [blob.sha256]
    with pytest.raises(NotFound):  # A ran again, saw no row: no reference to a deleted blob
        await writing
    assert a.write_retries > retries
    assert await a.queue_entries() == []
    # The same bytes as a NewBlob are simply stored again.
    await a.enqueue(_queued(new_blob(make_message("collected while referenced"))))
    assert blob.sha256 in await _rows(a, inline_blobs)


async def test_a_write_that_meets_a_collection_of_its_file_finds_it_gone(
    nodes: Callable[..., Awaitable[PgStore]], tmp_path: Path
) -> None:
    shared = str(tmp_path / "shared")
    a, b = await nodes(blobs=shared), await nodes(blobs=shared)
    data = make_message("a file collected while referenced")
    blob = await a.put_blob(data)
    # B's collector holds the file's lock (it has taken it, it has not removed the file yet).
    hold = Hold(b.blobs.engine, "pg_try_advisory_xact_lock", after=True)
    collecting = asyncio.create_task(b.collect_blobs(grace_seconds=0))
    assert await asyncio.to_thread(hold.reached.wait, 30)
    writing = asyncio.create_task(a.enqueue(_queued(blob)))
    await asyncio.sleep(0.3)
    assert not writing.done()  # A's shared lock waits for B's transaction
    hold.release()
    assert await collecting == [blob.sha256]
    with pytest.raises(NotFound):
        await writing
    assert await a.queue_entries() == []


async def test_a_collector_skips_a_file_a_write_of_another_node_has_referenced(
    nodes: Callable[..., Awaitable[PgStore]], pg_url: str, tmp_path: Path
) -> None:
    shared = str(tmp_path / "shared")
    a, b = await nodes(blobs=shared), await nodes(blobs=shared)
    blob = await a.put_blob(make_message("a file referenced while collected"))
    engine = create_engine(pg_url, isolation_level="SERIALIZABLE")
    try:
        with engine.connect() as conn:
            conn.begin()
            pg_queue.enqueue(conn, [], a.blobs, _queued(blob))  # A's reference, not committed
            assert await b.collect_blobs(grace_seconds=0) == []  # B cannot take the file's lock
            conn.commit()
    finally:
        engine.dispose()
    assert await b.collect_blobs(grace_seconds=0) == []  # committed: referenced
    assert await asyncio.to_thread(b.read_blob, blob) == make_message("a file referenced while collected")


async def test_a_write_that_meets_a_collection_of_its_chunked_blob_finds_it_gone(
    nodes: Callable[..., Awaitable[PgStore]],
) -> None:
    a, b = await nodes(blobs="postgresql"), await nodes(blobs="postgresql")
    blob = await a.put_blob(_big("chunked, collected while referenced", CHUNK + 10))
    hold = Hold(b.blobs.engine, "DELETE FROM large_blobs", after=False)
    collecting = asyncio.create_task(b.collect_blobs(grace_seconds=0))
    assert await asyncio.to_thread(hold.reached.wait, 30)
    writing = asyncio.create_task(a.enqueue(_queued(blob)))
    await asyncio.sleep(0.3)
    assert not writing.done()
    hold.release()
    assert await collecting == [blob.sha256]
    with pytest.raises(NotFound):
        await writing
    assert await _rows(a, large_blob_chunks) == set()


@pytest.mark.parametrize("layout", ["inline", "files", "postgresql"])
async def test_racing_references_and_collections_never_leave_a_reference_to_a_missing_blob(
    nodes: Callable[..., Awaitable[PgStore]], tmp_path: Path, layout: str
) -> None:
    # Node A refers by digest to blobs nothing refers to (some of its writes get NotFound), while
    # node B collects over and over; at the end every queued message's blob is readable.
    place = {"inline": "", "files": str(tmp_path / "shared"), "postgresql": "postgresql"}[layout]
    limit = 64 * 1024 if layout == "inline" else 0
    a, b = await nodes(blobs=place, inline_blob_max=limit), await nodes(blobs=place, inline_blob_max=limit)
    refs = []
    for n in range(30):
        data = make_message(f"race {n}")
        blob = await a.new_blob(data)
        queue_id = await a.enqueue(_queued(blob))
        assert await a.delete_queue_entry(queue_id)
        refs.append(BlobRef(blob.sha256, blob.size))

    async def refer(ref: BlobRef) -> bool:
        try:
            await a.enqueue(_queued(ref))
        except NotFound:
            return False
        return True

    async def collect() -> None:
        for _ in range(5):
            await b.collect_blobs(grace_seconds=0)

    results = await asyncio.gather(collect(), *(refer(ref) for ref in refs))
    taken = [ref for ref, ok in zip(refs, results[1:], strict=True) if ok]
    await b.collect_blobs(grace_seconds=0)
    queued = await a.queue_entries()
    assert sorted(e.blob.sha256 for e in queued) == sorted(ref.sha256 for ref in taken)
    for entry in queued:
        assert await asyncio.to_thread(b.read_blob, entry.blob) == await asyncio.to_thread(
            a.read_blob, entry.blob
        )


# Migration 0036 on PostgreSQL


async def test_migration_0036_adds_the_blob_tables_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    engine = create_engine(pg_url)
    try:
        with engine.begin() as conn:  # a database at 0034: without the tables of 0036 and later
            conn.execute(text(pg_env.UNDO_AFTER_0036))
            conn.execute(text("DROP TABLE large_blob_chunks; DROP TABLE large_blobs"))
            conn.execute(text("UPDATE alembic_version SET version_num = '0034'"))
        settings = _settings(url=pg_url, blobs="postgresql", inline_blob_max=0)
        store = await open_pg_store(pg_url, tmp_path, settings)
        try:
            blob = await store.put_blob(make_message("after the upgrade"))
            assert await asyncio.to_thread(store.read_blob, blob) == make_message("after the upgrade")
        finally:
            await store.close()
        with engine.connect() as conn:
            assert current_revision(conn) == SCHEMA_HEAD
            columns = {c["name"]: c for c in inspect(conn).get_columns("large_blobs")}
            assert columns["sha256"]["type"].collation == "C"  # as built at the head
            assert {c["name"] for c in inspect(conn).get_columns("large_blob_chunks")} == {
                "sha256",
                "seq",
                "data",
            }
            # 0037's sessions table, by the upgrade as at the head
            assert inspect(conn).get_pk_constraint("web_sessions")["constrained_columns"] == ["token_hash"]
    finally:
        engine.dispose()
