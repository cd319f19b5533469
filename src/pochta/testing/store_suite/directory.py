"""Conformance tests for the directory: domains, accounts, aliases, app passwords."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import pytest

from pochta.store.account_settings import ROOT_UNIT
from pochta.store.api import UNSET, AlreadyExists, Conflict, DirectoryReader, NotFound, Store
from pochta.store.model import (
    DEFAULT_MAILBOXES,
    AccountQuota,
    ProtocolSwitches,
    QuotaLimits,
    QuotaUsage,
    ScramCredentials,
)
from pochta.testing.store_suite.support import (
    NEW_HASH,
    StoreBackdoor,
    StoreFactory,
    deliver,
    mailbox,
    make_account,
    make_message,
)


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
    assert all(created.settings.allows(p) for p in ("imap", "pop3", "submission", "managesieve"))
    assert created.settings.unit == ROOT_UNIT
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
        enabled=False,
    )
    assert updated.password_hash == NEW_HASH
    assert updated.scram == scram
    assert updated.quota_bytes == 5000
    assert not updated.enabled
    assert await store.get_account("alice@example.org") == updated
    # UNSET leaves a field alone, None clears it.
    cleared = await store.update_account(
        "alice@example.org", scram=None, quota_bytes=None, password_hash=UNSET
    )
    assert cleared.scram is None
    assert cleared.quota_bytes is None
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
    await store.add_app_password("alice@example.org", "phone", "hash", b"lookup")
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
    first = await store.add_app_password("Alice@example.org", "phone", "hash-a", b"\x01" * 32)
    assert (first.account_id, first.name, first.password_hash, first.last_used, first.lookup) == (
        account.id,
        "phone",
        "hash-a",
        None,
        b"\x01" * 32,
    )
    await store.add_app_password("alice@example.org", "laptop", "hash-b", b"\x02" * 32)
    with pytest.raises(AlreadyExists):
        await store.add_app_password("alice@example.org", "phone", "hash-c", b"\x03" * 32)
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
        await store.add_app_password("nobody@example.org", "x", "hash", b"\x04" * 32)


async def test_app_password_found_by_lookup_digest_of_its_own_account_only(store: Store) -> None:
    alice = await make_account(store, "alice@example.org")
    bob = await make_account(store, "bob@example.org")
    await store.add_app_password("alice@example.org", "phone", "hash-a", b"A" * 32)
    await store.add_app_password("alice@example.org", "laptop", "hash-b", b"B" * 32)
    await store.add_app_password("bob@example.org", "phone", "hash-c", b"C" * 32)

    def read(reader: DirectoryReader) -> list[str | None]:
        found = [
            reader.app_password(alice.id, b"B" * 32),
            reader.app_password(alice.id, b"C" * 32),  # bob's digest
            reader.app_password(bob.id, b"C" * 32),
            reader.app_password(alice.id, b"B" * 31),
        ]
        return [None if item is None else item.password_hash for item in found]

    assert await store.read_directory(read) == ["hash-b", None, "hash-c", None]


async def test_login_unblocks(store: Store, store_factory: StoreFactory) -> None:
    assert await store.login_unblocks_after(0) == []
    before = datetime.now(UTC)
    first = await store.add_login_unblock("127.0.0.9/32", keep_seconds=3600)
    second = await store.add_login_unblock("bob@example.org", keep_seconds=3600)
    after = datetime.now(UTC)
    assert first.id < second.id
    assert before - timedelta(milliseconds=1) <= first.created <= second.created <= after
    assert [(u.target, u.id) for u in await store.login_unblocks_after(0)] == [
        ("127.0.0.9/32", first.id),
        ("bob@example.org", second.id),
    ]
    assert await store.login_unblocks_after(first.id) == [second]
    assert await store.login_unblocks_after(second.id) == []
    other = await store_factory()  # what another process (the CLI) added is read by the server
    third = await other.add_login_unblock("2001:db8::/64", keep_seconds=3600)
    assert await store.login_unblocks_after(second.id) == [third]
    await asyncio.sleep(0.01)
    # keep_seconds drops the old ones as the new one is added
    fourth = await store.add_login_unblock("10.0.0.0/8", keep_seconds=0.005)
    assert await store.login_unblocks_after(0) == [fourth]


async def test_read_directory_lookups(store: Store) -> None:
    alice = await make_account(store, "Alice@example.org", quota=10_000)
    await store.add_alias("team@example.org", ["alice@example.org", "friend@example.net"])
    inbox = await mailbox(store, alice)
    await deliver(store, make_message(), inbox.id)

    def read(reader: DirectoryReader) -> dict[str, object]:
        return {
            "domain": reader.domain("EXAMPLE.org"),
            "no domain": reader.domain("example.net"),
            "domains": reader.domains(),
            "account": reader.account("alice@EXAMPLE.ORG"),
            "no account": reader.account("bob@example.org"),
            "by id": reader.account_by_id(alice.id),
            "no id": reader.account_by_id(alice.id + 1000),
            "alias": reader.alias("TEAM@example.org"),
            "no alias": reader.alias("@example.org"),
            "quota": reader.quota(alice.id),
            "no quota": reader.quota(alice.id + 1000),
            "inbox": reader.mailbox_id(alice.id, "INBOX"),
            "sent": reader.mailbox_id(alice.id, "Sent"),
            "no mailbox": reader.mailbox_id(alice.id, "Nope"),
        }

    found = await store.read_directory(read)
    sent = await mailbox(store, alice, "Sent")
    assert found == {
        "domain": await store.get_domain("example.org"),
        "no domain": None,
        "domains": await store.list_domains(),
        "account": alice,
        "no account": None,
        "by id": alice,
        "no id": None,
        "alias": await store.get_alias("team@example.org"),
        "no alias": None,
        "quota": await store.account_quota(alice.id),
        "no quota": None,
        "inbox": inbox.id,
        "sent": sent.id,
        "no mailbox": None,
    }
    size = len(make_message())
    assert found["quota"] == AccountQuota(
        QuotaLimits(10_000), QuotaUsage(size, 1), "example.org", QuotaLimits(), QuotaUsage(size, 1)
    )


async def test_read_directory_errors_propagate(store: Store) -> None:
    await store.add_domain("example.org")
    with pytest.raises(ValueError, match="not an address"):
        await store.read_directory(lambda reader: reader.account("no-at-sign"))

    def fail(reader: DirectoryReader) -> None:
        raise NotFound("from the caller's function")

    with pytest.raises(NotFound, match="caller"):
        await store.read_directory(fail)
    assert await store.read_directory(lambda reader: reader.domain("example.org")) is not None


async def test_read_directory_is_one_snapshot(store: Store) -> None:
    await store.add_domain("example.org")
    first_read, written = threading.Event(), threading.Event()

    def read(reader: DirectoryReader) -> tuple[list[str], list[str]]:
        before = [d.name for d in reader.domains()]
        first_read.set()
        written.wait(10)
        return before, [d.name for d in reader.domains()]

    task = asyncio.ensure_future(store.read_directory(read))
    try:
        assert await asyncio.to_thread(first_read.wait, 10)
        await store.add_domain("example.net")  # committed while the read is open
    finally:
        written.set()
    before, after = await task
    assert before == after == ["example.org"]
    assert [d.name for d in await store.list_domains()] == ["example.net", "example.org"]
