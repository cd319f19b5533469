"""Recipient resolution against a real (temporary) SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar, cast

import pytest

from pochta.config import Settings, SmtpSettings
from pochta.delivery import Delivery
from pochta.delivery.resolve import Resolver
from pochta.mime.address import SmtpPath, parse_smtp_path
from pochta.store.api import DirectoryReader, Store
from pochta.store.model import MailboxInfo, QuotaUsage
from pochta.store.sqlite.store import open_sqlite_store
from pochta.testing.store_suite import deliver, make_message

T = TypeVar("T")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await open_sqlite_store(tmp_path / "data", Settings())
    await store.add_domain("example.org")
    for name in ("alice", "bob", "postmaster"):
        await store.add_account(f"{name}@example.org", "x", None)
    await store.add_alias("team@example.org", ["alice@example.org", "bob@example.org"])
    await store.add_alias("crew@example.org", ["team@example.org", "alice@example.org"])
    await store.add_alias("loop1@example.org", ["loop2@example.org"])
    await store.add_alias("loop2@example.org", ["loop1@example.org"])
    await store.add_alias("fwd@example.org", ["friend@remote.example", "alice@example.org"])
    try:
        yield store
    finally:
        await store.close()


def _path(text: str) -> SmtpPath:
    path = parse_smtp_path(text)
    assert isinstance(path, SmtpPath), path
    return path


async def _resolve(store: Store, text: str, **settings: object) -> tuple[str, list[tuple[str, str | None]]]:
    resolver = Resolver(store, SmtpSettings.model_validate(settings), "mx.example.org")
    result = await resolver.resolve(_path(text))
    return result.kind, sorted((d.account.address, d.folder) for d in result.destinations)


async def test_account_and_case(store: Store) -> None:
    assert await _resolve(store, "<Alice@EXAMPLE.org>") == ("local", [("alice@example.org", None)])


async def test_alias_chain_dedupes(store: Store) -> None:
    kind, dest = await _resolve(store, "<crew@example.org>")
    assert kind == "local"
    assert dest == [("alice@example.org", None), ("bob@example.org", None)]


async def test_alias_loop_resolves_to_nothing(store: Store) -> None:
    assert (await _resolve(store, "<loop1@example.org>"))[0] == "unknown"


async def test_external_target_needs_queue(store: Store) -> None:
    assert (await _resolve(store, "<fwd@example.org>"))[0] == "external"


async def test_subaddress(store: Store) -> None:
    assert await _resolve(store, "<alice+news@example.org>") == ("local", [("alice@example.org", "news")])
    assert await _resolve(store, "<alice+news@example.org>", subaddress_folder=False) == (
        "local",
        [("alice@example.org", None)],
    )
    assert (await _resolve(store, "<alice+news@example.org>", subaddress_separator=""))[0] == "unknown"


async def test_catch_all(store: Store) -> None:
    assert (await _resolve(store, "<whoever@example.org>"))[0] == "unknown"
    await store.add_alias("@example.org", ["bob@example.org"])
    assert await _resolve(store, "<whoever@example.org>") == ("local", [("bob@example.org", None)])


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("<victim%remote.example@example.org>", "unknown"),
        ("<remote.example!victim@example.org>", "unknown"),
        ('<"victim@remote.example"@example.org>', "unknown"),
        ("<@example.org:victim@remote.example>", "remote"),
        ("<victim@remote.example>", "remote"),
        ("<alice@[127.0.0.1]>", "remote"),
    ],
)
async def test_relay_tricks_never_resolve_elsewhere(store: Store, address: str, kind: str) -> None:
    assert (await _resolve(store, address))[0] == kind


async def test_postmaster_without_domain(store: Store) -> None:
    # RFC 5321 §4.1.1.3: the core turns RCPT TO:<Postmaster> into local "Postmaster", domain ""
    resolver = Resolver(store, SmtpSettings(), "mx.example.org")
    result = await resolver.resolve(SmtpPath("Postmaster", ""))
    assert [d.account.address for d in result.destinations] == ["postmaster@example.org"]


async def test_disabled_account_is_unknown(store: Store) -> None:
    await store.update_account("bob@example.org", enabled=False)
    assert (await _resolve(store, "<bob@example.org>"))[0] == "unknown"


async def _postmasters(store: Store, hostname: str, *paths: SmtpPath, **settings: object) -> list[list[str]]:
    resolver = Resolver(store, SmtpSettings.model_validate(settings), hostname)
    out = []
    for path in paths:
        result = await resolver.resolve(path)
        out.append([d.account.address for d in result.destinations] + list(result.external))
    return out


async def test_postmaster_of_the_primary_domain(store: Store) -> None:
    # RFC 5321 §4.5.1: <Postmaster> is the primary domain's: the host name's nearest local domain,
    # not whichever domain sorts first (here "aaa.example", added later, with its own postmaster).
    await store.add_domain("aaa.example")
    await store.add_account("postmaster@aaa.example", "x", None)
    bare = SmtpPath("Postmaster", "")
    assert await _postmasters(store, "mx.example.org", bare) == [["postmaster@example.org"]]
    assert await _postmasters(store, "aaa.example", bare) == [["postmaster@aaa.example"]]
    # A host name in no local domain: the first domain added.
    assert await _postmasters(store, "mail.elsewhere.example", bare) == [["postmaster@example.org"]]


async def test_postmaster_of_a_domain_without_one(store: Store) -> None:
    # RFC 5321 §4.5.1: postmaster at every domain served; a domain without its own goes to the
    # primary domain's postmaster, or to smtp.postmaster when set.
    await store.add_domain("example.net")
    net = _path("<POSTMASTER@example.net>")
    assert await _postmasters(store, "mx.example.org", net) == [["postmaster@example.org"]]
    assert await _postmasters(store, "mx.example.org", net, postmaster="alice@example.org") == [
        ["alice@example.org"]
    ]
    # Its own postmaster, when it has one, first; other unknown users stay unknown.
    await store.add_alias("postmaster@example.net", ["bob@example.org"])
    assert await _postmasters(store, "mx.example.org", net, _path("<nobody@example.net>")) == [
        ["bob@example.org"],
        [],
    ]


async def test_postmaster_when_no_domain_has_one(store: Store) -> None:
    await store.delete_account("postmaster@example.org")
    bare = SmtpPath("postmaster", "")
    assert await _postmasters(store, "mx.example.org", bare) == [[]]  # nobody: 550, and a warning
    assert await _postmasters(store, "mx.example.org", bare, postmaster="bob@example.org") == [
        ["bob@example.org"]
    ]
    assert await _postmasters(store, "mx.example.org", bare, postmaster="admin@remote.example") == [
        ["admin@remote.example"]  # forwarded through the queue
    ]


async def test_postmaster_reachable_for_the_startup_warning(store: Store, tmp_path: Path) -> None:
    delivery = Delivery(store, Settings(hostname="mx.example.org"), tmp_path / "data")
    assert await delivery.postmaster_reachable()
    await store.delete_account("postmaster@example.org")
    assert not await delivery.postmaster_reachable()


# The per-process cache (smtp.recipient_cache), kept while the directory version stays the same.


class _CountingReads:
    """Counts ``read_directory`` jobs of the store under it (every other call passes through)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.reads = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

    async def read_directory(self, fn: Callable[[DirectoryReader], T]) -> T:
        self.reads += 1
        return await self.store.read_directory(fn)


