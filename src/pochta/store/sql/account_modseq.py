"""The account's MODSEQ counter (``account_modseq``) for the writes outside the mail core's hot path
(``store/sql/mail_writes`` takes its values through ``MailOps.bump_mailbox``): mailbox creation,
renaming, subscription, ACL changes and deletion, which JMAP's Mailbox/changes reports
(``mailboxes.created_modseq``, ``meta_modseq``, ``mailbox_tombstones``). SQLAlchemy Core, both
engines. On PostgreSQL the UPDATE locks the counter row until commit, as the mail writes' do."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, func, insert, select, update

from pochta.store.model import AccountId, MailboxId, ModSeq
from pochta.store.schema import account_modseq, mailbox_tombstones, mailboxes

__all__ = ["mark_mailboxes_changed", "take_modseq", "tombstone_mailbox"]


def take_modseq(conn: Connection, account_id: AccountId) -> ModSeq:
    """The account's next MODSEQ, taken (its row made when missing: an account made after revision
    0037 has none before its first write)."""
    row = conn.execute(
        update(account_modseq)
        .where(account_modseq.c.account_id == account_id)
        .values(modseq=account_modseq.c.modseq + 1)
        .returning(account_modseq.c.modseq)
    ).first()
    if row is not None:
        return ModSeq(int(row[0]))
    highest = conn.execute(
        select(func.coalesce(func.max(mailboxes.c.highestmodseq), 0)).where(mailboxes.c.account_id == account_id)
    ).scalar_one()
    modseq = ModSeq(int(highest) + 1)
    conn.execute(insert(account_modseq).values(account_id=account_id, modseq=modseq, pruned=0))
    return modseq


def mark_mailboxes_changed(conn: Connection, account_id: AccountId, mailbox_ids: Iterable[MailboxId]) -> ModSeq:
    """Name, parent, subscription, role or rights of these mailboxes of the account changed: one
    new MODSEQ as their ``meta_modseq``."""
    modseq = take_modseq(conn, account_id)
    ids = sorted(set(mailbox_ids))
    if ids:
        conn.execute(update(mailboxes).where(mailboxes.c.id.in_(ids)).values(meta_modseq=modseq))
    return modseq


def tombstone_mailbox(
    conn: Connection, account_id: AccountId, mailbox_id: MailboxId, created_modseq: ModSeq, modseq: ModSeq
) -> None:
    """A deleted mailbox's record for Mailbox/changes (mailbox ids are never reused)."""
    conn.execute(
        insert(mailbox_tombstones).values(
            account_id=account_id, mailbox_id=mailbox_id, created_modseq=created_modseq, modseq=modseq
        )
    )
