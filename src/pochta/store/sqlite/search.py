"""Search data of the SQLite store: what delivery writes, the background indexer, and the queries.

Delivery (a writer job, ``add_message``) writes the message's folded text once
(``message_search_text``), the folded values of ``SEARCH_FIELDS`` (``message_header_values``) and a
``search_queue`` row (INDEX_ADD); it never touches the FTS5 index, whose writes were most of a
delivery's cost. The indexer (``index_pending``, a writer job run in batches by
``SqliteStore.run_indexer``) claims queue rows *inside its write transaction*, changes the index and
deletes the rows in that same transaction: a crash leaves either both or neither, and two processes
running it take turns on the write lock and find the rows the other one claimed already gone.

``message_index`` is FTS5 trigram, contentless, ``detail=none``: it returns the messages holding every
trigram of the folded string, a superset that the queries check against the folded text with
``instr`` (exact); when the candidates outnumber the mailbox's messages, the mailbox's texts are
checked instead. Messages not yet indexed (queued INDEX_ADD) are checked directly. Messages stored
before revision 0007 (INDEX_FILL) have no search rows until the indexer re-parses their blob; until
then text searches parse their blob and header searches report them as undecided (the caller reads
their parse records).

A message that goes (``forget_messages``) loses its header values at once; its text stays until the
indexer has taken it out of the index (a contentless FTS5 table can only delete a row given the
values it indexed), unless it was never indexed.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Literal

from sqlalchemy import Connection

from pochta.config import MimeSettings
from pochta.mime import ParsedMessage, parse_message
from pochta.mime.search import SEARCH_FIELDS, fold, folded_text, header_rows
from pochta.store.api import NotFound
from pochta.store.model import BlobRef, IndexResult, MailboxId, Uid
from pochta.store.schema import INDEX_ADD, INDEX_DROP, INDEX_FILL
from pochta.store.sqlite.inline import BlobReader
from pochta.store.sqlite.writer import driver_connection

log = logging.getLogger(__name__)

TRIGRAM = 3  # the index holds 3-character windows: shorter strings are checked against every text
MAX_TRIGRAMS = 24  # of a long string, this many spread over it narrow the candidates enough


@dataclass(frozen=True)
class SearchRows:
    """What delivery stores for search, computed off the writer thread (``search_rows``)."""

    headers: str
    body: str
    header_values: list[tuple[str, int, str]]


def search_rows(parsed: ParsedMessage) -> SearchRows:
    body, headers = folded_text(parsed)
    return SearchRows(headers, body, header_rows(parsed))


_SQL_TEXT = "INSERT INTO message_search_text (message_id, headers, body) VALUES (?, ?, ?)"
_SQL_HEADER = "INSERT INTO message_header_values (message_id, field, position, value) VALUES (?, ?, ?, ?)"
_SQL_QUEUE = "INSERT OR REPLACE INTO search_queue (message_id, action) VALUES (?, ?)"


def add_message(raw: sqlite3.Connection, message_id: int, rows: SearchRows) -> None:
    """In the delivery's transaction: the search rows of a new message, queued for the index."""
    raw.execute(_SQL_TEXT, (message_id, rows.headers, rows.body))
    if rows.header_values:
        raw.executemany(_SQL_HEADER, [(message_id, *row) for row in rows.header_values])
    raw.execute(_SQL_QUEUE, (message_id, INDEX_ADD))


def _ids(ids: Iterable[int]) -> str:
    """A list of ids as one parameter, read in SQL with ``json_each`` (no statement built per size)."""
    return json.dumps(sorted(ids))


_SQL_FORGET_HEADERS = "DELETE FROM message_header_values WHERE message_id IN (SELECT value FROM json_each(?))"
_SQL_UNQUEUE_UNINDEXED = (
    "DELETE FROM search_queue WHERE message_id IN (SELECT value FROM json_each(?)) AND action != ? "
    "RETURNING message_id"
)
_SQL_DELETE_TEXTS = "DELETE FROM message_search_text WHERE message_id IN (SELECT value FROM json_each(?))"


