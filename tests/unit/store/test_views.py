"""Mailbox views: the process cache, deltas and stored snapshots (``pochta.store.sqlite.views``).

Two ``SqliteStore`` instances on one data directory stand for two processes (two server workers, or
the server and the CLI): each has its own cache, and neither is told of the other's writes except
through the database. Every view any path returns must equal the full read of the same state.
"""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import threading
from array import array
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pochta.config import Settings
from pochta.store.model import MailboxInfo, MailboxView
from pochta.store.sqlite import views
from pochta.store.sqlite.store import DB_FILE_NAME, SqliteStore, open_sqlite_store
from pochta.store.sqlite.writer import driver_connection
from pochta.testing.store_suite.support import deliver, mailbox, make_account, make_message, refreshed

SMALL = 5  # mailboxes of this many messages get stored snapshots in these tests


def _settings(**store: object) -> Settings:
    return Settings.model_validate({"store": {"view_snapshot_min_messages": SMALL, **store}})


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[tuple[SqliteStore, SqliteStore]]:
    first = await open_sqlite_store(tmp_path / "data", _settings())
    second = await open_sqlite_store(tmp_path / "data", _settings())
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def _full(store: SqliteStore, mailbox_id: int) -> MailboxView:
    def read(conn: object) -> MailboxView:
        raw = driver_connection(conn)  # type: ignore[arg-type]
        return views.read_full(raw, views.read_mailbox(raw, mailbox_id))

    return await store.run_read(read)  # type: ignore[arg-type]


async def _filled(store: SqliteStore, count: int) -> MailboxInfo:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    for n in range(count):
        await deliver(store, make_message(subject=f"m{n}", n=n), inbox.id, flags={"\\Seen"} if n % 3 else ())
    return inbox


def _snapshot_rows(store: SqliteStore) -> list[tuple[int, int, int]]:
    conn = sqlite3.connect(store.data_dir / DB_FILE_NAME)
    try:
        return conn.execute("SELECT mailbox_id, highestmodseq, messages FROM mailbox_snapshots").fetchall()
    finally:
        conn.close()


async def test_cache_hit_and_delta_after_another_process_writes(
    stores: tuple[SqliteStore, SqliteStore],
) -> None:
    first, second = stores
    inbox = await _filled(first, 3)  # below SMALL: no snapshot
    opened = await first.open_view_traced(inbox.id)
    assert opened.source == "full"
    again = await first.open_view_traced(inbox.id)
    assert (again.source, again.view is opened.view) == ("cache", True)
    # The other "process" flags, expunges and delivers: the first one's cache is stale, and its
    # check against the mailbox row notices.
    await second.set_flags(inbox.id, [1], "add", ["\\Flagged", "$Work"])
    await second.expunge(inbox.id, [2])
    await deliver(second, make_message(subject="late", n=99), inbox.id)
    fresh = await first.open_view_traced(inbox.id)
    assert fresh.source == "delta"
    assert fresh.view == await _full(first, inbox.id)
    assert list(fresh.view.uids) == [1, 3, 4]
    assert fresh.view.flags[0] == frozenset({"\\Flagged", "$Work"})
    # The view a session held is a snapshot: not changed by the delta.
    assert list(opened.view.uids) == [1, 2, 3]
    assert opened.view.flags[0] == frozenset()


async def test_views_brought_forward_share_one_flag_set_per_combination(
    stores: tuple[SqliteStore, SqliteStore],
) -> None:
    # A view kept current by one delta per delivery holds one frozenset per combination of flags, not
    # one per message: each is a container the cyclic collector walks at every full collection.
    first, second = stores
    inbox = await _filled(first, 3)
    await first.open_view_traced(inbox.id)
    for n in range(6):
        await deliver(second, make_message(subject=f"late {n}", n=100 + n), inbox.id, flags={"\\Seen"})
        opened = await first.open_view_traced(inbox.id)
        assert opened.source == "delta"
    view = opened.view
    assert view == await _full(first, inbox.id)
    assert len(view.flags) == 9
    assert len({id(flags) for flags in view.flags}) == 2  # {} and {\\Seen}


async def test_a_rename_keeps_the_columns(stores: tuple[SqliteStore, SqliteStore]) -> None:
    first, second = stores
    account = await make_account(first)
    box = await first.create_mailbox(account.id, "Work")
    await deliver(first, make_message(), box.id)
    opened = await first.open_view_traced(box.id)
    await second.rename_mailbox(account.id, "Work", "Play")
    renamed = await first.open_view_traced(box.id)
    assert renamed.source == "delta"
    assert renamed.view.mailbox.name == "Play"
    assert renamed.view.uids is opened.view.uids
    assert renamed.view == await _full(first, box.id)


