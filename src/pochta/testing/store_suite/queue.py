"""Conformance tests for the outbound queue: enqueue, leases, attempts, administration."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from pochta.store.api import NotFound, Store
from pochta.store.model import BlobRef
from pochta.store.queue_model import NewQueueEntry, NewQueueRecipient, RecipientOutcome
from pochta.testing.store_suite.support import StoreBackdoor, StoreFactory, make_message, put

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _entry(
    blob: BlobRef, *addresses: str, sender: str = "alice@example.org", **extra: object
) -> NewQueueEntry:
    recipients = tuple(NewQueueRecipient(a) for a in addresses) or (NewQueueRecipient("bob@remote.example"),)
    values: dict[str, object] = {
        "blob": blob,
        "sender": sender,
        "recipients": recipients,
        "origin": "submission",
        "arrival": T0,
    }
    values.update(extra)
    return NewQueueEntry(**values)  # type: ignore[arg-type]


async def test_queue_enqueue_and_read_back(store: Store) -> None:
    blob, _ = await put(store, make_message("queued"))
    recipients = (
        NewQueueRecipient(
            "bob@remote.example", notify=("FAILURE", "DELAY"), orcpt=("rfc822", "bob@remote.example")
        ),
        NewQueueRecipient("carol@other.example"),
    )
    queue_id = await store.enqueue(
        NewQueueEntry(
            blob=blob,
            sender="alice@example.org",
            recipients=recipients,
            origin="submission",
            arrival=T0,
            envid="id+1",
            ret="HDRS",
            body="8BITMIME",
        )
    )
    entry = await store.queue_entry(queue_id)
    assert entry is not None
    assert (entry.blob, entry.sender, entry.envid, entry.ret, entry.body) == (
        blob,
        "alice@example.org",
        "id+1",
        "HDRS",
        "8BITMIME",
    )
    assert entry.arrival == T0
    assert entry.next_attempt == T0
    assert entry.lease_owner is None
    assert [r.address for r in entry.recipients] == ["bob@remote.example", "carol@other.example"]
    first = entry.recipients[0]
    assert first.notify == ("FAILURE", "DELAY")
    assert first.orcpt == ("rfc822", "bob@remote.example")
    assert first.status == "pending"
    assert first.attempts == 0
    assert not first.delay_notified
    assert entry.recipients[1].notify == ()
    assert entry.recipients[1].orcpt is None
    assert [e.id for e in await store.queue_entries()] == [queue_id]
    assert queue_id == queue_id.upper()  # the id the SMTP reply names: 16 hex digits
    assert len(queue_id) == 16
    assert await store.queue_entry("0" * 16) is None
    assert await store.queue_next_due() == T0


async def test_queue_needs_a_stored_blob_and_recipients(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.enqueue(_entry(BlobRef("0" * 64, 10)))
    blob, _ = await put(store, make_message("x"))
    with pytest.raises(ValueError, match="at least one recipient"):
        await store.enqueue(NewQueueEntry(blob=blob, sender="", recipients=(), origin="dsn", arrival=T0))
    assert await store.queue_entries() == []


async def test_queue_lease_is_exclusive_until_it_expires(store: Store) -> None:
    blob, _ = await put(store, make_message("lease"))
    queue_id = await store.enqueue(_entry(blob))
    assert await store.claim_queue("w1", T0 - timedelta(seconds=1), 60, 10) == []  # not due yet
    claimed = await store.claim_queue("w1", T0, 60, 10)
    assert [e.id for e in claimed] == [queue_id]
    assert claimed[0].lease_owner == "w1"
    assert await store.claim_queue("w2", T0 + timedelta(seconds=30), 60, 10) == []
    assert await store.renew_queue_leases("w1", [queue_id], T0 + timedelta(seconds=120)) == 1
    assert await store.renew_queue_leases("w2", [queue_id], T0 + timedelta(seconds=999)) == 0
    assert await store.claim_queue("w2", T0 + timedelta(seconds=90), 60, 10) == []
    # The lease expired (a crashed worker): another may take it, and the old owner may not record.
    taken = await store.claim_queue("w2", T0 + timedelta(seconds=121), 60, 10)
    assert [e.id for e in taken] == [queue_id]
    rid = taken[0].recipients[0].id
    delivered = [RecipientOutcome(rid, "delivered", reply="250 2.0.0 ok")]
    assert not await store.finish_attempt(queue_id, "w1", delivered, now=T0)
    assert (await store.queue_entry(queue_id)) is not None
    assert await store.finish_attempt(queue_id, "w2", delivered, now=T0)
    assert await store.queue_entry(queue_id) is None  # nothing pending: gone
    assert await store.queue_next_due() is None


async def test_queue_deferral_failure_and_notices(store: Store) -> None:
    blob, _ = await put(store, make_message("defer"))
    queue_id = await store.enqueue(_entry(blob, "a@remote.example", "b@remote.example"))
    [entry] = await store.claim_queue("w", T0, 60, 10)
    a, b = entry.recipients
    later = T0 + timedelta(minutes=5)
    dsn_blob, _ = await put(store, make_message("a notice"))
    notice = NewQueueEntry(
        blob=dsn_blob,
        sender="",
        recipients=(NewQueueRecipient("alice@example.org"),),
        origin="dsn",
        arrival=T0,
    )
    outcomes = [
        RecipientOutcome(a.id, "failed", reply="550 5.1.1 no such user", remote_mta="mx.remote.example"),
        RecipientOutcome(b.id, "pending", reply="451 4.3.0 later", next_attempt=later, delay_notified=True),
    ]
    assert await store.finish_attempt(queue_id, "w", outcomes, [notice], now=T0)
    entry_after = await store.queue_entry(queue_id)
    assert entry_after is not None
    assert entry_after.lease_owner is None
    assert entry_after.next_attempt == later
    failed, pending = entry_after.recipients
    assert (failed.status, failed.attempts, failed.last_reply, failed.remote_mta) == (
        "failed",
        1,
        "550 5.1.1 no such user",
        "mx.remote.example",
    )
    assert failed.last_attempt == T0
    assert (pending.status, pending.next_attempt, pending.delay_notified) == ("pending", later, True)
    assert entry_after.pending == (pending,)
    entries = await store.queue_entries()
    assert [e.origin for e in entries] == ["submission", "dsn"]
    assert entries[1].sender == ""
    assert entries[1].blob == dsn_blob
    # Not due again before its time (the notice is due now).
    claimed = await store.claim_queue("w", T0 + timedelta(minutes=1), 60, 10)
    assert [e.origin for e in claimed] == ["dsn"]
    assert await store.claim_queue("w", later, 60, 10) != []


async def test_queue_retry_and_delete(store: Store) -> None:
    blob, _ = await put(store, make_message("admin"))
    first = await store.enqueue(_entry(blob, next_attempt=T0 + timedelta(hours=1)))
    second = await store.enqueue(_entry(blob, next_attempt=T0 + timedelta(hours=2)))
    assert await store.claim_queue("w", T0, 60, 10) == []
    assert await store.retry_queue(first, T0) == 1
    assert [e.id for e in await store.claim_queue("w", T0, 60, 10)] == [first]
    assert await store.retry_queue(None, T0) == 2
    assert [e.id for e in await store.claim_queue("w2", T0, 60, 10)] == [second]  # first is leased
    assert await store.delete_queue_entry(second)
    assert not await store.delete_queue_entry(second)
    assert [e.id for e in await store.queue_entries()] == [first]


async def test_queue_claims_across_handles_are_disjoint(store_factory: StoreFactory) -> None:
    store = await store_factory()
    other = await store_factory()
    blob, _ = await put(store, make_message("many"))
    ids = {await store.enqueue(_entry(blob, f"r{i}@remote.example")) for i in range(30)}
    claimed: list[str] = []

    async def worker(handle: Store, owner: str) -> None:
        while True:
            batch = await handle.claim_queue(owner, T0, 60, 3)
            if not batch:
                return
            claimed.extend(e.id for e in batch)
            await asyncio.sleep(0)

    await asyncio.gather(worker(store, "a"), worker(other, "b"), worker(store, "c"))
    assert sorted(claimed) == sorted(ids)  # each exactly once


async def test_queued_blobs_are_referenced(store: Store, backdoor: StoreBackdoor) -> None:
    blob, _ = await put(store, make_message("kept"))
    await store.enqueue(_entry(blob))
    report = await store.verify()
    assert blob.sha256 not in report.unreferenced_blobs
    assert not report.damaged
    rebuilt = await store.reconstruct()
    assert blob.sha256 not in rebuilt.unreferenced_blobs
    assert blob.sha256 in backdoor.blob_files(store)
