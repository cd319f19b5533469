"""The mail core's statements on SQLite, over a Connection: the ``MailOps`` that the writes of
``store/sql/mail_writes`` (deliver, flags, copy/move, expunge; the rules are told there) run here,
and the reads of changes and parse records.

Every function here runs in a writer job (inside the writer's transaction and savepoint) or in a
reader thread (inside one read transaction, so one snapshot). None is ever called on the event loop.
``SqliteStore`` in ``sqlite/store.py`` is the async face; mailbox creation, renaming and deletion
live in ``sqlite/mailboxes``; mailbox views in ``sqlite/views``; search data, the indexer and the
search queries in ``sqlite/search``.

The hot paths (deliver, views) run raw SQL on the sqlite3 connection under the SQLAlchemy one
(``writer.driver_connection``), in the same transaction: at a few hundred deliveries per second
SQLAlchemy's per-statement work was most of the writer thread's time.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Row, select

from pochta.store.api import NotFound
from pochta.store.model import (
    AccountId,
    BlobRef,
    CachedMessage,
    ChangeSet,
    MailboxId,
    MailboxInfo,
    MessageId,
    ModSeq,
    Uid,
)
from pochta.store.schema import accounts, quota_usage
from pochta.store.sql.mail_rows import (
    PARSE_VERSION,
    Box,
    BumpedMailbox,
    EntryRow,
    PreparedMessage,
    message_entry,
    normalize_uids,
    uid_ranges,
)
from pochta.store.sql.mail_writes import MembershipRow
from pochta.store.sqlite import keywords, search, sortkeys, threads, wire
from pochta.store.sqlite.quota import enforce_quota as enforce_quota  # one of the MailOps
from pochta.store.sqlite.writer import driver_connection

# Ranges per statement when selecting a UID set: SQLite limits expression depth (1000) and
# host parameters; 200 ranges keep a statement well inside both.
RANGES_PER_STATEMENT = 200
IDS_PER_STATEMENT = 500

# UID sets


def chunked(items: Sequence[Any], size: int = IDS_PER_STATEMENT) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# Rows to records


def mailbox_info(row: Row[Any]) -> MailboxInfo:
    return MailboxInfo(
        id=row.id,
        account_id=row.account_id,
        name=row.name,
        uidvalidity=row.uidvalidity,
        uidnext=row.uidnext,
        highestmodseq=row.highestmodseq,
        special_use=row.special_use,
        subscribed=bool(row.subscribed),
        messages=row.messages,
        unseen=row.unseen,
        deleted=row.deleted,
        size=row.size,
        first_recent_uid=row.first_recent_uid,
        recent=row.recent,
        keywords=tuple(row.keywords.split()),
    )


_ENTRY_COLUMNS = (
    "SELECT m.uid, m.message_id, m.flags, m.seen, m.deleted, m.modseq, m.internal_date, m.internal_tz, "
    "g.sha256, g.size FROM membership AS m "
)
_JOIN = "JOIN messages AS g ON g.id = m.message_id WHERE m.mailbox_id = ? "
_SQL_ENTRIES = _ENTRY_COLUMNS + _JOIN
# The indexes are named: without statistics (no ANALYZE) SQLite would rather walk the mailbox's whole
# primary-key range for its ORDER BY, 100,000 rows for the few changed since a recent MODSEQ.
_SQL_ENTRIES_SINCE = (
    _ENTRY_COLUMNS + "INDEXED BY ix_membership_mailbox_id_modseq " + _JOIN + "AND m.modseq > ? ORDER BY m.uid"
)
# The \Deleted messages of a mailbox (EXPUNGE): the partial index holds just those (revision 0013).
_SQL_ENTRIES_DELETED = (
    _ENTRY_COLUMNS + "INDEXED BY ix_membership_deleted " + _JOIN + "AND m.deleted ORDER BY m.uid"
)
_SQL_EXPUNGED_SINCE = (
    "SELECT uid FROM expunged INDEXED BY ix_expunged_mailbox_id_modseq "
    "WHERE mailbox_id = ? AND modseq > ? ORDER BY uid"
)


def read_entries(conn: Connection, mailbox_id: MailboxId, uids: Sequence[Uid] | None) -> list[EntryRow]:
    """Membership rows (joined with their message) for these sorted, distinct UIDs that exist (None:
    every one of the mailbox), in UID order: raw SQL, one statement per chunk of UID ranges
    (``uid_condition_sql``)."""
    raw = driver_connection(conn)
    if uids is None:
        return list(map(EntryRow._make, raw.execute(_SQL_ENTRIES + "ORDER BY m.uid", (mailbox_id,))))
    rows: list[EntryRow] = []
    ranges = uid_ranges(uids)
    for start in range(0, len(ranges), RANGES_PER_STATEMENT):
        condition, params = uid_condition_sql(ranges[start : start + RANGES_PER_STATEMENT])
        sql = f"{_SQL_ENTRIES}AND ({condition}) ORDER BY m.uid"
        rows.extend(map(EntryRow._make, raw.execute(sql, (mailbox_id, *params))))
    return rows


def deleted_entries(conn: Connection, mailbox_id: MailboxId) -> list[EntryRow]:
    return list(map(EntryRow._make, driver_connection(conn).execute(_SQL_ENTRIES_DELETED, (mailbox_id,))))


# Mailbox rows and counters
#
# The statements of the write path are raw SQL on the driver connection (see the module docstring),
# or, for the colder ones, SQLAlchemy statements built once (SQLAlchemy then skips construction and
# cache-key computation on every call).

_SQL_BOX = "SELECT account_id, highestmodseq, uidvalidity, deleted FROM mailboxes WHERE id = ?"
_SQL_BOX_BY_NAME = "SELECT id FROM mailboxes WHERE account_id = ? AND name = ?"

# Two statements per mailbox and operation: take the account's next MODSEQ (above the mailbox's own
# too: ``store/sql/mail_writes`` tells why), then reserve UIDs, set the MODSEQ and move the counters.
_SQL_TAKE_MODSEQ = (
    "INSERT INTO account_modseq (account_id, modseq) SELECT account_id, highestmodseq + 1 "
    "FROM mailboxes WHERE id = ? ON CONFLICT (account_id) DO UPDATE "
    "SET modseq = max(account_modseq.modseq + 1, excluded.modseq) RETURNING modseq"
)
_SQL_BUMP_MAILBOX = (
    "UPDATE mailboxes SET uidnext = uidnext + ?, highestmodseq = ?, "
    "messages = messages + ?, unseen = unseen + ?, deleted = deleted + ?, size = size + ? "
    "WHERE id = ? RETURNING uidnext, highestmodseq, uidvalidity, account_id"
)
# The account's Email records (``store/sql/mail_writes.record_emails`` tells the rules).
_SQL_EMAIL_ADDED = (
    "INSERT INTO account_emails (account_id, message_id, created, changed, destroyed) "
    "VALUES (?1, ?2, ?3, ?3, NULL) ON CONFLICT (account_id, message_id) DO UPDATE SET "
    "created = CASE WHEN account_emails.destroyed IS NULL THEN account_emails.created "
    "ELSE excluded.created END, changed = excluded.changed, destroyed = NULL"
)
_SQL_EMAIL_CHANGED = (
    "INSERT INTO account_emails (account_id, message_id, created, changed, destroyed) "
    "VALUES (?1, ?2, ?3, ?3, NULL) ON CONFLICT (account_id, message_id) DO UPDATE SET "
    "changed = excluded.changed"
)
_SQL_EMAIL_REMOVED = (
    "UPDATE account_emails SET changed = ?3, destroyed = CASE WHEN EXISTS (SELECT 1 FROM membership AS m "
    "JOIN mailboxes AS b ON b.id = m.mailbox_id WHERE m.message_id = ?2 AND b.account_id = ?1) "
    "THEN NULL ELSE ?3 END, thread_id = (SELECT thread_id FROM message_threads "
    "WHERE account_id = ?1 AND message_id = ?2) WHERE account_id = ?1 AND message_id = ?2"
)
_SQL_ADD_QUOTA = (
    "INSERT INTO quota_usage (account_id, bytes, messages) VALUES (?, ?, ?) "
    "ON CONFLICT (account_id) DO UPDATE "
    "SET bytes = bytes + excluded.bytes, messages = messages + excluded.messages"
)
_SQL_RETAIN = "UPDATE messages SET refcount = refcount + ? WHERE id = ?"
_SQL_MESSAGE_BY_SHA = "SELECT id FROM messages WHERE sha256 = ?"
_SQL_INSERT_MESSAGE = (
    "INSERT INTO messages (sha256, size, parsed_json, parse_version, refcount) VALUES (?, ?, ?, ?, ?)"
)
_SQL_INSERT_MEMBERSHIP = (
    "INSERT INTO membership (mailbox_id, uid, message_id, flags, seen, deleted, modseq, internal_date, "
    "internal_tz, save_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SQL_INSERT_EXPUNGED = "INSERT INTO expunged (mailbox_id, uid, modseq, at) VALUES (?, ?, ?, ?)"
_SQL_HORIZON = "SELECT modseq FROM expunge_horizon WHERE mailbox_id = ?"
_SQL_LIVE_UIDS = "SELECT uid FROM membership WHERE mailbox_id = ? ORDER BY uid"
_SQL_DELETE_MEMBERSHIP = "DELETE FROM membership WHERE mailbox_id = ? AND uid = ?"
_SQL_UPDATE_FLAGS = (
    "UPDATE membership SET flags = ?, seen = ?, deleted = ?, modseq = ? WHERE mailbox_id = ? AND uid = ?"
)
_SQL_DELETE_MESSAGE = "DELETE FROM messages WHERE id = ?"
_SQL_DEAD_MESSAGES = "SELECT id FROM messages WHERE refcount <= 0 AND id IN "


def mailbox_box(conn: Connection, mailbox_id: MailboxId) -> Box:
    rows = driver_connection(conn).execute(_SQL_BOX, (mailbox_id,)).fetchall()
    if not rows:
        raise NotFound(f"no mailbox with id {mailbox_id}")
    return Box(*rows[0])


def box_by_name(conn: Connection, account_id: AccountId, name: str) -> MailboxId | None:
    found = driver_connection(conn).execute(_SQL_BOX_BY_NAME, (account_id, name)).fetchall()
    return MailboxId(found[0][0]) if found else None


def require_account(conn: Connection, account_id: AccountId) -> None:
    if conn.execute(select(accounts.c.id).where(accounts.c.id == account_id)).first() is None:
        raise NotFound(f"no account with id {account_id}")


def bump_mailbox(
    conn: Connection,
    mailbox_id: MailboxId,
    *,
    uids: int = 0,
    messages: int = 0,
    unseen: int = 0,
    deleted: int = 0,
    size: int = 0,
) -> BumpedMailbox:
    """Reserve ``uids`` UIDs, take a new MODSEQ and apply counter deltas, atomically.

    Returns the mailbox's new uidnext (the reserved UIDs end just below it), highestmodseq (the new
    MODSEQ), uidvalidity and account_id. UIDs are never handed out twice; MODSEQs only grow.
    """
    raw = driver_connection(conn)
    # fetchall: to the end, so that each statement is finished before the next one
    taken = raw.execute(_SQL_TAKE_MODSEQ, (mailbox_id,)).fetchall()
    if not taken:
        raise NotFound(f"no mailbox with id {mailbox_id}")
    params = (uids, taken[0][0], messages, unseen, deleted, size, mailbox_id)
    return BumpedMailbox(*raw.execute(_SQL_BUMP_MAILBOX, params).fetchall()[0])


def lock_accounts(conn: Connection, mailbox_ids: Sequence[MailboxId]) -> None:
    """``MailOps.lock_accounts``: SQLite has one writer, whose transaction orders every write."""
    del conn, mailbox_ids


def record_emails(
    conn: Connection,
    account_id: AccountId,
    modseq: ModSeq,
    added: Iterable[MessageId] = (),
    changed: Iterable[MessageId] = (),
    removed: Iterable[MessageId] = (),
) -> None:
    """``MailOps.record_emails``: after the memberships were written."""
    raw = driver_connection(conn)
    for sql, ids in ((_SQL_EMAIL_ADDED, added), (_SQL_EMAIL_CHANGED, changed), (_SQL_EMAIL_REMOVED, removed)):
        rows = [(account_id, mid, modseq) for mid in sorted(set(ids))]
        if rows:
            raw.executemany(sql, rows)


def adjust_quota(conn: Connection, account_id: AccountId, size: int, count: int) -> None:
    if size or count:
        driver_connection(conn).execute(_SQL_ADD_QUOTA, (account_id, size, count))


def admit_keywords(
    conn: Connection, mailbox_id: MailboxId, found: dict[str, str], limit: int
) -> frozenset[str]:
    return keywords.admit_keywords(driver_connection(conn), mailbox_id, found, limit)


def retain_messages(conn: Connection, counts: Counter[MessageId]) -> None:
    if counts:
        driver_connection(conn).executemany(_SQL_RETAIN, [(n, mid) for mid, n in counts.items()])


def release_messages(conn: Connection, counts: Counter[MessageId]) -> None:
    """Drop references; a message nobody holds loses its row and search data (its blob stays for GC)."""
    if not counts:
        return
    raw = driver_connection(conn)
    raw.executemany(_SQL_RETAIN, [(-n, mid) for mid, n in counts.items()])
    dead: list[int] = []
    for ids in chunked(sorted(counts)):
        sql = _SQL_DEAD_MESSAGES + "(" + ",".join("?" * len(ids)) + ")"
        dead.extend(mid for (mid,) in raw.execute(sql, tuple(ids)).fetchall())
    if dead:
        search.forget_messages(raw, dead)
        wire.forget_forms(raw, dead)
        threads.forget_messages(raw, dead)
        sortkeys.forget_keys(raw, dead)
        raw.executemany(_SQL_DELETE_MESSAGE, [(mid,) for mid in dead])


def insert_memberships(conn: Connection, rows: Sequence[MembershipRow]) -> None:
    driver_connection(conn).executemany(_SQL_INSERT_MEMBERSHIP, rows)


def delete_memberships(
    conn: Connection, mailbox_id: MailboxId, uids: Sequence[Uid], modseq: ModSeq, at: int
) -> None:
    raw = driver_connection(conn)
    raw.executemany(_SQL_DELETE_MEMBERSHIP, [(mailbox_id, uid) for uid in uids])
    raw.executemany(_SQL_INSERT_EXPUNGED, [(mailbox_id, uid, modseq, at) for uid in uids])


def update_flags(conn: Connection, rows: Sequence[tuple[str, bool, bool, int, MailboxId, Uid]]) -> None:
    driver_connection(conn).executemany(_SQL_UPDATE_FLAGS, rows)


# Messages


def upsert_message(conn: Connection, message: PreparedMessage, references: int) -> MessageId:
    """Single-instance store: reuse the row of a known blob, else add it with its search rows (the
    full-text index is the background indexer's, ``sqlite/search``)."""
    raw = driver_connection(conn)
    found = raw.execute(_SQL_MESSAGE_BY_SHA, (message.blob.sha256,)).fetchall()
    if found:
        message_id = int(found[0][0])
        raw.execute(_SQL_RETAIN, (references, message_id))
        return message_id
    params = (message.blob.sha256, message.blob.size, message.parsed_json, PARSE_VERSION, references)
    inserted = raw.execute(_SQL_INSERT_MESSAGE, params).lastrowid
    assert inserted is not None
    search.add_message(raw, inserted, message.search)
    wire.store_forms(raw, inserted, message.wire)
    return inserted


def expunge_horizon(raw: sqlite3.Connection, mailbox_id: MailboxId) -> ModSeq:
    """The highest MODSEQ of the mailbox's pruned expunge records (0: none pruned): the records
    list every expunge above it, none at or below it."""
    row = raw.execute(_SQL_HORIZON, (mailbox_id,)).fetchone()
    return int(row[0]) if row is not None else 0


def expunged_since(conn: Connection, mailbox_id: MailboxId, modseq: ModSeq) -> tuple[Uid, ...] | None:
    mailbox_box(conn, mailbox_id)  # NotFound for a mailbox that is gone
    raw = driver_connection(conn)
    if modseq < expunge_horizon(raw, mailbox_id):
        return None
    return tuple(uid for (uid,) in raw.execute(_SQL_EXPUNGED_SINCE, (mailbox_id, modseq)).fetchall())


def changes_since(conn: Connection, mailbox_id: MailboxId, modseq: ModSeq) -> ChangeSet:
    box = mailbox_box(conn, mailbox_id)
    raw = driver_connection(conn)
    rows = raw.execute(_SQL_ENTRIES_SINCE, (mailbox_id, modseq)).fetchall()
    changed = tuple(message_entry(EntryRow._make(row)) for row in rows)
    gone = tuple(uid for (uid,) in raw.execute(_SQL_EXPUNGED_SINCE, (mailbox_id, modseq)).fetchall())
    live = None
    if modseq < expunge_horizon(raw, mailbox_id):
        # Records of expunges after ``modseq`` were pruned: the caller tells what is gone by what is
        # still here (RFC 7162 §3.2.6: as if asked to report every expunged message).
        live = tuple(uid for (uid,) in raw.execute(_SQL_LIVE_UIDS, (mailbox_id,)).fetchall())
    return ChangeSet(mailbox_id, box.highestmodseq, changed, gone, live_uids=live)


_SQL_CACHED = (
    "SELECT m.uid, m.message_id, g.sha256, g.size, g.parsed_json FROM membership AS m "
    "JOIN messages AS g ON g.id = m.message_id WHERE m.mailbox_id = ? AND ({}) ORDER BY m.uid"
)


def uid_condition_sql(ranges: Sequence[tuple[Uid, Uid]]) -> tuple[str, list[int]]:
    """Raw SQL for ``m.uid`` in these ranges: single UIDs in one IN list, runs as BETWEEN."""
    singles = [low for low, high in ranges if low == high]
    terms = [f"m.uid IN ({','.join('?' * len(singles))})"] if singles else []
    params: list[int] = list(singles)
    for low, high in ranges:
        if low != high:
            terms.append("m.uid BETWEEN ? AND ?")
            params += (low, high)
    return " OR ".join(terms), params


def cached(conn: Connection, mailbox_id: MailboxId, uids: Iterable[Uid]) -> list[CachedMessage]:
    """Parse records of these UIDs (those that exist), in UID order: raw SQL (FETCH ENVELOPE and
    BODYSTRUCTURE read this for every chunk of messages; SQLAlchemy's statement building for a
    hundred scattered UIDs cost more than SQLite's work)."""
    result: list[CachedMessage] = []
    raw = driver_connection(conn)
    ranges = uid_ranges(normalize_uids(uids))
    for start in range(0, len(ranges), RANGES_PER_STATEMENT):
        condition, params = uid_condition_sql(ranges[start : start + RANGES_PER_STATEMENT])
        for uid, message_id, sha256, size, parsed in raw.execute(
            _SQL_CACHED.format(condition), (mailbox_id, *params)
        ):
            result.append(CachedMessage(uid, message_id, BlobRef(sha256, size), bytes(parsed)))
    return result


def get_quota_usage(conn: Connection, account_id: AccountId) -> int:
    row = conn.execute(select(quota_usage.c.bytes).where(quota_usage.c.account_id == account_id)).first()
    return int(row.bytes) if row is not None else 0
