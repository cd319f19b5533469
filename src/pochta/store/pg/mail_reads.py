"""The mail core's reads on PostgreSQL: views, changes since a MODSEQ, parse records, wire forms,
DELETED-STORAGE (the forms of ``sqlite/mail``'s, ``sqlite/views``' and ``sqlite/wire``'s reads). Each
runs inside one ``run_read`` job: one REPEATABLE READ snapshot, so a mailbox's row and its
membership rows agree. The writes and the helpers both use are ``pg/mail``'s.

Views are read whole from the membership rows at each call: no view cache and no stored
snapshots yet (``PgStore.current_view`` answers None).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, select

from pochta.mime.imapform import WIRE_VERSION
from pochta.store.api import NotFound
from pochta.store.model import (
    AccountId,
    BlobRef,
    CachedMessage,
    ChangeSet,
    MailboxId,
    MailboxInfo,
    MailboxView,
    MessageEntry,
    MessageId,
    ModSeq,
    Uid,
    date_from_parts,
)
from pochta.store.pg.mail import (
    ENTRY_COLUMNS,
    SQL_BOX_BY_NAME,
    entry_row,
    fetch_rows,
    range_arrays,
    read_box,
)
from pochta.store.schema import mailboxes
from pochta.store.sql.mail_rows import message_entry
from pochta.store.sqlite.mail import mailbox_info
from pochta.store.sqlite.wire import form_column

__all__ = [
    "cached",
    "changes_since",
    "deleted_storage",
    "expunged_since",
    "read_forms",
    "read_named_view",
    "read_view",
]

_SQL_ENTRIES_SINCE = ENTRY_COLUMNS + "WHERE m.mailbox_id = %s AND m.modseq > %s ORDER BY m.uid"

_SQL_EXPUNGED_SINCE = "SELECT uid FROM expunged WHERE mailbox_id = %s AND modseq > %s ORDER BY uid"

_SQL_HORIZON = "SELECT modseq FROM expunge_horizon WHERE mailbox_id = %s"

_SQL_LIVE_UIDS = "SELECT uid FROM membership WHERE mailbox_id = %s ORDER BY uid"

_SQL_CACHED = (
    "SELECT m.uid, m.message_id, g.sha256, g.size, g.parsed_json FROM membership AS m "
    "JOIN messages AS g ON g.id = m.message_id "
    "JOIN unnest(%s::bigint[], %s::bigint[]) AS r(lo, hi) ON m.uid BETWEEN r.lo AND r.hi "
    "WHERE m.mailbox_id = %s ORDER BY m.uid"
)

_SQL_VIEW_ROWS = (
    "SELECT m.uid, m.message_id, m.flags, m.modseq, m.internal_date, m.internal_tz, g.sha256, g.size "
    "FROM membership AS m JOIN messages AS g ON g.id = m.message_id WHERE m.mailbox_id = %s ORDER BY m.uid"
)


def cached(conn: Connection, mailbox_id: MailboxId, uids: Sequence[Uid]) -> list[CachedMessage]:
    """Parse records of these sorted, distinct UIDs (those that exist), in UID order."""
    if not uids:
        return []
    lows, highs = range_arrays(uids)
    return [
        CachedMessage(uid, message_id, BlobRef(sha256, size), bytes(parsed))
        for uid, message_id, sha256, size, parsed in fetch_rows(conn, _SQL_CACHED, (lows, highs, mailbox_id))
    ]


def read_mailbox(conn: Connection, mailbox_id: MailboxId) -> MailboxInfo:
    row = conn.execute(select(mailboxes).where(mailboxes.c.id == mailbox_id)).first()
    if row is None:
        raise NotFound(f"no mailbox with id {mailbox_id}")
    return mailbox_info(row)


def read_view(conn: Connection, mailbox_id: MailboxId) -> MailboxView:
    """The mailbox's view in this read transaction: its row and its membership rows, one snapshot."""
    info = read_mailbox(conn, mailbox_id)
    rows = fetch_rows(conn, _SQL_VIEW_ROWS, (mailbox_id,))
    entries = (
        MessageEntry(uid, message_id, frozenset(flags.split()), modseq, size, date_from_parts(epoch, tz),
                     BlobRef(sha256, size))
        for uid, message_id, flags, modseq, epoch, tz, sha256, size in rows
    )  # fmt: skip
    return MailboxView.from_entries(info, entries)


