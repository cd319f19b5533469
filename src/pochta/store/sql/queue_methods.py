"""The outbound-queue half of ``SqliteStore``: each method one read or one write job over the
functions of ``sqlite/queue``.

A mixin, as ``sql/directory_methods`` is, so that ``sqlite.py`` keeps the store's plumbing and
its mail side; ``SqliteStore`` provides the jobs and the blob store that ``_Jobs`` names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol, TypeVar

from sqlalchemy import Connection

from pochta.store.blobs import BlobStore
from pochta.store.model import Change
from pochta.store.queue_model import NewQueueEntry, QueueEntry, QueueId, RecipientOutcome
from pochta.store.sqlite import queue

T = TypeVar("T")


class _Jobs(Protocol):
    async def run_read(self, fn: Callable[[Connection], T]) -> T: ...
    async def run_write(self, fn: Callable[[Connection, list[Change]], T]) -> T: ...


class _BlobJobs(_Jobs, Protocol):
    # Only the writes that store a queued message's blob need SQLite's blob files (PostgreSQL's
    # store overrides them: pg/queue_methods).
    blobs: BlobStore


class QueueMethods:
    async def enqueue(self: _BlobJobs, entry: NewQueueEntry) -> QueueId:
        return await self.run_write(lambda c, e: queue.enqueue(c, e, self.blobs, entry))

    async def claim_queue(
        self: _Jobs, owner: str, now: datetime, lease_seconds: float, limit: int
    ) -> list[QueueEntry]:
        return await self.run_write(lambda c, e: queue.claim(c, e, owner, now, lease_seconds, limit))

    async def renew_queue_leases(
        self: _Jobs, owner: str, queue_ids: Sequence[QueueId], until: datetime
    ) -> int:
        ids = list(queue_ids)
        return await self.run_write(lambda c, e: queue.renew(c, e, owner, ids, until))

    async def finish_attempt(
        self: _BlobJobs,
        queue_id: QueueId,
        owner: str,
        outcomes: Sequence[RecipientOutcome],
        notices: Sequence[NewQueueEntry] = (),
        *,
        now: datetime,
    ) -> bool:
        return await self.run_write(
            lambda c, e: queue.finish(c, e, self.blobs, queue_id, owner, outcomes, notices, now)
        )

    async def release_queue_lease(self: _Jobs, owner: str, queue_id: QueueId) -> None:
        await self.run_write(lambda c, e: queue.release(c, e, owner, queue_id))

    async def queue_entries(self: _Jobs) -> list[QueueEntry]:
        return await self.run_read(queue.list_entries)

    async def queue_entry(self: _Jobs, queue_id: QueueId) -> QueueEntry | None:
        return await self.run_read(lambda c: queue.get_entry(c, queue_id))

    async def retry_queue(self: _Jobs, queue_id: QueueId | None, now: datetime) -> int:
        return await self.run_write(lambda c, e: queue.retry(c, e, queue_id, now))

    async def delete_queue_entry(self: _Jobs, queue_id: QueueId) -> bool:
        return await self.run_write(lambda c, e: queue.remove(c, e, queue_id))

    async def queue_next_due(self: _Jobs) -> datetime | None:
        return await self.run_read(queue.next_due)