async def _kinds(resolver: Resolver, *texts: str) -> list[tuple[str, list[str]]]:
    out = []
    for text in texts:
        result = await resolver.resolve(_path(text))
        out.append((result.kind, sorted(d.account.address for d in result.destinations)))
    return out


async def test_cache_answers_repeated_recipients_without_a_read(store: Store) -> None:
    counting = _CountingReads(store)
    resolver = Resolver(cast(Store, counting), SmtpSettings(), "mx.example.org")
    first = await _kinds(resolver, "<alice@example.org>", "<team@example.org>", "<nobody@example.org>")
    assert counting.reads == 3
    again = await _kinds(resolver, "<alice@example.org>", "<team@example.org>", "<nobody@example.org>")
    assert again == first
    assert counting.reads == 3
    assert resolver.cache.hits == 3
    # Turned off: every recipient is read.
    uncached = Resolver(cast(Store, counting), SmtpSettings(recipient_cache=0), "mx.example.org")
    assert await _kinds(uncached, "<alice@example.org>", "<alice@example.org>") == [first[0]] * 2
    assert counting.reads == 5


async def test_cache_sees_every_directory_change_made_by_another_process(
    store: Store, tmp_path: Path
) -> None:
    # Another worker (or the CLI): its own store on the same data directory, its own connections.
    other = await open_sqlite_store(tmp_path / "data", Settings())
    resolver = Resolver(store, SmtpSettings(), "mx.example.org")
    try:
        texts = ("<alice@example.org>", "<new@example.org>", "<carol@example.net>", "<team@example.org>")
        assert await _kinds(resolver, *texts) == [
            ("local", ["alice@example.org"]),
            ("unknown", []),
            ("remote", []),
            ("local", ["alice@example.org", "bob@example.org"]),
        ]
        await other.add_alias("new@example.org", ["bob@example.org"])
        assert (await _kinds(resolver, texts[1])) == [("local", ["bob@example.org"])]
        await other.add_domain("example.net")
        await other.add_account("carol@example.net", "x", None)
        assert (await _kinds(resolver, texts[2])) == [("local", ["carol@example.net"])]
        await other.update_account("alice@example.org", enabled=False)
        assert await _kinds(resolver, texts[0], texts[3]) == [
            ("unknown", []),
            ("local", ["bob@example.org"]),
        ]
        await other.update_account("alice@example.org", enabled=True)
        await other.delete_alias("team@example.org", ["bob@example.org"])
        assert (await _kinds(resolver, texts[3])) == [("local", ["alice@example.org"])]
        await other.delete_account("carol@example.net")
        assert (await _kinds(resolver, texts[2])) == [("unknown", [])]
    finally:
        await other.close()


