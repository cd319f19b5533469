"""JMAP Email/query's common query in SQL (RFC 8621 section 4.4): the Emails of one mailbox by
internal date, one page, read from ``ix_membership_received`` (revision 0039) instead of sorting
the mailbox. SQLAlchemy Core, both engines, one read transaction: the account's state comes from
the same snapshot as the page, so the queryState is exactly the page's.

An Email is a message: a mailbox holding the same message twice (two UIDs) gives it once, at its
first place in the order (``_distinct_page`` skips the repeats). Ties of internal date are broken
by message id ascending, as the general query does (``server/jmap/email_query``).
"""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from pochta.store.account_state_model import EmailPage
from pochta.store.model import AccountId, MailboxId, MessageId
from pochta.store.schema import mailboxes, membership
from pochta.store.sql.account_changes import account_state

__all__ = ["emails_by_received"]

_BATCH_MIN = 100


def emails_by_received(
    conn: Connection,
    account_id: AccountId,
    mailbox_id: MailboxId,
    *,
    descending: bool,
    position: int,
    limit: int,
    count: bool,
) -> EmailPage:
    state = account_state(conn, account_id)
    b, m = mailboxes.c, membership.c
    owned = conn.execute(select(b.id).where(b.id == mailbox_id, b.account_id == account_id)).first()
    if owned is None:
        return EmailPage(state, (), 0 if count else None)  # not the account's: nothing in it
    order = m.internal_date.desc() if descending else m.internal_date.asc()
    statement = select(m.message_id).where(m.mailbox_id == mailbox_id).order_by(order, m.message_id)
    want = position + limit
    ids: list[MessageId] = []
    seen: set[int] = set()
    offset, batch = 0, max(want, _BATCH_MIN)
    while len(ids) < want:
        rows = conn.execute(statement.offset(offset).limit(batch)).scalars().all()
        for message_id in rows:
            if message_id not in seen:
                seen.add(message_id)
                ids.append(MessageId(int(message_id)))
        if len(rows) < batch:
            break
        offset += batch
    total = None
    if count:
        total = int(
            conn.execute(
                select(func.count(func.distinct(m.message_id))).where(m.mailbox_id == mailbox_id)
            ).scalar_one()
        )
    return EmailPage(state, tuple(ids[position:want]), total)
