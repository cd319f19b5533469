"""Conformance tests for what Sieve at delivery remembers: vacation replies once per period
(RFC 5230 §4.2), the duplicate tracking list (RFC 7352 §3), script errors, and pruning."""

from __future__ import annotations

from pochta.store.api import Store
from pochta.testing.store_suite.support import make_account

__all__ = [
    "test_sieve_duplicates_expire_and_last_moves_the_expiry",
    "test_sieve_errors_newest_kept_and_pruned",
    "test_sieve_vacation_once_per_period",
]

DAY = 86400


async def test_sieve_vacation_once_per_period(store: Store) -> None:
    alice = await make_account(store)
    bob = await make_account(store, "bob@example.org")
    assert await store.sieve_vacation_due(alice.id, "k", 1000, DAY)
    assert not await store.sieve_vacation_due(alice.id, "k", 1000 + DAY - 1, DAY)
    assert await store.sieve_vacation_due(bob.id, "k", 1000, DAY)  # per account
    assert await store.sieve_vacation_due(alice.id, "other", 1000, DAY)  # per key
    assert await store.sieve_vacation_due(alice.id, "k", 1000 + DAY, DAY)  # the period is over
    assert not await store.sieve_vacation_due(alice.id, "k", 1000 + DAY + 5, DAY)
    # Pruning takes what expired, nothing else.
    assert await store.prune_sieve_state(1000 + DAY, 30 * DAY) == 2  # bob's and alice's "other"
    assert not await store.sieve_vacation_due(alice.id, "k", 1000 + DAY + 6, DAY)


async def test_sieve_duplicates_expire_and_last_moves_the_expiry(store: Store) -> None:
    alice = await make_account(store)
    assert not await store.sieve_duplicate_seen(alice.id, "id1", 100)
    await store.sieve_track_duplicates(alice.id, [("id1", 50, False), ("id2", 50, True)], 100)
    assert await store.sieve_duplicate_seen(alice.id, "id1", 149)
    assert not await store.sieve_duplicate_seen(alice.id, "id1", 150)
    # RFC 7352 §3.3: a second sight moves the expiry only with :last.
    await store.sieve_track_duplicates(alice.id, [("id1", 50, False), ("id2", 50, True)], 140)
    assert not await store.sieve_duplicate_seen(alice.id, "id1", 155)
    assert await store.sieve_duplicate_seen(alice.id, "id2", 185)
    assert await store.prune_sieve_state(200, DAY) == 2
    assert not await store.sieve_duplicate_seen(alice.id, "id2", 185)


async def test_sieve_errors_newest_kept_and_pruned(store: Store) -> None:
    alice = await make_account(store)
    bob = await make_account(store, "bob@example.org")
    for n in range(105):
        await store.add_sieve_error(alice.id, 1000 + n, "main", f"error {n}")
    await store.add_sieve_error(bob.id, 5000, "before:spam", "boom")
    errors = await store.sieve_errors(alice.id)
    assert len(errors) == 100
    assert (errors[0].error, errors[-1].error) == ("error 5", "error 104")
    assert [(e.script, e.error, e.at) for e in await store.sieve_errors(bob.id)] == [
        ("before:spam", "boom", 5000)
    ]
    assert await store.prune_sieve_state(1100, 50) == 46  # at 1050 or before: errors 5 to 50
    assert len(await store.sieve_errors(alice.id)) == 54
    assert len(await store.sieve_errors(bob.id)) == 1
