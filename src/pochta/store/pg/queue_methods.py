"""The outbound queue on ``PgStore``: ``sql/queue_methods``'s jobs, with the steps that differ on
PostgreSQL (``pg/queue``: blobs by ``PgBlobs``, claims with ``FOR UPDATE SKIP LOCKED`` at READ
COMMITTED, GREATEST)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol, TypeVar

from sqlalchemy import Connection

from pochta.store.model import Change
from pochta.store.pg import queue as pg_queue
from pochta.store.pg.blobs import PgBlobs
from pochta.store.queue_model import NewQueueEntry, QueueEntry, QueueId, RecipientOutcome
from pochta.store.sql.queue_methods import QueueMethods

__all__ = ["PgQueueMethods"]

T = TypeVar("T")


class _Jobs(Protocol):
    blobs: PgBlobs

    async def run_read(self, fn: Callable[[Connection], T]) -> T: ...
    async def run_write(self, fn: Callable[[Connection, list[Change]], T]) -> T: ...
    async def run_write_committed(self, fn: Callable[[Connection, list[Change]], T]) -> T: ...


class PgQueueMethods(QueueMethods):
    async def enqueue(self: _Jobs, entry: NewQueueEntry) -> QueueId:
        return await self.run_write(lambda c, e: pg_queue.enqueue(c, e, self.blobs, entry))

    async def claim_queue(
        self: _Jobs, owner: str, now: datetime, lease_seconds: float, limit: int
    ) -> list[QueueEntry]:
        return await self.run_write_committed(
            lambda c, e: pg_queue.claim(c, e, owner, now, lease_seconds, limit)
        )

    async def finish_attempt(
        self: _Jobs,
        queue_id: QueueId,
        owner: str,
        outcomes: Sequence[RecipientOutcome],
        notices: Sequence[NewQueueEntry] = (),
        *,
        now: datetime,
    ) -> bool:
        return await self.run_write(
            lambda c, e: pg_queue.finish(c, e, self.blobs, queue_id, owner, outcomes, notices, now)
        )

    async def queue_next_due(self: _Jobs) -> datetime | None:
        return await self.run_read(pg_queue.next_due)
