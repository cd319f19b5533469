"""The outbound queue's engine-specific steps on PostgreSQL; the rest is ``sqlite/queue``'s
SQLAlchemy Core (rows, outcomes, administration), which runs unchanged here.

- **Blobs are ``PgBlobs``'.** A small queued message (``NewBlob``) goes into ``inline_blobs`` in
  the write that queues it, as on SQLite; a blob named by digest gets a reference that keeps
  collectors of every node from it until the row commits (``PgBlobs.ensure_stored``); NotFound
  when it is stored nowhere.
- **Claims hold across nodes.** The lease is in the row (``lease_owner``, ``lease_until``), as on
  SQLite. ``claim`` is one ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)`` run at
  READ COMMITTED (``PgStore.run_write_committed``): two nodes claiming at once lock disjoint due
  rows, each skipping what the other is taking, instead of one waiting for the other or, at
  SERIALIZABLE, both scanning the same rows and one being rolled back. The lease condition is
  rechecked on the row's newest version after the lock (READ COMMITTED's re-evaluation), so a row
  another node leased meanwhile is not taken. ``finish`` and ``renew`` stay SERIALIZABLE: a claim
  that takes over an expired lease while its old owner records an attempt makes that owner's
  transaction fail on the changed row, and its retry finds the lease gone (False, nothing recorded).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, func, select, update

from pochta.store.model import Change
from pochta.store.pg.blobs import PgBlobs
from pochta.store.queue_model import NewQueueEntry, QueueEntry, QueueId, RecipientOutcome, epoch, from_epoch
from pochta.store.schema import queue_messages
from pochta.store.sql import send_limits
from pochta.store.sqlite import queue

__all__ = ["claim", "enqueue", "finish", "next_due"]


def enqueue(conn: Connection, events: list[Change], blobs: PgBlobs, entry: NewQueueEntry) -> QueueId:
    del events  # the queue is not a mailbox: nothing for IMAP sessions to see
    if not entry.recipients:
        raise ValueError("a queued message needs at least one recipient")
    if entry.charge is not None:  # before the blob and any row, as on SQLite
        send_limits.charge(conn, entry.charge)
    blobs.ensure_stored(conn, entry.blob)
    return queue.insert_entry(conn, entry)


def claim(
    conn: Connection, events: list[Change], owner: str, now: datetime, lease_seconds: float, limit: int
) -> list[QueueEntry]:
    """Leases up to ``limit`` due messages whose lease is free or expired; returns them. At READ
    COMMITTED (see the module's docstring)."""
    del events
    now_s = epoch(now)
    free = (queue_messages.c.next_attempt <= now_s, queue_messages.c.lease_until <= now_s)
    due = (
        select(queue_messages.c.id)
        .where(*free)
        .order_by(queue_messages.c.next_attempt, queue_messages.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    until = now_s + max(1, int(lease_seconds))
    claimed = list(
        conn.execute(
            update(queue_messages)
            .where(queue_messages.c.id.in_(due), *free)
            .values(lease_owner=owner, lease_until=until)
            .returning(queue_messages.c.id)
        ).scalars()
    )
    if not claimed:
        return []
    rows = conn.execute(
        select(queue_messages).where(queue_messages.c.id.in_(claimed)).order_by(queue_messages.c.id)
    ).all()
    return queue.entries(conn, rows)


def finish(
    conn: Connection,
    events: list[Change],
    blobs: PgBlobs,
    queue_id: QueueId,
    owner: str,
    outcomes: Sequence[RecipientOutcome],
    notices: Sequence[NewQueueEntry],
    now: datetime,
) -> bool:
    """``sqlite/queue.finish`` with the notices' blobs stored by ``PgBlobs``: one attempt, its
    notices and the lease's release in one transaction; False (nothing recorded) when ``owner``
    lost the lease."""
    row_id = queue.record_outcomes(conn, queue_id, owner, outcomes, now)
    if row_id is None:
        return False
    for notice in notices:
        enqueue(conn, events, blobs, notice)
    queue.settle(conn, row_id)
    return True


def next_due(conn: Connection) -> datetime | None:
    """When the earliest queued message is due or its lease expires (PostgreSQL's GREATEST where
    SQLite has a two-argument max)."""
    later = func.greatest(queue_messages.c.next_attempt, queue_messages.c.lease_until)
    value = conn.execute(select(func.min(later))).scalar()
    return from_epoch(int(value)) if value is not None else None
