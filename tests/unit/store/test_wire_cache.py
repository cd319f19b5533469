"""Each process's cache of kept IMAP wire forms (store/wire_cache.py): least recently used out within
a budget of octets that counts keys and entries too; a warm FETCH's forms come without a database
read; ``pochta reconstruct`` (in this process or another) empties it; ``wire_cache_mb = 0`` keeps
nothing."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pochta.config import Settings
from pochta.store.sqlite.store import DB_FILE_NAME, SqliteStore, open_sqlite_store
from pochta.store.wire_cache import WireCache
from pochta.testing.store_suite.support import deliver, mailbox, make_account, make_message

T = TypeVar("T")
NAMES = ("ENVELOPE", "BODY", "BODYSTRUCTURE")


def _row(message_id: int, size: int) -> tuple[int, bytes, bytes, bytes]:
    return (message_id, b"e" * size, b"b" * size, b"s" * size)


def _cost(message_id: int, value: bytes) -> int:
    # What the cache must count at least: the value, the int key, the dictionary's entry.
    return sys.getsizeof(value) + sys.getsizeof(message_id * 8)


def test_least_recently_used_out_by_octets() -> None:
    one_row = sum(_cost(1, b"x" * 1000) for _ in NAMES)
    cache = WireCache(int(one_row * 3.5) + 3 * 3 * 100)  # room for three rows of 1000-octet forms
    cache.fill(7, [_row(1, 1000), _row(2, 1000), _row(3, 1000)], NAMES, False)
    assert len(cache) == 9
    assert one_row * 3 < cache.used <= cache.budget
    held = cache.used
    cache.fill(7, [_row(2, 1000)], NAMES, False)  # read again (two FETCHes at once): counted once
    assert cache.used == held
    # A use of 1 makes 2 the least recently used: the fourth row pushes 2 out, not 1.
    rows, lacking = cache.lookup(7, [1], NAMES, False)
    assert rows == [_row(1, 1000)]
    assert lacking == []
    cache.fill(7, [_row(4, 1000)], NAMES, False)
    rows, lacking = cache.lookup(7, [1, 2, 3, 4, 1], NAMES, False)
    assert sorted(rows) == [_row(1, 1000), _row(3, 1000), _row(4, 1000)]
    assert lacking == [2]
    assert cache.used <= cache.budget
    # One form larger than the whole budget is not kept (nor does it push out more than itself).
    cache.fill(7, [_row(5, cache.budget)], NAMES, False)
    assert cache.used <= cache.budget
    assert cache.lookup(7, [5], NAMES, False)[1] == [5]


def test_entries_by_form_and_session_kind() -> None:
    cache = WireCache(1 << 20)
    cache.fill(1, [(10, b"env")], ["ENVELOPE"], False)
    cache.fill(1, [(10, b"env-utf8", b"bs-utf8")], ["ENVELOPE", "BODYSTRUCTURE"], True)
    assert cache.lookup(1, [10], ["ENVELOPE"], False) == ([(10, b"env")], [])
    assert cache.lookup(1, [10], ["BODYSTRUCTURE", "ENVELOPE"], True) == ([(10, b"bs-utf8", b"env-utf8")], [])
    # Every form asked must be there, else the message is read (all its forms, in one row).
    assert cache.lookup(1, [10], ["ENVELOPE", "BODY"], False) == ([], [10])
    # A form the store has none of is not kept.
    cache.fill(1, [(11, None)], ["ENVELOPE"], False)
    assert cache.lookup(1, [11], ["ENVELOPE"], False) == ([], [11])


def test_another_version_empties_it() -> None:
    cache = WireCache(1 << 20)
    cache.fill(3, [_row(1, 10)], NAMES, False)
    # A fill read before a rewrite the cache knows of is dropped; the entries read after it stay.
    assert cache.lookup(4, [1], NAMES, False) == ([], [1])
    assert len(cache) == 0
    assert cache.used == 0
    cache.fill(4, [_row(1, 10)], NAMES, False)
    cache.fill(3, [_row(2, 10)], NAMES, False)
    assert cache.lookup(4, [1, 2], NAMES, False) == ([_row(1, 10)], [2])
    # A fill read at a newer version than the lookups so far starts again from it.
    cache.fill(5, [_row(2, 10)], NAMES, False)
    assert cache.lookup(5, [1, 2], NAMES, False) == ([_row(2, 10)], [1])


def test_budget_zero_keeps_nothing() -> None:
    cache = WireCache(0)
    cache.fill(1, [_row(1, 10)], NAMES, False)
    assert len(cache) == 0
    assert cache.used == 0


def _settings(mb: int) -> Settings:
    return Settings.model_validate({"store": {"wire_cache_mb": mb}})


def test_setting_default_and_bounds() -> None:
    assert Settings().store.wire_cache_mb == 32
    assert _settings(0).store.wire_cache_mb == 0
    with pytest.raises(ValueError, match="greater than or equal"):
        _settings(-1)


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[tuple[SqliteStore, SqliteStore]]:
    """Two processes' stores on one data directory (the second does not cache)."""
    first = await open_sqlite_store(tmp_path / "data", _settings(32))
    second = await open_sqlite_store(tmp_path / "data", _settings(0))
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


def _count_reads(store: SqliteStore) -> list[int]:
    """Counts the store's reader-thread jobs from now on."""
    calls: list[int] = []
    real = store.run_read

    async def counted(fn: Callable[[Any], T]) -> T:
        calls.append(1)
        return await real(fn)

    store.run_read = counted  # type: ignore[method-assign]
    return calls


