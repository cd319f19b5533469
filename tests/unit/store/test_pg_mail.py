"""The mail core on both engines, where the conformance suite has no test of it, or its test
waits for more of the PostgreSQL store (``test_pg_store.NOT_YET``), or PostgreSQL's forms differ in
shape: wire forms read back without ``reconstruct``, DELETED-STORAGE, and UID sets of many ranges
(one statement on PostgreSQL, chunks of 200 ranges on SQLite)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

pytest.register_assert_rewrite("pochta.testing.store_suite")

from test_pg_store import engine_name, store_factory  # noqa: E402, F401

import pg_env  # noqa: E402
import pochta.testing.store_suite as suite  # noqa: E402
from pochta.store.api import Store  # noqa: E402
from pochta.testing.store_suite.support import deliver, mailbox, make_account  # noqa: E402
from pochta.testing.store_suite.wire import EIGHT_BIT, NAMES, computed  # noqa: E402

pg_cluster = pg_env.pg_cluster
pg_url = pg_env.pg_url
store = suite.store


async def test_wire_forms_are_read_back_by_message_id(store: Store) -> None:
    inbox = await mailbox(store, await make_account(store))
    plain = b"From: a@example.net\r\nSubject: plain\r\n\r\nhello\r\n"
    first = (await deliver(store, plain, inbox.id))[0]
    second = (await deliver(store, EIGHT_BIT, inbox.id))[0]
    one, two = first.message_id, second.message_id

    async def kept(ids: list[int], names: Sequence[str], utf8: bool) -> dict[int, tuple[object, ...]]:
        rows = await store.wire_forms(ids, names, utf8)
        assert len(rows) == len({row[0] for row in rows})  # one row per message
        return {row[0]: tuple(row) for row in rows}

    for utf8 in (False, True):
        want = {one: (one, *computed(plain, utf8)), two: (two, *computed(EIGHT_BIT, utf8))}
        assert await kept([two, 10**9, one, two], NAMES, utf8) == want
    assert computed(EIGHT_BIT, True) != computed(EIGHT_BIT, False)  # the UTF-8 forms are the session's
    envelope, _, structure = computed(EIGHT_BIT, True)
    assert await kept([two], ["BODYSTRUCTURE", "ENVELOPE"], True) == {two: (two, structure, envelope)}
    assert await store.wire_forms([], NAMES, False) == []


async def test_uid_sets_of_many_ranges(store: Store) -> None:
    inbox = await mailbox(store, await make_account(store))
    message = b"From: a@example.net\r\nSubject: one of many\r\n\r\nhello\r\n"
    uids = [placed.uid for placed in await deliver(store, message, *[inbox.id] * 1300)]  # one write
    assert uids == list(range(1, 1301))
    odd = uids[::2][:600]  # 600 ranges of one UID each, and more than one statement's worth on SQLite
    odd.append(10**6)  # a UID that does not exist is left out, not an error
    changed = await store.set_flags(inbox.id, reversed(odd), "add", ["\\Seen"])
    assert [entry.uid for entry in changed.changed] == odd[:-1]
    assert [record.uid for record in await store.cached(inbox.id, odd)] == odd[:-1]
    runs = [uids[i] for start in range(0, 1300, 10) for i in range(start, start + 5)]  # 130 runs of 5
    gone = await store.expunge(inbox.id, runs)
    assert list(gone.expunged) == runs
    view = await store.open_view(inbox.id)
    assert list(view.uids) == sorted(set(uids) - set(runs))
    assert view.mailbox.unseen == len(view) - len(set(odd) - set(runs) - {10**6})


async def test_deleted_storage_counts_the_deleted_messages_only(store: Store) -> None:
    # RFC 9208 §4.1.4 DELETED-STORAGE: the octets an EXPUNGE would give back.
    inbox = await mailbox(store, await make_account(store))
    small, large = b"Subject: s\r\n\r\nx\r\n", b"Subject: l\r\n\r\n" + b"y" * 500 + b"\r\n"
    assert await store.deleted_storage(inbox.id) == 0
    [kept] = await deliver(store, small, inbox.id)
    [flagged] = await deliver(store, large, inbox.id, flags=["\\Deleted"])
    assert await store.deleted_storage(inbox.id) == len(large)
    await store.set_flags(inbox.id, [kept.uid], "add", ["\\Deleted"])
    assert await store.deleted_storage(inbox.id) == len(large) + len(small)
    await store.expunge(inbox.id, [flagged.uid])
    assert await store.deleted_storage(inbox.id) == len(small)


async def test_an_accounts_writes_commit_in_modseq_order(store_factory: suite.StoreFactory) -> None:  # noqa: F811
    # Two handles (two processes' pools on PostgreSQL) deliver to two mailboxes of one account at
    # once while a third reads its changes over and over. Every delivery takes one MODSEQ of the
    # account's counter and makes one Email, so a snapshot at state S holds exactly S - start new
    # Emails: a reader that saw a later MODSEQ committed before an earlier one would count fewer.
    first, second, reader = await store_factory(), await store_factory(), await store_factory()
    account = await make_account(first)
    inbox = await mailbox(first, account)
    other = await first.create_mailbox(account.id, "Other")
    start = await first.account_state(account.id)
    done = False

    async def write(handle: Store, box: int, name: str) -> None:
        for n in range(15):
            await deliver(handle, f"Subject: {name} {n}\r\n\r\nbody {n}\r\n".encode(), box)

    async def read() -> int:
        reads = 0
        while not done:
            changes = await reader.email_changes(account.id, start, None, 1000)
            assert len(changes.created) == changes.state - start
            reads += 1
        return reads

    async def writers() -> None:
        nonlocal done
        try:
            await asyncio.gather(write(first, inbox.id, "a"), write(second, other.id, "b"))
        finally:
            done = True

    _, reads = await asyncio.gather(writers(), read())
    assert reads > 0
    final = await reader.email_changes(account.id, start, None, 1000)
    assert (len(final.created), final.state) == (30, start + 30)


async def test_mailbox_tree_writes_wait_for_the_accounts_mail(store_factory: suite.StoreFactory) -> None:  # noqa: F811
    # Creating, subscribing, sharing and deleting folders while mail keeps arriving in the same
    # account: each takes the account's MODSEQ counter, which the deliveries hold in turn. On
    # PostgreSQL these writes wait for the row (READ COMMITTED); serializable, they aborted on it
    # past every retry.
    first, second = await store_factory(), await store_factory()
    account = await make_account(first)
    inbox = await mailbox(first, account)
    done = False

    async def deliveries(handle: Store, tag: str) -> int:
        n = 0
        while not done:
            await deliver(handle, f"Subject: {tag} {n}\r\n\r\nbody\r\n".encode(), inbox.id)
            n += 1
        return n

    async def tree() -> None:
        nonlocal done
        try:
            for i in range(8):
                made = await second.create_mailbox(account.id, f"Folder {i}")
                await second.set_subscribed(account.id, f"Folder {i}", False)
                await second.set_mailbox_acl(made.id, "anyone", "lr")
                await second.rename_mailbox(account.id, f"Folder {i}", f"Renamed {i}")
                if i % 2:
                    await second.delete_mailbox(account.id, f"Renamed {i}")
        finally:
            done = True

    _, *counts = await asyncio.gather(tree(), deliveries(first, "a"), deliveries(second, "b"))
    names = {box.name for box in await first.mailboxes(account.id)}
    assert {f"Renamed {i}" for i in range(0, 8, 2)} <= names
    assert not {f"Renamed {i}" for i in range(1, 8, 2)} & names
    changes = await first.mailbox_changes(account.id, 1, None, 1000)
    assert len(changes.created) == 4
    total = await first.email_changes(account.id, 1, None, 100_000)
    assert len(total.created) == sum(counts)
