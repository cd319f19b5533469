"""Conformance tests for METADATA entries (RFC 5464): who sees which, all-or-nothing writes with the
limits checked in the write, and the entries' life with their mailbox and account."""

from __future__ import annotations

import pytest

from pochta.store.api import MetadataRefused, NotFound, Store
from pochta.store.model import EVERY_ACCOUNT, ChangeKind, MetadataLimits
from pochta.testing.store_suite.support import mailbox, make_account, next_change

__all__ = [
    "test_metadata_account_limits_count_private_and_owned_shared_entries",
    "test_metadata_changes_name_their_entries_to_who_may_read_them",
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


async def test_metadata_changes_name_their_entries_to_who_may_read_them(store: Store) -> None:
    """The feed's METADATA changes carry the names set or removed (RFC 5465 §5.6, §5.7: NOTIFY tells
    them): /private/ names to their user's account only, a mailbox's /shared/ ones to its owner's,
    the server's /shared/ ones to every account; a removal of what was not there is no change."""
    alice = await make_account(store)
    bob = await make_account(store, "bob@example.org")
    inbox = await mailbox(store, alice)
    feed = store.feed()
    for_alice, for_bob = feed.subscribe_account(alice.id), feed.subscribe_account(bob.id)

    try:
        changed = await store.set_metadata(
            inbox.id, bob.id, [("/shared/s", b"1"), ("/private/b", b"2"), ("/private/none", None)], LIMITS
        )
        assert changed == ("/shared/s", "/private/b")
        assert await store.set_metadata(inbox.id, bob.id, [("/private/none", None)], LIMITS) == ()
        await store.set_metadata(None, alice.id, [("/shared/comment", b"c"), ("/private/p", b"p")], LIMITS)
        await store.set_metadata(inbox.id, alice.id, [("/private/last", b"x")], LIMITS)  # an end mark
        seen_by_alice = [await next_change(for_alice) for _ in range(4)]
        assert [(c.kind, c.mailbox_id, c.entries) for c in seen_by_alice] == [
            (ChangeKind.METADATA, inbox.id, ("/shared/s",)),
            (ChangeKind.METADATA, 0, ("/shared/comment",)),
            (ChangeKind.METADATA, 0, ("/private/p",)),
            (ChangeKind.METADATA, inbox.id, ("/private/last",)),
        ]
        seen_by_bob = [await next_change(for_bob) for _ in range(2)]
        assert [(c.mailbox_id, c.entries) for c in seen_by_bob] == [
            (inbox.id, ("/private/b",)),
            (0, ("/shared/comment",)),
        ]
        await store.set_metadata(None, bob.id, [("/private/end", b"x")], LIMITS)
        assert (await next_change(for_bob)).entries == ("/private/end",)  # nothing of alice's between
    finally:
        await for_alice.aclose()
        await for_bob.aclose()
    assert EVERY_ACCOUNT not in (alice.id, bob.id)
