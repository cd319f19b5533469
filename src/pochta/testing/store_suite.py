"""The store conformance suite: one set of tests every backend must pass.

A backend binds it in its own test module by providing two fixtures and star-importing this module:

- ``store_factory``: an async callable returning a *new handle* on one fresh backing store per test
  (same data directory / database each call within a test; the binding closes what it opened);
- ``backdoor``: a ``StoreBackdoor`` for what only the backend can do (damage counters and caches
  behind the store's back, find a blob's file).

The tests talk to the store through ``pochta.store.api`` only, so a PostgreSQL backend reuses them
unchanged (``tests/unit/store/test_sqlite_store.py`` is the SQLite binding).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Protocol

import pytest

from pochta.config import MimeSettings
from pochta.mime import ParsedMessage, parse_message
from pochta.store.api import UNSET, AlreadyExists, Conflict, NotFound, Store
from pochta.store.model import (
    DEFAULT_MAILBOXES,
    Account,
    BlobRef,
    Change,
    ChangeKind,
    MailboxInfo,
    Placed,
    ProtocolSwitches,
    ScramCredentials,
    Target,
)

StoreFactory = Callable[[], Awaitable[Store]]

__all__ = [
    "StoreBackdoor",
    "StoreFactory",
    "store",
    "test_account_crud_case_insensitive",
    "test_account_needs_domain",
    "test_aliases_and_catch_all",
    "test_app_passwords",
    "test_cached_parse_results",
    "test_changes_since_reports_flags_and_expunges",
    "test_concurrent_deliveries_get_distinct_uids",
    "test_copy_preserves_flags_and_dates",
    "test_default_mailboxes",
    "test_delete_account_releases_messages",
    "test_delete_and_recreate_gives_new_uidvalidity",
    "test_delete_domain_with_accounts_or_aliases_conflicts",
    "test_deliver_is_all_or_nothing",
    "test_deliver_single_instance",
    "test_domain_crud",
    "test_expunge_records_and_uids_never_reused",
    "test_feed_after_commit_to_right_subscriber_only",
    "test_feed_mailbox_events_and_close",
    "test_flag_operations_and_modseq",
    "test_invalid_arguments",
    "test_mailbox_create_get",
    "test_move_is_copy_plus_expunge",
    "test_open_blob_and_put_blob_file",
    "test_open_view_columns_and_lookup",
    "test_open_view_snapshot",
    "test_quota_usage_counts_every_membership",
    "test_reconstruct_dry_run_changes_nothing",
    "test_reconstruct_restores_tampered_values",
    "test_rename_with_children_keeps_uidvalidity",
    "test_search_text",
    "test_search_text_hostile_input",
    "test_second_handle_sees_writes",
    "test_subscriptions",
    "test_unchanged_since",
    "test_update_account",
    "test_verify_detects_damage",
    "test_write_errors_on_missing_mailbox",
]


class StoreBackdoor(Protocol):
    async def scramble_counters(self, store: Store) -> None:
        """Make every derived counter wrong behind the store's back: mailbox counters, quota usage,
        message reference counts, the seen/deleted bits of memberships."""

    async def scramble_caches(self, store: Store) -> None:
        """Replace every message's parse cache and search text with garbage (or remove it)."""

    def blob_path(self, store: Store, sha256: str) -> Path:
        """The file holding a blob."""

    def blob_files(self, store: Store) -> set[str]:
        """Names of every blob file present."""


@pytest.fixture
async def store(store_factory: StoreFactory) -> AsyncIterator[Store]:
    opened = await store_factory()
    try:
        yield opened
    finally:
        await opened.close()


# Helpers

MIME = MimeSettings()
NEW_HASH = "$argon2id$another-fake-hash"
APOP_SECRET = "apop-test-value"  # noqa: S105


def make_message(subject: str = "Hello", body: str = "Hello world", n: int = 0) -> bytes:
    return (
        "From: Sender <sender@example.net>\r\n"
        "To: alice@example.org\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: <{n}.{subject.replace(' ', '.')}@example.net>\r\n"
        "Date: Mon, 04 May 2026 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"{body}\r\n"
    ).encode()


async def put(store: Store, data: bytes) -> tuple[BlobRef, ParsedMessage]:
    return await store.put_blob(data), parse_message(data, MIME)


async def deliver(
    store: Store, data: bytes, *mailbox_ids: int, flags: Iterable[str] = (), when: datetime | None = None
) -> list[Placed]:
    blob, parsed = await put(store, data)
    return await store.deliver(blob, parsed, [Target(m, frozenset(flags), when) for m in mailbox_ids])


async def make_account(store: Store, address: str = "alice@example.org", quota: int | None = None) -> Account:
    domain = address.rpartition("@")[2]
    if await store.get_domain(domain) is None:
        await store.add_domain(domain)
    return await store.add_account(address, "$argon2id$not-a-real-hash", None, quota)


async def mailbox(store: Store, account: Account, name: str = "INBOX") -> MailboxInfo:
    info = await store.get_mailbox(account.id, name)
    assert info is not None, name
    return info


async def refreshed(store: Store, info: MailboxInfo) -> MailboxInfo:
    again = await store.get_mailbox_by_id(info.id)
    assert again is not None
    return again


