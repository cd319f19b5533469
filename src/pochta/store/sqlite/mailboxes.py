"""Each account's mailbox tree over a Connection: create, rename with children, delete, subscriptions.

Like ``sqlite/mail``, every function runs in a writer job or a reader thread, never on the loop.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, func, insert, or_, select, update

from pochta.store.api import AlreadyExists, NotFound
from pochta.store.model import (
    HIERARCHY_SEPARATOR,
    AccountId,
    Change,
    ChangeKind,
    MailboxId,
    MailboxInfo,
    Uid,
)
from pochta.store.schema import (
    expunge_horizon,
    expunged,
    mailboxes,
    membership,
    messages,
    meta,
    subscriptions,
)
from pochta.store.sql.account_modseq import mark_mailboxes_changed, take_modseq, tombstone_mailbox
from pochta.store.sqlite.mail import (
    adjust_quota,
    chunked,
    mailbox_info,
    record_emails,
    release_messages,
    require_account,
)
from pochta.store.sqlite.writer import driver_connection

# Mailbox trees (the MailStore's mailbox administration)


def new_uidvalidity(conn: Connection) -> int:
    """A UIDVALIDITY no mailbox had before (RFC 9051 §2.3.1.1): it must change when a name is reused.

    Seeded from the clock (so a store rebuilt from scratch does not repeat old values) and strictly
    increasing through a counter kept in ``meta``.
    """
    # Locked (PostgreSQL; SQLite has one writer): two creations at READ COMMITTED take turns.
    row = conn.execute(select(meta.c.value).where(meta.c.key == "last_uidvalidity").with_for_update()).first()
    last = int(row.value) if row is not None else 0
    value = max(last + 1, int(time.time()))
    if value >= 2**32:
        raise OverflowError("UIDVALIDITY space exhausted")
    if row is None:
        conn.execute(insert(meta).values(key="last_uidvalidity", value=str(value)))
    else:
        conn.execute(update(meta).where(meta.c.key == "last_uidvalidity").values(value=str(value)))
    return value


def insert_mailbox(
    conn: Connection,
    account_id: AccountId,
    name: str,
    special_use: str | None,
    subscribed: bool,
    created_modseq: int = 0,
) -> MailboxInfo:
    """``created_modseq``: the account MODSEQ taken for the creation (0: with the account itself)."""
    values = {
        "account_id": account_id,
        "name": name,
        "uidvalidity": new_uidvalidity(conn),
        "uidnext": 1,
        "highestmodseq": 1,  # RFC 7162 §3.1.1: mod-sequences are positive
        "special_use": special_use,
        "subscribed": subscribed,
        "messages": 0,
        "unseen": 0,
        "deleted": 0,
        "size": 0,
        "created_modseq": created_modseq,
        "meta_modseq": created_modseq,
    }
    mailbox_id = conn.execute(insert(mailboxes).values(values)).inserted_primary_key[0]  # type: ignore[index]
    return MailboxInfo(
        id=mailbox_id,
        account_id=account_id,
        name=name,
        uidvalidity=values["uidvalidity"],  # type: ignore[arg-type]
        uidnext=1,
        highestmodseq=1,
        special_use=special_use,
        subscribed=subscribed,
        messages=0,
        unseen=0,
        deleted=0,
        size=0,
    )


def _mailbox_by_name(conn: Connection, account_id: AccountId, name: str) -> Row[Any] | None:
    return conn.execute(
        select(mailboxes).where(mailboxes.c.account_id == account_id, mailboxes.c.name == name)
    ).first()


def list_mailboxes(conn: Connection, account_id: AccountId) -> list[MailboxInfo]:
    rows = conn.execute(
        select(mailboxes).where(mailboxes.c.account_id == account_id).order_by(mailboxes.c.name)
    )
    return [mailbox_info(row) for row in rows]


def get_mailbox(conn: Connection, account_id: AccountId, name: str) -> MailboxInfo | None:
    row = _mailbox_by_name(conn, account_id, name)
    return mailbox_info(row) if row is not None else None


def get_mailbox_by_id(conn: Connection, mailbox_id: MailboxId) -> MailboxInfo | None:
    row = conn.execute(select(mailboxes).where(mailboxes.c.id == mailbox_id)).first()
    return mailbox_info(row) if row is not None else None


_SQL_RECENT_FIRST = "SELECT first_recent_uid FROM mailboxes WHERE id = ?"
# The count (kept by triggers, revision 0012) is what remains at or above the new boundary.
_SQL_RECENT_TAKE = (
    "UPDATE mailboxes SET first_recent_uid = ?2, "
    "recent = (SELECT count(*) FROM membership WHERE mailbox_id = ?1 AND uid >= ?2) WHERE id = ?1"
)


def take_recent(conn: Connection, mailbox_id: MailboxId, before: Uid) -> Uid:
    """``Store.take_recent``: the boundary read and raised in the caller's write transaction (the
    one writer serialises sessions of every worker). Two statements on the driver: the first SELECT
    after new mail waits for this write."""
    raw = driver_connection(conn)
    row = raw.execute(_SQL_RECENT_FIRST, (mailbox_id,)).fetchone()
    if row is None:
        raise NotFound(f"no mailbox with id {mailbox_id}")
    first = Uid(row[0])
    if first < before:
        # RFC 3501 §2.3.2: "subsequent sessions will not see \\Recent set for this message".
        raw.execute(_SQL_RECENT_TAKE, (mailbox_id, before))
    return first


def create_mailbox(
    conn: Connection, events: list[Change], account_id: AccountId, name: str, special_use: str | None
) -> MailboxInfo:
    require_account(conn, account_id)
    # The account's counter first (its row lock, on PostgreSQL, orders the account's writes).
    modseq = take_modseq(conn, account_id)
    if _mailbox_by_name(conn, account_id, name) is not None:
        raise AlreadyExists(f"mailbox {name!r} already exists")
    # A name subscribed to while it did not exist is subscribed once it does.
    subscribed = (
        conn.execute(
            delete(subscriptions).where(
                subscriptions.c.account_id == account_id, subscriptions.c.name == name
            )
        ).rowcount
        > 0
    )
    # JMAP Mailbox/changes: created at the account's next MODSEQ.
    info = insert_mailbox(conn, account_id, name, special_use, subscribed, modseq)
    events.append(Change(ChangeKind.MAILBOX, account_id, info.id, info.highestmodseq))
    return info


def _subtree(conn: Connection, account_id: AccountId, name: str) -> list[Row[Any]]:
    """The mailbox and every mailbox below it, by name order."""
    prefix = name + HIERARCHY_SEPARATOR
    # Names below ``name`` sort in [prefix, prefix with the separator's successor): an index range.
    upper = name + chr(ord(HIERARCHY_SEPARATOR) + 1)
    return list(
        conn.execute(
            select(mailboxes)
            .where(
                mailboxes.c.account_id == account_id,
                or_(mailboxes.c.name == name, (mailboxes.c.name >= prefix) & (mailboxes.c.name < upper)),
            )
            .order_by(mailboxes.c.name)
        )
    )


def rename_mailbox(
    conn: Connection, events: list[Change], account_id: AccountId, old: str, new: str
) -> list[MailboxInfo]:
    modseq = take_modseq(conn, account_id)  # first: the counter before any other row
    rows = _subtree(conn, account_id, old)
    if not any(row.name == old for row in rows):
        raise NotFound(f"no mailbox {old!r}")
    if old == new:
        raise AlreadyExists(f"mailbox {new!r} already exists")
    renamed = {row.id: new + row.name[len(old) :] for row in rows}
    for names in chunked(sorted(renamed.values())):
        clash = conn.execute(
            select(mailboxes.c.name).where(
                mailboxes.c.account_id == account_id,
                mailboxes.c.name.in_(names),
                mailboxes.c.id.not_in(list(renamed)),
            )
        ).first()
        if clash is not None:
            raise AlreadyExists(f"mailbox {clash.name!r} already exists")
    # Two steps, because a new name may be an old name of the same subtree ("a" -> "a/a") and the
    # UNIQUE constraint is checked row by row. The names in between hold a control character, which
    # no mailbox name may (mail/names.py), and not NUL, which PostgreSQL's text refuses.
    stmt = update(mailboxes).where(mailboxes.c.id == bindparam("b_id"))
    conn.execute(stmt, [{"b_id": mid, "name": f"\x01renaming\x01{mid}"} for mid in renamed])
    conn.execute(stmt, [{"b_id": mid, "name": name} for mid, name in renamed.items()])
    mark_mailboxes_changed(conn, renamed, modseq)  # each one's name or parent changed
    result = []
    for row in rows:
        result.append(replace(mailbox_info(row), name=renamed[row.id]))
        events.append(Change(ChangeKind.MAILBOX, account_id, row.id, row.highestmodseq))
    return result


# Deletes mailbox rows with what hangs on them, in the caller's write: one form per engine.
DropMailboxes = Callable[[Connection, list[Change], Sequence[Row[Any]]], None]


def drop_mailboxes(conn: Connection, events: list[Change], rows: Sequence[Row[Any]]) -> None:
    """Delete mailboxes with their memberships: refcounts and quota follow, blobs are collected later;
    the account's records for JMAP: the mailbox's tombstone, its messages changed or destroyed."""
    for mailbox in rows:
        modseq = take_modseq(conn, mailbox.account_id)  # first: the counter before any other row
        usage = conn.execute(
            select(membership.c.message_id, func.count().label("n"), func.sum(messages.c.size).label("size"))
            .join_from(membership, messages, membership.c.message_id == messages.c.id)
            .where(membership.c.mailbox_id == mailbox.id)
            .group_by(membership.c.message_id)
        ).all()
        conn.execute(delete(membership).where(membership.c.mailbox_id == mailbox.id))
        conn.execute(delete(expunged).where(expunged.c.mailbox_id == mailbox.id))
        conn.execute(delete(expunge_horizon).where(expunge_horizon.c.mailbox_id == mailbox.id))
        conn.execute(delete(mailboxes).where(mailboxes.c.id == mailbox.id))
        adjust_quota(
            conn, mailbox.account_id, -sum(int(row.size) for row in usage), -sum(int(row.n) for row in usage)
        )
        record_emails(conn, mailbox.account_id, modseq, removed=[int(row.message_id) for row in usage])
        release_messages(conn, Counter({int(row.message_id): int(row.n) for row in usage}))
        tombstone_mailbox(conn, mailbox.account_id, mailbox.id, mailbox.created_modseq, modseq)
        events.append(Change(ChangeKind.MAILBOX, mailbox.account_id, mailbox.id, mailbox.highestmodseq))


def delete_mailbox(
    conn: Connection,
    events: list[Change],
    account_id: AccountId,
    name: str,
    drop: DropMailboxes = drop_mailboxes,
) -> None:
    """``drop``: the engine's form of ``drop_mailboxes`` (``pg/mail``'s on PostgreSQL)."""
    take_modseq(conn, account_id)  # first: the counter before any other row (``drop`` takes its own)
    row = _mailbox_by_name(conn, account_id, name)
    if row is None:
        raise NotFound(f"no mailbox {name!r}")
    drop(conn, events, [row])
    if row.subscribed:
        # RFC 9051 §6.3.10: the server SHOULD NOT remove a subscription because the mailbox went.
        where = (subscriptions.c.account_id == account_id, subscriptions.c.name == name)
        conn.execute(delete(subscriptions).where(*where))
        conn.execute(insert(subscriptions).values(account_id=account_id, name=name))


def set_subscribed(
    conn: Connection, events: list[Change], account_id: AccountId, name: str, subscribed: bool
) -> None:
    require_account(conn, account_id)
    modseq = take_modseq(conn, account_id)  # first: the counter before any other row
    row = _mailbox_by_name(conn, account_id, name)
    if row is not None:
        if bool(row.subscribed) != subscribed:
            conn.execute(update(mailboxes).where(mailboxes.c.id == row.id).values(subscribed=subscribed))
            mark_mailboxes_changed(conn, [row.id], modseq)  # JMAP Mailbox isSubscribed
            events.append(Change(ChangeKind.MAILBOX, account_id, row.id, row.highestmodseq))
        return
    where = (subscriptions.c.account_id == account_id, subscriptions.c.name == name)
    exists = conn.execute(select(subscriptions.c.name).where(*where)).first() is not None
    if subscribed and not exists:
        conn.execute(insert(subscriptions).values(account_id=account_id, name=name))
    elif not subscribed and exists:
        conn.execute(delete(subscriptions).where(*where))


def set_sort_order(
    conn: Connection, events: list[Change], account_id: AccountId, mailbox_id: MailboxId, sort_order: int
) -> None:
    """JMAP's Mailbox sortOrder (RFC 8621 section 2); a change moves the mailbox's meta MODSEQ, so
    Mailbox/changes reports it. NotFound when the account has no such mailbox."""
    require_account(conn, account_id)
    modseq = take_modseq(conn, account_id)  # first: the counter before any other row
    row = conn.execute(
        select(mailboxes.c.id, mailboxes.c.sort_order, mailboxes.c.highestmodseq).where(
            mailboxes.c.id == mailbox_id, mailboxes.c.account_id == account_id
        )
    ).first()
    if row is None:
        raise NotFound(f"no mailbox with id {mailbox_id}")
    if row.sort_order != sort_order:
        conn.execute(update(mailboxes).where(mailboxes.c.id == row.id).values(sort_order=sort_order))
        mark_mailboxes_changed(conn, [row.id], modseq)
        events.append(Change(ChangeKind.MAILBOX, account_id, row.id, row.highestmodseq))


def sort_orders(conn: Connection, account_id: AccountId) -> dict[MailboxId, int]:
    """The account's mailboxes whose sortOrder is not 0 (the default)."""
    rows = conn.execute(
        select(mailboxes.c.id, mailboxes.c.sort_order).where(
            mailboxes.c.account_id == account_id, mailboxes.c.sort_order != 0
        )
    )
    return {MailboxId(row.id): int(row.sort_order) for row in rows}


def list_subscriptions(conn: Connection, account_id: AccountId) -> list[str]:
    existing = conn.execute(
        select(mailboxes.c.name).where(mailboxes.c.account_id == account_id, mailboxes.c.subscribed)
    ).scalars()
    others = conn.execute(
        select(subscriptions.c.name).where(subscriptions.c.account_id == account_id)
    ).scalars()
    return sorted({*existing, *others})
