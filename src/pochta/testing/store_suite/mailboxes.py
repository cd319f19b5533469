"""Conformance tests for mailboxes: create, rename, delete, subscriptions."""

from __future__ import annotations

import pytest

from pochta.store.api import AlreadyExists, NotFound, Store
from pochta.testing.store_suite.support import (
    deliver,
    mailbox,
    make_account,
    make_message,
    refreshed,
)


async def test_mailbox_create_get(store: Store) -> None:
    account = await make_account(store)
    created = await store.create_mailbox(account.id, "Projects/Pochta", "\\Flagged")
    assert created.name == "Projects/Pochta"
    assert created.special_use == "\\Flagged"
    assert not created.subscribed
    assert await store.get_mailbox(account.id, "Projects/Pochta") == created
    assert await store.get_mailbox_by_id(created.id) == created
    assert await store.get_mailbox(account.id, "Projects") is None  # the store creates no parents
    with pytest.raises(AlreadyExists):
        await store.create_mailbox(account.id, "Projects/Pochta")
    with pytest.raises(NotFound):
        await store.create_mailbox(account.id + 1000, "X")
    unicode_name = await store.create_mailbox(account.id, "Входящие/Черновики")
    assert await store.get_mailbox(account.id, "Входящие/Черновики") == unicode_name


async def test_rename_with_children_keeps_uidvalidity(store: Store) -> None:
    account = await make_account(store)
    parent = await store.create_mailbox(account.id, "Work")
    child = await store.create_mailbox(account.id, "Work/2026")
    grandchild = await store.create_mailbox(account.id, "Work/2026/Q1")
    lookalike = await store.create_mailbox(account.id, "Workshop")  # a prefix, not a child
    placed = await deliver(store, make_message(), child.id)
    renamed = await store.rename_mailbox(account.id, "Work", "Archive/Work")
    assert sorted(info.name for info in renamed) == [
        "Archive/Work",
        "Archive/Work/2026",
        "Archive/Work/2026/Q1",
    ]
    for before in (parent, child, grandchild):
        after = await store.get_mailbox_by_id(before.id)
        assert after is not None
        assert after.uidvalidity == before.uidvalidity
        assert after.name == "Archive/" + before.name
    assert await store.get_mailbox(account.id, "Work") is None
    assert await store.get_mailbox(account.id, "Workshop") == lookalike
    view = await store.open_view(child.id)
    assert [entry.uid for entry in view.messages] == [placed[0].uid]
    # Into its own subtree: old and new names overlap.
    await store.rename_mailbox(account.id, "Archive/Work", "Archive/Work/Old")
    names = {info.name for info in await store.mailboxes(account.id)}
    assert {"Archive/Work/Old", "Archive/Work/Old/2026", "Archive/Work/Old/2026/Q1"} <= names
    with pytest.raises(AlreadyExists):
        await store.rename_mailbox(account.id, "Workshop", "Sent")
    with pytest.raises(NotFound):
        await store.rename_mailbox(account.id, "Nope", "Other")
    # A clash with a renamed child's new name is refused as a whole.
    await store.create_mailbox(account.id, "A")
    await store.create_mailbox(account.id, "A/B")
    await store.create_mailbox(account.id, "C/B")
    with pytest.raises(AlreadyExists):
        await store.rename_mailbox(account.id, "A", "C")
    assert await store.get_mailbox(account.id, "A/B") is not None


async def test_delete_and_recreate_gives_new_uidvalidity(store: Store) -> None:
    account = await make_account(store)
    first = await store.create_mailbox(account.id, "Lists")
    child = await store.create_mailbox(account.id, "Lists/python")
    await deliver(store, make_message(), first.id)
    await store.delete_mailbox(account.id, "Lists")
    assert await store.get_mailbox(account.id, "Lists") is None
    assert await store.get_mailbox_by_id(first.id) is None
    assert await store.get_mailbox(account.id, "Lists/python") == child  # children stay
    with pytest.raises(NotFound):
        await store.delete_mailbox(account.id, "Lists")
    second = await store.create_mailbox(account.id, "Lists")
    assert second.uidvalidity != first.uidvalidity
    assert second.id != first.id
    assert (second.uidnext, second.messages) == (1, 0)
    assert await store.quota_usage(account.id) == 0


async def test_subscriptions(store: Store) -> None:
    account = await make_account(store)
    archive = await mailbox(store, account, "Archive")
    await store.set_subscribed(account.id, "Archive", False)
    assert not (await refreshed(store, archive)).subscribed
    assert "Archive" not in await store.subscriptions(account.id)
    # RFC 9051 §6.3.10: a name that does not exist may be subscribed.
    await store.set_subscribed(account.id, "Later", True)
    await store.set_subscribed(account.id, "Later", True)
    assert "Later" in await store.subscriptions(account.id)
    assert await store.get_mailbox(account.id, "Later") is None
    later = await store.create_mailbox(account.id, "Later")
    assert later.subscribed
    await store.delete_mailbox(account.id, "Later")
    assert "Later" in await store.subscriptions(account.id)  # not removed with the mailbox
    await store.set_subscribed(account.id, "Later", False)
    assert "Later" not in await store.subscriptions(account.id)
    with pytest.raises(NotFound):
        await store.set_subscribed(account.id + 1000, "X", True)


async def test_recent_is_taken_once(store: Store) -> None:
    # RFC 3501 §2.3.2: a message is \Recent to the first session that takes it, and to no other.
    account = await make_account(store)
    inbox = await mailbox(store, account)
    assert (inbox.first_recent_uid, inbox.recent) == (1, 0)
    for n in range(3):
        await deliver(store, make_message(f"recent {n}", n=n), inbox.id)
    inbox = await refreshed(store, inbox)
    assert (inbox.first_recent_uid, inbox.recent, inbox.uidnext) == (1, 3, 4)
    assert await store.take_recent(inbox.id, 3) == 1  # UIDs 1 and 2 are this session's
    assert await store.take_recent(inbox.id, 3) == 3  # a later session: none of them
    inbox = await refreshed(store, inbox)
    assert (inbox.first_recent_uid, inbox.recent) == (3, 1)  # UID 3 is still to be taken
    # Expunging a message not yet taken lowers the count; one taken already does not.
    await store.expunge(inbox.id, [1, 3])
    inbox = await refreshed(store, inbox)
    assert (inbox.first_recent_uid, inbox.recent) == (3, 0)
    await deliver(store, make_message("recent 4", n=4), inbox.id)
    assert (await refreshed(store, inbox)).recent == 1
    assert await store.take_recent(inbox.id, 100) == 3
    inbox = await refreshed(store, inbox)
    assert (inbox.first_recent_uid, inbox.recent) == (100, 0)
    assert await store.take_recent(inbox.id, 50) == 100  # the boundary never goes back
    with pytest.raises(NotFound):
        await store.take_recent(inbox.id + 1000, 5)


async def test_copies_are_recent_in_their_new_mailbox(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    archive = await store.create_mailbox(account.id, "Kept")
    await deliver(store, make_message("copied"), inbox.id)
    await store.take_recent(inbox.id, 2)
    await store.transfer(inbox.id, [1], archive.id, move=False)
    assert (await refreshed(store, inbox)).recent == 0
    assert (await refreshed(store, archive)).recent == 1