def forget_messages(raw: sqlite3.Connection, dead: Sequence[int]) -> None:
    """In the transaction that deletes these message rows: drop their search data, or queue the
    removal of their index entry for the indexer."""
    raw.execute(_SQL_FORGET_HEADERS, (_ids(dead),))
    # Never indexed (or never filled): nothing in the index, so the text goes now.
    unindexed = [row[0] for row in raw.execute(_SQL_UNQUEUE_UNINDEXED, (_ids(dead), INDEX_DROP)).fetchall()]
    if unindexed:
        raw.execute(_SQL_DELETE_TEXTS, (_ids(unindexed),))
    indexed = set(dead) - set(unindexed)
    if indexed:
        raw.executemany(_SQL_QUEUE, [(mid, INDEX_DROP) for mid in sorted(indexed)])


# The indexer


_SQL_QUEUED = (
    "SELECT q.message_id, q.action, coalesce(length(t.body) + length(t.headers), 0) "
    "FROM search_queue AS q LEFT JOIN message_search_text AS t ON t.message_id = q.message_id "
    "WHERE q.action IN (?, ?) ORDER BY q.message_id LIMIT ?"
)
_SQL_INDEX_ADD = (
    "INSERT INTO message_index (rowid, body, headers) SELECT message_id, body, headers "
    "FROM message_search_text WHERE message_id IN (SELECT value FROM json_each(?))"
)
_SQL_INDEX_DROP = (
    "INSERT INTO message_index (message_index, rowid, body, headers) SELECT 'delete', message_id, body, "
    "headers FROM message_search_text WHERE message_id IN (SELECT value FROM json_each(?))"
)
_SQL_UNQUEUE = "DELETE FROM search_queue WHERE message_id IN (SELECT value FROM json_each(?))"
_SQL_TO_FILL = (
    "SELECT q.message_id, g.sha256 FROM search_queue AS q JOIN messages AS g ON g.id = q.message_id "
    "WHERE q.action = ? ORDER BY q.message_id LIMIT ?"
)


def index_pending(conn: Connection, limit: int, max_chars: int | None = None) -> IndexResult:
    """A writer job: move up to ``limit`` queued messages, and no more than ``max_chars`` characters
    of text (at least one message), into (or out of) the index, claiming the queue rows in this
    transaction: the job holds the writer, so its size bounds how long deliveries wait. Also
    returns up to ``limit`` messages that need their blob re-parsed (INDEX_FILL; ``fill_messages``
    stores them) when the batch was not full."""
    raw = driver_connection(conn)
    result = IndexResult()
    queued: list[tuple[int, int]] = []
    chars = 0
    rows = raw.execute(_SQL_QUEUED, (INDEX_ADD, INDEX_DROP, limit)).fetchall()
    for mid, action, size in rows:
        if queued and max_chars is not None and chars + size > max_chars:
            break
        queued.append((mid, action))
        chars += size
    full = len(queued) < len(rows)
    add = [mid for mid, action in queued if action == INDEX_ADD]
    drop = [mid for mid, action in queued if action == INDEX_DROP]
    if add:
        raw.execute(_SQL_INDEX_ADD, (_ids(add),))
    if drop:
        raw.execute(_SQL_INDEX_DROP, (_ids(drop),))
        raw.execute(_SQL_DELETE_TEXTS, (_ids(drop),))
    if queued:
        raw.execute(_SQL_UNQUEUE, (_ids(mid for mid, _ in queued),))
    result.added, result.dropped, result.added_ids = len(add), len(drop), add
    result.more = full or len(rows) >= limit
    if not full and len(queued) < limit:
        fill = raw.execute(_SQL_TO_FILL, (INDEX_FILL, limit - len(queued))).fetchall()
        result.fill = [(int(mid), str(sha)) for mid, sha in fill]
    return result


