"""Stored SORT and THREAD keys on PostgreSQL: ``sqlite/sortkeys``' reads and writes in PostgreSQL's
SQL. The rules stay there, used from here: which columns hold which key and what stands in for one
not asked for (``key_columns``), how a key row is made (``store_row``) and derived
(``keys_of_record``), what each order compares (``ORDER_KEYS``). What differs:

- a set of UIDs or ids is one statement whatever its size (``unnest`` of arrays, as ``pg/mail``);
- text columns compare octets (``COLLATE "C"``, ``pg/schema``), SQLite's BINARY order; and NULL
  sorts first ascending as in SQLite (PostgreSQL's default is last), said in each ORDER BY term.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection

from pochta.mime.sortkeys import SORT_KEYS_VERSION, SortKeys
from pochta.store.model import MailboxId, SortRow, Uid
from pochta.store.pg.mail import fetch_rows, range_arrays
from pochta.store.sqlite.sortkeys import (
    ORDER_KEYS,
    Derived,
    key_columns,
    keys_of_record,
    only_asked,
    store_row,
)

__all__ = ["Derived", "derive", "derive_queued", "ordered_uids", "read_keys", "store_keys", "without_keys"]

# A set of UIDs as its ranges, two arrays joined as rows (``pg/mail.range_arrays``).
_JOIN_MESSAGES = "JOIN messages AS g ON g.id = m.message_id "
_SQL_READ = (
    "SELECT m.uid, m.message_id, m.internal_date, {size}, k.version, {columns} FROM membership AS m "
    "JOIN unnest(%s::bigint[], %s::bigint[]) AS r(lo, hi) ON m.uid BETWEEN r.lo AND r.hi "
    "{join}LEFT JOIN message_sort_keys AS k ON k.message_id = m.message_id "
    "WHERE m.mailbox_id = %s ORDER BY m.uid"
)
_SQL_RECORDS = "SELECT id, parsed_json FROM messages WHERE id = ANY(%s)"
_SQL_MISSING = (
    "SELECT g.id, g.parsed_json FROM messages AS g LEFT JOIN message_sort_keys AS k ON k.message_id = g.id "
    "WHERE g.id = ANY(%s) AND (k.version IS NULL OR k.version != %s)"
)
_SQL_QUEUED_MISSING = (
    "SELECT g.id, g.parsed_json FROM search_queue AS q JOIN messages AS g ON g.id = q.message_id "
    "LEFT JOIN message_sort_keys AS k ON k.message_id = g.id "
    "WHERE q.action = %s AND (k.version IS NULL OR k.version != %s) ORDER BY q.message_id LIMIT %s"
)
# Only for a message that still exists: a row never outlives its message.
_SQL_STORE = (
    "INSERT INTO message_sort_keys (message_id, version, subject, reply, from_addr, to_addr, cc_addr, "
    "display_from, display_to, sent, msgid, refs) "
    "SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s "
    "WHERE EXISTS (SELECT 1 FROM messages WHERE id = %s) "
    "ON CONFLICT (message_id) DO UPDATE SET version = excluded.version, subject = excluded.subject, "
    "reply = excluded.reply, from_addr = excluded.from_addr, to_addr = excluded.to_addr, "
    "cc_addr = excluded.cc_addr, display_from = excluded.display_from, display_to = excluded.display_to, "
    "sent = excluded.sent, msgid = excluded.msgid, refs = excluded.refs"
)
_SQL_ORDERED = (
    "SELECT m.uid FROM membership AS m "
    "JOIN unnest(%s::bigint[], %s::bigint[]) AS r(lo, hi) ON m.uid BETWEEN r.lo AND r.hi "
    "{join}"
    "LEFT JOIN message_sort_keys AS k ON k.message_id = m.message_id "
    "WHERE m.mailbox_id = %s ORDER BY {order}, m.uid"
)
_SQL_WITHOUT_KEYS = (
    "SELECT m.message_id FROM membership AS m "
    "JOIN unnest(%s::bigint[], %s::bigint[]) AS r(lo, hi) ON m.uid BETWEEN r.lo AND r.hi "
    "LEFT JOIN message_sort_keys AS k "
    "ON k.message_id = m.message_id WHERE m.mailbox_id = %s AND (k.version IS NULL OR k.version != %s)"
)


def read_keys(
    conn: Connection, mailbox_id: MailboxId, uids: Sequence[Uid], fields: Iterable[str]
) -> tuple[list[SortRow], Derived]:
    """``sqlite/sortkeys.read_keys``: the sort rows of these UIDs (those that exist), in UID order,
    with the keys named in ``fields``, and the keys derived here for messages without a current row."""
    wanted = frozenset(fields)
    columns = key_columns(wanted)
    sized = "size" in wanted
    sql = _SQL_READ.format(
        size="g.size" if sized else "0", columns=columns, join=_JOIN_MESSAGES if sized else ""
    )
    if not uids:
        return [], []
    refs = "references" in wanted
    rows: list[SortRow] = []
    pending: dict[int, list[int]] = {}  # messages.id -> indexes in rows still without keys
    make = SortKeys._make
    lows, highs = range_arrays(uids)
    for row in fetch_rows(conn, sql, (lows, highs, mailbox_id)):
        uid, message_id, internal_date, size, version = row[:5]
        if version == SORT_KEYS_VERSION:
            keys = make((*row[5:-1], tuple(row[-1].split()))) if refs else make(row[5:])
            rows.append(SortRow(uid, keys, internal_date, size))
        else:
            pending.setdefault(message_id, []).append(len(rows))
            rows.append(SortRow(uid, SortKeys(), internal_date, size))
    derived: Derived = []
    if pending:
        for message_id, parsed_json in fetch_rows(conn, _SQL_RECORDS, (sorted(pending),)):
            keys = keys_of_record(parsed_json)
            derived.append((message_id, keys))
            shown = only_asked(keys, wanted)
            for index in pending[message_id]:
                rows[index] = rows[index]._replace(keys=shown)
    return rows, derived


def without_keys(conn: Connection, mailbox_id: MailboxId, uids: Sequence[Uid]) -> list[int]:
    """messages.id of these UIDs that have no current keys yet."""
    if not uids:
        return []
    lows, highs = range_arrays(uids)
    return [
        int(row[0])
        for row in fetch_rows(conn, _SQL_WITHOUT_KEYS, (lows, highs, mailbox_id, SORT_KEYS_VERSION))
    ]


def ordered_uids(
    conn: Connection, mailbox_id: MailboxId, uids: Sequence[Uid], order: Sequence[tuple[str, bool]]
) -> list[Uid]:
    """``sqlite/sortkeys.ordered_uids``: these UIDs (those that exist) ordered by ``order``, ties by
    UID, sorted by PostgreSQL."""
    if not uids:
        return []
    unknown = {name for name, _ in order} - set(ORDER_KEYS)
    if unknown or not order:
        raise ValueError(f"cannot order by {sorted(unknown)}")
    # SQLite's NULL order: before every value ascending, after them descending.
    terms = ", ".join(
        ORDER_KEYS[name] + (" DESC NULLS LAST" if descending else " NULLS FIRST")
        for name, descending in order
    )
    join = _JOIN_MESSAGES if any(name == "size" for name, _ in order) else ""
    lows, highs = range_arrays(uids)
    sql = _SQL_ORDERED.format(join=join, order=terms)
    return [row[0] for row in fetch_rows(conn, sql, (lows, highs, mailbox_id))]


def derive(conn: Connection, message_ids: Iterable[int]) -> Derived:
    """Keys of these messages that have no current row yet."""
    ids = sorted(set(message_ids))
    if not ids:
        return []
    return [
        (int(message_id), keys_of_record(parsed_json))
        for message_id, parsed_json in fetch_rows(conn, _SQL_MISSING, (ids, SORT_KEYS_VERSION))
    ]


def derive_queued(conn: Connection, action: int, limit: int) -> Derived:
    """Keys of the first ``limit`` messages queued for the indexer with ``action`` that have no
    current row: read before the indexer's claim, so that its write only stores them."""
    return [
        (int(message_id), keys_of_record(parsed_json))
        for message_id, parsed_json in fetch_rows(
            conn, _SQL_QUEUED_MISSING, (action, SORT_KEYS_VERSION, limit)
        )
    ]


def store_keys(conn: Connection, derived: Derived) -> None:
    """A write's part: keep derived keys (of messages that still exist)."""
    if derived:
        conn.exec_driver_sql(_SQL_STORE, [store_row(message_id, k) for message_id, k in derived])
