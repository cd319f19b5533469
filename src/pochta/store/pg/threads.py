"""THREADID (RFC 8474 §5.2) and the object data FETCH and SEARCH read (EMAILID, THREADID, SAVEDATE,
PREVIEW) on PostgreSQL: ``sqlite/threads``' statements in PostgreSQL's SQL, with its rules
(``assign_threads``, ``progress_mark``, ``thread_boxes``, ``message_keys``) used from there.

SQLite reads a parse record's fields with ``json_extract``; here the record (bytea) is read and its
JSON decoded in Python, a damaged one giving no keys and no preview, as ``json_valid`` makes it
there. ``thread_pending`` runs SERIALIZABLE (``PgStore.run_write``): two nodes threading one account
at once would each miss the other's new keys; one of them is rolled back and runs again instead.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from pochta.store.model import MailboxId, ObjectRow, Uid
from pochta.store.pg.mail import fetch_rows
from pochta.store.sqlite.threads import Box, assign_threads, message_keys, progress_mark, thread_boxes

__all__ = ["has_pending", "read_objects", "thread_pending"]

_SQL_PENDING_BOXES = (
    "SELECT b.id, b.account_id, coalesce(p.uid, 0), b.uidnext FROM mailboxes AS b "
    "LEFT JOIN thread_progress AS p ON p.mailbox_id = b.id WHERE b.uidnext - 1 > coalesce(p.uid, 0)"
)
_SQL_NEW_ROWS = (
    "SELECT m.uid, m.message_id, t.thread_id, g.parsed_json "
    "FROM membership AS m JOIN messages AS g ON g.id = m.message_id "
    "LEFT JOIN message_threads AS t ON t.account_id = %s AND t.message_id = m.message_id "
    "WHERE m.mailbox_id = %s AND m.uid > %s ORDER BY m.uid LIMIT %s"
)
_SQL_FIND_THREAD = "SELECT min(thread_id) FROM thread_keys WHERE account_id = %s AND msgid = ANY(%s)"
_SQL_ADD_THREAD = (
    "INSERT INTO message_threads (account_id, message_id, thread_id) VALUES (%s, %s, %s) "
    "ON CONFLICT DO NOTHING"
)
_SQL_ADD_KEY = (
    "INSERT INTO thread_keys (account_id, msgid, thread_id) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"
)
_SQL_PROGRESS = (
    "INSERT INTO thread_progress (mailbox_id, uid) VALUES (%s, %s) "
    "ON CONFLICT (mailbox_id) DO UPDATE SET uid = excluded.uid"
)


def _record(parsed_json: bytes | None) -> dict[str, Any]:
    """A parse record's top level; empty for a damaged one (reconstruct repairs it)."""
    if parsed_json is None:
        return {}
    try:
        record = json.loads(bytes(parsed_json))
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def _keys(parsed_json: bytes | None) -> list[str]:
    record = _record(parsed_json)
    return message_keys(record.get("mid"), record.get("irt"), record.get("refs"))


def _thread_box(conn: Connection, box: Box, limit: int) -> int:
    """Thread up to ``limit`` rows of one mailbox past its mark; returns the rows looked at."""
    mailbox_id, account_id, done, uidnext = box
    rows: Sequence[Any] = fetch_rows(conn, _SQL_NEW_ROWS, (account_id, mailbox_id, done, limit))

    def find(keys: list[str]) -> int | None:
        found = fetch_rows(conn, _SQL_FIND_THREAD, (account_id, keys))[0][0]
        return None if found is None else int(found)

    def add(message_id: int, thread: int, keys: list[str]) -> None:
        conn.exec_driver_sql(_SQL_ADD_THREAD, (account_id, message_id, thread))
        if keys:
            conn.exec_driver_sql(_SQL_ADD_KEY, [(account_id, key, thread) for key in keys])

    assign_threads(rows, _keys, find, add)
    conn.exec_driver_sql(_SQL_PROGRESS, (mailbox_id, progress_mark(rows, limit, uidnext)))
    return len(rows)


def thread_pending(conn: Connection, limit: int, mailbox_id: MailboxId | None = None) -> tuple[int, bool]:
    """A write job: thread up to ``limit`` membership rows (of one mailbox, or of any) in UID order.
    Returns (rows threaded, whether rows remain)."""
    sql, params = _SQL_PENDING_BOXES, tuple[int, ...]()
    if mailbox_id is not None:
        sql, params = sql + " AND b.id = %s", (mailbox_id,)
    found = fetch_rows(conn, sql + " LIMIT %s", (*params, limit))
    boxes = [(int(a), int(b), int(c), int(d)) for a, b, c, d in found]
    return thread_boxes(boxes, limit, lambda box, left: _thread_box(conn, box, left))


def has_pending(conn: Connection) -> bool:
    return bool(fetch_rows(conn, _SQL_PENDING_BOXES + " LIMIT 1", ()))


_SQL_OBJECTS = (
    "SELECT m.uid, m.message_id, t.thread_id, coalesce(m.save_date, m.internal_date), {record} "
    "FROM membership AS m JOIN mailboxes AS b ON b.id = m.mailbox_id {join}"
    "LEFT JOIN message_threads AS t ON t.account_id = b.account_id AND t.message_id = m.message_id "
    "WHERE m.mailbox_id = %s {uids}ORDER BY m.uid"
)


def read_objects(
    conn: Connection, mailbox_id: MailboxId, uids: Sequence[Uid] | None, preview: bool
) -> list[ObjectRow]:
    """The object data of these UIDs of the mailbox (None: all of its messages), in UID order."""
    sql = _SQL_OBJECTS.format(
        record="g.parsed_json" if preview else "NULL",
        join="JOIN messages AS g ON g.id = m.message_id " if preview else "",
        uids="" if uids is None else "AND m.uid = ANY(%s) ",
    )
    params: tuple[object, ...] = (mailbox_id,) if uids is None else (mailbox_id, list(uids))
    rows = []
    for uid, message_id, thread_id, save_date, record in fetch_rows(conn, sql, params):
        shown = _record(record).get("preview") if preview else None
        rows.append(ObjectRow(uid, message_id, thread_id, save_date, shown))
    return rows