async def test_cache_keeps_mailbox_ids_until_a_mailbox_changes(store: Store, tmp_path: Path) -> None:
    other = await open_sqlite_store(tmp_path / "data", Settings())
    counting = _CountingReads(store)
    resolver = Resolver(cast(Store, counting), SmtpSettings(), "mx.example.org")
    alice = await store.get_account("alice@example.org")
    assert alice is not None
    try:
        wanted = [(alice.id, "news"), (alice.id, "INBOX")]
        first = await resolver.refresh([alice.id], wanted)
        assert (alice.id, "news") not in first.mailboxes
        inbox = first.mailboxes[alice.id, "INBOX"]
        assert (await resolver.refresh([alice.id], wanted)) == first
        assert counting.reads == 1
        created = await other.create_mailbox(alice.id, "news")
        assert (await resolver.refresh([alice.id], wanted)).mailboxes == {
            (alice.id, "news"): created.id,
            (alice.id, "INBOX"): inbox,
        }
        await other.rename_mailbox(alice.id, "news", "old-news")
        assert (await resolver.refresh([alice.id], wanted)).mailboxes == {(alice.id, "INBOX"): inbox}
        assert counting.reads == 3
    finally:
        await other.close()


@pytest.mark.parametrize("root", ["account bytes", "account messages", "domain bytes", "domain messages"])
async def test_accounts_with_a_quota_are_always_read(store: Store, root: str) -> None:
    # Their usage moves with every delivery: the RCPT quota check needs it read afresh. A quota of
    # the account's domain counts as much as its own (RFC 9208 §3.2: both roots hold its mailboxes).
    bob = await store.get_account("bob@example.org")
    assert bob is not None
    counting = _CountingReads(store)
    resolver = Resolver(cast(Store, counting), SmtpSettings(), "mx.example.org")
    await resolver.resolve(_path("<bob@example.org>"))
    await resolver.refresh([bob.id], [(bob.id, "INBOX")])
    assert counting.reads == 2  # unlimited: kept from now on
    match root:
        case "account bytes":
            await store.update_account("bob@example.org", quota_bytes=10_000)
        case "account messages":
            await store.update_account("bob@example.org", quota_messages=10)
        case "domain bytes":
            await store.set_domain_quota("example.org", quota_bytes=10_000)
        case _:
            await store.set_domain_quota("example.org", quota_messages=10)
    for _ in range(2):
        result = await resolver.resolve(_path("<bob@example.org>"))
        assert [d.quota and d.quota.account_used for d in result.destinations] == [QuotaUsage()]
        await resolver.refresh([bob.id], [(bob.id, "INBOX")])
    assert counting.reads == 6
    await deliver(store, make_message(), (await store.get_mailbox(bob.id, "INBOX") or _missing()).id)
    result = await resolver.resolve(_path("<bob@example.org>"))
    used = QuotaUsage(len(make_message()), 1)
    assert [d.quota and (d.quota.account_used, d.quota.domain_used) for d in result.destinations] == [
        (used, used)
    ]


