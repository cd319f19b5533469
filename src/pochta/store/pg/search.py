"""Search on PostgreSQL: the queries over pg_trgm's trigram indexes, and the indexer's queue.

Delivery writes the same rows as on SQLite (``pg/mail.upsert_message``): the folded text
(``message_search_text``), the folded values of ``SEARCH_FIELDS`` (``message_header_values``) and an
INDEX_ADD row in ``search_queue``. What differs is the index:

- **The index is PostgreSQL's own.** GIN indexes of pg_trgm's trigrams (``TRIGRAM_INDEXES``, built
  by ``pg/schema`` and revision 0035) cover the text and header values: PostgreSQL keeps them with
  each insert, in the delivery's transaction, where SQLite's FTS5 table is filled by the indexer
  (its writes were most of a delivery's cost on the one writer; here writers run side by side, and
  GIN's pending list makes the insert cheap). So the indexer's "add" is taking the queue row (the
  message is searchable from its commit) and merging GIN's pending lists into the indexes
  (``merge_pending``: a search scans a pending list entry by entry, ten times slower than the
  index when a few thousand messages wait there, docs/search-index.md), and its "drop" deletes
  the text (the index entry goes with the row). The queue stays: it is what ``index_backlog`` counts, where
  the SORT keys of new messages are derived (``pg/sortkeys``), and what the tests of both engines
  share. docs/search-index.md has the figures.
- **Queries are exact by themselves.** ``LIKE`` on the folded text with the folded query, its
  metacharacters (``%``, ``_``, ``\\``) escaped, is RFC 9051 §6.4.4's case-insensitive substring
  match (both sides folded by ``pochta.mime.search.fold``, as on SQLite): the trigram index narrows
  the candidates, and PostgreSQL rechecks each against the text. pg_trgm takes trigrams of words
  (runs of letters and digits), so a query without a run of three cannot narrow anything (an index
  scan of every entry): such a query (``narrows``) is checked with ``strpos`` against the mailbox's
  texts instead, as SQLite does for a string shorter than a trigram.
- **Claims** are ``DELETE ... WHERE message_id IN (SELECT ... FOR UPDATE SKIP LOCKED)`` at READ
  COMMITTED (``PgStore.run_write_committed``): several nodes' indexers take disjoint rows, each
  skipping what another is taking.

Messages stored before SQLite's revision 0007 (INDEX_FILL; a database moved from such an
installation) are handled as on SQLite: text searches parse their blob, header searches report
them undecided, and the indexer re-parses and stores them (``fill_messages``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import BinaryIO, Literal

from sqlalchemy import Connection

from pochta.config import MimeSettings
from pochta.store.model import BlobRef, IndexResult, MailboxId, Uid
from pochta.store.pg.mail import fetch_rows
from pochta.store.schema import INDEX_ADD, INDEX_DROP, INDEX_FILL
from pochta.store.sqlite.search import SearchRows, header_field, rows_of_blob, search_string, text_query

__all__ = [
    "TRIGRAM_INDEXES",
    "backlog",
    "claim",
    "fill_messages",
    "like_pattern",
    "merge_pending",
    "narrows",
    "search_header",
    "search_text",
    "to_fill",
    "trigram_ddl",
]

# name -> (table, column): pg_trgm GIN indexes on the folded text PostgreSQL searches.
TRIGRAM_INDEXES = {
    "ix_trgm_message_search_text_body": ("message_search_text", "body"),
    "ix_trgm_message_search_text_headers": ("message_search_text", "headers"),
    "ix_trgm_message_header_values_value": ("message_header_values", "value"),
}


def trigram_ddl() -> list[str]:
    """The extension and the indexes (``pg/schema`` at the head, revision 0035 on an older database).
    pg_trgm is a trusted extension: the database's owner may create it."""
    return ["CREATE EXTENSION IF NOT EXISTS pg_trgm"] + [
        f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({column} gin_trgm_ops)"
        for name, (table, column) in TRIGRAM_INDEXES.items()
    ]


_WORD_RUN = re.compile(r"[^\W_]{3}")  # three letters or digits in a row: pg_trgm's words


def narrows(q: str) -> bool:
    """Whether pg_trgm can draw a trigram from ``q`` to narrow a search (see the module docstring)."""
    return _WORD_RUN.search(q) is not None