def parse_for_fill(blobs: BlobReader, mime: MimeSettings, sha256: str) -> SearchRows:
    """The search rows of a stored message, from its blob, a file or a row (empty if it is missing).
    On a worker thread: the blob may be read from the database."""
    return rows_of_blob(blobs.open, mime, sha256)


def rows_of_blob(open_blob: Callable[[BlobRef], BinaryIO], mime: MimeSettings, sha256: str) -> SearchRows:
    """The search rows of the blob ``open_blob`` reads (empty if it is missing), on either engine."""
    try:
        with open_blob(BlobRef(sha256, 0)) as f:
            data = f.read()
    except NotFound:
        log.warning("search index: blob %s is missing; the message is indexed without text", sha256)
        return SearchRows("", "", [])
    return search_rows(parse_message(data, mime))


_SQL_CLAIM_FILL = "DELETE FROM search_queue WHERE message_id = ? AND action = ? RETURNING message_id"
_SQL_INDEX_ONE = "INSERT INTO message_index (rowid, body, headers) VALUES (?, ?, ?)"


def fill_messages(conn: Connection, items: Sequence[tuple[int, SearchRows]]) -> int:
    """A writer job: store and index re-parsed messages still queued INDEX_FILL (another process may
    have done some already, or they may be gone). Returns how many it stored."""
    raw = driver_connection(conn)
    filled = 0
    for message_id, rows in items:
        claimed = raw.execute(_SQL_CLAIM_FILL, (message_id, INDEX_FILL)).fetchall()
        if not claimed:
            continue
        raw.execute(_SQL_TEXT, (message_id, rows.headers, rows.body))
        if rows.header_values:
            raw.executemany(_SQL_HEADER, [(message_id, *row) for row in rows.header_values])
        raw.execute(_SQL_INDEX_ONE, (message_id, rows.body, rows.headers))
        filled += 1
    return filled


def backlog(conn: Connection) -> int:
    """Queue rows waiting for the indexer."""
    return int(driver_connection(conn).execute("SELECT count(*) FROM search_queue").fetchone()[0])


def has_backlog(conn: Connection) -> bool:
    return driver_connection(conn).execute("SELECT 1 FROM search_queue LIMIT 1").fetchone() is not None


_SQL_QUEUE_ALL = (
    "INSERT OR REPLACE INTO search_queue (message_id, action) SELECT message_id, ? FROM message_search_text"
)


def rebuild_index(conn: Connection) -> int:
    """A writer job: empty the index and queue every stored text to be indexed again (reconstruct).
    Searches stay exact meanwhile (queued messages are checked directly)."""
    raw = driver_connection(conn)
    raw.execute("INSERT INTO message_index (message_index) VALUES ('delete-all')")
    # Texts of messages already gone were waiting to leave the index: it is empty now.
    raw.execute(
        "DELETE FROM message_search_text WHERE message_id IN "
        "(SELECT message_id FROM search_queue WHERE action = ?)",
        (INDEX_DROP,),
    )
    raw.execute("DELETE FROM search_queue WHERE action = ?", (INDEX_DROP,))
    raw.execute(_SQL_QUEUE_ALL, (INDEX_ADD,))
    return int(raw.execute("SELECT changes()").fetchone()[0])


# Maintenance (sqlite_maintenance: reconstruct, verify)

_SQL_DROP_HEADERS = "DELETE FROM message_header_values WHERE message_id = ?"


def replace_message(raw: sqlite3.Connection, message_id: int, rows: SearchRows) -> None:
    """Reconstruct: the message's search rows as its blob gives them (the index is rebuilt after)."""
    raw.execute("DELETE FROM message_search_text WHERE message_id = ?", (message_id,))
    raw.execute(_SQL_DROP_HEADERS, (message_id,))
    raw.execute(_SQL_TEXT, (message_id, rows.headers, rows.body))
    if rows.header_values:
        raw.executemany(_SQL_HEADER, [(message_id, *row) for row in rows.header_values])
    raw.execute("DELETE FROM search_queue WHERE message_id = ? AND action = ?", (message_id, INDEX_FILL))


