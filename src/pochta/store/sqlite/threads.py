"""Per-message object data of the SQLite store: THREADID assignment (RFC 8474 §5.2) and what FETCH and
SEARCH read for EMAILID, THREADID, SAVEDATE (RFC 8514) and PREVIEW (RFC 8970).

Threads are per account. A message joins the thread of any message of the same account that carries
or refers to one of the Message-IDs it carries or refers to (its own Message-ID, In-Reply-To,
References, as the parse record holds them), the oldest such thread when several; else it starts its
own thread, whose id is its ``messages.id`` (unique in the account). ``thread_keys`` remembers every
such Message-ID with its thread, so a reply stored before its original pulls the original into its
thread too. A thread, once given, never changes (threads are never merged): two threads that a later
message links stay two, and that message joins the oldest.

Threading is not part of the delivery write: ``thread_pending`` (a writer job) walks each mailbox's
membership rows past ``thread_progress`` in UID order, a bounded batch at a time. The background
indexer runs it after the search index work (``SqliteStore.index_pending``); a FETCH or SEARCH of
THREADID that meets an unthreaded message has the mailbox threaded first (``SqliteStore.thread_now``),
so THREADID is never NIL for a message the session can see.

The preview is the one the delivery parse computed (``pochta.mime.text.extract_text``) and kept in the
parse record: read with ``json_extract``, nothing is parsed at FETCH time.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection

from pochta.store.model import MailboxId, ObjectRow, Uid
from pochta.store.sqlite.writer import driver_connection

# The mailboxes with membership rows not threaded yet (UIDs past their progress mark).
_SQL_PENDING_BOXES = (
    "SELECT b.id, b.account_id, coalesce(p.uid, 0), b.uidnext FROM mailboxes AS b "
    "LEFT JOIN thread_progress AS p ON p.mailbox_id = b.id WHERE b.uidnext - 1 > coalesce(p.uid, 0)"
)
# The Message-IDs of each new row, from the parse record, and whether the account threaded it already.
_SQL_NEW_ROWS = (
    "SELECT m.uid, m.message_id, t.thread_id, "
    "CASE WHEN json_valid(CAST(g.parsed_json AS TEXT)) "
    "THEN json_extract(CAST(g.parsed_json AS TEXT), '$.mid', '$.irt', '$.refs') END "
    "FROM membership AS m JOIN messages AS g ON g.id = m.message_id "
    "LEFT JOIN message_threads AS t ON t.account_id = ? AND t.message_id = m.message_id "
    "WHERE m.mailbox_id = ? AND m.uid > ? ORDER BY m.uid LIMIT ?"
)
_SQL_FIND_THREAD = (
    "SELECT min(thread_id) FROM thread_keys "
    "WHERE account_id = ? AND msgid IN (SELECT value FROM json_each(?))"
)
_SQL_ADD_THREAD = "INSERT OR IGNORE INTO message_threads (account_id, message_id, thread_id) VALUES (?, ?, ?)"
_SQL_ADD_KEY = "INSERT OR IGNORE INTO thread_keys (account_id, msgid, thread_id) VALUES (?, ?, ?)"
_SQL_PROGRESS = "INSERT OR REPLACE INTO thread_progress (mailbox_id, uid) VALUES (?, ?)"


def message_keys(mid: object, irt: object, refs: object) -> list[str]:
    """The Message-IDs a message carries or refers to, from its parse record's ``mid``, ``irt`` and
    ``refs`` (a list, or a list as JSON text), each once, in that order."""
    listed: Any = json.loads(refs) if isinstance(refs, str) else refs
    keys = [mid, irt, *(listed if isinstance(listed, list) else ())]
    return list(dict.fromkeys(k for k in keys if isinstance(k, str) and k))


def _keys(found: str | None) -> list[str]:
    """``message_keys`` of ``[mid, irt, refs]`` as SQLite's ``json_extract`` gives them (JSON)."""
    if not found:
        return []
    return message_keys(*json.loads(found))


# The rules of threading, shared by both engines (``pg/threads`` gives them its SQL).

NewRow = tuple[int, int, int | None, Any]  # (uid, messages.id, thread already given, the row's keys' source)


def assign_threads(
    rows: Sequence[NewRow],
    keys_of: Callable[[Any], list[str]],
    find: Callable[[list[str]], int | None],
    add: Callable[[int, int, list[str]], None],
) -> None:
    """Give each new row's message its thread (module docstring): ``find`` is the oldest thread of
    the account holding any of the keys, ``add`` records (message, thread, keys) so that the next
    ``find`` of this batch sees them."""
    given: dict[int, int] = {}
    for _uid, message_id, thread_id, found in rows:
        if thread_id is not None or message_id in given:
            continue
        keys = keys_of(found)
        thread = find(keys) if keys else None
        if thread is None:
            thread = message_id  # RFC 8474 §5.2: a new thread, named after the message that starts it
        given[message_id] = thread
        add(message_id, thread, keys)