async def next_change(changes: AsyncIterator[Change]) -> Change:
    return await asyncio.wait_for(anext(changes), 5)


# Directory


async def test_domain_crud(store: Store) -> None:
    created = await store.add_domain("Example.ORG")
    assert created.name == "example.org"
    assert created.protocols == ProtocolSwitches()
    with pytest.raises(AlreadyExists):
        await store.add_domain("example.org")
    found = await store.get_domain("EXAMPLE.org")
    assert found is not None
    assert found.id == created.id
    assert await store.get_domain("example.net") is None
    await store.add_domain("example.net")
    assert [d.name for d in await store.list_domains()] == ["example.net", "example.org"]
    switched = await store.set_domain_protocols("example.org", ProtocolSwitches(pop3=False))
    assert switched.protocols == ProtocolSwitches(pop3=False)
    assert not switched.protocols.allows("pop3")
    again = await store.get_domain("example.org")
    assert again is not None
    assert again.protocols == ProtocolSwitches(pop3=False)
    with pytest.raises(NotFound):
        await store.set_domain_protocols("nowhere.example", ProtocolSwitches())
    await store.delete_domain("example.net")
    assert await store.get_domain("example.net") is None
    with pytest.raises(NotFound):
        await store.delete_domain("example.net")


async def test_delete_domain_with_accounts_or_aliases_conflicts(store: Store) -> None:
    await make_account(store, "alice@example.org")
    with pytest.raises(Conflict):
        await store.delete_domain("example.org")
    await store.delete_account("alice@example.org")
    await store.add_alias("postmaster@example.org", ["root@example.net"])
    with pytest.raises(Conflict):
        await store.delete_domain("example.org")
    await store.delete_alias("postmaster@example.org")
    await store.delete_domain("example.org")
    assert await store.list_domains() == []


