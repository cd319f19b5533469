"""Maintenance and placements on both engines (``store/sql/maintenance``, ``pg/maintenance``,
``store/sql/import_journal``): reconstruct repairs what was changed behind the store's back,
a dry run changes nothing, old expunge records are pruned behind a horizon, and an import places
each message once with its journal row. (The suite's own reconstruct tests compare search results
too, which wait for search on PostgreSQL: tests/unit/store/test_pg_store.py.)"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_pg_store import FileBackdoor

import pg_env
from pochta.config import Settings
from pochta.mime import parse_message
from pochta.store.api import Store
from pochta.store.import_model import ImportItem
from pochta.store.model import Account, NewBlob
from pochta.store.pg.store import PgStore, open_pg_store
from pochta.store.sqlite.store import SqliteStore, open_sqlite_store
from pochta.testing.store_suite import MIME, deliver, mailbox, make_account, make_message

pg_cluster = pg_env.pg_cluster
pg_url = pg_env.pg_url


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    opened: PgStore | SqliteStore
    if request.param == "postgresql":
        opened = await open_pg_store(request.getfixturevalue("pg_url"), tmp_path / "data", Settings())
    else:
        opened = await open_sqlite_store(tmp_path / "data", Settings(), indexer=False)
    try:
        yield opened
    finally:
        await opened.close()


async def _populate(store: Store) -> list[Account]:
    alice = await make_account(store, "alice@example.org")
    bob = await make_account(store, "bob@example.org")
    inbox_a, inbox_b = await mailbox(store, alice), await mailbox(store, bob)
    archive = await mailbox(store, alice, "Archive")
    await deliver(store, make_message("alpha", "alpha body"), inbox_a.id, inbox_b.id, flags={"\\Seen"})
    await deliver(store, make_message("beta", "beta body"), inbox_a.id, archive.id, flags={"\\Deleted", "$K"})
    await deliver(store, make_message("gamma", "gamma body"), inbox_b.id)
    await store.expunge(inbox_b.id, [2])
    return [alice, bob]


async def _snapshot(store: Store, accounts: list[Account]) -> object:
    """What clients see, search apart: mailboxes with their counters, views, parse records, quota."""
    state: list[object] = []
    for account in accounts:
        boxes = await store.mailboxes(account.id)
        state.append((boxes, await store.quota_usage(account.id), await store.account_quota(account.id)))
        for box in boxes:
            view = await store.open_view(box.id)
            state.append((view, await store.cached(box.id, [e.uid for e in view.messages])))
            ids = list(view.message_ids)
            state.append(sorted(await store.wire_forms(ids, ("ENVELOPE", "BODYSTRUCTURE"), False)))
    return state


async def test_reconstruct_restores_what_was_changed_behind_the_stores_back(store: Store) -> None:
    backdoor = FileBackdoor()
    accounts = await _populate(store)
    before = await _snapshot(store, accounts)
    clean = await store.reconstruct()
    assert (clean.caches_changed, clean.counters_changed, clean.quota_changed) == (0, 0, 0)
    assert (clean.messages_reparsed, clean.missing_blobs, clean.mailboxes_recounted) == (2, [], 12)

    await backdoor.scramble_counters(store)
    await backdoor.scramble_caches(store)
    await backdoor.drop_wire_forms(store)
    damaged = await _snapshot(store, accounts)
    assert damaged != before
    dry = await store.reconstruct(dry_run=True)
    assert (dry.caches_changed, dry.quota_changed) == (2, 2)
    assert dry.counters_changed > 0
    assert await _snapshot(store, accounts) == damaged  # a dry run changes nothing

    report = await store.reconstruct()
    assert (report.caches_changed, report.quota_changed) == (2, 2)
    assert report.counters_changed > 0
    assert await _snapshot(store, accounts) == before
    again = await store.reconstruct()
    assert (again.caches_changed, again.counters_changed, again.quota_changed) == (0, 0, 0)
    verified = await store.verify()
    assert (verified.damaged, verified.search_missing) == (False, [])


async def test_reconstruct_drops_messages_no_mailbox_holds(store: Store) -> None:
    accounts = await _populate(store)
    assert isinstance(store, (PgStore, SqliteStore))
    # A message row whose memberships are gone (its refcount says otherwise): reconstruct removes
    # it with its derived rows, and the blob becomes unreferenced.
    inbox = await mailbox(store, accounts[1])
    [entry] = (await store.open_view(inbox.id)).messages
    orphan = await deliver(store, make_message("orphan", "orphan body", 7), inbox.id)
    from test_pg_store import _behind_the_back

    _behind_the_back(
        store, (f"DELETE FROM membership WHERE mailbox_id = {inbox.id} AND uid = {orphan[0].uid}",)
    )
    report = await store.reconstruct()
    assert report.counters_changed > 0
    assert len(report.unreferenced_blobs) == 2  # gamma, expunged before; the orphan now
    count = _behind_the_back(store, ("SELECT count(*) FROM message_search_text",))
    assert count == 2  # alpha and beta: the orphan's text went with its row
    assert [e.uid for e in (await store.open_view(inbox.id)).messages] == [entry.uid]


async def test_pruning_moves_the_horizon(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    for n in range(4):
        await deliver(store, make_message(f"m{n}", n=n), inbox.id)
    first = await store.expunge(inbox.id, [1, 2])
    assert await store.expunged_since(inbox.id, 0) == (1, 2)
    assert await store.prune_expunged(3600) == 0  # not old enough
    assert await store.prune_expunged(-60) == 2
    # Below the horizon the records are gone: the answer is "unknown" (a full resync), above it exact.
    assert await store.expunged_since(inbox.id, 0) is None
    assert await store.expunged_since(inbox.id, first.highestmodseq) == ()
    await store.expunge(inbox.id, [3])
    assert await store.expunged_since(inbox.id, first.highestmodseq) == (3,)
    assert await store.prune_expunged(-60) == 1
    assert await store.expunged_since(inbox.id, first.highestmodseq) is None


async def test_import_places_each_message_once_with_its_journal_row(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    gone = await store.create_mailbox(account.id, "Gone")

    def item(key: str, n: int, box_id: int) -> ImportItem:
        raw = make_message(f"imported {n}", f"body {n}", n)
        blob = NewBlob(hashlib.sha256(raw).hexdigest(), len(raw), raw)
        return ImportItem(key, box_id, blob, parse_message(raw, MIME), frozenset({"\\Seen", "$Old"}), None)  # type: ignore[arg-type]

    first = [item("a", 1, inbox.id), item("b", 2, inbox.id)]
    assert await store.import_place(account.id, "mbox:x", first) == [None, None]
    assert await store.import_journal(account.id, "mbox:x") == {"a", "b"}
    await store.delete_mailbox(account.id, "Gone")
    # A rerun places nothing twice; a message whose mailbox went is refused, the others placed.
    again = [item("a", 1, inbox.id), item("c", 3, gone.id), item("d", 4, inbox.id)]
    outcome = await store.import_place(account.id, "mbox:x", again)
    assert (outcome[0], outcome[2]) == (None, None)
    assert str(outcome[1]).startswith("not stored")
    assert await store.import_journal(account.id, "mbox:x") == {"a", "b", "d"}
    view = await store.open_view(inbox.id)
    assert [sorted(e.flags) for e in view.messages] == [["$Old", "\\Seen"]] * 3
    assert await store.import_journal(account.id, "other") == set()
