"""Conformance tests for METADATA entries (RFC 5464): who sees which, all-or-nothing writes with the
limits checked in the write, and the entries' life with their mailbox and account."""

from __future__ import annotations

import pytest

from pochta.store.api import MetadataRefused, NotFound, Store
from pochta.store.model import ChangeKind, MetadataLimits
from pochta.testing.store_suite.support import mailbox, make_account, next_change

__all__ = [
    "test_metadata_account_limits_count_private_and_owned_shared_entries",
    "test_metadata_follows_rename_and_goes_with_mailbox_and_account",
    "test_metadata_private_per_user_shared_per_mailbox",
    "test_metadata_refused_write_changes_nothing",
]

LIMITS = MetadataLimits(entry_size=100, mailbox_entries=4, account_entries=6, account_bytes=300)


async def test_metadata_private_per_user_shared_per_mailbox(store: Store) -> None:
    alice = await make_account(store)
    bob = await make_account(store, "bob@example.org")
    inbox = await mailbox(store, alice)
    changes = store.feed().subscribe(inbox.id)
    try:
        await store.set_metadata(
            inbox.id, alice.id, [("/private/a", b"alice"), ("/shared/s", b"\x00all")], LIMITS
        )
        change = await next_change(changes)
        assert (change.kind, change.mailbox_id, change.account_id) == (
            ChangeKind.METADATA,
            inbox.id,
            alice.id,
        )
    finally:
        await changes.aclose()
    # Bob reaching alice's mailbox (as ACL will let him): her shared entry, none of her private ones.
    await store.set_metadata(inbox.id, bob.id, [("/private/a", b"bob")], LIMITS)
    assert await store.metadata(inbox.id, alice.id) == {"/private/a": b"alice", "/shared/s": b"\x00all"}
    assert await store.metadata(inbox.id, bob.id) == {"/private/a": b"bob", "/shared/s": b"\x00all"}
    # The server's entries (None) are apart from every mailbox's.
    await store.set_metadata(
        None, alice.id, [("/shared/comment", b"server"), ("/private/p", b"mine")], LIMITS
    )
    assert await store.metadata(None, bob.id) == {"/shared/comment": b"server"}
    assert await store.metadata(None, alice.id) == {"/shared/comment": b"server", "/private/p": b"mine"}
    # Replacing and removing; removing what is not there is no error.
    await store.set_metadata(
        inbox.id, alice.id, [("/shared/s", b"new"), ("/private/a", None), ("/private/x", None)], LIMITS
    )
    assert await store.metadata(inbox.id, alice.id) == {"/shared/s": b"new"}


async def test_metadata_refused_write_changes_nothing(store: Store) -> None:
    alice = await make_account(store)
    inbox = await mailbox(store, alice)
    await store.set_metadata(inbox.id, alice.id, [("/private/keep", b"1")], LIMITS)
    with pytest.raises(MetadataRefused) as too_big:
        await store.set_metadata(
            inbox.id, alice.id, [("/private/keep", None), ("/private/b", b"x" * 101)], LIMITS
        )
    assert too_big.value.code == "MAXSIZE 100"
    many = [(f"/private/n{n}", b"v") for n in range(3)] + [("/shared/n", b"v")]
    with pytest.raises(MetadataRefused) as too_many:
        await store.set_metadata(inbox.id, alice.id, many, LIMITS)  # 5 on a mailbox holding at most 4
    assert too_many.value.code == "TOOMANY"
    assert await store.metadata(inbox.id, alice.id) == {"/private/keep": b"1"}
    with pytest.raises(NotFound):
        await store.set_metadata(-1, alice.id, [("/private/a", b"1")], LIMITS)


async def test_metadata_account_limits_count_private_and_owned_shared_entries(store: Store) -> None:
    alice = await make_account(store)
    bob = await make_account(store, "bob@example.org")
    inbox, archive = await mailbox(store, alice), await mailbox(store, alice, "Archive")
    await store.set_metadata(
        inbox.id, alice.id, [("/shared/a", b"v" * 100), ("/shared/b", b"v" * 100)], LIMITS
    )
    # Bob's private entries on alice's mailbox are bob's, not alice's.
    await store.set_metadata(
        inbox.id, bob.id, [("/private/a", b"v" * 100), ("/private/b", b"v" * 100)], LIMITS
    )
    await store.set_metadata(archive.id, alice.id, [("/private/c", b"v" * 100)], LIMITS)
    with pytest.raises(MetadataRefused) as octets:
        await store.set_metadata(archive.id, alice.id, [("/private/d", b"v")], LIMITS)  # 301 > 300
    assert octets.value.code == "TOOMANY"
    await store.set_metadata(archive.id, alice.id, [("/private/c", b"v" * 10)], LIMITS)
    entries = [(f"/private/e{n}", b"v") for n in range(3)]
    await store.set_metadata(archive.id, alice.id, entries, LIMITS)  # 6 entries: the limit
    with pytest.raises(MetadataRefused):
        await store.set_metadata(None, alice.id, [("/private/f", b"v")], LIMITS)


async def test_metadata_follows_rename_and_goes_with_mailbox_and_account(store: Store) -> None:
    alice = await make_account(store)
    bob = await make_account(store, "bob@example.org")
    box = await store.create_mailbox(alice.id, "Work")
    await store.set_metadata(box.id, alice.id, [("/shared/c", b"kept")], LIMITS)
    await store.rename_mailbox(alice.id, "Work", "Play")
    assert await store.metadata(box.id, alice.id) == {"/shared/c": b"kept"}
    await store.delete_mailbox(alice.id, "Play")
    again = await store.create_mailbox(alice.id, "Play")
    assert await store.metadata(again.id, alice.id) == {}
    # RENAME INBOX: its entries, every user's, copied onto the new mailbox; INBOX keeps them.
    inbox = await mailbox(store, alice)
    await store.set_metadata(inbox.id, alice.id, [("/shared/c", b"in"), ("/private/p", b"a")], LIMITS)
    await store.set_metadata(inbox.id, bob.id, [("/private/p", b"b")], LIMITS)
    copy = await store.create_mailbox(alice.id, "Old INBOX")
    await store.copy_metadata(inbox.id, copy.id)
    for box_id in (inbox.id, copy.id):
        assert await store.metadata(box_id, alice.id) == {"/shared/c": b"in", "/private/p": b"a"}
        assert await store.metadata(box_id, bob.id) == {"/shared/c": b"in", "/private/p": b"b"}
    await store.set_metadata(None, bob.id, [("/private/p", b"bob's"), ("/shared/s", b"server")], LIMITS)
    await store.delete_account("bob@example.org")
    assert await store.metadata(None, alice.id) == {"/shared/s": b"server"}