async def test_a_delta_too_large_reads_it_all(stores: tuple[SqliteStore, SqliteStore]) -> None:
    first, second = stores
    inbox = await _filled(first, 2)
    await first.open_view(inbox.id)
    for n in range(70):  # above the delta floor (64), and above a quarter of the mailbox
        await deliver(second, make_message(subject=f"x{n}", n=100 + n), inbox.id)
    opened = await first.open_view_traced(inbox.id)
    assert opened.source == "full"
    assert len(opened.view) == 72


async def test_snapshot_is_stored_and_used_by_another_process(
    stores: tuple[SqliteStore, SqliteStore],
) -> None:
    first, second = stores
    inbox = await _filled(first, 8)
    opened = await first.open_view_traced(inbox.id)
    assert (opened.source, opened.store_snapshot) == ("full", True)
    await first.wait_snapshots()
    assert _snapshot_rows(first) == [(inbox.id, opened.view.mailbox.highestmodseq, 8)]
    # Another process has no cached view: it reads the snapshot, nothing changed since.
    other = await second.open_view_traced(inbox.id)
    assert (other.source, other.store_snapshot) == ("snapshot", False)
    assert other.view == opened.view
    # Changes from the first process after the snapshot: the second reads snapshot + delta.
    await first.set_flags(inbox.id, [1, 5], "replace", ["\\Answered"])
    await first.expunge(inbox.id, [2, 8])
    await deliver(first, make_message(subject="new", n=50), inbox.id, flags={"\\Draft"})
    third = await open_sqlite_store(second.data_dir, _settings())
    try:
        seen = await third.open_view_traced(inbox.id)
        assert seen.source == "snapshot"
        assert seen.view == await _full(third, inbox.id)
        assert list(seen.view.uids) == [1, 3, 4, 5, 6, 7, 9]
        assert seen.view.flags[3] == frozenset({"\\Answered"})
        assert seen.view.flags[-1] == frozenset({"\\Draft"})
    finally:
        await third.close()