async def test_account_needs_domain(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.add_account("bob@nowhere.example", "hash", None)


async def test_account_crud_case_insensitive(store: Store) -> None:
    await store.add_domain("example.org")
    scram = ScramCredentials(b"salt", 4096, b"s" * 32, b"k" * 32)
    created = await store.add_account("Alice.Smith@Example.ORG", "hash1", scram, 1000)
    assert created.address == "Alice.Smith@example.org"  # local part kept as given
    assert created.scram == scram
    assert created.quota_bytes == 1000
    assert created.enabled
    assert created.protocols == ProtocolSwitches()
    for spelling in ("alice.smith@example.org", "ALICE.SMITH@EXAMPLE.ORG", "Alice.Smith@example.org"):
        found = await store.get_account(spelling)
        assert found == created, spelling
    assert await store.get_account_by_id(created.id) == created
    assert await store.get_account_by_id(created.id + 1000) is None
    assert await store.get_account("bob@example.org") is None
    with pytest.raises(AlreadyExists):
        await store.add_account("alice.smith@EXAMPLE.org", "hash2", None)
    await store.add_domain("example.net")
    other = await store.add_account("bob@example.net", "hash3", None)
    assert [a.address for a in await store.list_accounts()] == ["Alice.Smith@example.org", "bob@example.net"]
    assert await store.list_accounts("example.net") == [other]
    assert await store.list_accounts("Example.NET") == [other]
    assert await store.list_accounts("nowhere.example") == []


async def test_update_account(store: Store) -> None:
    account = await make_account(store)
    same = await store.update_account("alice@example.org")
    assert same == account
    scram = ScramCredentials(b"salt", 4096, b"s" * 32, b"k" * 32)
    updated = await store.update_account(
        "ALICE@example.org",
        password_hash=NEW_HASH,
        scram=scram,
        quota_bytes=5000,
        protocols=ProtocolSwitches(imap=False),
        apop_secret=APOP_SECRET,
        enabled=False,
    )
    assert updated.password_hash == NEW_HASH
    assert updated.scram == scram
    assert updated.quota_bytes == 5000
    assert updated.protocols == ProtocolSwitches(imap=False)
    assert updated.apop_secret == APOP_SECRET
    assert not updated.enabled
    assert await store.get_account("alice@example.org") == updated
    # UNSET leaves a field alone, None clears it.
    cleared = await store.update_account(
        "alice@example.org", scram=None, quota_bytes=None, apop_secret=None, password_hash=UNSET
    )
    assert cleared.scram is None
    assert cleared.quota_bytes is None
    assert cleared.apop_secret is None
    assert cleared.password_hash == NEW_HASH
    with pytest.raises(NotFound):
        await store.update_account("nobody@example.org", enabled=True)


async def test_default_mailboxes(store: Store) -> None:
    account = await make_account(store)
    boxes = {info.name: info for info in await store.mailboxes(account.id)}
    assert set(boxes) == {name for name, _ in DEFAULT_MAILBOXES}
    for name, special_use in DEFAULT_MAILBOXES:
        info = boxes[name]
        assert info.special_use == special_use
        assert info.subscribed
        assert info.account_id == account.id
        assert (info.uidnext, info.messages, info.unseen, info.deleted, info.size) == (1, 0, 0, 0, 0)
        assert 0 < info.uidvalidity < 2**32
        assert info.highestmodseq >= 1
    assert len({info.uidvalidity for info in boxes.values()}) == len(boxes)
    assert await store.subscriptions(account.id) == sorted(boxes)


async def test_delete_account_releases_messages(store: Store, backdoor: StoreBackdoor) -> None:
    alice = await make_account(store, "alice@example.org")
    bob = await make_account(store, "bob@example.org")
    await store.add_app_password("alice@example.org", "phone", "hash")
    data = make_message("shared")
    await deliver(store, data, (await mailbox(store, alice)).id, (await mailbox(store, bob)).id)
    await store.delete_account("alice@example.org")
    assert await store.get_account("alice@example.org") is None
    assert await store.mailboxes(alice.id) == []
    with pytest.raises(NotFound):
        await store.list_app_passwords("alice@example.org")
    with pytest.raises(NotFound):
        await store.delete_account("alice@example.org")
    report = await store.verify()
    assert report.unreferenced_blobs == []  # bob still holds it
    await store.delete_account("bob@example.org")
    report = await store.verify()
    assert len(report.unreferenced_blobs) == 1  # nobody does: collected later, not now
    assert not report.damaged


async def test_aliases_and_catch_all(store: Store) -> None:
    await store.add_domain("example.org")
    created = await store.add_alias("Sales@Example.org", ["alice@example.org", "bob@example.net"])
    assert created.source == "Sales@example.org"
    assert created.targets == ("alice@example.org", "bob@example.net")
    merged = await store.add_alias("sales@example.org", ["BOB@example.net", "carol@example.org"])
    assert merged.targets == ("alice@example.org", "bob@example.net", "carol@example.org")
    assert await store.get_alias("SALES@EXAMPLE.ORG") == merged
    catch_all = await store.add_alias("@Example.org", ["alice@example.org"])
    assert catch_all.source == "@example.org"
    assert await store.get_alias("@example.org") == catch_all
    assert await store.get_alias("nobody@example.org") is None
    assert [a.source for a in await store.list_aliases()] == ["@example.org", "Sales@example.org"]
    assert [a.source for a in await store.list_aliases("example.org")] == [
        "@example.org",
        "Sales@example.org",
    ]
    assert await store.list_aliases("example.net") == []
    await store.delete_alias("sales@example.org", ["alice@example.org"])
    after = await store.get_alias("sales@example.org")
    assert after is not None
    assert after.targets == ("bob@example.net", "carol@example.org")
    await store.delete_alias("sales@example.org")
    assert await store.get_alias("sales@example.org") is None
    with pytest.raises(NotFound):
        await store.delete_alias("sales@example.org")
    with pytest.raises(NotFound):
        await store.add_alias("x@nowhere.example", ["alice@example.org"])


async def test_app_passwords(store: Store) -> None:
    account = await make_account(store)
    first = await store.add_app_password("Alice@example.org", "phone", "hash-a")
    assert (first.account_id, first.name, first.password_hash, first.last_used) == (
        account.id,
        "phone",
        "hash-a",
        None,
    )
    await store.add_app_password("alice@example.org", "laptop", "hash-b")
    with pytest.raises(AlreadyExists):
        await store.add_app_password("alice@example.org", "phone", "hash-c")
    assert [p.name for p in await store.list_app_passwords("alice@example.org")] == ["laptop", "phone"]
    used = datetime(2026, 5, 4, 12, 0, 0, tzinfo=UTC)
    await store.touch_app_password(first.id, used)
    phone = next(p for p in await store.list_app_passwords("alice@example.org") if p.name == "phone")
    assert phone.last_used == used
    await store.revoke_app_password("alice@example.org", "phone")
    assert [p.name for p in await store.list_app_passwords("alice@example.org")] == ["laptop"]
    with pytest.raises(NotFound):
        await store.revoke_app_password("alice@example.org", "phone")
    with pytest.raises(NotFound):
        await store.add_app_password("nobody@example.org", "x", "hash")


# Mailboxes


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


# Messages


async def test_deliver_single_instance(store: Store, backdoor: StoreBackdoor) -> None:
    alice = await make_account(store, "alice@example.org")
    bob = await make_account(store, "bob@example.org")
    inbox_a, inbox_b = await mailbox(store, alice), await mailbox(store, bob)
    archive_a = await mailbox(store, alice, "Archive")
    data = make_message("single instance")
    blob, parsed = await put(store, data)
    placed = await store.deliver(
        blob, parsed, [Target(inbox_a.id), Target(inbox_b.id, frozenset({"\\Seen"})), Target(archive_a.id)]
    )
    assert [(p.mailbox_id, p.uid) for p in placed] == [(inbox_a.id, 1), (inbox_b.id, 1), (archive_a.id, 1)]
    assert [p.uidvalidity for p in placed] == [
        inbox_a.uidvalidity,
        inbox_b.uidvalidity,
        archive_a.uidvalidity,
    ]
    assert len({p.message_id for p in placed}) == 1
    assert backdoor.blob_files(store) == {blob.sha256}
    # The same bytes again: same message, same blob, next UIDs.
    again = await deliver(store, data, inbox_a.id, inbox_a.id)
    assert [p.uid for p in again] == [2, 3]
    assert {p.message_id for p in again} == {placed[0].message_id}
    assert backdoor.blob_files(store) == {blob.sha256}
    info = await refreshed(store, inbox_a)
    assert (info.messages, info.unseen, info.uidnext, info.size) == (3, 3, 4, 3 * blob.size)
    info_b = await refreshed(store, inbox_b)
    assert (info_b.messages, info_b.unseen) == (1, 0)
    assert info.highestmodseq > inbox_a.highestmodseq
    # A different message gets a different record.
    other = await deliver(store, make_message("other"), inbox_a.id)
    assert other[0].message_id != placed[0].message_id
    assert other[0].uid == 4
    assert len(backdoor.blob_files(store)) == 2


async def test_deliver_is_all_or_nothing(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    blob, parsed = await put(store, make_message())
    with pytest.raises(NotFound):
        await store.deliver(blob, parsed, [Target(inbox.id), Target(inbox.id + 1000)])
    after = await refreshed(store, inbox)
    assert (after.messages, after.uidnext, after.highestmodseq) == (0, 1, inbox.highestmodseq)
    assert await store.quota_usage(account.id) == 0
    assert await store.deliver(blob, parsed, []) == []
    # A blob that was never stored cannot be referenced.
    with pytest.raises(NotFound):
        await store.deliver(BlobRef("0" * 64, 10), parsed, [Target(inbox.id)])


async def test_concurrent_deliveries_get_distinct_uids(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    results = await asyncio.gather(*(deliver(store, make_message(n=n), inbox.id) for n in range(16)))
    uids = sorted(placed[0].uid for placed in results)
    assert uids == list(range(1, 17))
    info = await refreshed(store, inbox)
    assert (info.messages, info.uidnext) == (16, 17)


async def test_open_view_snapshot(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-7)))
    first = await deliver(store, make_message("one"), inbox.id, flags={"\\Seen", "$Label"}, when=when)
    second = await deliver(store, make_message("two"), inbox.id)
    view = await store.open_view(inbox.id)
    assert view.mailbox == await refreshed(store, inbox)
    assert [entry.uid for entry in view.messages] == [first[0].uid, second[0].uid]
    entry = view.messages[0]
    assert entry.flags == frozenset({"\\Seen", "$Label"})
    assert entry.internal_date == when
    assert entry.internal_date.utcoffset() == timedelta(hours=-7)  # the zone given is kept
    assert entry.size == len(make_message("one"))
    assert entry.blob.size == entry.size
    assert entry.modseq <= view.mailbox.highestmodseq
    with pytest.raises(NotFound):
        await store.open_view(inbox.id + 1000)


async def test_open_view_columns_and_lookup(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    empty = await store.open_view(inbox.id)
    assert (len(empty), list(empty), empty.position(1), empty.flag_sets()) == (0, [], None, [])
    for n in range(6):
        await deliver(store, make_message(n=n), inbox.id, flags={"\\Seen"} if n % 2 else ())
    await store.expunge(inbox.id, [2, 3])
    view = await store.open_view(inbox.id)
    entries = list(view)
    assert [e.uid for e in entries] == list(view.uids) == [1, 4, 5, 6]
    assert list(view.modseqs) == [e.modseq for e in entries]
    assert list(view.sizes) == [e.size for e in entries]
    assert list(view.message_ids) == [e.message_id for e in entries]
    assert view.flags == tuple(e.flags for e in entries)
    assert view.flag_sets() == [frozenset(), frozenset({"\\Seen"})]
    assert [view.blob(i) for i in range(4)] == [e.blob for e in entries]
    assert [view.internal_date(i) for i in range(4)] == [e.internal_date for e in entries]
    assert view[1] == view.entry(1) == entries[1]
    assert view[-1] == entries[-1]
    assert view[1:3] == tuple(entries[1:3])
    assert [view.position(uid) for uid in (1, 2, 3, 4, 6, 7)] == [0, None, None, 1, 3, None]
    assert view.positions(2, 5) == range(1, 3)  # UIDs 4 and 5
    assert view == await store.open_view(inbox.id)


async def test_flag_operations_and_modseq(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    for n in range(3):
        await deliver(store, make_message(n=n), inbox.id)
    start = (await refreshed(store, inbox)).highestmodseq

    added = await store.set_flags(inbox.id, [1, 2, 99], "add", ["\\SEEN", "$Work"])
    assert [e.uid for e in added.changed] == [1, 2]  # 99 does not exist
    assert all(e.flags == frozenset({"\\Seen", "$Work"}) for e in added.changed)  # system flag canonical
    assert added.highestmodseq > start
    assert all(e.modseq == added.highestmodseq for e in added.changed)
    info = await refreshed(store, inbox)
    assert (info.unseen, info.highestmodseq) == (1, added.highestmodseq)

    # Adding what is there changes nothing, and costs no MODSEQ.
    noop = await store.set_flags(inbox.id, [1, 2], "add", ["\\seen", "$work"])
    assert noop.changed == ()
    assert noop.highestmodseq == added.highestmodseq
    view = await store.open_view(inbox.id)
    assert view.messages[0].flags == frozenset({"\\Seen", "$Work"})  # keyword case as first stored

    removed = await store.set_flags(inbox.id, [1, 2, 3], "remove", ["\\Seen"])
    assert [e.uid for e in removed.changed] == [1, 2]
    assert removed.highestmodseq > added.highestmodseq
    assert (await refreshed(store, inbox)).unseen == 3

    replaced = await store.set_flags(inbox.id, [1, 2, 3], "replace", ["\\Deleted", "$Work"])
    assert [e.uid for e in replaced.changed] == [1, 2, 3]
    assert replaced.changed[0].flags == frozenset({"\\Deleted", "$Work"})
    assert replaced.highestmodseq > removed.highestmodseq
    info = await refreshed(store, inbox)
    assert (info.deleted, info.unseen) == (3, 3)

    cleared = await store.set_flags(inbox.id, [2], "replace", [])
    assert cleared.changed[0].flags == frozenset()
    assert (await refreshed(store, inbox)).deleted == 2
    modseqs = {e.uid: e.modseq for e in (await store.open_view(inbox.id)).messages}
    assert modseqs == {1: replaced.highestmodseq, 2: cleared.highestmodseq, 3: replaced.highestmodseq}
    assert (await store.set_flags(inbox.id, [], "add", ["\\Seen"])).changed == ()


async def test_unchanged_since(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    for n in range(3):
        await deliver(store, make_message(n=n), inbox.id)
    base = (await refreshed(store, inbox)).highestmodseq
    touched = await store.set_flags(inbox.id, [2], "add", ["\\Flagged"])
    # RFC 7162 §3.1.3: UID 2 changed after `base`, so it fails; 1 and 3 are stored.
    result = await store.set_flags(inbox.id, [1, 2, 3], "add", ["\\Seen"], unchanged_since=base)
    assert result.failed_unchanged_since == (2,)
    assert [e.uid for e in result.changed] == [1, 3]
    view = {e.uid: e for e in (await store.open_view(inbox.id)).messages}
    assert "\\Seen" not in view[2].flags
    assert view[2].modseq == touched.highestmodseq
    ok = await store.set_flags(inbox.id, [2], "add", ["\\Seen"], unchanged_since=touched.highestmodseq)
    assert ok.failed_unchanged_since == ()
    assert [e.uid for e in ok.changed] == [2]


async def test_copy_preserves_flags_and_dates(store: Store) -> None:
    account = await make_account(store)
    inbox, archive = await mailbox(store, account), await mailbox(store, account, "Archive")
    when = datetime(2025, 12, 31, 23, 59, 0, tzinfo=UTC)
    await deliver(store, make_message(n=1), inbox.id, flags={"\\Seen"}, when=when)
    await deliver(store, make_message(n=2), inbox.id, flags={"\\Flagged", "$x"})
    await deliver(store, make_message(n=3), inbox.id)
    await deliver(store, make_message(n=4), archive.id)  # the destination has UID 1 already
    before = await store.open_view(inbox.id)
    result = await store.copy(inbox.id, [3, 1, 42], archive.id)
    # RFC 4315 COPYUID: pairs in source UID order, destination UIDs ascending.
    assert result.destination_id == archive.id
    assert result.uidvalidity == archive.uidvalidity
    assert result.source_uids == (1, 3)
    assert result.destination_uids == (2, 3)
    copies = {e.uid: e for e in (await store.open_view(archive.id)).messages}
    originals = {e.uid: e for e in before.messages}
    for source_uid, destination_uid in zip(result.source_uids, result.destination_uids, strict=True):
        assert copies[destination_uid].flags == originals[source_uid].flags
        assert copies[destination_uid].internal_date == originals[source_uid].internal_date
        assert copies[destination_uid].message_id == originals[source_uid].message_id
    assert copies[2].internal_date == when
    assert await store.open_view(inbox.id) == before  # the source is untouched
    info = await refreshed(store, archive)
    assert (info.messages, info.unseen, info.uidnext) == (3, 2, 4)
    nothing = await store.copy(inbox.id, [77], archive.id)
    assert nothing.source_uids == ()
    assert nothing.destination_uids == ()


async def test_move_is_copy_plus_expunge(store: Store) -> None:
    account = await make_account(store)
    inbox, trash = await mailbox(store, account), await mailbox(store, account, "Trash")
    for n in range(4):
        await deliver(store, make_message(n=n), inbox.id, flags={"\\Seen"} if n % 2 else ())
    used = await store.quota_usage(account.id)
    before = await refreshed(store, inbox)
    result = await store.move(inbox.id, [2, 3], trash.id)
    assert result.source_uids == (2, 3)
    assert result.destination_uids == (1, 2)
    assert [e.uid for e in (await store.open_view(inbox.id)).messages] == [1, 4]
    assert [e.uid for e in (await store.open_view(trash.id)).messages] == [1, 2]
    after = await refreshed(store, inbox)
    assert (after.messages, after.unseen) == (2, 1)
    assert after.highestmodseq > before.highestmodseq
    changes = await store.changes_since(inbox.id, before.highestmodseq)
    assert changes.expunged == (2, 3)
    assert await store.quota_usage(account.id) == used  # moved within the account
    # Moving back gives new UIDs: UIDs are never reused.
    back = await store.move(trash.id, [1, 2], inbox.id)
    assert back.destination_uids == (5, 6)


async def test_expunge_records_and_uids_never_reused(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    for n in range(3):
        await deliver(store, make_message(n=n), inbox.id, flags={"\\Deleted"} if n < 2 else ())
    mark = (await refreshed(store, inbox)).highestmodseq
    result = await store.expunge(inbox.id, [1, 2, 50])
    assert result.expunged == (1, 2)
    assert result.highestmodseq > mark
    info = await refreshed(store, inbox)
    assert (info.messages, info.deleted, info.unseen, info.uidnext) == (1, 0, 1, 4)
    assert (await store.expunge(inbox.id, [1])).expunged == ()  # already gone
    changes = await store.changes_since(inbox.id, mark)
    assert changes.expunged == (1, 2)
    assert changes.highestmodseq == result.highestmodseq
    await store.expunge(inbox.id, [3])
    placed = await deliver(store, make_message(n=9), inbox.id)
    assert placed[0].uid == 4
    all_changes = await store.changes_since(inbox.id, 0)
    assert all_changes.expunged == (1, 2, 3)
    assert [e.uid for e in all_changes.changed] == [4]


async def test_changes_since_reports_flags_and_expunges(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    for n in range(4):
        await deliver(store, make_message(n=n), inbox.id)
    mark = (await refreshed(store, inbox)).highestmodseq
    assert (await store.changes_since(inbox.id, mark)).changed == ()
    await store.set_flags(inbox.id, [2], "add", ["\\Answered"])
    await store.expunge(inbox.id, [3])
    appended = await deliver(store, make_message(n=10), inbox.id)
    changes = await store.changes_since(inbox.id, mark)
    assert [e.uid for e in changes.changed] == [2, appended[0].uid]
    assert changes.changed[0].flags == frozenset({"\\Answered"})
    assert changes.expunged == (3,)
    assert changes.highestmodseq == (await refreshed(store, inbox)).highestmodseq
    assert all(e.modseq > mark for e in changes.changed)


async def test_cached_parse_results(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    data = make_message("cached", "cached body")
    placed = await deliver(store, data, inbox.id)
    rows = await store.cached(inbox.id, [placed[0].uid, 404])
    assert [row.uid for row in rows] == [placed[0].uid]
    assert rows[0].message_id == placed[0].message_id
    assert rows[0].blob.size == len(data)
    assert rows[0].parsed_json == parse_message(data, MIME).to_json(with_text=False)
    assert ParsedMessage.from_json(rows[0].parsed_json).size == len(data)


async def test_write_errors_on_missing_mailbox(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    missing = inbox.id + 1000
    with pytest.raises(NotFound):
        await store.set_flags(missing, [1], "add", ["\\Seen"])
    with pytest.raises(NotFound):
        await store.expunge(missing, [1])
    with pytest.raises(NotFound):
        await store.copy(inbox.id, [1], missing)
    with pytest.raises(NotFound):
        await store.move(missing, [1], inbox.id)
    with pytest.raises(NotFound):
        await store.changes_since(missing, 0)


async def test_invalid_arguments(store: Store) -> None:
    # Programming errors, not protocol errors: pochta.mail.ops validates what clients send.
    account = await make_account(store)
    inbox = await mailbox(store, account)
    await deliver(store, make_message(), inbox.id)
    with pytest.raises(ValueError, match="operation"):
        await store.set_flags(inbox.id, [1], "toggle", ["\\Seen"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="flag"):
        await store.set_flags(inbox.id, [1], "add", ["two words"])
    with pytest.raises(ValueError, match="field"):
        await store.search_text(inbox.id, "x", "subject")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="flag"):
        await deliver(store, make_message(n=2), inbox.id, flags=[""])
    assert (await refreshed(store, inbox)).messages == 1


async def test_quota_usage_counts_every_membership(store: Store) -> None:
    account = await make_account(store, quota=10_000)
    other = await make_account(store, "bob@example.org")
    inbox, archive = await mailbox(store, account), await mailbox(store, account, "Archive")
    data = make_message("quota")
    size = len(data)
    assert await store.quota_usage(account.id) == 0
    await deliver(store, data, inbox.id, archive.id, (await mailbox(store, other)).id)
    # One blob, but IMAP QUOTA counts the message once per mailbox holding it.
    assert await store.quota_usage(account.id) == 2 * size
    assert await store.quota_usage(other.id) == size
    await store.copy(inbox.id, [1], inbox.id)
    assert await store.quota_usage(account.id) == 3 * size
    await store.expunge(inbox.id, [1])
    assert await store.quota_usage(account.id) == 2 * size
    await store.delete_mailbox(account.id, "Archive")
    assert await store.quota_usage(account.id) == size
    assert await store.quota_usage(other.id) == size


async def test_search_text(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    await deliver(store, make_message("Quarterly report", "Revenue grew in Zürich and Berlin"), inbox.id)
    await deliver(store, make_message("Lunch", "Shall we meet at noon? Quarterly numbers later."), inbox.id)
    await deliver(store, make_message("Other", "nothing to see"), inbox.id)
    other_box = await mailbox(store, account, "Archive")
    await deliver(store, make_message("Quarterly report", "Revenue grew elsewhere"), other_box.id)
    assert await store.search_text(inbox.id, "revenue", "body") == {1}
    assert await store.search_text(inbox.id, "REVENUE GREW", "body") == {1}  # phrase, any case
    assert await store.search_text(inbox.id, "quarterly", "body") == {2}  # body only
    assert await store.search_text(inbox.id, "quarterly", "text") == {1, 2}  # headers too
    assert await store.search_text(inbox.id, "venu", "body") == {1}  # RFC 9051: substring
    assert await store.search_text(inbox.id, "zürich", "body") == {1}
    assert await store.search_text(inbox.id, "no", "body") == {2, 3}  # too short for an index
    assert await store.search_text(inbox.id, "absent words", "text") == set()
    assert await store.search_text(other_box.id, "revenue", "body") == {1}  # per mailbox


HOSTILE_QUERIES = [
    '"',
    '""',
    '"unbalanced',
    "*",
    "re*",
    "NEAR(",
    "NEAR(a b",
    "AND",
    "a AND",
    "OR NOT",
    "body:",
    "body : x",
    "{body}",
    "(",
    ")",
    "^",
    "-",
    "+",
    "%",
    "_",
    "\\",
    "'",
    "';--",
    "\x00",
    "a\x00b",
    "   ",
    "",
]


async def test_search_text_hostile_input(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    await deliver(
        store, make_message("Subject AND more", 'Say "NEAR(" here, 50% off_ (a*b) c:\\path'), inbox.id
    )
    await deliver(store, make_message("plain", "plain text"), inbox.id)
    for query in HOSTILE_QUERIES:
        for field in ("body", "text"):
            found = await store.search_text(inbox.id, query, field)
            assert found <= {1, 2}, (query, field)
    # Special characters are matched literally, not as syntax.
    assert await store.search_text(inbox.id, "", "body") == {1, 2}  # every string contains ""
    assert await store.search_text(inbox.id, '"NEAR("', "body") == {1}
    assert await store.search_text(inbox.id, "50% off_", "body") == {1}
    assert await store.search_text(inbox.id, "%", "body") == {1}
    assert await store.search_text(inbox.id, "_", "body") == {1}
    assert await store.search_text(inbox.id, "(a*b)", "body") == {1}
    assert await store.search_text(inbox.id, "c:\\path", "body") == {1}
    assert await store.search_text(inbox.id, "AND", "body") == set()
    assert await store.search_text(inbox.id, "AND", "text") == {1}
    assert await store.search_text(inbox.id, "*", "body") == {1}


# Blobs


async def test_open_blob_and_put_blob_file(store: Store, tmp_path: Path) -> None:
    data = make_message("blob") * 100
    blob = await store.put_blob(data)
    with store.open_blob(blob) as f:
        assert f.read() == data
    assert await store.put_blob(data) == blob  # idempotent
    spool = tmp_path / "spool-1"
    spool.write_bytes(data + b"more")
    adopted = await store.put_blob_file(str(spool))
    assert adopted.size == len(data) + 4
    with store.open_blob(adopted) as f:
        assert f.read() == data + b"more"
    with pytest.raises(NotFound):
        store.open_blob(BlobRef("f" * 64, 1))


# Change feed


async def test_feed_after_commit_to_right_subscriber_only(store: Store) -> None:
    account = await make_account(store)
    inbox, archive = await mailbox(store, account), await mailbox(store, account, "Archive")
    inbox_changes = store.feed().subscribe(inbox.id)
    archive_changes = store.feed().subscribe(archive.id)
    try:
        await deliver(store, make_message(n=1), archive.id)  # not for the INBOX subscriber
        placed = await deliver(store, make_message(n=2), inbox.id)
        change = await next_change(inbox_changes)
        assert change.kind is ChangeKind.APPENDED
        assert (change.account_id, change.mailbox_id, change.uids) == (account.id, inbox.id, (placed[0].uid,))
        # Published only after commit: what it announces is already readable.
        view = await store.open_view(inbox.id)
        assert view.mailbox.highestmodseq >= change.modseq
        assert placed[0].uid in [e.uid for e in view.messages]
        archived = await next_change(archive_changes)
        assert (archived.kind, archived.mailbox_id) == (ChangeKind.APPENDED, archive.id)

        flags = await store.set_flags(inbox.id, [placed[0].uid], "add", ["\\Seen"])
        change = await next_change(inbox_changes)
        assert (change.kind, change.modseq, change.uids) == (ChangeKind.FLAGS, flags.highestmodseq, (1,))
        gone = await store.expunge(inbox.id, [placed[0].uid])
        change = await next_change(inbox_changes)
        assert (change.kind, change.modseq, change.uids) == (ChangeKind.EXPUNGED, gone.highestmodseq, (1,))
        # A failed write publishes nothing.
        with pytest.raises(NotFound):
            await store.deliver(*(await put(store, make_message(n=3))), [Target(inbox.id), Target(-1)])
        moved = await deliver(store, make_message(n=4), archive.id)
        await store.move(archive.id, [moved[0].uid], inbox.id)
        change = await next_change(inbox_changes)
        assert change.kind is ChangeKind.APPENDED  # the failed delivery left no event before this
        assert [c.kind for c in [await next_change(archive_changes) for _ in range(2)]] == [
            ChangeKind.APPENDED,
            ChangeKind.EXPUNGED,
        ]
    finally:
        await inbox_changes.aclose()
        await archive_changes.aclose()


async def test_feed_mailbox_events_and_close(store: Store) -> None:
    account = await make_account(store)
    work = await store.create_mailbox(account.id, "Work")
    changes = store.feed().subscribe(work.id)
    await store.rename_mailbox(account.id, "Work", "Job")
    change = await next_change(changes)
    assert (change.kind, change.mailbox_id) == (ChangeKind.MAILBOX, work.id)
    await store.delete_mailbox(account.id, "Job")
    change = await next_change(changes)
    assert (change.kind, change.mailbox_id) == (ChangeKind.MAILBOX, work.id)
    await changes.aclose()
    with pytest.raises(StopAsyncIteration):
        await anext(changes)


# Several handles (processes share the database; here, two handles in one process)


async def test_second_handle_sees_writes(store: Store, store_factory: StoreFactory) -> None:
    other = await store_factory()
    try:
        account = await make_account(other)
        found = await store.get_account("alice@example.org")
        assert found == account
        await store.update_account("alice@example.org", enabled=False)
        again = await other.get_account("alice@example.org")
        assert again is not None
        assert not again.enabled
        inbox = await mailbox(store, account)
        await deliver(other, make_message(), inbox.id)
        assert (await refreshed(store, inbox)).messages == 1
    finally:
        await other.close()


# Maintenance


async def _snapshot(store: Store, accounts: list[Account]) -> object:
    state: list[object] = []
    for account in accounts:
        boxes = await store.mailboxes(account.id)
        state.append((boxes, await store.quota_usage(account.id)))
        for box in boxes:
            view = await store.open_view(box.id)
            uids = [e.uid for e in view.messages]
            state.append((view, await store.cached(box.id, uids)))
            for word in ("alpha", "beta", "subject"):
                state.append(await store.search_text(box.id, word, "text"))
    return state


async def _populate(store: Store) -> list[Account]:
    alice = await make_account(store, "alice@example.org")
    bob = await make_account(store, "bob@example.org")
    inbox_a, inbox_b = await mailbox(store, alice), await mailbox(store, bob)
    archive = await mailbox(store, alice, "Archive")
    await deliver(store, make_message("alpha", "alpha body"), inbox_a.id, inbox_b.id, flags={"\\Seen"})
    await deliver(store, make_message("beta", "beta body"), inbox_a.id, archive.id, flags={"\\Deleted"})
    await deliver(store, make_message("gamma", "gamma body"), inbox_b.id)
    await store.expunge(inbox_b.id, [2])
    return [alice, bob]


async def test_reconstruct_restores_tampered_values(store: Store, backdoor: StoreBackdoor) -> None:
    accounts = await _populate(store)
    before = await _snapshot(store, accounts)
    clean = await store.reconstruct()
    assert (clean.caches_changed, clean.counters_changed, clean.quota_changed) == (0, 0, 0)
    assert clean.messages_reparsed == 2
    assert clean.missing_blobs == []
    assert len(clean.unreferenced_blobs) == 1  # gamma, expunged: collected later

    await backdoor.scramble_counters(store)
    await backdoor.scramble_caches(store)
    assert await _snapshot(store, accounts) != before
    report = await store.reconstruct()
    assert report.messages_reparsed == 2
    assert report.caches_changed == 2
    assert report.counters_changed > 0
    assert report.quota_changed == 2
    assert report.mailboxes_recounted == 12
    assert await _snapshot(store, accounts) == before
    again = await store.reconstruct()
    assert (again.caches_changed, again.counters_changed, again.quota_changed) == (0, 0, 0)

    # A missing blob is reported; its message keeps its (correct) cache.
    view = await store.open_view((await mailbox(store, accounts[0])).id)
    lost = view.messages[0].blob.sha256
    backdoor.blob_path(store, lost).unlink()
    report = await store.reconstruct()
    assert report.missing_blobs == [lost]
    assert report.messages_reparsed == 1


async def test_reconstruct_dry_run_changes_nothing(store: Store, backdoor: StoreBackdoor) -> None:
    accounts = await _populate(store)
    await backdoor.scramble_counters(store)
    await backdoor.scramble_caches(store)
    damaged = await _snapshot(store, accounts)
    report = await store.reconstruct(dry_run=True)
    assert report.caches_changed == 2
    assert report.counters_changed > 0
    assert report.quota_changed == 2
    assert await _snapshot(store, accounts) == damaged
    fixed = await store.reconstruct()
    assert (fixed.caches_changed, fixed.quota_changed) == (2, 2)


async def test_verify_detects_damage(store: Store, backdoor: StoreBackdoor) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    clean = await store.verify()
    assert not clean.damaged
    assert clean.unreferenced_blobs == []
    assert clean.integrity_errors == []
    one = (await deliver(store, make_message("one"), inbox.id))[0]
    two = (await deliver(store, make_message("two"), inbox.id))[0]
    stray = await store.put_blob(b"stray bytes nobody refers to")
    view = {e.uid: e for e in (await store.open_view(inbox.id)).messages}
    missing, corrupt = view[one.uid].blob.sha256, view[two.uid].blob.sha256

    backdoor.blob_path(store, missing).unlink()
    path = backdoor.blob_path(store, corrupt)
    path.chmod(0o600)
    damaged = bytearray(path.read_bytes())
    damaged[len(damaged) // 2] ^= 0x01  # flip one bit
    path.write_bytes(bytes(damaged))

    report = await store.verify()
    assert report.missing_blobs == [missing]
    assert report.corrupt_blobs == [corrupt]
    assert report.unreferenced_blobs == [stray.sha256]
    assert report.integrity_errors == []
    assert report.damaged
