"""The outbound queue over a Connection: enqueue, lease, record attempts, administer.

Like the other ``sqlite_*`` modules, every function runs in a writer job or a reader thread. The
lease is what makes several workers (threads, processes) on one store attempt each message once at
a time: ``claim`` takes due, unleased rows with one conditional UPDATE per row inside the single
write transaction, and ``finish`` records the outcome only for the lease's owner.

Messages are named by their public id (``qid``, a ``QueueId`` string: the SMTP transaction's id);
the integer row id is internal (what recipients refer to).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, delete, func, insert, select, update

from pochta.store.blobs import BlobStore
from pochta.store.model import BlobRef, Change
from pochta.store.queue_model import (
    NewQueueEntry,
    QueuedRecipient,
    QueueEntry,
    QueueId,
    RecipientOutcome,
    epoch,
    from_epoch,
)
from pochta.store.schema import queue_messages, queue_recipients
from pochta.store.sql import send_limits
from pochta.store.sqlite import inline
from pochta.store.sqlite.writer import driver_connection


def enqueue(conn: Connection, events: list[Change], blobs: BlobStore, entry: NewQueueEntry) -> QueueId:
    del events  # the queue is not a mailbox: nothing for IMAP sessions to see
    if not entry.recipients:
        raise ValueError("a queued message needs at least one recipient")
    if entry.charge is not None:  # before any row: a refusal rolls back nothing of ours
        send_limits.charge(conn, entry.charge)
    # Stored (a NewBlob) or checked inside the write transaction, as deliver does: blob collection
    # removes blobs only inside one too, so the blob cannot vanish before this reference commits.
    inline.ensure_stored(driver_connection(conn), blobs, entry.blob)
    return insert_entry(conn, entry)


def insert_entry(conn: Connection, entry: NewQueueEntry) -> QueueId:
    """The rows of a queued message, once its blob is stored (each engine's ``enqueue``)."""
    due = epoch(entry.next_attempt or entry.arrival)
    inserted = conn.execute(
        insert(queue_messages).values(
            qid=entry.id,
            sha256=entry.blob.sha256,
            size=entry.blob.size,
            sender=entry.sender,
            envid=entry.envid,
            ret=entry.ret,
            body=entry.body,
            smtputf8=entry.smtputf8,
            requiretls=entry.requiretls,
            origin=entry.origin,
            arrival=epoch(entry.arrival),
            next_attempt=due,
            lease_owner=None,
            lease_until=0,
        )
    ).inserted_primary_key
    assert inserted is not None
    row_id = inserted[0]
    conn.execute(
        insert(queue_recipients),
        [
            {
                "queue_id": row_id,
                "address": r.address,
                "orcpt_type": r.orcpt[0] if r.orcpt else None,
                "orcpt": r.orcpt[1] if r.orcpt else None,
                "notify": ",".join(r.notify) if r.notify else None,
                "status": "pending",
                "attempts": 0,
                "next_attempt": due,
                "last_attempt": None,
                "last_reply": None,
                "remote_mta": None,
                "delay_notified": False,
            }
            for r in entry.recipients
        ],
    )
    return entry.id


def _recipient(row: Row[Any]) -> QueuedRecipient:
    return QueuedRecipient(
        id=row.id,
        address=row.address,
        notify=tuple(row.notify.split(",")) if row.notify else (),
        orcpt=(row.orcpt_type, row.orcpt) if row.orcpt_type is not None else None,
        status=row.status,
        attempts=row.attempts,
        next_attempt=from_epoch(row.next_attempt),
        last_attempt=from_epoch(row.last_attempt) if row.last_attempt is not None else None,
        last_reply=row.last_reply,
        remote_mta=row.remote_mta,
        delay_notified=bool(row.delay_notified),
    )


def entries(conn: Connection, rows: Sequence[Row[Any]]) -> list[QueueEntry]:
    ids = [row.id for row in rows]
    by_queue: dict[int, list[QueuedRecipient]] = {i: [] for i in ids}
    if ids:
        query = (
            select(queue_recipients)
            .where(queue_recipients.c.queue_id.in_(ids))
            .order_by(queue_recipients.c.queue_id, queue_recipients.c.id)
        )
        for row in conn.execute(query):
            by_queue[row.queue_id].append(_recipient(row))
    return [
        QueueEntry(
            id=row.qid,
            blob=BlobRef(row.sha256, row.size),
            sender=row.sender,
            envid=row.envid,
            ret=row.ret,
            body=row.body,
            smtputf8=bool(row.smtputf8),
            origin=row.origin,
            arrival=from_epoch(row.arrival),
            next_attempt=from_epoch(row.next_attempt),
            lease_owner=row.lease_owner,
            lease_until=from_epoch(row.lease_until) if row.lease_until else None,
            recipients=tuple(by_queue[row.id]),
            requiretls=bool(row.requiretls),
        )
        for row in rows
    ]


def list_entries(conn: Connection) -> list[QueueEntry]:
    rows = conn.execute(select(queue_messages).order_by(queue_messages.c.id)).all()
    return entries(conn, rows)


def get_entry(conn: Connection, queue_id: QueueId) -> QueueEntry | None:
    rows = conn.execute(select(queue_messages).where(queue_messages.c.qid == queue_id)).all()
    found = entries(conn, rows)
    return found[0] if found else None


def claim(
    conn: Connection, events: list[Change], owner: str, now: datetime, lease_seconds: float, limit: int
) -> list[QueueEntry]:
    """Leases up to ``limit`` due messages whose lease is free or expired; returns them."""
    del events
    now_s = epoch(now)
    candidates = conn.execute(
        select(queue_messages.c.id)
        .where(queue_messages.c.next_attempt <= now_s, queue_messages.c.lease_until <= now_s)
        .order_by(queue_messages.c.next_attempt, queue_messages.c.id)
        .limit(limit)
    ).scalars()
    until = now_s + max(1, int(lease_seconds))
    claimed: list[int] = []
    for queue_id in list(candidates):
        # Conditional: another process may have leased it since our SELECT (it committed before our
        # write transaction began, so the condition sees it).
        taken = conn.execute(
            update(queue_messages)
            .where(queue_messages.c.id == queue_id, queue_messages.c.lease_until <= now_s)
            .values(lease_owner=owner, lease_until=until)
        ).rowcount
        if taken:
            claimed.append(queue_id)
    rows = conn.execute(
        select(queue_messages).where(queue_messages.c.id.in_(claimed)).order_by(queue_messages.c.id)
    ).all()
    return entries(conn, rows)


def renew(
    conn: Connection, events: list[Change], owner: str, queue_ids: Sequence[QueueId], until: datetime
) -> int:
    """Extends the leases this owner still holds; returns how many it holds."""
    del events
    if not queue_ids:
        return 0
    result = conn.execute(
        update(queue_messages)
        .where(queue_messages.c.qid.in_(list(queue_ids)), queue_messages.c.lease_owner == owner)
        .values(lease_until=epoch(until))
    )
    return int(result.rowcount)


def finish(
    conn: Connection,
    events: list[Change],
    blobs: BlobStore,
    queue_id: QueueId,
    owner: str,
    outcomes: Sequence[RecipientOutcome],
    notices: Sequence[NewQueueEntry],
    now: datetime,
) -> bool:
    """Records one attempt and releases the lease, with the notices (DSNs) it caused, atomically.

    Returns False (and records nothing) when ``owner`` no longer holds the lease. The message row goes
    when no recipient is pending any more.
    """
    row_id = record_outcomes(conn, queue_id, owner, outcomes, now)
    if row_id is None:
        return False
    for notice in notices:
        enqueue(conn, events, blobs, notice)
    settle(conn, row_id)
    return True


def record_outcomes(
    conn: Connection, queue_id: QueueId, owner: str, outcomes: Sequence[RecipientOutcome], now: datetime
) -> int | None:
    """The recipients' outcomes of one attempt, when ``owner`` holds the lease: the message's row
    id (``settle`` it once the notices are queued), else None and nothing recorded."""
    held = conn.execute(
        select(queue_messages.c.id).where(
            queue_messages.c.qid == queue_id, queue_messages.c.lease_owner == owner
        )
    ).scalar()
    if held is None:
        return None
    row_id = int(held)
    for outcome in outcomes:
        values: dict[str, Any] = {
            "status": outcome.status,
            "attempts": queue_recipients.c.attempts + 1,
        }
        if outcome.reply is not None:
            values["last_reply"] = outcome.reply
            values["last_attempt"] = epoch(now)
        if outcome.remote_mta is not None:
            values["remote_mta"] = outcome.remote_mta
        if outcome.next_attempt is not None:
            values["next_attempt"] = epoch(outcome.next_attempt)
        if outcome.delay_notified:
            values["delay_notified"] = True
        conn.execute(
            update(queue_recipients)
            .where(queue_recipients.c.id == outcome.recipient_id, queue_recipients.c.queue_id == row_id)
            .values(**values)
        )
    return row_id


def settle(conn: Connection, queue_id: int) -> None:
    """Releases the lease; drops the row when nothing is pending, else moves its next attempt."""
    due = conn.execute(
        select(func.min(queue_recipients.c.next_attempt)).where(
            queue_recipients.c.queue_id == queue_id, queue_recipients.c.status == "pending"
        )
    ).scalar()
    if due is None:
        conn.execute(delete(queue_recipients).where(queue_recipients.c.queue_id == queue_id))
        conn.execute(delete(queue_messages).where(queue_messages.c.id == queue_id))
        return
    conn.execute(
        update(queue_messages)
        .where(queue_messages.c.id == queue_id)
        .values(next_attempt=due, lease_owner=None, lease_until=0)
    )


def release(conn: Connection, events: list[Change], owner: str, queue_id: QueueId) -> None:
    """Gives a lease back without recording an attempt (shutdown in the middle of one)."""
    del events
    conn.execute(
        update(queue_messages)
        .where(queue_messages.c.qid == queue_id, queue_messages.c.lease_owner == owner)
        .values(lease_owner=None, lease_until=0)
    )


def retry(conn: Connection, events: list[Change], queue_id: QueueId | None, now: datetime) -> int:
    """Makes pending recipients due now (one message, or all); returns the messages touched."""
    del events
    now_s = epoch(now)
    rcpt = update(queue_recipients).where(queue_recipients.c.status == "pending")
    msgs = update(queue_messages)
    if queue_id is not None:
        rcpt = rcpt.where(queue_recipients.c.queue_id.in_(_row_id(queue_id)))
        msgs = msgs.where(queue_messages.c.qid == queue_id)
    conn.execute(rcpt.values(next_attempt=now_s))
    return int(conn.execute(msgs.values(next_attempt=now_s)).rowcount)


def remove(conn: Connection, events: list[Change], queue_id: QueueId) -> bool:
    """Deletes a queued message without any notice (the administrator's choice)."""
    del events
    conn.execute(delete(queue_recipients).where(queue_recipients.c.queue_id.in_(_row_id(queue_id))))
    return bool(conn.execute(delete(queue_messages).where(queue_messages.c.qid == queue_id)).rowcount)


def _row_id(queue_id: QueueId) -> Select[tuple[int]]:
    """The internal row id of a message named by its public id, as a subquery."""
    return select(queue_messages.c.id).where(queue_messages.c.qid == queue_id)


def next_due(conn: Connection) -> datetime | None:
    """When the earliest queued message is due (ignoring leases: a lease expiring also wakes a worker
    that looks at this time, which is what a crashed worker's messages need)."""
    later = func.max(queue_messages.c.next_attempt, queue_messages.c.lease_until)  # SQLite scalar max
    value = conn.execute(select(func.min(later))).scalar()
    return from_epoch(int(value)) if value is not None else None


def referenced_blobs(conn: Connection) -> set[str]:
    return set(conn.execute(select(queue_messages.c.sha256)).scalars())