def progress_mark(rows: Sequence[NewRow], limit: int, uidnext: int) -> int:
    """The mailbox's new mark: past the last row read; past every UID allocated when the batch was
    not full (expunged ones)."""
    return int(rows[-1][0]) if len(rows) == limit else uidnext - 1


Box = tuple[int, int, int, int]  # (mailbox id, account id, threaded up to UID, uidnext)


def thread_boxes(boxes: Sequence[Box], limit: int, thread_box: Callable[[Box, int], int]) -> tuple[int, bool]:
    """Thread the pending mailboxes (at most ``limit`` were read) up to ``limit`` rows in all:
    (rows threaded, whether rows remain)."""
    done = 0
    for box in boxes:
        if done >= limit:
            return done, True
        done += thread_box(box, limit - done)
    return done, done >= limit or len(boxes) >= limit


def _thread_box(raw: sqlite3.Connection, box: Box, limit: int) -> int:
    """Thread up to ``limit`` rows of one mailbox past its mark; returns the rows looked at."""
    mailbox_id, account_id, done, uidnext = box
    rows = raw.execute(_SQL_NEW_ROWS, (account_id, mailbox_id, done, limit)).fetchall()

    def find(keys: list[str]) -> int | None:
        found: int | None = raw.execute(_SQL_FIND_THREAD, (account_id, json.dumps(keys))).fetchone()[0]
        return found

    def add(message_id: int, thread: int, keys: list[str]) -> None:
        raw.execute(_SQL_ADD_THREAD, (account_id, message_id, thread))
        if keys:
            raw.executemany(_SQL_ADD_KEY, [(account_id, key, thread) for key in keys])

    assign_threads(rows, _keys, find, add)
    raw.execute(_SQL_PROGRESS, (mailbox_id, progress_mark(rows, limit, uidnext)))
    return len(rows)


def thread_pending(conn: Connection, limit: int, mailbox_id: MailboxId | None = None) -> tuple[int, bool]:
    """A writer job: thread up to ``limit`` membership rows (of one mailbox, or of any) in UID order.
    Returns (rows threaded, whether rows remain)."""
    raw = driver_connection(conn)
    sql, params = _SQL_PENDING_BOXES, tuple[int, ...]()
    if mailbox_id is not None:
        sql, params = sql + " AND b.id = ?", (mailbox_id,)
    boxes = raw.execute(sql + " LIMIT ?", (*params, limit)).fetchall()
    return thread_boxes(boxes, limit, lambda box, left: _thread_box(raw, box, left))


def has_pending(conn: Connection) -> bool:
    return driver_connection(conn).execute(_SQL_PENDING_BOXES + " LIMIT 1").fetchone() is not None


_SQL_FORGET = "DELETE FROM message_threads WHERE message_id IN (SELECT value FROM json_each(?))"


def forget_messages(raw: sqlite3.Connection, dead: Sequence[int]) -> None:
    """In the transaction that deletes these message rows: their thread rows (an id never returns).
    Their Message-IDs stay in ``thread_keys``: a later reply still finds the thread."""
    raw.execute(_SQL_FORGET, (json.dumps(sorted(dead)),))


_SQL_OBJECTS = (
    "SELECT m.uid, m.message_id, t.thread_id, coalesce(m.save_date, m.internal_date), {preview} "
    "FROM membership AS m JOIN mailboxes AS b ON b.id = m.mailbox_id {join}"
    "LEFT JOIN message_threads AS t ON t.account_id = b.account_id AND t.message_id = m.message_id "
    "WHERE m.mailbox_id = ? {uids}ORDER BY m.uid"
)
# A damaged record (reconstruct repairs it) gives no preview rather than an error. CAST: newer SQLite
# reads a BLOB argument of the JSON functions as its binary JSONB form.
_PREVIEW = (
    "CASE WHEN json_valid(CAST(g.parsed_json AS TEXT)) "
    "THEN json_extract(CAST(g.parsed_json AS TEXT), '$.preview') END"
)
_JOIN_MESSAGES = "JOIN messages AS g ON g.id = m.message_id "


def read_objects(
    conn: Connection, mailbox_id: MailboxId, uids: Sequence[Uid] | None, preview: bool
) -> list[ObjectRow]:
    """The object data of these UIDs of the mailbox (None: all of its messages), in UID order."""
    sql = _SQL_OBJECTS.format(
        preview=_PREVIEW if preview else "NULL",
        join=_JOIN_MESSAGES if preview else "",
        uids="" if uids is None else "AND m.uid IN (SELECT value FROM json_each(?)) ",
    )
    params: tuple[object, ...] = (mailbox_id,) if uids is None else (mailbox_id, json.dumps(list(uids)))
    return [ObjectRow(*row) for row in driver_connection(conn).execute(sql, params).fetchall()]