def forget_orphans(raw: sqlite3.Connection) -> None:
    """Reconstruct, after messages rows were removed: search data of messages that are gone."""
    gone = [
        row[0]
        for row in raw.execute(
            "SELECT message_id FROM message_search_text WHERE message_id NOT IN (SELECT id FROM messages) "
            "AND message_id NOT IN (SELECT message_id FROM search_queue WHERE action = ?)",
            (INDEX_DROP,),
        )
    ]
    gone += [
        row[0]
        for row in raw.execute(
            "SELECT DISTINCT message_id FROM message_header_values "
            "WHERE message_id NOT IN (SELECT id FROM messages)"
        )
    ]
    gone += [
        row[0]
        for row in raw.execute(
            "SELECT message_id FROM search_queue "
            "WHERE action != ? AND message_id NOT IN (SELECT id FROM messages)",
            (INDEX_DROP,),
        )
    ]
    if gone:
        forget_messages(raw, sorted(set(gone)))


def check(conn: Connection) -> tuple[int, list[int]]:
    """Verify: (queue rows waiting for the indexer, messages with no search text and none queued)."""
    raw = driver_connection(conn)
    missing = [
        row[0]
        for row in raw.execute(
            "SELECT id FROM messages WHERE id NOT IN (SELECT message_id FROM message_search_text) "
            "AND id NOT IN (SELECT message_id FROM search_queue WHERE action = ?) ORDER BY id",
            (INDEX_FILL,),
        )
    ]
    return backlog(conn), missing


# Queries


def _trigram_match(query: str) -> str:
    """Every trigram of ``query`` as an FTS5 phrase, AND-ed: the user's text never becomes syntax
    (inside double quotes only '"' is special, doubled)."""
    grams = list(dict.fromkeys(query[i : i + TRIGRAM] for i in range(len(query) - TRIGRAM + 1)))
    if len(grams) > MAX_TRIGRAMS:
        step = len(grams) / MAX_TRIGRAMS
        grams = [grams[int(i * step)] for i in range(MAX_TRIGRAMS)] + [grams[-1]]
    return " AND ".join('"' + gram.replace('"', '""') + '"' for gram in grams)


_SQL_ALL = "SELECT uid FROM membership WHERE mailbox_id = ?"
_SQL_COUNT = "SELECT messages FROM mailboxes WHERE id = ?"
_SQL_CANDIDATES = "SELECT rowid FROM message_index WHERE message_index MATCH ?"
# Every message of the mailbox, checked against its text.
_SQL_SCAN = {
    "body": "SELECT m.uid FROM membership AS m JOIN message_search_text AS t ON t.message_id = m.message_id "
    "WHERE m.mailbox_id = :mailbox AND instr(t.body, :q) > 0",
    "text": "SELECT m.uid FROM membership AS m JOIN message_search_text AS t ON t.message_id = m.message_id "
    "WHERE m.mailbox_id = :mailbox AND (instr(t.headers, :q) > 0 OR instr(t.body, :q) > 0)",
}
# The index's candidates and what the indexer has not reached yet, each checked against its text:
# SQLite walks the id list (one index probe each) rather than the mailbox.
_SQL_CHECK = {
    "body": "SELECT m.uid FROM membership AS m JOIN message_search_text AS t ON t.message_id = m.message_id "
    "WHERE m.mailbox_id = :mailbox AND m.message_id IN "
    "(SELECT value FROM json_each(:ids) UNION ALL SELECT message_id FROM search_queue) "
    "AND instr(t.body, :q) > 0",
    "text": "SELECT m.uid FROM membership AS m JOIN message_search_text AS t ON t.message_id = m.message_id "
    "WHERE m.mailbox_id = :mailbox AND m.message_id IN "
    "(SELECT value FROM json_each(:ids) UNION ALL SELECT message_id FROM search_queue) "
    "AND (instr(t.headers, :q) > 0 OR instr(t.body, :q) > 0)",
}
# Messages of the mailbox stored before revision 0007 and not filled yet: from the queue's action
# index, so that a store without any costs one index probe.
_SQL_UNFILLED = (
    "SELECT m.uid, g.sha256 FROM search_queue AS s CROSS JOIN membership AS m ON m.message_id = s.message_id "
    "JOIN messages AS g ON g.id = m.message_id WHERE s.action = ? AND m.mailbox_id = ?"
)