async def test_snapshot_far_behind_is_stored_again(
    stores: tuple[SqliteStore, SqliteStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = stores
    monkeypatch.setattr(views, "SNAPSHOT_REFRESH_ROWS", 3)
    inbox = await _filled(first, 20)
    await first.open_view(inbox.id)
    await first.wait_snapshots()
    await first.set_flags(inbox.id, [1, 2, 3, 4], "add", ["\\Flagged"])
    opened = await second.open_view_traced(inbox.id)
    assert (opened.source, opened.store_snapshot) == ("snapshot", True)
    await second.wait_snapshots()
    assert _snapshot_rows(first) == [(inbox.id, opened.view.mailbox.highestmodseq, 20)]


async def test_an_older_snapshot_never_replaces_a_newer_one(stores: tuple[SqliteStore, SqliteStore]) -> None:
    first, second = stores
    inbox = await _filled(first, 6)
    old = (await first.open_view_traced(inbox.id)).view
    await first.wait_snapshots()
    await first.set_flags(inbox.id, [1], "add", ["\\Flagged"])
    await second.open_view(inbox.id)  # snapshot + delta of one row: not stored again
    newer = views.pack_snapshot(await _full(first, inbox.id))
    older = views.pack_snapshot(old)
    assert newer is not None
    assert older is not None
    await first.run_write(lambda c, e: views.save_snapshot(driver_connection(c), newer))
    await first.run_write(lambda c, e: views.save_snapshot(driver_connection(c), older))
    assert _snapshot_rows(first) == [(inbox.id, newer.highestmodseq, 6)]


async def test_snapshot_of_a_deleted_mailbox_goes_with_it(stores: tuple[SqliteStore, SqliteStore]) -> None:
    first, _ = stores
    account = await make_account(first)
    box = await first.create_mailbox(account.id, "Old")
    for n in range(SMALL):
        await deliver(first, make_message(n=n), box.id)
    view = await first.open_view(box.id)
    await first.wait_snapshots()
    assert len(_snapshot_rows(first)) == 1
    await first.delete_mailbox(account.id, "Old")
    assert _snapshot_rows(first) == []
    snapshot = views.pack_snapshot(view)
    assert snapshot is not None
    await first.run_write(lambda c, e: views.save_snapshot(driver_connection(c), snapshot))
    assert _snapshot_rows(first) == []  # not written for a mailbox that is gone


async def test_snapshot_of_another_layout_or_damaged_is_ignored(
    stores: tuple[SqliteStore, SqliteStore],
) -> None:
    first, second = stores
    inbox = await _filled(first, 6)
    await first.open_view(inbox.id)
    await first.wait_snapshots()
    conn = sqlite3.connect(first.data_dir / DB_FILE_NAME)
    try:
        conn.execute("UPDATE mailbox_snapshots SET data = substr(data, 1, 100)")
        conn.commit()
    finally:
        conn.close()
    opened = await second.open_view_traced(inbox.id)
    assert opened.source == "full"
    assert opened.view == await _full(second, inbox.id)


async def test_reconstruct_drops_snapshots_and_cached_views_follow_repairs(
    stores: tuple[SqliteStore, SqliteStore],
) -> None:
    first, second = stores
    inbox = await _filled(first, 6)
    before = await _full(first, inbox.id)
    conn = sqlite3.connect(first.data_dir / DB_FILE_NAME)
    try:
        # Damage behind the store's back, without a new MODSEQ: a wrong size and its counter.
        conn.execute("UPDATE messages SET size = size + 1 WHERE id = 1")
        conn.execute("UPDATE mailboxes SET size = size + 1 WHERE id = ?", (inbox.id,))
        conn.commit()
    finally:
        conn.close()
    damaged = await first.open_view(inbox.id)  # cached, and stored as a snapshot
    await first.wait_snapshots()
    assert damaged.sizes != before.sizes
    assert len(_snapshot_rows(first)) == 1
    assert first.current_view(inbox.id) is damaged
    report = await second.reconstruct()
    assert report.caches_changed == 1
    assert _snapshot_rows(first) == []
    assert first.current_view(inbox.id) is None  # reconstruct's repairs moved the stamps
    opened = await first.open_view_traced(inbox.id)
    assert opened.source == "full"  # the counters moved without a new MODSEQ
    assert opened.view == await _full(first, inbox.id)
    assert opened.view.sizes == before.sizes  # repaired


async def test_cache_budget_evicts_the_least_recently_used() -> None:
    info = MailboxInfo(1, 1, "INBOX", 1, 1, 1, None, True, 0, 0, 0, 0)
    small = MailboxView.from_entries(info, ())
    cache = views.ViewCache(budget=2 * views.view_bytes(small))
    held = [MailboxView.from_entries(info, ()) for _ in range(3)]
    for mailbox_id, view in enumerate(held):
        cache.put(mailbox_id, view)
    assert cache.get(0) is held[0]  # evicted from the budget, still held by a "session"
    del held[0]
    gc.collect()
    assert cache.get(0) is None
    assert cache.get(1) is held[0]
    assert cache.get(2) is held[1]


async def test_without_a_cache_budget_only_views_sessions_hold_are_reused(tmp_path: Path) -> None:
    assert Settings().store.view_cache_mb == 64
    store = await open_sqlite_store(tmp_path / "data", _settings(view_cache_mb=0))
    try:
        inbox = await _filled(store, 2)
        held = await store.open_view(inbox.id)
        assert (await store.open_view_traced(inbox.id)).view is held  # a "session" holds it
        del held
        gc.collect()
        assert (await store.open_view_traced(inbox.id)).source == "full"
    finally:
        await store.close()


async def test_start_readers_starts_every_reader_thread_with_its_connection(tmp_path: Path) -> None:
    store = await open_sqlite_store(tmp_path / "data", _settings(), reader_threads=3)
    try:
        before = {t.name for t in threading.enumerate() if t.name.startswith("pochta-reader")}
        await store.start_readers()
        after = {t.name for t in threading.enumerate() if t.name.startswith("pochta-reader")}
        assert (len(before), len(after)) == (0, 3)
        inbox = await _filled(store, 1)
        assert len(await store.open_view(inbox.id)) == 1
    finally:
        await store.close()


async def test_a_view_is_current_without_a_read_until_a_commit_touches_its_mailbox(
    stores: tuple[SqliteStore, SqliteStore],
) -> None:
    first, second = stores
    inbox = await _filled(first, 3)
    other = await first.create_mailbox(inbox.account_id, "Other")
    view = await first.open_view(inbox.id)
    assert first.current_view(inbox.id) is view
    assert second.current_view(inbox.id) is None  # that "process" never read it
    await deliver(second, make_message(subject="elsewhere", n=40), other.id)
    assert first.current_view(inbox.id) is view  # another mailbox changed, not this one
    changes = [
        lambda: second.set_flags(inbox.id, [1], "add", ["\\Flagged"]),
        lambda: deliver(second, make_message(subject="new", n=41), inbox.id),
        lambda: second.expunge(inbox.id, [2]),
        lambda: second.set_subscribed(inbox.account_id, "INBOX", False),
    ]
    for change in changes:
        await change()
        assert first.current_view(inbox.id) is None
        fresh = await first.open_view(inbox.id)
        assert fresh == await _full(first, inbox.id)
        assert fresh.mailbox == await first.get_mailbox_by_id(inbox.id)
        assert first.current_view(inbox.id) is fresh


async def test_a_named_view_is_looked_up_and_read_in_one_read(
    stores: tuple[SqliteStore, SqliteStore],
) -> None:
    first, second = stores
    account = await make_account(first)
    box = await first.create_mailbox(account.id, "Work")
    await deliver(first, make_message(), box.id)
    assert first.mailbox_hint(account.id, "Work") is None
    assert await first.open_named_view(account.id, "Nope") is None
    view = await first.open_named_view(account.id, "Work")
    assert view is not None
    assert view == await _full(first, box.id)
    assert first.mailbox_hint(account.id, "Work") == box.id
    # No guess, but no mailbox changed during the read: stamped all the same.
    assert first.current_view(box.id) is view
    await deliver(second, make_message(subject="new", n=3), box.id)
    assert first.current_view(box.id) is None
    again = await first.open_named_view(account.id, "Work", box.id)
    assert again is not None
    assert again == await _full(first, box.id)
    assert first.current_view(box.id) is again
    # Renamed and deleted by another "process": the hint is only a hint.
    await second.rename_mailbox(account.id, "Work", "Play")
    assert first.current_view(box.id) is None
    assert await first.open_named_view(account.id, "Work", box.id) is None
    played = await first.open_named_view(account.id, "Play", box.id)
    assert played is not None
    assert (played.mailbox.name, played.uids) == ("Play", again.uids)
    assert first.current_view(box.id) is played
    await second.delete_mailbox(account.id, "Play")
    assert first.current_view(box.id) is None
    assert await first.open_named_view(account.id, "Play", box.id) is None


async def test_refresh_snapshots_keeps_stored_snapshots_near_the_head(tmp_path: Path) -> None:
    store = await open_sqlite_store(tmp_path / "data", _settings(view_snapshot_behind=3))
    try:
        inbox = await _filled(store, 8)
        small = await store.create_mailbox(inbox.account_id, "Small")
        await deliver(store, make_message(subject="one", n=70), small.id)
        assert _snapshot_rows(store) == []  # no view was read in full
        assert await store.refresh_snapshots() == 1  # the big mailbox only
        info = await store.get_mailbox_by_id(inbox.id)
        assert info is not None
        assert _snapshot_rows(store) == [(inbox.id, info.highestmodseq, 8)]
        assert await store.refresh_snapshots() == 0  # up to date
        await store.set_flags(inbox.id, [1], "add", ["\\Flagged"])
        assert await store.refresh_snapshots() == 0  # one change behind: under view_snapshot_behind
        for n in range(2):
            await deliver(store, make_message(subject=f"late {n}", n=80 + n), inbox.id)
        assert await store.refresh_snapshots() == 1
        info = await store.get_mailbox_by_id(inbox.id)
        assert info is not None
        assert _snapshot_rows(store) == [(inbox.id, info.highestmodseq, 10)]
        other = await open_sqlite_store(tmp_path / "data", _settings())
        try:
            opened = await other.open_view_traced(inbox.id)
            assert opened.source == "snapshot"
            assert opened.view == await _full(other, inbox.id)
        finally:
            await other.close()
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("table", "indexes", "expected"),
    [
        ([], [], ()),
        ([frozenset({"a"})], [0, 0, 0], (frozenset({"a"}),) * 3),
        ([frozenset(), frozenset({"b"})], [1], (frozenset({"b"}),)),
        ([frozenset(), frozenset({"b"})], [1, 0, 1], (frozenset({"b"}), frozenset(), frozenset({"b"}))),
        ([frozenset()], [0, 1], None),  # an index past the table: a damaged snapshot
        ([frozenset(), frozenset({"b"})], [0, 2], None),
        ([frozenset(), frozenset({"b"})], [2], None),
    ],
)
def test_flag_column_of_a_snapshot(
    table: list[frozenset[str]], indexes: list[int], expected: tuple[frozenset[str], ...] | None
) -> None:
    assert views._flag_column(table, array("I", indexes).tobytes()) == expected


async def test_readers_map_the_database_file(tmp_path: Path) -> None:
    assert Settings().store.read_mmap_mb == 256
    store = await open_sqlite_store(tmp_path / "data", _settings(read_mmap_mb=8))
    try:
        mapped = await store.run_read(lambda c: c.exec_driver_sql("PRAGMA mmap_size").scalar())
        assert mapped == 8 * 2**20
    finally:
        await store.close()


async def test_a_big_view_a_client_uses_is_announced_and_another_process_prefetches_it(
    stores: tuple[SqliteStore, SqliteStore],
) -> None:
    first, second = stores
    inbox = await _filled(first, 8)
    small = await first.create_mailbox(inbox.account_id, "Small")
    announced: list[int] = []
    echoed: list[int] = []
    first.view_loaded, second.view_loaded = announced.append, echoed.append
    await first.open_view(small.id)
    assert announced == []  # below view_snapshot_min_messages
    assert await first.refresh_snapshots() == 1  # the housekeeper's read: no client uses it
    assert announced == []
    assert first.current_view(inbox.id) is not None  # a SELECT from the view: the first use
    await first.open_view(inbox.id)  # once per process
    assert announced == [inbox.id]
    assert second.current_view(inbox.id) is None
    second.prefetch_view(inbox.id)
    for _ in range(500):
        if second.mailbox_hint(inbox.account_id, "INBOX") is not None:
            break
        await asyncio.sleep(0.01)
    assert echoed == []  # a prefetch is not announced back
    view = second.current_view(inbox.id)
    assert view is not None
    assert view == await _full(second, inbox.id)
    assert echoed == [inbox.id]  # ... but a client's use there is (the first holds it: no-op)
    await deliver(first, make_message(subject="after", n=90), inbox.id)
    assert second.current_view(inbox.id) is None


async def _until(check: object, what: str) -> None:
    for _ in range(500):
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not in time: {what}")


async def test_a_take_of_recent_refreshes_the_views_of_every_process(
    stores: tuple[SqliteStore, SqliteStore],
) -> None:
    """Raising the \\Recent boundary changes the mailbox row only: the process that took brings its
    cached view forward at once and tells the others (``view_loaded``), whose prefetch brings a view
    that is stale by its stamp forward too; a take that moved nothing, or of a small mailbox, does
    neither."""
    first, second = stores
    inbox = await refreshed(first, await _filled(first, 8))
    small = await first.create_mailbox(inbox.account_id, "Small")
    told: list[int] = []
    first.view_loaded = told.append
    await first.open_view_traced(inbox.id, announce=False)
    held = await second.open_view(inbox.id)
    assert held.mailbox.first_recent_uid == 1
    told_before = len(told)
    assert await first.take_recent(inbox.id, inbox.uidnext) == 1
    assert told[told_before:] == [inbox.id]
    assert second.current_view(inbox.id) is None  # stale by its stamp
    second.prefetch_view(inbox.id)  # what the peer message "view" does in the other worker
    for store in (first, second):
        await _until(lambda s=store: s.current_view(inbox.id) is not None, "a current view")  # type: ignore[misc]
        view = store.current_view(inbox.id)
        assert view is not None
        assert view == await _full(store, inbox.id)
        assert (view.mailbox.first_recent_uid, view.mailbox.recent) == (inbox.uidnext, 0)
        assert view.mailbox == await store.get_mailbox_by_id(inbox.id)
    told_before = len(told)
    assert await first.take_recent(inbox.id, inbox.uidnext) == inbox.uidnext  # nothing left to take
    await first.open_view(small.id)
    await deliver(second, make_message(subject="new", n=50), small.id)
    assert await first.take_recent(small.id, 2) == 1
    assert told[told_before:] == []
    assert first.current_view(inbox.id) is not None


async def test_a_prefetch_brings_a_stale_view_forward_and_runs_again_after_a_change_meanwhile(
    stores: tuple[SqliteStore, SqliteStore],
) -> None:
    first, second = stores
    inbox = await _filled(first, 8)
    await second.open_view(inbox.id)
    await deliver(first, make_message(subject="later", n=60), inbox.id)
    assert second.current_view(inbox.id) is None
    second.prefetch_view(inbox.id)
    await deliver(first, make_message(subject="meanwhile", n=61), inbox.id)  # maybe after its read began
    second.prefetch_view(inbox.id)  # the peer message of that change
    await _until(lambda: second.current_view(inbox.id) is not None, "a current view")
    view = second.current_view(inbox.id)
    assert view is not None
    assert len(view) == 10
    assert view == await _full(second, inbox.id)


async def test_a_stored_snapshot_warms_the_views_of_the_other_processes(tmp_path: Path) -> None:
    """The housekeeper's round tells ``(id, messages)`` of each snapshot it stored
    (``snapshot_stored``, the peer message "snapshot"); another process warms its cache with it
    (``warm_view``) when store.view_snapshot_warm is on and the view fits without evicting one."""
    keeper = await open_sqlite_store(tmp_path / "data", _settings(view_snapshot_behind=1))
    other = await open_sqlite_store(tmp_path / "data", _settings())
    cold = await open_sqlite_store(tmp_path / "data", _settings(view_snapshot_warm=False))
    tight = await open_sqlite_store(tmp_path / "data", _settings(view_cache_mb=0))
    try:
        inbox = await _filled(keeper, 8)
        told: list[tuple[int, int]] = []
        keeper.snapshot_stored = lambda mailbox_id, count: told.append((mailbox_id, count))
        assert await keeper.refresh_snapshots() == 1
        assert told == [(inbox.id, 8)]
        for store in (other, cold, tight):
            store.warm_view(inbox.id, 8)
        await _until(lambda: other.current_view(inbox.id) is not None, "a warmed view")
        view = other.current_view(inbox.id)
        assert view is not None
        assert view == await _full(other, inbox.id)
        # Off, or no room in the cache without evicting another view: nothing is read.
        for store in (cold, tight):
            assert not store._opener._prefetching  # a prefetch would have been started at once
            assert store.mailbox_hint(inbox.account_id, "INBOX") is None
            assert store.current_view(inbox.id) is None
        # A burst of deliveries, then the next round: the warmed view is brought forward.
        for n in range(3):
            await deliver(keeper, make_message(subject=f"burst {n}", n=40 + n), inbox.id)
        assert other.current_view(inbox.id) is None
        assert await keeper.refresh_snapshots() == 1
        assert told[-1] == (inbox.id, 11)
        other.warm_view(inbox.id, 11)
        await _until(lambda: other.current_view(inbox.id) is not None, "a view brought forward")
        view = other.current_view(inbox.id)
        assert view is not None
        assert len(view) == 11
        assert view == await _full(other, inbox.id)
    finally:
        for store in (keeper, other, cold, tight):
            await store.close()


async def test_a_view_far_behind_comes_from_a_newer_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cached view more than SNAPSHOT_REFRESH_ROWS MODSEQs behind is brought forward from the
    stored snapshot when that is newer (its delta is shorter), else by its own delta; both exact."""
    monkeypatch.setattr(views, "SNAPSHOT_REFRESH_ROWS", 3)
    keeper = await open_sqlite_store(tmp_path / "data", _settings(view_snapshot_behind=1))
    other = await open_sqlite_store(tmp_path / "data", _settings())
    try:
        inbox = await _filled(keeper, 20)
        assert await keeper.refresh_snapshots() == 1
        assert (await other.open_view_traced(inbox.id)).source == "snapshot"
        await keeper.set_flags(inbox.id, [1, 2], "add", ["\\Flagged"])
        for n in range(3):
            await deliver(keeper, make_message(subject=f"far {n}", n=60 + n), inbox.id)
        # 5 MODSEQs behind, and the snapshot is no newer than the view: the view's own delta.
        opened = await other.open_view_traced(inbox.id)
        assert opened.source == "delta"
        assert opened.view == await _full(other, inbox.id)
        await keeper.expunge(inbox.id, [3])
        for n in range(4):
            await deliver(keeper, make_message(subject=f"farther {n}", n=70 + n), inbox.id)
        assert await keeper.refresh_snapshots() == 1
        await keeper.set_flags(inbox.id, [4], "add", ["\\Answered"])  # one change after the snapshot
        opened = await other.open_view_traced(inbox.id)
        assert opened.source == "snapshot"
        assert opened.view == await _full(other, inbox.id)
        assert len(opened.view) == 26
        assert opened.view.flags[2] >= {"\\Answered"}
    finally:
        await keeper.close()
        await other.close()