def like_pattern(q: str) -> str:
    """``q`` as a LIKE pattern matching any text containing it: ``\\``, ``%`` and ``_`` escaped
    (``\\`` is LIKE's default escape character, named in the statements all the same)."""
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# Queries

_SQL_ALL = "SELECT uid FROM membership WHERE mailbox_id = %s"
_TEXT_JOIN = (
    "SELECT m.uid FROM membership AS m JOIN message_search_text AS t ON t.message_id = m.message_id "
    "WHERE m.mailbox_id = %(mailbox)s AND "
)
# Through the trigram indexes (the planner weighs them against the mailbox's size, as SQLite's
# code does by hand), or the mailbox's texts one by one.
_SQL_TEXT = {
    ("body", True): _TEXT_JOIN + "t.body LIKE %(pattern)s ESCAPE '\\'",
    ("text", True): _TEXT_JOIN
    + "(t.headers LIKE %(pattern)s ESCAPE '\\' OR t.body LIKE %(pattern)s ESCAPE '\\')",
    ("body", False): _TEXT_JOIN + "strpos(t.body, %(q)s) > 0",
    ("text", False): _TEXT_JOIN + "(strpos(t.headers, %(q)s) > 0 OR strpos(t.body, %(q)s) > 0)",
}
# Messages of the mailbox stored before SQLite's revision 0007 and not filled yet.
_SQL_UNFILLED = (
    "SELECT m.uid, g.sha256 FROM search_queue AS s JOIN membership AS m ON m.message_id = s.message_id "
    "JOIN messages AS g ON g.id = m.message_id WHERE s.action = %s AND m.mailbox_id = %s"
)


def search_text(
    conn: Connection,
    open_blob: Callable[[BlobRef], BinaryIO],
    mime: MimeSettings,
    mailbox_id: MailboxId,
    query: str,
    where: Literal["body", "text"],
) -> set[Uid]:
    """RFC 9051 §6.4.4 BODY/TEXT: the mailbox's messages whose folded text contains the folded query."""
    q = text_query(query, where)
    if not q:
        # Every string contains the empty string.
        return {row[0] for row in fetch_rows(conn, _SQL_ALL, (mailbox_id,))}
    sql = _SQL_TEXT[(where, narrows(q))]
    params = {"mailbox": mailbox_id, "pattern": like_pattern(q), "q": q}
    found: set[Uid] = {row[0] for row in conn.exec_driver_sql(sql, params)}
    for uid, sha256 in fetch_rows(conn, _SQL_UNFILLED, (INDEX_FILL, mailbox_id)):
        rows = rows_of_blob(open_blob, mime, sha256)
        if q in rows.body or (where == "text" and q in rows.headers):
            found.add(uid)
    return found


_HEADER_EXISTS = (
    "SELECT m.uid FROM membership AS m WHERE m.mailbox_id = %(mailbox)s AND EXISTS (SELECT 1 FROM "
    "message_header_values AS h WHERE h.message_id = m.message_id AND h.field = %(field)s"
)
_SQL_HEADER_ANY = _HEADER_EXISTS + ")"
_SQL_HEADER_MATCH = {
    True: _HEADER_EXISTS + " AND h.value LIKE %(pattern)s ESCAPE '\\')",
    False: _HEADER_EXISTS + " AND strpos(h.value, %(q)s) > 0)",
}


def search_header(
    conn: Connection, mailbox_id: MailboxId, name: str, query: str
) -> tuple[set[Uid], set[Uid]]:
    """RFC 9051 §6.4.4 header keys on a ``SEARCH_FIELDS`` field, as ``sqlite/search.search_header``:
    (UIDs whose decoded value of a ``name`` field contains the folded query, "" any such field; UIDs
    not decided here because their values are not stored yet)."""
    field = header_field(name)
    q = search_string(query)
    sql = _SQL_HEADER_MATCH[narrows(q)] if q else _SQL_HEADER_ANY
    params = {"mailbox": mailbox_id, "field": field, "pattern": like_pattern(q), "q": q}
    found: set[Uid] = {row[0] for row in conn.exec_driver_sql(sql, params)}
    unknown: set[Uid] = {row[0] for row in fetch_rows(conn, _SQL_UNFILLED, (INDEX_FILL, mailbox_id))}
    return found - unknown, unknown


