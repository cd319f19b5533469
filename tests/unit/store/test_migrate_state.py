"""`pochta migrate`'s state in the store (revision 0032, pochta.store.sql.migrate_state): a
message is placed and recorded in one transaction; a recorded UID is never placed again; a folder
whose UIDVALIDITY changed matches what it copied before by SHA-256."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import pg_env
from pochta.config import MimeSettings, Settings
from pochta.mime import parse_message
from pochta.store.api import Store
from pochta.store.migrate_state_model import MigrateFolder, MigrateItem, Placement
from pochta.store.pg.store import open_pg_store
from pochta.store.sqlite.store import open_sqlite_store
from pochta.testing.store_suite import mailbox, make_account

SOURCE = "imap://alice@remote.example:993"


pg_cluster = pg_env.pg_cluster
pg_url = pg_env.pg_url


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    # On both engines: the state's rules are store/sql's, placing is each engine's deliver.
    opened: Store
    if request.param == "postgresql":
        opened = await open_pg_store(request.getfixturevalue("pg_url"), tmp_path / "data", Settings())
    else:
        opened = await open_sqlite_store(tmp_path / "data", Settings())
    try:
        yield opened
    finally:
        await opened.close()


async def _item(store: Store, uid: int, body: bytes, flags: frozenset[str] = frozenset()) -> MigrateItem:
    data = b"Subject: m\r\n\r\n" + body + b"\r\n"
    return MigrateItem(uid, await store.new_blob(data), parse_message(data, MimeSettings()), flags, None)


async def _local(store: Store, folder: MigrateFolder) -> dict[int, frozenset[str]]:
    view = await store.open_view(folder.mailbox_id)
    return {entry.uid: frozenset(entry.flags) for entry in view}


async def test_place_once_flags_and_restart(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    folder = await store.migrate_folder(account.id, SOURCE, "INBOX", 100, inbox.id)
    assert not folder.restarted
    assert folder.highestmodseq is None
    items = [
        await _item(store, 1, b"one", frozenset({"\\Seen"})),
        await _item(store, 2, b"two", frozenset({"$Work"})),
    ]
    assert await store.migrate_place(folder, items) == [Placement.COPIED, Placement.COPIED]
    # A second run that met the same UIDs (a run killed after its commit) places nothing.
    assert await store.migrate_place(folder, items[:1]) == [Placement.ALREADY]
    assert len(await _local(store, folder)) == 2
    copied = await store.migrated(folder)
    assert {uid: done.flags for uid, done in copied.items()} == {1: {"\\Seen"}, 2: {"$Work"}}
    # Remote flags changed: the local copy follows, once.
    assert (
        await store.migrate_flags(
            folder, [(1, frozenset({"\\Seen", "\\Flagged"})), (2, frozenset({"$Work"}))]
        )
        == 1
    )
    local = await _local(store, folder)
    assert local[copied[1].local_uid] == {"\\Seen", "\\Flagged"}
    await store.migrate_finish(folder, 55)
    again = await store.migrate_folder(account.id, SOURCE, "INBOX", 100, inbox.id)
    assert again.highestmodseq == 55
    assert not again.restarted

    # UIDVALIDITY changed: the old records wait; the same bytes under a new UID are matched, not
    # copied; a new message is copied; what matched nothing is dropped at the end.
    restarted = await store.migrate_folder(account.id, SOURCE, "INBOX", 200, inbox.id)
    assert restarted.restarted
    assert restarted.highestmodseq is None
    assert await store.migrated(restarted) == {}
    placed = await store.migrate_place(
        restarted, [await _item(store, 7, b"one", frozenset({"\\Seen"})), await _item(store, 8, b"three")]
    )
    assert placed == [Placement.MATCHED, Placement.COPIED]
    assert len(await _local(store, restarted)) == 3
    assert sorted(await store.migrated(restarted)) == [7, 8]
    assert await store.migrate_finish(restarted, None) == 1  # "two" is gone from the remote


async def test_state_goes_with_the_mailbox(store: Store) -> None:
    account = await make_account(store)
    box = await store.create_mailbox(account.id, "Old")
    folder = await store.migrate_folder(account.id, SOURCE, "Old", 1, box.id)
    await store.migrate_place(folder, [await _item(store, 1, b"x")])
    await store.delete_mailbox(account.id, "Old")
    box = await store.create_mailbox(account.id, "Old")
    fresh = await store.migrate_folder(account.id, SOURCE, "Old", 1, box.id)
    assert fresh.mailbox_id == box.id  # the old row went with its mailbox (ON DELETE CASCADE)
    assert not fresh.restarted
    assert await store.migrated(fresh) == {}