def read_named_view(conn: Connection, account_id: AccountId, name: str) -> MailboxView | None:
    found = fetch_rows(conn, SQL_BOX_BY_NAME, (account_id, name))
    return None if not found else read_view(conn, MailboxId(found[0][0]))


def expunge_horizon(conn: Connection, mailbox_id: MailboxId) -> ModSeq:
    """The highest MODSEQ of the mailbox's pruned expunge records (0: none pruned)."""
    rows = fetch_rows(conn, _SQL_HORIZON, (mailbox_id,))
    return int(rows[0][0]) if rows else 0


def expunged_since(conn: Connection, mailbox_id: MailboxId, modseq: ModSeq) -> tuple[Uid, ...] | None:
    read_box(conn, mailbox_id)  # NotFound for a mailbox that is gone
    if modseq < expunge_horizon(conn, mailbox_id):
        return None
    return tuple(uid for (uid,) in fetch_rows(conn, _SQL_EXPUNGED_SINCE, (mailbox_id, modseq)))


def changes_since(conn: Connection, mailbox_id: MailboxId, modseq: ModSeq) -> ChangeSet:
    box = read_box(conn, mailbox_id)
    changed = tuple(
        message_entry(entry_row(row)) for row in fetch_rows(conn, _SQL_ENTRIES_SINCE, (mailbox_id, modseq))
    )
    gone = tuple(uid for (uid,) in fetch_rows(conn, _SQL_EXPUNGED_SINCE, (mailbox_id, modseq)))
    live = None
    if modseq < expunge_horizon(conn, mailbox_id):
        # RFC 7162 §3.2.6: records pruned, so what is gone is told by what is still here.
        live = tuple(uid for (uid,) in fetch_rows(conn, _SQL_LIVE_UIDS, (mailbox_id,)))
    return ChangeSet(mailbox_id, box.highestmodseq, changed, gone, live_uids=live)


# Wire forms (``sqlite/wire.read_forms``'s PostgreSQL form)

# The columns are chosen from FORM_NAMES by ``form_column``, never from the caller's text.
_SQL_WIRE_READ = (
    "SELECT w.message_id, {columns} FROM message_wire AS w WHERE w.version = %s AND w.message_id = ANY(%s)"
)


def read_forms(
    conn: Connection, message_ids: Iterable[MessageId], names: Sequence[str], utf8: bool
) -> list[tuple[Any, ...]]:
    """``(message_id, form, ...)`` for the messages that have a current row, in no particular order,
    one form per name of ``names`` (of ``wire.FORM_NAMES``) as the session gets it; one statement."""
    ids = sorted(set(message_ids))
    if not ids:
        return []
    columns = ", ".join(form_column(name, utf8) for name in names)
    rows = fetch_rows(conn, _SQL_WIRE_READ.format(columns=columns), (WIRE_VERSION, ids))
    return [(row[0], *(bytes(form) for form in row[1:])) for row in rows]


# RFC 9208 §4.1.4: the octets an EXPUNGE would give back.
_SQL_DELETED_STORAGE = (
    "SELECT coalesce(sum(g.size), 0) FROM membership AS m JOIN messages AS g ON g.id = m.message_id "
    "WHERE m.mailbox_id = %s AND m.deleted"
)


def deleted_storage(conn: Connection, mailbox_id: MailboxId) -> int:
    rows = fetch_rows(conn, _SQL_DELETED_STORAGE, (mailbox_id,))
    return int(rows[0][0]) if rows else 0
