"""Stored SORT and THREAD keys (table ``message_sort_keys``, revision 0015; DESIGN principle 4).

Delivery does not write them (its speed is the MTA's): the background indexer derives the keys of
the messages it has just indexed from their parse records (``derive`` on a reader, ``store_keys`` a
writer job), and ``read_keys`` derives, for a SORT or THREAD, the keys of any message still without a
current row (stored before revision 0015, indexed by a crashed process, or of another
``SORT_KEYS_VERSION``) and returns them to be stored, so that each message's parse record is read
for its keys once. A row goes with its message (``forget_keys``).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from pochta.mime import ParsedMessage
from pochta.mime.sortkeys import SORT_KEYS_VERSION, SortKeys, sort_keys
from pochta.store import sqlite_mail as mail
from pochta.store.model import MailboxId, SortRow, Uid

__all__ = ["derive", "forget_keys", "forget_orphans", "read_keys", "store_keys"]

log = logging.getLogger(__name__)

_SQL_READ = (
    "SELECT m.uid, m.message_id, m.internal_date, g.size, k.version, k.subject, k.reply, k.from_addr, "
    "k.to_addr, k.cc_addr, k.display_from, k.display_to, k.sent, k.msgid, k.refs "
    "FROM membership AS m JOIN messages AS g ON g.id = m.message_id "
    "LEFT JOIN message_sort_keys AS k ON k.message_id = m.message_id "
    "WHERE m.mailbox_id = ? AND ({}) ORDER BY m.uid"
)
_SQL_RECORDS = "SELECT id, parsed_json FROM messages WHERE id IN (SELECT value FROM json_each(?))"
_SQL_MISSING = (
    "SELECT g.id, g.parsed_json FROM messages AS g LEFT JOIN message_sort_keys AS k ON k.message_id = g.id "
    "WHERE g.id IN (SELECT value FROM json_each(?)) AND (k.version IS NULL OR k.version != ?)"
)
# Only for a message that still exists: a row never outlives its message.
_SQL_STORE = (
    "INSERT OR REPLACE INTO message_sort_keys (message_id, version, subject, reply, from_addr, to_addr, "
    "cc_addr, display_from, display_to, sent, msgid, refs) "
    "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM messages WHERE id = ?)"
)
_SQL_FORGET = "DELETE FROM message_sort_keys WHERE message_id IN (SELECT value FROM json_each(?))"
_SQL_FORGET_ORPHANS = "DELETE FROM message_sort_keys WHERE message_id NOT IN (SELECT id FROM messages)"

Derived = list[tuple[int, SortKeys]]  # (messages.id, keys) to store


def _keys_of(parsed_json: bytes) -> SortKeys:
    try:
        return sort_keys(ParsedMessage.from_json(bytes(parsed_json)))
    except ValueError:
        log.warning("sort keys: a damaged parse record (reconstruct repairs it); empty keys")
        return SortKeys()


def _from_row(row: Sequence[Any]) -> SortKeys:
    subject, reply, from_, to, cc, display_from, display_to, sent, msgid, refs = row
    return SortKeys(
        subject, bool(reply), from_, to, cc, display_from, display_to, sent, msgid, tuple(refs.split())
    )


def read_keys(
    raw: sqlite3.Connection, mailbox_id: MailboxId, uids: Sequence[Uid]
) -> tuple[list[SortRow], Derived]:
    """The sort rows of these UIDs (those that exist), in UID order, and the keys derived here from
    parse records for messages without a current row (for ``store_keys``)."""
    rows: list[SortRow] = []
    pending: dict[int, list[int]] = {}  # messages.id -> indexes in rows still without keys
    ranges = mail.uid_ranges(uids)
    for start in range(0, len(ranges), mail.RANGES_PER_STATEMENT):
        condition, params = mail.uid_condition_sql(ranges[start : start + mail.RANGES_PER_STATEMENT])
        for row in raw.execute(_SQL_READ.format(condition), (mailbox_id, *params)):
            uid, message_id, internal_date, size, version = row[:5]
            if version == SORT_KEYS_VERSION:
                rows.append(SortRow(uid, _from_row(row[5:]), internal_date, size))
            else:
                pending.setdefault(message_id, []).append(len(rows))
                rows.append(SortRow(uid, SortKeys(), internal_date, size))
    derived: Derived = []
    ids = sorted(pending)
    for start in range(0, len(ids), mail.IDS_PER_STATEMENT):
        chunk = json.dumps(ids[start : start + mail.IDS_PER_STATEMENT])
        for message_id, parsed_json in raw.execute(_SQL_RECORDS, (chunk,)):
            keys = _keys_of(parsed_json)
            derived.append((message_id, keys))
            for index in pending[message_id]:
                rows[index] = rows[index]._replace(keys=keys)
    return rows, derived


def derive(raw: sqlite3.Connection, message_ids: Iterable[int]) -> Derived:
    """Keys of these messages that have no current row yet (the indexer's step after indexing)."""
    ids = sorted(set(message_ids))
    derived: Derived = []
    for start in range(0, len(ids), mail.IDS_PER_STATEMENT):
        chunk = json.dumps(ids[start : start + mail.IDS_PER_STATEMENT])
        for message_id, parsed_json in raw.execute(_SQL_MISSING, (chunk, SORT_KEYS_VERSION)):
            derived.append((message_id, _keys_of(parsed_json)))
    return derived


def store_keys(raw: sqlite3.Connection, derived: Derived) -> None:
    """A writer job's part: keep derived keys (of messages that still exist)."""
    raw.executemany(
        _SQL_STORE,
        [
            (
                message_id, SORT_KEYS_VERSION, k.subject, k.reply, k.from_, k.to, k.cc, k.display_from,
                k.display_to, k.sent, k.message_id, " ".join(k.references), message_id,
            )
            for message_id, k in derived
        ],
    )  # fmt: skip


def forget_keys(raw: sqlite3.Connection, dead: Sequence[int]) -> None:
    """In the transaction that deletes these message rows."""
    raw.execute(_SQL_FORGET, (json.dumps(list(dead)),))


def forget_orphans(raw: sqlite3.Connection) -> None:
    """Reconstruct: keys of messages that are gone, and of every message whose parse record it
    rewrote (derived again when next needed)."""
    raw.execute(_SQL_FORGET_ORPHANS)
