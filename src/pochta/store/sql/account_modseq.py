"""The account's MODSEQ counter (``account_modseq``) for the writes outside the mail core's hot path
(``store/sql/mail_writes`` takes its values through ``MailOps.bump_mailbox``): mailbox creation,
renaming, subscription, ACL changes and deletion, which JMAP's Mailbox/changes reports
(``mailboxes.created_modseq``, ``meta_modseq``, ``mailbox_tombstones``). SQLAlchemy Core, both
engines. On PostgreSQL the UPDATE locks the counter row until commit, as the mail writes' do: each
of these writes takes its value first of all and runs at READ COMMITTED (``_run_mail_write``), so
that it waits for the account's mail writes instead of aborting on them (serializable, a folder
created while mail arrived ran out of retries)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, case, delete, func, insert, select, update

from pochta.store.model import AccountId, MailboxId, ModSeq
from pochta.store.schema import account_emails, account_modseq, mailbox_tombstones, mailboxes, membership
from pochta.store.sql import upsert

__all__ = ["mark_mailboxes_changed", "recount_account_state", "take_modseq", "tombstone_mailbox"]


def take_modseq(conn: Connection, account_id: AccountId) -> ModSeq:
    """The account's next MODSEQ, taken (its row made when missing: an account made after revision
    0038 has none before its first write)."""
    row = conn.execute(
        update(account_modseq)
        .where(account_modseq.c.account_id == account_id)
        .values(modseq=account_modseq.c.modseq + 1)
        .returning(account_modseq.c.modseq)
    ).first()
    if row is not None:
        return ModSeq(int(row[0]))
    highest = conn.execute(
        select(func.coalesce(func.max(mailboxes.c.highestmodseq), 0)).where(
            mailboxes.c.account_id == account_id
        )
    ).scalar_one()
    # Two first writers of an account (PostgreSQL, READ COMMITTED) both find no row: the second's
    # insert meets the first's row and takes the next value past it instead of failing.
    made = upsert.insert(conn, account_modseq).values(
        account_id=account_id, modseq=int(highest) + 1, pruned=0
    )
    taken = account_modseq.c.modseq + 1
    row = conn.execute(
        made.on_conflict_do_update(
            index_elements=[account_modseq.c.account_id],
            set_={"modseq": case((taken > made.excluded.modseq, taken), else_=made.excluded.modseq)},
        ).returning(account_modseq.c.modseq)
    ).first()
    assert row is not None  # an upsert's RETURNING always has its row
    return ModSeq(int(row[0]))


def mark_mailboxes_changed(conn: Connection, mailbox_ids: Iterable[MailboxId], modseq: ModSeq) -> None:
    """Name, parent, subscription, role or rights of these mailboxes changed at ``modseq`` (taken
    by the write first of all, ``take_modseq``): their ``meta_modseq``."""
    ids = sorted(set(mailbox_ids))
    if ids:
        conn.execute(update(mailboxes).where(mailboxes.c.id.in_(ids)).values(meta_modseq=modseq))


def tombstone_mailbox(
    conn: Connection, account_id: AccountId, mailbox_id: MailboxId, created_modseq: ModSeq, modseq: ModSeq
) -> None:
    """A deleted mailbox's record for Mailbox/changes (mailbox ids are never reused)."""
    conn.execute(
        insert(mailbox_tombstones).values(
            account_id=account_id, mailbox_id=mailbox_id, created_modseq=created_modseq, modseq=modseq
        )
    )


def recount_account_state(conn: Connection, apply: bool) -> int:
    """``pochta reconstruct``'s part for these records: each account's counter at least its
    mailboxes' and records' highest MODSEQ, a live Email record for each message it holds, and
    none for a message it no longer holds (a repaired record is stamped with a new MODSEQ, so a
    client's next changes see it). Writes only when ``apply``; the number of corrections."""
    e, b, m = account_emails.c, mailboxes.c, membership.c
    held: dict[int, dict[int, int]] = {}
    for row in conn.execute(
        select(b.account_id, m.message_id, func.max(m.modseq).label("modseq"))
        .select_from(membership)
        .join(mailboxes, b.id == m.mailbox_id)
        .group_by(b.account_id, m.message_id)
    ):
        held.setdefault(int(row.account_id), {})[int(row.message_id)] = int(row.modseq)
    live: dict[int, set[int]] = {}
    for record in conn.execute(select(e.account_id, e.message_id).where(e.destroyed.is_(None))):
        live.setdefault(int(record.account_id), set()).add(int(record.message_id))
    highest = {
        int(row.account_id): int(row.modseq)
        for row in conn.execute(
            select(b.account_id, func.max(b.highestmodseq).label("modseq")).group_by(b.account_id)
        )
    }
    for top in conn.execute(select(e.account_id, func.max(e.changed).label("modseq")).group_by(e.account_id)):
        highest[int(top.account_id)] = max(highest.get(int(top.account_id), 0), int(top.modseq))
    counters = {int(row.account_id): int(row.modseq) for row in conn.execute(select(account_modseq))}
    fixes = 0
    for account_id in sorted(set(held) | set(live) | set(highest)):
        missing = sorted(set(held.get(account_id, {})) - live.get(account_id, set()))
        stale = sorted(live.get(account_id, set()) - set(held.get(account_id, {})))
        counter = counters.get(account_id)
        behind = counter is None or counter < highest.get(account_id, 0)
        fixes += len(missing) + len(stale) + int(behind)
        if not apply or not (missing or stale or behind):
            continue
        base = max(counter or 0, highest.get(account_id, 0))
        modseq = base + 1 if missing or stale else base
        if counter is None:
            conn.execute(insert(account_modseq).values(account_id=account_id, modseq=modseq, pruned=0))
        else:
            conn.execute(
                update(account_modseq).where(account_modseq.c.account_id == account_id).values(modseq=modseq)
            )
        for message_id in missing:
            conn.execute(delete(account_emails).where(e.account_id == account_id, e.message_id == message_id))
            conn.execute(
                insert(account_emails).values(
                    account_id=account_id,
                    message_id=message_id,
                    created=modseq,
                    changed=modseq,
                    destroyed=None,
                )
            )
        for ids in (stale[i : i + 500] for i in range(0, len(stale), 500)):
            conn.execute(
                update(account_emails)
                .where(e.account_id == account_id, e.message_id.in_(ids))
                .values(changed=modseq, destroyed=modseq)
            )
    return fixes
