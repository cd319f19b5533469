"""Expunge records (RFC 7162 QRESYNC's VANISHED data): pruning keeps every answer correct, and a
mailbox's MODSEQ never goes back (restart, reconstruct, backup and restore)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from pochta.config import Settings
from pochta.store.sqlite.backup import backup, restore
from pochta.store.sqlite.store import DB_FILE_NAME, SqliteStore, open_sqlite_store
from pochta.testing.store_suite.support import deliver, mailbox, make_account, make_message


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[tuple[SqliteStore, SqliteStore]]:
    """Two stores on one data directory: two processes (each with its own view cache)."""
    first = await open_sqlite_store(tmp_path / "data", Settings())
    second = await open_sqlite_store(tmp_path / "data", Settings())
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


def _rows(store: SqliteStore, sql: str) -> list[tuple[int, ...]]:
    conn = sqlite3.connect(store.data_dir / DB_FILE_NAME)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


# Records made just now are older than a cutoff a minute ahead: pruning takes every one.
EVERYTHING = -60.0


async def test_pruning_moves_the_horizon_and_answers_stay_correct(
    stores: tuple[SqliteStore, SqliteStore],
) -> None:
    first, second = stores
    account = await make_account(first)
    inbox = await mailbox(first, account)
    for n in range(6):
        await deliver(first, make_message(subject=f"m{n}", n=n), inbox.id)
    old = await first.open_view(inbox.id)  # cached by the first "process" at this MODSEQ
    since = old.mailbox.highestmodseq
    gone = await second.expunge(inbox.id, [2, 4])
    assert await first.expunged_since(inbox.id, since) == (2, 4)
    assert await first.prune_expunged(3600.0) == 0  # nothing is an hour old
    assert await first.prune_expunged(EVERYTHING) == 2
    assert _rows(first, "SELECT count(*) FROM expunged") == [(0,)]
    assert _rows(first, "SELECT mailbox_id, modseq FROM expunge_horizon") == [(inbox.id, gone.highestmodseq)]
    # Since before the horizon: no list of expunges, but every live UID to compare with.
    assert await first.expunged_since(inbox.id, since) is None
    changes = await first.changes_since(inbox.id, since)
    assert (changes.expunged, changes.live_uids) == ((), (1, 3, 5, 6))
    # From the horizon on, the records are complete again.
    assert await first.expunged_since(inbox.id, gone.highestmodseq) == ()
    assert (await first.changes_since(inbox.id, gone.highestmodseq)).live_uids is None
    # The view cached before the horizon is not brought forward by a delta (which would keep 2, 4).
    opened = await first.open_view_traced(inbox.id)
    assert opened.source == "full"
    assert list(opened.view.uids) == [1, 3, 5, 6]
    # Pruning again keeps the horizon where the newest pruned record was.
    await second.expunge(inbox.id, [1])
    assert await first.prune_expunged(EVERYTHING) == 1
    [(horizon,)] = _rows(first, "SELECT modseq FROM expunge_horizon")
    assert horizon == (await first.get_mailbox(account.id, "INBOX")).highestmodseq  # type: ignore[union-attr]


async def test_delete_mailbox_takes_its_horizon(stores: tuple[SqliteStore, SqliteStore]) -> None:
    first, _ = stores
    account = await make_account(first)
    box = await first.create_mailbox(account.id, "Work")
    await deliver(first, make_message(), box.id)
    await first.expunge(box.id, [1])
    await first.prune_expunged(EVERYTHING)
    assert _rows(first, "SELECT count(*) FROM expunge_horizon") == [(1,)]
    await first.delete_mailbox(account.id, "Work")
    assert _rows(first, "SELECT count(*) FROM expunge_horizon") == [(0,)]


@contextlib.contextmanager
def _no_lock(path: Path) -> Iterator[None]:
    yield


async def test_highestmodseq_never_goes_back(tmp_path: Path) -> None:
    """Across a restart, ``reconstruct`` (after pruning, when the last change was an expunge that
    no row remembers), and a backup restored elsewhere (RFC 7162 §3.1: mod-sequences only grow)."""
    data = tmp_path / "data"
    store = await open_sqlite_store(data, Settings())
    try:
        account = await make_account(store)
        inbox = await mailbox(store, account)
        for n in range(3):
            await deliver(store, make_message(n=n), inbox.id)
        await store.set_flags(inbox.id, [1], "add", ["\\Seen"])
        expunged = await store.expunge(inbox.id, [3])
        await store.prune_expunged(EVERYTHING)
    finally:
        await store.close()
    highest = expunged.highestmodseq
    store = await open_sqlite_store(data, Settings())
    try:
        info = await store.get_mailbox(account.id, "INBOX")
        assert info is not None
        assert info.highestmodseq == highest
        report = await store.reconstruct()
        assert report.missing_blobs == []
        info = await store.get_mailbox(account.id, "INBOX")
        assert info is not None
        assert info.highestmodseq == highest  # above every row's MODSEQ
        changed = await store.set_flags(inbox.id, [2], "add", ["\\Flagged"])
        assert changed.highestmodseq == highest + 1
    finally:
        await store.close()
    copy = tmp_path / "backup"
    backup(data, Settings(), copy)
    restored = tmp_path / "restored"
    restore(copy, restored, replace=False, holding_lock=_no_lock)
    store = await open_sqlite_store(restored, Settings())
    try:
        info = await store.get_mailbox(account.id, "INBOX")
        assert info is not None
        assert info.highestmodseq == highest + 1
        assert await store.expunged_since(inbox.id, 1) is None  # the horizon came along
        again = await store.set_flags(inbox.id, [2], "remove", ["\\Flagged"])
        assert again.highestmodseq == highest + 2
    finally:
        await store.close()