def search_string(query: str) -> str:
    """What a search compares, on either engine: the folded query (``fold``, as the stored text is),
    without NUL, which no stored text holds and PostgreSQL's text cannot."""
    return fold(query.replace("\x00", ""))


def text_query(query: str, where: str) -> str:
    """The folded query of a BODY/TEXT search (``search_string``), ValueError for another field."""
    if where not in ("body", "text"):
        raise ValueError(f"unknown search field {where!r}")
    return search_string(query)


def header_field(name: str) -> str:
    """The stored name of a header field searched for, ValueError for one not kept."""
    name = name.lower()
    if name not in SEARCH_FIELDS:
        raise ValueError(f"header field {name!r} is not kept for search")
    return name


def search_text(
    conn: Connection,
    blobs: BlobReader,
    mime: MimeSettings,
    mailbox_id: MailboxId,
    query: str,
    where: Literal["body", "text"],
) -> set[Uid]:
    """RFC 9051 §6.4.4 BODY/TEXT: the mailbox's messages whose folded text contains the folded query."""
    raw = driver_connection(conn)
    q = text_query(query, where)
    if not q:
        # Every string contains the empty string.
        return {row[0] for row in raw.execute(_SQL_ALL, (mailbox_id,))}
    sql = _SQL_SCAN[where]
    params: dict[str, object] = {"mailbox": mailbox_id, "q": q}
    if len(q) >= TRIGRAM:
        candidates = [row[0] for row in raw.execute(_SQL_CANDIDATES, (_trigram_match(q),))]
        # Candidates from every mailbox: when they outnumber this mailbox's messages (a common
        # word), checking the mailbox's texts is cheaper than probing for each candidate.
        size = raw.execute(_SQL_COUNT, (mailbox_id,)).fetchone()
        if size is not None and len(candidates) < size[0]:
            sql, params["ids"] = _SQL_CHECK[where], _ids(candidates)
    found = {row[0] for row in raw.execute(sql, params)}
    for uid, sha256 in raw.execute(_SQL_UNFILLED, (INDEX_FILL, mailbox_id)).fetchall():
        rows = parse_for_fill(blobs, mime, sha256)
        if q in rows.body or (where == "text" and q in rows.headers):
            found.add(uid)
    return found


_SQL_HEADER_ANY = (
    "SELECT m.uid FROM membership AS m WHERE m.mailbox_id = ? AND EXISTS (SELECT 1 FROM "
    "message_header_values AS h WHERE h.message_id = m.message_id AND h.field = ?)"
)
_SQL_HEADER_MATCH = (
    "SELECT m.uid FROM membership AS m WHERE m.mailbox_id = ? AND EXISTS (SELECT 1 FROM "
    "message_header_values AS h WHERE h.message_id = m.message_id AND h.field = ? AND instr(h.value, ?) > 0)"
)


def search_header(
    conn: Connection, mailbox_id: MailboxId, name: str, query: str
) -> tuple[set[Uid], set[Uid]]:
    """RFC 9051 §6.4.4 header keys on a ``SEARCH_FIELDS`` field: (UIDs whose decoded value of a
    ``name`` field contains the folded query, "" any such field; UIDs not decided here because their
    values are not stored yet)."""
    name = header_field(name)
    raw = driver_connection(conn)
    q = search_string(query)
    if q:
        found = {row[0] for row in raw.execute(_SQL_HEADER_MATCH, (mailbox_id, name, q))}
    else:
        found = {row[0] for row in raw.execute(_SQL_HEADER_ANY, (mailbox_id, name))}
    unknown = {row[0] for row in raw.execute(_SQL_UNFILLED, (INDEX_FILL, mailbox_id))}
    return found - unknown, unknown
