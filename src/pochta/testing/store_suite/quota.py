"""Conformance tests for what the store decides alone: the quota, checked in the transaction that
writes (``QuotaExceeded``), and session locks (``try_lock``)."""

from __future__ import annotations

import asyncio
import random

import pytest

from pochta.store.account_settings import QUOTA_BYTES, QUOTA_MESSAGES
from pochta.store.api import QuotaExceeded, Store
from pochta.store.model import QuotaLimits, QuotaUsage, Target
from pochta.testing.store_suite.support import (
    StoreFactory,
    deliver,
    mailbox,
    make_account,
    make_message,
    put,
    refreshed,
)

# make_message(n=N) for two-digit N: messages of one size.
SAME_SIZE = range(10, 100)


def _size() -> int:
    return len(make_message(n=SAME_SIZE[0]))


async def test_quota_race_stores_exactly_what_fits(store: Store) -> None:
    # Room for 5 messages (and half of a sixth); 16 deliveries at once. A check made before the
    # write would let all of them pass; the one in the write transaction lets exactly 5 through.
    size = _size()
    account = await make_account(store, quota=5 * size + size // 2)
    inbox = await mailbox(store, account)
    results = await asyncio.gather(
        *(deliver(store, make_message(n=n), inbox.id) for n in SAME_SIZE[:16]), return_exceptions=True
    )
    stored = [r for r in results if isinstance(r, list)]
    refused = [r for r in results if isinstance(r, QuotaExceeded)]
    assert (len(stored), len(refused)) == (5, 11), results
    assert all(r.accounts == {account.id} for r in refused)
    assert await store.quota_usage(account.id) == 5 * size
    info = await refreshed(store, inbox)
    assert (info.messages, info.size) == (5, 5 * size)
    assert sorted(p.uid for placed in stored for p in placed) == [1, 2, 3, 4, 5]


async def test_quota_refusal_is_all_or_nothing_per_call(store: Store) -> None:
    size = _size()
    alice = await make_account(store, quota=size)
    bob = await make_account(store, "bob@example.org", quota=10 * size)
    carol = await make_account(store, "carol@example.org", quota=size - 1)
    inbox_a, archive_a = await mailbox(store, alice), await mailbox(store, alice, "Archive")
    inbox_b, inbox_c = await mailbox(store, bob), await mailbox(store, carol)
    blob, parsed = await put(store, make_message(n=10))
    # Every copy counts: two in one account need twice the size.
    with pytest.raises(QuotaExceeded) as refused:
        await store.deliver(blob, parsed, [Target(inbox_a.id), Target(archive_a.id), Target(inbox_b.id)])
    assert refused.value.accounts == {alice.id}
    # Every account over quota is named, and nothing of the call is stored, not even bob's copy.
    with pytest.raises(QuotaExceeded) as refused:
        await store.deliver(blob, parsed, [Target(inbox_c.id), Target(inbox_b.id), Target(inbox_a.id)] * 2)
    assert refused.value.accounts == {alice.id, carol.id}
    for info in (inbox_a, archive_a, inbox_b, inbox_c):
        after = await refreshed(store, info)
        assert (after.messages, after.uidnext, after.highestmodseq) == (0, 1, info.highestmodseq)
    assert [await store.quota_usage(a.id) for a in (alice, bob, carol)] == [0, 0, 0]
    # Exactly up to the limit is allowed (RFC 9208 §3.1.2: refused when it "would be exceeded").
    placed = await store.deliver(blob, parsed, [Target(inbox_a.id), Target(inbox_b.id)])
    assert [p.uid for p in placed] == [1, 1]
    assert await store.quota_usage(alice.id) == size
    # A lowered quota refuses more mail but never removes any.
    await store.update_account("bob@example.org", quota_bytes=0)
    with pytest.raises(QuotaExceeded):
        await deliver(store, make_message(n=11), inbox_b.id)
    assert (await refreshed(store, inbox_b)).messages == 1
    # No quota: unlimited.
    await store.update_account("bob@example.org", quota_bytes=None)
    await deliver(store, make_message(n=11), inbox_b.id, inbox_b.id)
    assert await store.quota_usage(bob.id) == 3 * size


async def test_quota_of_copy_and_move(store: Store) -> None:
    size = _size()
    alice = await make_account(store, quota=3 * size)
    bob = await make_account(store, "bob@example.org", quota=size)
    inbox, archive = await mailbox(store, alice), await mailbox(store, alice, "Archive")
    inbox_b = await mailbox(store, bob)
    for n in SAME_SIZE[:2]:
        await deliver(store, make_message(n=n), inbox.id)
    # Copying both would make 4 copies: refused as a whole, nothing copied.
    with pytest.raises(QuotaExceeded) as refused:
        await store.transfer(inbox.id, [1, 2], archive.id, move=False)
    assert refused.value.accounts == {alice.id}
    assert (await refreshed(store, archive)).messages == 0
    assert (await store.transfer(inbox.id, [1], archive.id, move=False)).destination_uids == (1,)
    assert await store.quota_usage(alice.id) == 3 * size  # full
    # MOVE within the account does not grow usage: allowed at a full quota.
    moved = await store.transfer(inbox.id, [2], archive.id, move=True)
    assert moved.destination_uids == (2,)
    assert await store.quota_usage(alice.id) == 3 * size
    # Into another account it counts there (and bob has room for one only).
    with pytest.raises(QuotaExceeded) as refused:
        await store.transfer(archive.id, [1, 2], inbox_b.id, move=True)
    assert refused.value.accounts == {bob.id}
    assert (await refreshed(store, archive)).messages == 2
    await store.transfer(archive.id, [2], inbox_b.id, move=True)
    assert [await store.quota_usage(a.id) for a in (alice, bob)] == [2 * size, size]


async def test_quota_race_between_handles(store: Store, store_factory: StoreFactory) -> None:
    # Two handles on one store (as two worker processes have): their writes are checked against
    # each other's too.
    other = await store_factory()
    try:
        size = _size()
        account = await make_account(store, quota=4 * size)
        inbox = await mailbox(store, account)
        messages = [make_message(n=n) for n in SAME_SIZE[:12]]
        results = await asyncio.gather(
            *(deliver(store if n % 2 else other, data, inbox.id) for n, data in enumerate(messages)),
            return_exceptions=True,
        )
        assert sum(isinstance(r, list) for r in results) == 4, results
        assert all(isinstance(r, (list, QuotaExceeded)) for r in results)
        assert await other.quota_usage(account.id) == 4 * size
        assert (await refreshed(store, inbox)).messages == 4
    finally:
        await other.close()


async def test_try_lock_is_exclusive_until_released(store: Store, store_factory: StoreFactory) -> None:
    other = await store_factory()
    try:
        first = await store.try_lock("pop3-7")
        assert first is not None
        assert first.name == "pop3-7"
        # Held: refused at once to another handle (another process) and to this one alike.
        assert await other.try_lock("pop3-7") is None
        assert await store.try_lock("pop3-7") is None
        # Other names are independent.
        recent = await other.try_lock("pop3-recent-7")
        assert recent is not None
        await first.release()
        await first.release()  # a second release does nothing
        second = await other.try_lock("pop3-7")
        assert second is not None
        assert await store.try_lock("pop3-7") is None
        await second.release()
        await recent.release()
        again = await store.try_lock("pop3-7")
        assert again is not None
        await again.release()
        for bad in ("", "../x", "a/b", ".hidden", "x" * 200, "sp ace", "nul\x00"):
            with pytest.raises(ValueError, match="lock name"):
                await store.try_lock(bad)
    finally:
        await other.close()


async def test_domain_usage_follows_every_change(store: Store) -> None:
    # RFC 9208 §3.2: the domain's root holds every mailbox of its accounts; its usage is their sum,
    # moved in the same write as theirs (deliver, copy, move, expunge, mailbox and account deletion).
    size = _size()
    alice = await make_account(store)
    bob = await make_account(store, "bob@example.org")
    other = await make_account(store, "carol@example.net")  # another domain: never counted here
    inbox, archive, trash = [await mailbox(store, alice, name) for name in ("INBOX", "Archive", "Trash")]
    inbox_b = await mailbox(store, bob)

    async def usage() -> tuple[QuotaUsage, QuotaUsage, QuotaUsage]:
        quota_a, quota_b = await store.account_quota(alice.id), await store.account_quota(bob.id)
        domain = await store.domain_quota("example.org")
        assert quota_a is not None
        assert quota_b is not None
        assert domain is not None
        assert quota_a.domain == quota_b.domain == "example.org"
        assert quota_a.domain_used == quota_b.domain_used == domain[1]
        return quota_a.account_used, quota_b.account_used, domain[1]

    def used(n: int) -> QuotaUsage:
        return QuotaUsage(n * size, n)

    assert await usage() == (used(0), used(0), used(0))
    await deliver(
        store, make_message(n=10), inbox.id, archive.id, inbox_b.id, (await mailbox(store, other)).id
    )
    assert await usage() == (used(2), used(1), used(3))
    await store.transfer(inbox.id, [1], trash.id, move=False)
    assert await usage() == (used(3), used(1), used(4))
    await store.transfer(archive.id, [1], inbox.id, move=True)  # within the account: nothing moves
    assert await usage() == (used(3), used(1), used(4))
    await store.transfer(inbox.id, [2], inbox_b.id, move=True)  # to another account of the domain
    assert await usage() == (used(2), used(2), used(4))
    await store.expunge(inbox.id, [1])
    assert await usage() == (used(1), used(2), used(3))
    await store.delete_mailbox(alice.id, "Trash")
    assert await usage() == (used(0), used(2), used(2))
    await store.delete_account("bob@example.org")
    assert await store.domain_quota("example.org") == (QuotaLimits(), used(0))
    assert await store.domain_quota("example.net") == (QuotaLimits(), used(1))
    assert await store.domain_quota("nowhere.example") is None
    assert await store.account_quota(bob.id) is None


async def test_message_and_domain_quotas_refuse_what_does_not_fit(store: Store) -> None:
    size = _size()
    alice = await make_account(store)
    bob = await make_account(store, "bob@example.org")
    carol = await make_account(store, "carol@example.org")
    inbox, archive = await mailbox(store, alice), await mailbox(store, alice, "Archive")
    inbox_b, inbox_c = await mailbox(store, bob), await mailbox(store, carol)
    # RFC 9208 §5.2 MESSAGE on the account's root.
    await store.update_account("alice@example.org", quota_messages=2)
    await deliver(store, make_message(n=10), inbox.id, inbox.id)
    with pytest.raises(QuotaExceeded) as refused:
        await deliver(store, make_message(n=11), inbox.id)
    assert (refused.value.accounts, refused.value.reason) == (
        frozenset({alice.id}),
        "Quota exceeded (MESSAGE)",
    )
    with pytest.raises(QuotaExceeded):
        await store.transfer(inbox.id, [1], archive.id, move=False)
    await store.transfer(inbox.id, [1], archive.id, move=True)  # within the account: allowed when full
    await store.update_account("alice@example.org", quota_messages=None)
    # The domain's root, STORAGE: room for one more message in all. One delivery to bob and carol
    # stores nothing, and names only the account (in id order) that does not fit beside the other.
    await store.set_domain_quota("example.org", quota_bytes=3 * size + size // 2)
    blob, parsed = await put(store, make_message(n=12))
    with pytest.raises(QuotaExceeded) as refused:
        await store.deliver(blob, parsed, [Target(inbox_c.id), Target(inbox_b.id)])
    assert (refused.value.accounts, refused.value.reason) == (
        frozenset({carol.id}),
        "Domain quota exceeded (STORAGE)",
    )
    assert [(await refreshed(store, box)).messages for box in (inbox_b, inbox_c)] == [0, 0]
    await store.deliver(blob, parsed, [Target(inbox_b.id)])
    with pytest.raises(QuotaExceeded):
        await store.transfer(inbox.id, [2], archive.id, move=False)
    # The domain's MESSAGE limit; 0 prohibits any addition (RFC 9208 §3.1.2).
    await store.set_domain_quota("example.org", quota_bytes=None, quota_messages=0)
    with pytest.raises(QuotaExceeded) as refused:
        await deliver(store, make_message(n=13), inbox_c.id)
    assert refused.value.reason == "Domain quota exceeded (MESSAGE)"
    await store.expunge(inbox_b.id, [1])  # giving back is always allowed
    domain = await store.set_domain_quota("example.org", quota_messages=None)
    assert (domain.quota_bytes, domain.quota_messages) == (None, None)
    await deliver(store, make_message(n=13), inbox_c.id)
    assert await store.domain_quota("example.org") == (QuotaLimits(), QuotaUsage(3 * size, 3))


async def test_usage_matches_the_mailboxes_after_random_changes(store: Store) -> None:
    # A fixed pseudo-random run of every write that moves usage, over two accounts of one domain:
    # after each, the account's usage is what its mailboxes hold, the domain's the sum of both, and
    # reconstruct finds nothing to correct.
    rng = random.Random(9208)
    accounts = [await make_account(store), await make_account(store, "bob@example.org")]
    boxes = [await mailbox(store, a, name) for a in accounts for name in ("INBOX", "Archive", "Trash")]
    owner = {box.id: account for account in accounts for box in boxes if box.account_id == account.id}
    for step in range(40):
        source = rng.choice(boxes)
        uids = list((await store.open_view(source.id)).uids)
        action = rng.choice(["deliver", "deliver", "copy", "move", "expunge"] if uids else ["deliver"])
        if action == "deliver":
            targets = rng.sample(boxes, rng.randint(1, 3))
            await deliver(
                store, make_message(n=step, body="x" * rng.randint(1, 400)), *(b.id for b in targets)
            )
        else:
            chosen = rng.sample(uids, rng.randint(1, len(uids)))
            if action == "expunge":
                await store.expunge(source.id, chosen)
            else:
                destination = rng.choice([b for b in boxes if b.id != source.id])
                await store.transfer(source.id, chosen, destination.id, move=action == "move")
        if step == 30:
            trash = boxes.pop()  # bob's Trash, with whatever it holds
            await store.delete_mailbox(trash.account_id, "Trash")
        held = {a.id: QuotaUsage() for a in accounts}
        for box in boxes:
            info = await refreshed(store, box)
            used = held[owner[box.id].id]
            held[owner[box.id].id] = QuotaUsage(used.bytes + info.size, used.messages + info.messages)
        for account in accounts:
            quota = await store.account_quota(account.id)
            assert quota is not None
            assert quota.account_used == held[account.id], (step, action)
            total = QuotaUsage(sum(u.bytes for u in held.values()), sum(u.messages for u in held.values()))
            assert quota.domain_used == total, (step, action)
    report = await store.reconstruct(dry_run=True)
    assert (report.quota_changed, report.counters_changed) == (0, 0)


async def test_unit_quota_is_inherited_and_enforced(store: Store) -> None:
    # A unit's quota.bytes / quota.messages bound every account below it that has no limit of its
    # own (docs/units.md): the nearest unit's wins, each resource on its own; deliver, APPEND and
    # COPY are refused at the unit's limit, in the write, as at an account's own.
    size = _size()
    alice = await make_account(store)
    bob = await make_account(store, "bob@example.org")
    await store.add_unit("staff")
    await store.add_unit("sales", parent="staff")
    await store.set_account_unit("alice@example.org", "sales")
    await store.set_account_unit("bob@example.org", "staff")
    inbox, archive = await mailbox(store, alice), await mailbox(store, alice, "Archive")
    await store.set_unit_settings("staff", {QUOTA_BYTES.name: 2 * size, QUOTA_MESSAGES.name: 100})
    # Inherited through "sales", which sets nothing: GETQUOTA's limits are the unit's.
    quota = await store.account_quota(alice.id)
    assert quota is not None
    assert (quota.account_limits, quota.account_used) == (QuotaLimits(2 * size, 100), QuotaUsage())
    assert await store.read_directory(lambda r: r.quota(alice.id)) == quota
    await deliver(store, make_message(n=10), inbox.id)
    with pytest.raises(QuotaExceeded) as refused:  # a delivery of two copies: one too many
        await deliver(store, make_message(n=11), inbox.id, archive.id)
    assert (refused.value.accounts, refused.value.reason) == (
        frozenset({alice.id}),
        "Quota exceeded (STORAGE)",
    )
    blob, parsed = await put(store, make_message(n=12))
    assert await store.append(alice.id, "Archive", blob, parsed) is not None  # exactly the limit
    with pytest.raises(QuotaExceeded):
        await store.append(alice.id, "INBOX", blob, parsed)
    with pytest.raises(QuotaExceeded):
        await store.transfer(inbox.id, [1], archive.id, move=False)
    await store.transfer(inbox.id, [1], archive.id, move=True)  # a move within the account: allowed
    assert await store.quota_usage(alice.id) == 2 * size
    # The nearest unit wins: "sales" sets its own storage limit; the message limit still comes
    # from "staff". Bob, in "staff", keeps staff's.
    await store.set_unit_settings("sales", {QUOTA_BYTES.name: 10 * size})
    quota = await store.account_quota(alice.id)
    assert quota is not None
    assert quota.account_limits == QuotaLimits(10 * size, 100)
    bob_quota = await store.account_quota(bob.id)
    assert bob_quota is not None
    assert bob_quota.account_limits == QuotaLimits(2 * size, 100)
    await deliver(store, make_message(n=13), inbox.id)
    await store.set_unit_settings("staff", {QUOTA_MESSAGES.name: 3})
    with pytest.raises(QuotaExceeded) as refused:
        await deliver(store, make_message(n=14), inbox.id)
    assert refused.value.reason == "Quota exceeded (MESSAGE)"
    # Unset: unlimited again (no unit above sets one).
    await store.set_unit_settings("staff", {QUOTA_MESSAGES.name: None, QUOTA_BYTES.name: None})
    await store.set_unit_settings("sales", {QUOTA_BYTES.name: None})
    quota = await store.account_quota(alice.id)
    assert quota is not None
    assert quota.account_limits == QuotaLimits()
    await deliver(store, make_message(n=14), inbox.id, inbox.id)
    assert await store.quota_usage(alice.id) == 5 * size


async def test_an_accounts_own_quota_wins_over_its_units(store: Store) -> None:
    size = _size()
    alice = await make_account(store)
    bob = await make_account(store, "bob@example.org")
    inbox, inbox_b = await mailbox(store, alice), await mailbox(store, bob)
    # The root unit's quota: every account without a unit of its own inherits it.
    await store.set_unit_settings("root", {QUOTA_BYTES.name: size})
    await store.update_account("alice@example.org", quota_bytes=3 * size)  # her own: larger
    quota = await store.account_quota(alice.id)
    assert quota is not None
    assert quota.account_limits == QuotaLimits(3 * size, None)
    await deliver(store, make_message(n=10), inbox.id, inbox.id, inbox.id)
    with pytest.raises(QuotaExceeded):
        await deliver(store, make_message(n=11), inbox.id)
    # One delivery to both: bob (the root's limit, one message) fits, alice does not; only she is named.
    blob, parsed = await put(store, make_message(n=12))
    with pytest.raises(QuotaExceeded) as refused:
        await store.deliver(blob, parsed, [Target(inbox.id), Target(inbox_b.id)])
    assert refused.value.accounts == {alice.id}
    await store.deliver(blob, parsed, [Target(inbox_b.id)])
    with pytest.raises(QuotaExceeded) as refused:
        await deliver(store, make_message(n=13), inbox_b.id)
    assert refused.value.accounts == {bob.id}
    # Her own, smaller than the unit's: hers applies (0: nothing may be added, RFC 9208 §3.1.2).
    await store.set_unit_settings("root", {QUOTA_BYTES.name: 100 * size})
    await store.update_account("bob@example.org", quota_bytes=0)
    with pytest.raises(QuotaExceeded):
        await deliver(store, make_message(n=13), inbox_b.id)
    # Without her own, she follows the unit again.
    await store.update_account("alice@example.org", quota_bytes=None)
    quota = await store.account_quota(alice.id)
    assert quota is not None
    assert quota.account_limits == QuotaLimits(100 * size, None)
    await deliver(store, make_message(n=13), inbox.id)
    # The hidden owner of a domain's public mailboxes belongs to no unit: the root's limit is not its.
    shared = await store.add_shared_owner("example.org")
    shared_quota = await store.account_quota(shared.id)
    assert shared_quota is not None
    assert shared_quota.account_limits == QuotaLimits()