def _scramble_forms(store: SqliteStore) -> None:
    """Replace every kept form with garbage of the current version, behind the store's back."""
    conn = sqlite3.connect(store.data_dir / DB_FILE_NAME)
    try:
        conn.execute("UPDATE message_wire SET envelope = X'21', body = X'21', bodystructure = X'21'")
        conn.commit()
    finally:
        conn.close()


async def test_warm_forms_without_a_read_and_reconstruct_empties_it(
    stores: tuple[SqliteStore, SqliteStore],
) -> None:
    store, other = stores
    inbox = await mailbox(store, await make_account(store))
    for n in range(3):
        await deliver(store, make_message(f"subject {n}", n=n), inbox.id)
    ids = list((await store.open_view(inbox.id)).message_ids)
    truth = {row[0]: row for row in await other.wire_forms(ids, NAMES, False)}
    assert len(truth) == 3

    reads = _count_reads(store)
    cold = await store.wire_forms(ids, NAMES, False)
    assert {row[0]: row for row in cold} == truth
    assert len(reads) == 1
    warm = await store.wire_forms(ids[::-1] + ids, NAMES, False)
    assert {row[0]: row for row in warm} == truth
    assert len(warm) == 3
    assert len(reads) == 1  # answered from the cache
    # Only what is not held is read.
    await store.wire_forms(ids, ["ENVELOPE"], True)
    assert len(reads) == 2
    assert await store.wire_forms(ids[:1], ["ENVELOPE"], True) == [(ids[0], truth[ids[0]][1])]
    assert len(reads) == 2

    # Forms rewritten behind the cache (garbage here), then read into it: what reconstruct repairs.
    _scramble_forms(store)
    store.wire_cache.clear()
    assert {row[1] for row in await store.wire_forms(ids, NAMES, False)} == {b"!"}
    # reconstruct in another process: this one's cache is emptied by directory_version.
    assert (await other.reconstruct()).caches_changed == 3
    assert {row[0]: row for row in await store.wire_forms(ids, NAMES, False)} == truth
    # ... and in this process.
    _scramble_forms(store)
    store.wire_cache.clear()
    assert {row[1] for row in await store.wire_forms(ids, NAMES, False)} == {b"!"}
    assert (await store.reconstruct()).caches_changed == 3
    assert {row[0]: row for row in await store.wire_forms(ids, NAMES, False)} == truth


async def test_budget_zero_reads_every_time(stores: tuple[SqliteStore, SqliteStore]) -> None:
    store, other = stores
    inbox = await mailbox(store, await make_account(store))
    await deliver(store, make_message("one"), inbox.id)
    ids = list((await store.open_view(inbox.id)).message_ids)
    reads = _count_reads(other)
    first = await other.wire_forms(ids, NAMES, False)
    assert await other.wire_forms(ids, NAMES, False) == first
    assert len(reads) == 2
    assert len(other.wire_cache) == 0


def test_share_setting_default_and_bounds() -> None:
    assert Settings().store.wire_cache_share == 1000
    assert Settings.model_validate({"store": {"wire_cache_share": 0}}).store.wire_cache_share == 0
    with pytest.raises(ValueError, match="less than or equal"):
        Settings.model_validate({"store": {"wire_cache_share": 4001}})
    with pytest.raises(ValueError, match="greater than or equal"):
        Settings.model_validate({"store": {"wire_cache_share": -1}})


async def test_forms_read_are_shared_and_prefetched_by_another_worker(tmp_path: Path) -> None:
    """Worker one reads forms for a client and tells their ids (``forms_read``, sent over the peer
    channel by the server); worker two reads them into its cache (``prefetch_forms``) without telling
    anyone, and its client's FETCH then needs no read."""
    one = await open_sqlite_store(
        tmp_path / "data", Settings.model_validate({"store": {"wire_cache_share": 2}})
    )
    two = await open_sqlite_store(tmp_path / "data", _settings(32))
    try:
        inbox = await mailbox(one, await make_account(one))
        for n in range(3):
            await deliver(one, make_message(f"subject {n}", n=n), inbox.id)
        ids = list((await one.open_view(inbox.id)).message_ids)
        told: list[tuple[list[int], list[str], bool]] = []
        one.forms_read = lambda i, n, u: told.append((list(i), list(n), u))
        heard: list[object] = []
        two.forms_read = lambda i, n, u: heard.append(i)

        await one.wire_forms(ids[:1], ["BODY"], False)  # not a big mailbox's: not told
        assert told == []
        await one.wire_forms(ids[:2], ["ENVELOPE"], False, share=True)
        assert told == [(ids[:2], ["ENVELOPE"], False)]
        await one.wire_forms(ids[:2], ["ENVELOPE"], False, share=True)  # held: no read, nothing told
        assert len(told) == 1
        await one.wire_forms(ids, ["ENVELOPE", "BODY"], True, share=True)  # 3 read: over wire_cache_share
        assert len(told) == 1
        await one.wire_forms(ids[2:], ["ENVELOPE"], False, share=True)  # only what was read is told
        assert told[-1] == (ids[2:], ["ENVELOPE"], False)

        reads = _count_reads(two)
        await two.prefetch_forms(ids[:2], ["ENVELOPE"], False)
        assert len(reads) == 1
        assert heard == []  # a prefetch is not told on: no echo between workers
        truth = await one.wire_forms(ids[:2], ["ENVELOPE"], False)
        assert sorted(await two.wire_forms(ids[:2], ["ENVELOPE"], False)) == sorted(truth)
        assert len(reads) == 1  # answered from what the prefetch read
        await two.prefetch_forms(ids[:2], ["ENVELOPE"], False)  # all held: no read
        assert len(reads) == 1
    finally:
        await one.close()
        await two.close()