# The indexer

# Claimed and taken in one statement: locked rows (another node's batch) are skipped, not waited for.
_SQL_CLAIM = (
    "DELETE FROM search_queue WHERE message_id IN (SELECT message_id FROM search_queue "
    "WHERE action IN (%s, %s) ORDER BY message_id LIMIT %s FOR UPDATE SKIP LOCKED) "
    "RETURNING message_id, action"
)
_SQL_DELETE_TEXTS = "DELETE FROM message_search_text WHERE message_id = ANY(%s)"
_SQL_TO_FILL = (
    "SELECT q.message_id, g.sha256 FROM search_queue AS q JOIN messages AS g ON g.id = q.message_id "
    "WHERE q.action = %s ORDER BY q.message_id LIMIT %s"
)


def claim(conn: Connection, limit: int) -> IndexResult:
    """At READ COMMITTED: take up to ``limit`` queued messages (see the module docstring: an added
    message is indexed already, a dropped one loses its text), and up to the rest of ``limit``
    messages to re-parse (INDEX_FILL, claimed by ``fill_messages``) when the batch was not full."""
    claimed = fetch_rows(conn, _SQL_CLAIM, (INDEX_ADD, INDEX_DROP, limit))
    add = sorted(int(mid) for mid, action in claimed if action == INDEX_ADD)
    drop = sorted(int(mid) for mid, action in claimed if action == INDEX_DROP)
    if drop:
        conn.exec_driver_sql(_SQL_DELETE_TEXTS, (drop,))
    result = IndexResult(added=len(add), dropped=len(drop), added_ids=add, more=len(claimed) >= limit)
    if len(claimed) < limit:
        result.fill = to_fill(conn, limit - len(claimed))
    return result


def merge_pending(conn: Connection) -> int:
    """The indexer's index step: GIN's pending lists (where inserts put new entries, unsorted,
    until a merge) merged into the trigram indexes, so that searches find new messages through
    the index rather than by scanning the list, and deliveries seldom meet a full list to merge
    themselves. Returns the pages merged. Needs the indexes' owner (the role that built the schema)."""
    merged = 0
    for name in TRIGRAM_INDEXES:
        merged += int(fetch_rows(conn, "SELECT gin_clean_pending_list(%s::regclass)", (name,))[0][0])
    return merged


def to_fill(conn: Connection, limit: int) -> list[tuple[int, str]]:
    return [(int(mid), str(sha)) for mid, sha in fetch_rows(conn, _SQL_TO_FILL, (INDEX_FILL, limit))]


_SQL_CLAIM_FILL = "DELETE FROM search_queue WHERE message_id = %s AND action = %s RETURNING message_id"
_SQL_INSERT_TEXT = "INSERT INTO message_search_text (message_id, headers, body) VALUES (%s, %s, %s)"
_SQL_INSERT_HEADER = (
    "INSERT INTO message_header_values (message_id, field, position, value) VALUES (%s, %s, %s, %s)"
)


def fill_messages(conn: Connection, items: Sequence[tuple[int, SearchRows]]) -> int:
    """At READ COMMITTED: store the re-parsed rows of messages still queued INDEX_FILL (the claim of
    each is its queue row's delete: another node's fill of it waits, then finds it gone)."""
    filled = 0
    for message_id, rows in items:
        if not fetch_rows(conn, _SQL_CLAIM_FILL, (message_id, INDEX_FILL)):
            continue
        conn.exec_driver_sql(_SQL_INSERT_TEXT, (message_id, rows.headers, rows.body))
        if rows.header_values:
            conn.exec_driver_sql(_SQL_INSERT_HEADER, [(message_id, *row) for row in rows.header_values])
        filled += 1
    return filled


def backlog(conn: Connection) -> int:
    """Queue rows waiting for the indexer."""
    return int(fetch_rows(conn, "SELECT count(*) FROM search_queue", ())[0][0])


def has_backlog(conn: Connection) -> bool:
    return bool(fetch_rows(conn, "SELECT 1 FROM search_queue LIMIT 1", ()))
