"""The counts of an account's mailboxes as JMAP shows them (RFC 8621 section 2: totalEmails,
unreadEmails, totalThreads, unreadThreads). SQLAlchemy Core, both engines; one statement, so one
snapshot.

- An Email is a message of the account, however many memberships it has (a message copied twice
  into one mailbox is one Email there). It is unread when it has neither ``$seen`` nor ``$draft``,
  its keywords being ``AccountEmail``'s: seen when every membership is, a draft when any is.
  Messages flagged ``\\Deleted`` still count: they are in the mailbox until expunged.
- A message not yet threaded (the indexer threads a mailbox later: ``thread_now``) is a thread of
  its own (keyed by its negated id, which no thread id is), and counted in ``unthreaded``: a
  caller that wants the thread counts final threads those mailboxes first (threading changes no
  state, so counts shown before it would change later with no change reported).
- unreadThreads is the "quality implementation" RFC 8621 section 2 describes: the threads with an
  Email in the mailbox and an unread Email anywhere in the account, except that Emails only in the
  trash (the mailbox of special use ``\\Trash``) are ignored for the other mailboxes, and Emails
  not in the trash are ignored for the trash.

The cost is one pass over the account's memberships (an index range of each of its mailboxes)
grouped twice: what Mailbox/get pays for all of an account's mailboxes at once.
"""

from __future__ import annotations

from sqlalchemy import Connection, Text, and_, case, distinct, func, literal, or_, select

from pochta.store.account_state_model import MailboxCounts
from pochta.store.model import AccountId, MailboxId
from pochta.store.schema import mailboxes, membership, message_threads

__all__ = ["mailbox_counts"]

_TRASH = "\\Trash"  # RFC 6154 section 2; RFC 8621 section 2's role "trash"
_DRAFT = " \\Draft "  # a token of the space-separated flags, system flags in canonical case


def mailbox_counts(conn: Connection, account_id: AccountId) -> dict[MailboxId, MailboxCounts]:
    m, b, th = membership.c, mailboxes.c, message_threads.c
    spaced = literal(" ", Text) + m.flags + literal(" ", Text)
    held = (
        select(
            m.mailbox_id,
            m.message_id,
            case((m.seen, 1), else_=0).label("seen"),
            case((spaced.contains(_DRAFT, autoescape=True), 1), else_=0).label("draft"),
            case((b.special_use == _TRASH, 1), else_=0).label("trash"),
        )
        .join_from(membership, mailboxes, b.id == m.mailbox_id)
        .where(b.account_id == account_id)
        .cte("held")
    )
    h = held.c
    email = (
        select(
            h.message_id,
            func.coalesce(func.max(th.thread_id), -h.message_id).label("thread"),
            case((func.max(th.thread_id).is_(None), 1), else_=0).label("unthreaded"),
            case(
                (and_(func.min(h.seen) == 0, func.max(h.draft) == 0), 1),
                else_=0,
            ).label("unread"),
            func.max(h.trash).label("in_trash"),
            func.min(h.trash).label("only_trash"),
        )
        .select_from(held)
        .outerjoin(message_threads, and_(th.account_id == account_id, th.message_id == h.message_id))
        .group_by(h.message_id)
        .cte("email")
    )
    e = email.c
    unread_elsewhere = (
        select(e.thread).distinct().where(e.unread == 1, e.only_trash == 0).cte("unread_elsewhere")
    )
    unread_in_trash = select(e.thread).distinct().where(e.unread == 1, e.in_trash == 1).cte("unread_in_trash")
    o, t = unread_elsewhere.c, unread_in_trash.c
    unread_thread = case(
        (
            or_(
                and_(h.trash == 1, t.thread.is_not(None)),
                and_(h.trash == 0, o.thread.is_not(None)),
            ),
            e.thread,
        ),
    )
    rows = conn.execute(
        select(
            h.mailbox_id,
            func.count(distinct(h.message_id)).label("total_emails"),
            func.count(distinct(case((e.unread == 1, h.message_id)))).label("unread_emails"),
            func.count(distinct(e.thread)).label("total_threads"),
            func.count(distinct(unread_thread)).label("unread_threads"),
            func.count(distinct(case((e.unthreaded == 1, h.message_id)))).label("unthreaded"),
        )
        .select_from(held)
        .join(email, e.message_id == h.message_id)
        .outerjoin(unread_elsewhere, o.thread == e.thread)
        .outerjoin(unread_in_trash, t.thread == e.thread)
        .group_by(h.mailbox_id)
    )
    return {
        MailboxId(int(row.mailbox_id)): MailboxCounts(
            int(row.total_emails),
            int(row.unread_emails),
            int(row.total_threads),
            int(row.unread_threads),
            int(row.unthreaded),
        )
        for row in rows
    }
