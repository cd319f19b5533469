"""Stored SORT and THREAD keys (table ``message_sort_keys``, revision 0015; DESIGN principle 4).

Delivery does not write them (its speed is the MTA's): the background indexer derives the keys of
the messages it is about to index from their parse records when it looks at its queue
(``derive_queued``, on a reader) and stores them in its one write transaction per batch
(``store_keys``; ``derive`` there for the few queued after its look), and ``read_keys`` derives,
for a SORT or THREAD, the keys of any message still without a current row (stored before revision
0015, indexed by a crashed process, or of another ``SORT_KEYS_VERSION``) and returns them to be
stored, so that each message's parse record is read for its keys once. A row goes with its message
(``forget_keys``).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from pochta.mime import ParsedMessage
from pochta.mime.sortkeys import SORT_KEYS_VERSION, SortKeys, sort_keys
from pochta.store.model import MailboxId, SortRow, Uid
from pochta.store.sql.mail_rows import uid_ranges
from pochta.store.sqlite import mail

__all__ = [
    "COLUMNS",
    "FIELDS",
    "ORDER_KEYS",
    "derive",
    "derive_queued",
    "forget_keys",
    "forget_orphans",
    "key_columns",
    "keys_of_record",
    "only_asked",
    "ordered_uids",
    "read_keys",
    "store_keys",
    "store_row",
    "without_keys",
]  # fmt: skip

log = logging.getLogger(__name__)

# Each key's column, and what stands in for it when a command does not need it (an empty string,
# 0 and NULL cost no allocation per row: reading all ten columns of 20,000 rows took 3-4 times as
# long as reading the one a SORT (SUBJECT) compares).
COLUMNS = {
    "subject": ("k.subject", "''"),
    "reply": ("k.reply", "0"),
    "from_": ("k.from_addr", "''"),
    "to": ("k.to_addr", "''"),
    "cc": ("k.cc_addr", "''"),
    "display_from": ("k.display_from", "''"),
    "display_to": ("k.display_to", "''"),
    "sent": ("k.sent", "NULL"),
    "message_id": ("k.msgid", "NULL"),
    "references": ("k.refs", "''"),
}
FIELDS = frozenset({*COLUMNS, "size"})  # what ``read_keys`` can be asked for
_SQL_READ = (
    "SELECT m.uid, m.message_id, m.internal_date, {size}, k.version, {columns} FROM membership AS m {join}"
    "LEFT JOIN message_sort_keys AS k ON k.message_id = m.message_id "
    "WHERE m.mailbox_id = ? AND ({condition}) ORDER BY m.uid"
)
_JOIN_MESSAGES = "JOIN messages AS g ON g.id = m.message_id "
_SQL_RECORDS = "SELECT id, parsed_json FROM messages WHERE id IN (SELECT value FROM json_each(?))"
_SQL_MISSING = (
    "SELECT g.id, g.parsed_json FROM messages AS g LEFT JOIN message_sort_keys AS k ON k.message_id = g.id "
    "WHERE g.id IN (SELECT value FROM json_each(?)) AND (k.version IS NULL OR k.version != ?)"
)
# Only for a message that still exists: a row never outlives its message.
# The messages queued to be added to the search index (``action``) that have no current keys yet.
_SQL_QUEUED_MISSING = (
    "SELECT g.id, g.parsed_json FROM search_queue AS q JOIN messages AS g ON g.id = q.message_id "
    "LEFT JOIN message_sort_keys AS k ON k.message_id = g.id "
    "WHERE q.action = ? AND (k.version IS NULL OR k.version != ?) ORDER BY q.message_id LIMIT ?"
)
_SQL_STORE = (
    "INSERT OR REPLACE INTO message_sort_keys (message_id, version, subject, reply, from_addr, to_addr, "
    "cc_addr, display_from, display_to, sent, msgid, refs) "
    "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM messages WHERE id = ?)"
)
_SQL_FORGET = "DELETE FROM message_sort_keys WHERE message_id IN (SELECT value FROM json_each(?))"
_SQL_FORGET_ORPHANS = "DELETE FROM message_sort_keys WHERE message_id NOT IN (SELECT id FROM messages)"

Derived = list[tuple[int, SortKeys]]  # (messages.id, keys) to store


def keys_of_record(parsed_json: bytes) -> SortKeys:
    try:
        return sort_keys(ParsedMessage.from_json(bytes(parsed_json)))
    except ValueError:
        log.warning("sort keys: a damaged parse record (reconstruct repairs it); empty keys")
        return SortKeys()


def key_columns(wanted: frozenset[str]) -> str:
    """The select list of the keys (``COLUMNS``' order), stand-ins for those not ``wanted``;
    ValueError for a name that is no key (both engines)."""
    unknown = wanted - FIELDS
    if unknown:
        raise ValueError(f"no sort keys named {sorted(unknown)}")
    return ", ".join(column if name in wanted else stand_in for name, (column, stand_in) in COLUMNS.items())


def _select(fields: Iterable[str]) -> str:
    wanted = frozenset(fields)
    columns = key_columns(wanted)
    if "size" in wanted:
        return _SQL_READ.format(size="g.size", columns=columns, join=_JOIN_MESSAGES, condition="{}")
    return _SQL_READ.format(size="0", columns=columns, join="", condition="{}")


def only_asked(keys: SortKeys, fields: frozenset[str]) -> SortKeys:
    """The derived keys with what was not asked for as a stored row would read it (the same answers
    whether keys were kept or derived)."""
    default = SortKeys()
    return SortKeys._make(
        v if n in fields else d for n, v, d in zip(SortKeys._fields, keys, default, strict=True)
    )


def read_keys(
    raw: sqlite3.Connection, mailbox_id: MailboxId, uids: Sequence[Uid], fields: Iterable[str]
) -> tuple[list[SortRow], Derived]:
    """The sort rows of these UIDs (those that exist), in UID order, with the keys named in
    ``fields`` (``FIELDS``: ``SortKeys`` field names and "size"; the others hold their defaults), and
    the keys derived here from parse records for messages without a current row (``store_keys``)."""
    wanted = frozenset(fields)
    sql = _select(wanted)
    refs = "references" in wanted
    rows: list[SortRow] = []
    pending: dict[int, list[int]] = {}  # messages.id -> indexes in rows still without keys
    ranges = uid_ranges(uids)
    make = SortKeys._make
    for start in range(0, len(ranges), mail.RANGES_PER_STATEMENT):
        condition, params = mail.uid_condition_sql(ranges[start : start + mail.RANGES_PER_STATEMENT])
        for row in raw.execute(sql.format(condition), (mailbox_id, *params)):
            uid, message_id, internal_date, size, version = row[:5]
            if version == SORT_KEYS_VERSION:
                # references are stored space-separated
                keys = make((*row[5:-1], tuple(row[-1].split()))) if refs else make(row[5:])
                rows.append(SortRow(uid, keys, internal_date, size))
            else:
                pending.setdefault(message_id, []).append(len(rows))
                rows.append(SortRow(uid, SortKeys(), internal_date, size))
    derived: Derived = []
    ids = sorted(pending)
    for start in range(0, len(ids), mail.IDS_PER_STATEMENT):
        chunk = json.dumps(ids[start : start + mail.IDS_PER_STATEMENT])
        for message_id, parsed_json in raw.execute(_SQL_RECORDS, (chunk,)):
            keys = keys_of_record(parsed_json)
            derived.append((message_id, keys))
            shown = only_asked(keys, wanted)
            for index in pending[message_id]:
                rows[index] = rows[index]._replace(keys=shown)
    return rows, derived


# What ``ordered_uids`` orders by: each key's SQL expression (the sent date falls back to the internal
# date, RFC 5256 §2.2). Text compares as SQLite's BINARY collation, byte by byte of UTF-8, which is
# the order of code points: the order Python gives the same casemapped strings.
ORDER_KEYS = {
    "arrival": "m.internal_date",
    "date": "coalesce(k.sent, m.internal_date)",
    "size": "g.size",
    "subject": "k.subject",
    "from_": "k.from_addr",
    "to": "k.to_addr",
    "cc": "k.cc_addr",
    "display_from": "k.display_from",
    "display_to": "k.display_to",
}
_SQL_ORDERED = (
    "SELECT m.uid FROM membership AS m {join}LEFT JOIN message_sort_keys AS k ON k.message_id = m.message_id "
    "WHERE m.mailbox_id = ? AND ({condition}) ORDER BY {order}, m.uid"
)
_SQL_WITHOUT_KEYS = (
    "SELECT m.message_id FROM membership AS m "
    "LEFT JOIN message_sort_keys AS k ON k.message_id = m.message_id "
    "WHERE m.mailbox_id = ? AND ({condition}) AND (k.version IS NULL OR k.version != ?)"
)


def _uid_condition(uids: Sequence[Uid]) -> tuple[str, list[Any]]:
    """One condition for any set of UIDs: ranges while they are few, else a JSON list."""
    ranges = uid_ranges(uids)
    if len(ranges) <= mail.RANGES_PER_STATEMENT:
        return mail.uid_condition_sql(ranges)
    return "m.uid IN (SELECT value FROM json_each(?))", [json.dumps(list(uids))]


def without_keys(raw: sqlite3.Connection, mailbox_id: MailboxId, uids: Sequence[Uid]) -> list[int]:
    """messages.id of these UIDs that have no current keys yet."""
    if not uids:
        return []
    condition, params = _uid_condition(uids)
    sql = _SQL_WITHOUT_KEYS.format(condition=condition)
    return [row[0] for row in raw.execute(sql, (mailbox_id, *params, SORT_KEYS_VERSION))]


def ordered_uids(
    raw: sqlite3.Connection, mailbox_id: MailboxId, uids: Sequence[Uid], order: Sequence[tuple[str, bool]]
) -> list[Uid]:
    """These UIDs (those that exist) ordered by ``order`` ((``ORDER_KEYS`` name, descending), the
    first deciding first), ties by UID: the sort happens in SQLite, no key reaches Python. Messages
    without current keys sort as empty ones (``without_keys`` says which, to derive them first)."""
    if not uids:
        return []
    unknown = {name for name, _ in order} - set(ORDER_KEYS)
    if unknown or not order:
        raise ValueError(f"cannot order by {sorted(unknown)}")
    terms = ", ".join(ORDER_KEYS[name] + (" DESC" if descending else "") for name, descending in order)
    join = _JOIN_MESSAGES if any(name == "size" for name, _ in order) else ""
    condition, params = _uid_condition(uids)
    sql = _SQL_ORDERED.format(join=join, condition=condition, order=terms)
    return [row[0] for row in raw.execute(sql, (mailbox_id, *params))]


def derive(raw: sqlite3.Connection, message_ids: Iterable[int]) -> Derived:
    """Keys of these messages that have no current row yet (the indexer's step after indexing)."""
    ids = sorted(set(message_ids))
    derived: Derived = []
    for start in range(0, len(ids), mail.IDS_PER_STATEMENT):
        chunk = json.dumps(ids[start : start + mail.IDS_PER_STATEMENT])
        for message_id, parsed_json in raw.execute(_SQL_MISSING, (chunk, SORT_KEYS_VERSION)):
            derived.append((message_id, keys_of_record(parsed_json)))
    return derived


def derive_queued(raw: sqlite3.Connection, action: int, limit: int) -> Derived:
    """Keys of the first ``limit`` messages queued for the search index with ``action`` (what the
    indexer's next batch takes) that have no current row: read by the indexer's look at its queue, on
    a reader, so that its one write transaction only stores them."""
    return [
        (message_id, keys_of_record(parsed_json))
        for message_id, parsed_json in raw.execute(_SQL_QUEUED_MISSING, (action, SORT_KEYS_VERSION, limit))
    ]


def store_row(message_id: int, k: SortKeys) -> tuple[Any, ...]:
    """The parameters of a kept row (``_SQL_STORE``'s order, both engines): references are kept
    space-separated, and NUL is left out of every text (a header may decode to one; PostgreSQL's
    text refuses it, and a key without it sorts as one with it would but for that character)."""
    texts = (
        k.subject,
        k.from_,
        k.to,
        k.cc,
        k.display_from,
        k.display_to,
        k.message_id,
        " ".join(k.references),
    )
    subject, from_, to, cc, display_from, display_to, mid, references = (_no_nul(t) for t in texts)
    return (
        message_id, SORT_KEYS_VERSION, subject, k.reply, from_, to, cc, display_from,
        display_to, k.sent, mid, references, message_id,
    )  # fmt: skip


def _no_nul(text: str | None) -> str | None:
    return None if text is None else text.replace("\x00", "")


def store_keys(raw: sqlite3.Connection, derived: Derived) -> None:
    """A writer job's part: keep derived keys (of messages that still exist)."""
    raw.executemany(_SQL_STORE, [store_row(message_id, k) for message_id, k in derived])


def forget_keys(raw: sqlite3.Connection, dead: Sequence[int]) -> None:
    """In the transaction that deletes these message rows."""
    raw.execute(_SQL_FORGET, (json.dumps(list(dead)),))


def forget_orphans(raw: sqlite3.Connection) -> None:
    """Reconstruct: keys of messages that are gone, and of every message whose parse record it
    rewrote (derived again when next needed)."""
    raw.execute(_SQL_FORGET_ORPHANS)