def _missing() -> MailboxInfo:
    raise AssertionError("no such mailbox")


async def test_deliveries_and_logins_leave_the_directory_version_alone(store: Store) -> None:
    version = store.directory_version()
    assert version is not None
    alice = await store.get_account("alice@example.org")
    assert alice is not None
    inbox = await store.get_mailbox(alice.id, "INBOX")
    assert inbox is not None
    await deliver(store, make_message(), inbox.id)
    await store.record_account_setting(alice.id, "pop3.last_login", datetime.now(UTC))
    await store.update_account("alice@example.org", password_hash="y")
    await store.set_subscribed(alice.id, "INBOX", False)
    assert store.directory_version() == version
    await store.update_account("alice@example.org", quota_bytes=1)
    assert store.directory_version() == version + 1
    await store.update_account("alice@example.org", quota_messages=1)  # revision 0017
    assert store.directory_version() == version + 2
    await store.set_domain_quota("example.org", quota_messages=1)
    assert store.directory_version() == version + 3
    await store.update_account("alice@example.org", admin=True)  # no delivery field
    assert store.directory_version() == version + 3


# Posting into a domain's public mailbox (docs/imap.md "Shared mailboxes"): shared+NAME@domain.


async def test_posting_into_a_public_mailbox_needs_anyones_p_right(store: Store) -> None:
    owner = await store.add_shared_owner("example.org")
    support = await store.create_mailbox(owner.id, "support")
    await store.add_alias("@example.org", ["postmaster@example.org"])  # a catch-all takes the unknown
    counting = _CountingReads(store)
    resolver = Resolver(cast(Store, counting), SmtpSettings(), "mx.example.org")
    owner_address = "(shared)@example.org"
    refused = await _kinds(resolver, "<shared+support@example.org>", "<shared+none@example.org>")
    # Not open to posting: exactly what an unknown address gets (here the catch-all).
    assert refused == [("local", ["postmaster@example.org"])] * 2
    await store.set_mailbox_acl(support.id, "anyone", "lrp")
    reads = counting.reads
    result = await resolver.resolve(_path("<Shared+support@example.org>"))
    assert (result.kind, [(d.account.address, d.folder) for d in result.destinations]) == (
        "local",
        [(owner_address, "support")],
    )
    assert counting.reads == reads + 1  # an ACL moves no directory version: never cached
    await resolver.resolve(_path("<shared+support@example.org>"))
    assert counting.reads == reads + 2
    await store.set_mailbox_acl(support.id, "-anyone", "p")  # a negative entry takes "p" away
    assert await _kinds(resolver, "<shared+support@example.org>") == [("local", ["postmaster@example.org"])]
    await store.set_mailbox_acl(support.id, "-anyone", None)
    # Turned off (or without subaddresses): an ordinary address again (the catch-all, with the tag).
    assert await _resolve(store, "<shared+support@example.org>", shared_post_local_part="") == (
        "local",
        [("postmaster@example.org", "support")],
    )
    assert await _resolve(store, "<shared+support@example.org>", subaddress_separator="") == (
        "local",
        [("postmaster@example.org", None)],
    )
    assert await _resolve(store, "<board+support@example.org>", shared_post_local_part="board") == (
        "local",
        [(owner_address, "support")],
    )


async def test_the_hidden_owner_is_no_recipient(store: Store) -> None:
    owner = await store.add_shared_owner("example.org")
    await store.create_mailbox(owner.id, "support")
    assert await _resolve(store, '<"(shared)"@example.org>') == ("unknown", [])
    assert await _resolve(store, '<"(shared)+support"@example.org>') == ("unknown", [])
