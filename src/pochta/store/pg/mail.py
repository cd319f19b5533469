"""The mail core's statements on PostgreSQL, over the job's Connection: the ``MailOps`` that the
writes of ``store/sql/mail_writes`` (deliver, flags, copy/move, expunge; the rules are told there)
run here, the \\Recent boundary and deleting mailboxes; the reads are ``pg/mail_reads``'. What
differs from SQLite (``sqlite/mail``):

- Statements are PostgreSQL SQL run through ``Connection.exec_driver_sql`` (psycopg's ``%s``
  placeholders), in the job's transaction. A set of UIDs is one statement whatever its size: its
  ranges go as two arrays joined with ``unnest`` (SQLite needs a statement per 200 ranges).
- The mail writes run at READ COMMITTED (``PgStore._run_mail_write``) and take turns by row
  locks, held until they commit. The order, always: the counter rows of the accounts the write
  touches (``account_modseq``, in account id order, ``lock_accounts`` first of all: an account's
  writes take their MODSEQs and commit one after the other, so a reader that sees MODSEQ n of an
  account sees every lower one), then the mailbox rows, then the quota usage rows, then message
  rows. A write's first read of a mailbox locks its row
  (``mailbox_box``; deliver's is the UPDATE that hands out UIDs and the MODSEQ, or its keyword
  list's read), and a quota check that finds a limit locks the usage rows it bounds and reads them
  again (``enforce_quota``). Each statement reads what was committed before it, so a write that
  waited for another reads that one's result: two deliveries never take one UID, a quota is never
  overrun, and flags are never computed from a stale row. (Serializable, writers meeting on one
  row aborted each other past any number of retries under imaptest's load.) A message row is
  found or made by digest with ``INSERT ... ON CONFLICT`` (``upsert_message``). Two writes that
  lock two mailboxes in opposite orders (COPY each way) deadlock; PostgreSQL aborts one, which
  runs again.
- Blobs are ``PgBlobs`` (``pg/blobs``): a write stores a ``NewBlob``'s bytes, or takes a
  reference on a stored blob that keeps collectors of every node from it, in its own transaction
  before a row refers to it (``PgBlobs.ensure_stored``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection

from pochta.mime.imapform import WIRE_VERSION
from pochta.store.api import NotFound
from pochta.store.model import (
    AccountId,
    Change,
    ChangeKind,
    MailboxId,
    MessageId,
    ModSeq,
    Uid,
)
from pochta.store.schema import INDEX_ADD, INDEX_DROP
from pochta.store.sql.account_modseq import take_modseq, tombstone_mailbox
from pochta.store.sql.mail_rows import (
    PARSE_VERSION,
    Box,
    BumpedMailbox,
    EntryRow,
    PreparedMessage,
    uid_ranges,
)
from pochta.store.sql.mail_writes import MembershipRow
from pochta.store.sql.units import PG_DIGITS, quota_sql
from pochta.store.sqlite.keywords import merge_keywords
from pochta.store.sqlite.quota import LIMITED_SELECT, judge_quota

__all__ = [
    "ENTRY_COLUMNS",
    "SQL_BOX_BY_NAME",
    "adjust_quota",
    "admit_keywords",
    "box_by_name",
    "bump_mailbox",
    "delete_memberships",
    "deleted_entries",
    "drop_mailboxes",
    "enforce_quota",
    "entry_row",
    "fetch_rows",
    "insert_memberships",
    "lock_accounts",
    "mailbox_box",
    "range_arrays",
    "read_box",
    "read_entries",
    "record_emails",
    "release_messages",
    "retain_messages",
    "take_recent",
    "update_flags",
    "upsert_message",
]

# UID sets: the ranges of a sorted UID list as two arrays (low ends, high ends), joined as rows.
_RANGES = "JOIN unnest(%s::bigint[], %s::bigint[]) AS r(lo, hi) ON m.uid BETWEEN r.lo AND r.hi "

ENTRY_COLUMNS = (
    "SELECT m.uid, m.message_id, m.flags, m.seen, m.deleted, m.modseq, m.internal_date, m.internal_tz, "
    "g.sha256, g.size FROM membership AS m JOIN messages AS g ON g.id = m.message_id "
)
_SQL_ENTRIES_IN = ENTRY_COLUMNS + _RANGES + "WHERE m.mailbox_id = %s ORDER BY m.uid"
_SQL_ENTRIES_ALL = ENTRY_COLUMNS + "WHERE m.mailbox_id = %s ORDER BY m.uid"
_SQL_ENTRIES_DELETED = ENTRY_COLUMNS + "WHERE m.mailbox_id = %s AND m.deleted ORDER BY m.uid"

_SQL_BOX = "SELECT account_id, highestmodseq, uidvalidity, deleted FROM mailboxes WHERE id = %s"
# The writes' first read of a mailbox locks its row until they commit: writers of one mailbox take
# turns, and each reads its memberships after the one before it committed (module docstring).
_SQL_BOX_LOCKED = _SQL_BOX + " FOR NO KEY UPDATE"
SQL_BOX_BY_NAME = "SELECT id FROM mailboxes WHERE account_id = %s AND name = %s"
# The accounts of these mailboxes: their counter rows (made when missing) locked in id order.
_SQL_LOCK_ACCOUNTS = (
    "WITH made AS (INSERT INTO account_modseq (account_id, modseq) "
    "SELECT DISTINCT account_id, 0 FROM mailboxes WHERE id = ANY(%s) ON CONFLICT (account_id) DO NOTHING) "
    "SELECT account_id FROM account_modseq WHERE account_id IN "
    "(SELECT account_id FROM mailboxes WHERE id = ANY(%s)) ORDER BY account_id FOR NO KEY UPDATE"
)
# ``sqlite/mail``'s two statements: the account's next MODSEQ, then the mailbox's bump.
_SQL_TAKE_MODSEQ = (
    "INSERT INTO account_modseq (account_id, modseq) SELECT account_id, highestmodseq + 1 "
    "FROM mailboxes WHERE id = %s ON CONFLICT (account_id) DO UPDATE "
    "SET modseq = GREATEST(account_modseq.modseq + 1, excluded.modseq) RETURNING modseq"
)
_SQL_BUMP_MAILBOX = (
    "UPDATE mailboxes SET uidnext = uidnext + %s, highestmodseq = %s, "
    "messages = messages + %s, unseen = unseen + %s, deleted = deleted + %s, size = size + %s "
    "WHERE id = %s RETURNING uidnext, highestmodseq, uidvalidity, account_id"
)
_SQL_EMAIL_ADDED = (
    "INSERT INTO account_emails (account_id, message_id, created, changed, destroyed) "
    "VALUES (%s, %s, %s, %s, NULL) ON CONFLICT (account_id, message_id) DO UPDATE SET "
    "created = CASE WHEN account_emails.destroyed IS NULL THEN account_emails.created "
    "ELSE excluded.created END, changed = excluded.changed, destroyed = NULL"
)
_SQL_EMAIL_CHANGED = (
    "INSERT INTO account_emails (account_id, message_id, created, changed, destroyed) "
    "VALUES (%s, %s, %s, %s, NULL) ON CONFLICT (account_id, message_id) DO UPDATE SET "
    "changed = excluded.changed"
)
_SQL_EMAIL_REMOVED = (
    "UPDATE account_emails SET changed = %s, destroyed = CASE WHEN EXISTS (SELECT 1 FROM membership AS m "
    "JOIN mailboxes AS b ON b.id = m.mailbox_id WHERE m.message_id = %s AND b.account_id = %s) "
    "THEN NULL ELSE %s END, thread_id = (SELECT thread_id FROM message_threads "
    "WHERE account_id = %s AND message_id = %s) WHERE account_id = %s AND message_id = %s"
)
_SQL_ADD_QUOTA = (
    "INSERT INTO quota_usage (account_id, bytes, messages) VALUES (%s, %s, %s) "
    "ON CONFLICT (account_id) DO UPDATE "
    "SET bytes = quota_usage.bytes + excluded.bytes, messages = quota_usage.messages + excluded.messages"
)
_SQL_RETAIN = "UPDATE messages SET refcount = refcount + %s WHERE id = %s"
_SQL_RETAIN_BY_SHA = "UPDATE messages SET refcount = refcount + %s WHERE sha256 = %s RETURNING id"
_SQL_INSERT_MESSAGE = (
    "INSERT INTO messages (sha256, size, parsed_json, parse_version, refcount) "
    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (sha256) DO NOTHING RETURNING id"
)
_UPSERT_TRIES = 5  # upsert_message's rounds: each lost only to another write's commit
_SQL_INSERT_MEMBERSHIP = (
    "INSERT INTO membership (mailbox_id, uid, message_id, flags, seen, deleted, modseq, internal_date, "
    "internal_tz, save_date) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_SQL_INSERT_EXPUNGED = "INSERT INTO expunged (mailbox_id, uid, modseq, at) VALUES (%s, %s, %s, %s)"
_SQL_DELETE_MEMBERSHIP = "DELETE FROM membership WHERE mailbox_id = %s AND uid = %s"
_SQL_UPDATE_FLAGS = (
    "UPDATE membership SET flags = %s, seen = %s, deleted = %s, modseq = %s "
    "WHERE mailbox_id = %s AND uid = %s"
)
_SQL_DEAD_MESSAGES = "SELECT id FROM messages WHERE refcount <= 0 AND id = ANY(%s)"

# Search rows and wire forms written with a new message row (``sqlite/search``, ``sqlite/wire``).
_SQL_SEARCH_TEXT = "INSERT INTO message_search_text (message_id, headers, body) VALUES (%s, %s, %s)"
_SQL_HEADER = "INSERT INTO message_header_values (message_id, field, position, value) VALUES (%s, %s, %s, %s)"
_SQL_QUEUE = (
    "INSERT INTO search_queue (message_id, action) VALUES (%s, %s) "
    "ON CONFLICT (message_id) DO UPDATE SET action = excluded.action"
)
_SQL_WIRE = (
    "INSERT INTO message_wire (message_id, version, envelope, body, bodystructure, envelope_utf8, "
    "body_utf8, bodystructure_utf8) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)
# What goes with a message row (``sqlite/mail.release_messages``): its derived rows; the text of a
# message the index never took goes now, one it took is queued for the indexer to take out.
_SQL_FORGET = (
    "DELETE FROM message_header_values WHERE message_id = ANY(%s)",
    "DELETE FROM message_wire WHERE message_id = ANY(%s)",
    "DELETE FROM message_threads WHERE message_id = ANY(%s)",
    "DELETE FROM message_sort_keys WHERE message_id = ANY(%s)",
)
_SQL_UNQUEUE_UNINDEXED = (
    "DELETE FROM search_queue WHERE message_id = ANY(%s) AND action != %s RETURNING message_id"
)
_SQL_DELETE_TEXTS = "DELETE FROM message_search_text WHERE message_id = ANY(%s)"
_SQL_DELETE_MESSAGES = "DELETE FROM messages WHERE id = ANY(%s)"

# enforce_quota's rows (``sqlite/quota.LIMITED_SELECT``): every account among the ids whose own
# root (its own limit, else its nearest unit's) or domain's root has a limit, with both roots'
# usage; the units' part costs one EXISTS while no unit sets a quota (sql/units.quota_sql says why).
_SQL_LIMITED = quota_sql(LIMITED_SELECT, ids="= ANY(%s)", integer="BIGINT", digits=PG_DIGITS)

# The usage rows a quota check holds (``enforce_quota``), made first if missing, locked in key order.
_SQL_USAGE_ROWS = (
    "INSERT INTO quota_usage (account_id, bytes, messages) SELECT a, 0, 0 FROM unnest(%s::bigint[]) AS a "
    "ON CONFLICT (account_id) DO NOTHING"
)
_SQL_LOCK_USAGE = "SELECT 1 FROM quota_usage WHERE account_id = ANY(%s) ORDER BY account_id FOR UPDATE"
_SQL_DOMAIN_USAGE_ROWS = (
    "INSERT INTO domain_quota_usage (domain_id, bytes, messages) SELECT d, 0, 0 "
    "FROM unnest(%s::bigint[]) AS d ON CONFLICT (domain_id) DO NOTHING"
)
_SQL_LOCK_DOMAIN_USAGE = (
    "SELECT 1 FROM domain_quota_usage WHERE domain_id = ANY(%s) ORDER BY domain_id FOR UPDATE"
)
_SQL_KEYWORDS_READ = "SELECT keywords FROM mailboxes WHERE id = %s FOR NO KEY UPDATE"
_SQL_KEYWORDS_WRITE = "UPDATE mailboxes SET keywords = %s WHERE id = %s"
_SQL_RECENT_FIRST = "SELECT first_recent_uid FROM mailboxes WHERE id = %s"
# The count (kept by triggers, revision 0012) is what remains at or above the new boundary.
_SQL_RECENT_TAKE = (
    "UPDATE mailboxes SET first_recent_uid = %(before)s, recent = (SELECT count(*) FROM membership "
    "WHERE mailbox_id = %(id)s AND uid >= %(before)s) WHERE id = %(id)s"
)


def fetch_rows(conn: Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in conn.exec_driver_sql(sql, tuple(params)).fetchall()]


def _many(conn: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    if rows:
        conn.exec_driver_sql(sql, [tuple(row) for row in rows])


def range_arrays(uids: Sequence[Uid]) -> tuple[list[int], list[int]]:
    """A sorted, distinct UID list's ranges as the two arrays ``_RANGES`` joins."""
    ranges = uid_ranges(uids)
    return [low for low, _ in ranges], [high for _, high in ranges]


def entry_row(row: Sequence[Any]) -> EntryRow:
    uid, message_id, flags, seen, deleted, modseq, date, tz, sha256, size = row
    return EntryRow(uid, message_id, flags, int(seen), int(deleted), modseq, date, tz, sha256, size)


def read_entries(conn: Connection, mailbox_id: MailboxId, uids: Sequence[Uid] | None) -> list[EntryRow]:
    """Membership rows (joined with their message) of these sorted, distinct UIDs that exist (None:
    every one of the mailbox), in UID order, in one statement."""
    if uids is None:
        return [entry_row(row) for row in fetch_rows(conn, _SQL_ENTRIES_ALL, (mailbox_id,))]
    if not uids:
        return []
    lows, highs = range_arrays(uids)
    return [entry_row(row) for row in fetch_rows(conn, _SQL_ENTRIES_IN, (lows, highs, mailbox_id))]


# Mailbox rows, counters, references


def read_box(conn: Connection, mailbox_id: MailboxId) -> Box:
    """What a read needs of a mailbox row (NotFound when there is none)."""
    return _box(fetch_rows(conn, _SQL_BOX, (mailbox_id,)), mailbox_id)


def mailbox_box(conn: Connection, mailbox_id: MailboxId) -> Box:
    """``MailOps.mailbox_box``: the row read and locked for the rest of the write."""
    return _box(fetch_rows(conn, _SQL_BOX_LOCKED, (mailbox_id,)), mailbox_id)


def _box(rows: list[tuple[Any, ...]], mailbox_id: MailboxId) -> Box:
    if not rows:
        raise NotFound(f"no mailbox with id {mailbox_id}")
    account_id, highestmodseq, uidvalidity, deleted = rows[0]
    return Box(account_id, highestmodseq, uidvalidity, deleted)


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
    """``sqlite/mail.bump_mailbox``: take the account's next MODSEQ (its counter row locked until
    commit: ``lock_accounts`` took it already), reserve UIDs and move the counters, in an UPDATE
    whose row lock serialises the writers of this mailbox."""
    taken = fetch_rows(conn, _SQL_TAKE_MODSEQ, (mailbox_id,))
    if not taken:
        raise NotFound(f"no mailbox with id {mailbox_id}")
    params = (uids, taken[0][0], messages, unseen, deleted, size, mailbox_id)
    return BumpedMailbox(*fetch_rows(conn, _SQL_BUMP_MAILBOX, params)[0])


def lock_accounts(conn: Connection, mailbox_ids: Sequence[MailboxId]) -> None:
    """``MailOps.lock_accounts``: the counter rows of the accounts of these mailboxes, locked in
    account id order before any mailbox row (the module docstring's lock order), until commit."""
    ids = sorted(set(mailbox_ids))
    conn.exec_driver_sql(_SQL_LOCK_ACCOUNTS, (ids, ids)).fetchall()


def record_emails(
    conn: Connection,
    account_id: AccountId,
    modseq: ModSeq,
    added: Iterable[MessageId] = (),
    changed: Iterable[MessageId] = (),
    removed: Iterable[MessageId] = (),
) -> None:
    """``MailOps.record_emails`` (``sqlite/mail.record_emails``'s statements)."""
    _many(conn, _SQL_EMAIL_ADDED, [(account_id, mid, modseq, modseq) for mid in sorted(set(added))])
    _many(conn, _SQL_EMAIL_CHANGED, [(account_id, mid, modseq, modseq) for mid in sorted(set(changed))])
    _many(
        conn,
        _SQL_EMAIL_REMOVED,
        [(modseq, mid, account_id, modseq, account_id, mid, account_id, mid) for mid in sorted(set(removed))],
    )


def enforce_quota(conn: Connection, additional: dict[AccountId, tuple[int, int]]) -> None:
    """``sqlite/quota.enforce_quota`` on PostgreSQL: the rows read here, judged by ``judge_quota``.
    When a limit applies, the usage rows it bounds (the accounts' and their domains') are locked
    and read again: a concurrent write that moves them waits for this one to commit, and this one
    judges what the one before it committed (READ COMMITTED reads each statement afresh)."""
    growing = sorted(account for account, (octets, count) in additional.items() if octets > 0 or count > 0)
    if not growing:
        return
    # The ids three times: the unit chain's anchor, then each branch (``sql/units.quota_sql``).
    rows = fetch_rows(conn, _SQL_LIMITED, (growing,) * 3)
    if not rows:
        return  # no limit applies: nothing to judge, nothing to hold
    accounts = sorted({int(row[0]) for row in rows})
    domains = sorted({int(row[1]) for row in rows})
    conn.exec_driver_sql(_SQL_USAGE_ROWS, (accounts,))
    conn.exec_driver_sql(_SQL_LOCK_USAGE, (accounts,))
    conn.exec_driver_sql(_SQL_DOMAIN_USAGE_ROWS, (domains,))
    conn.exec_driver_sql(_SQL_LOCK_DOMAIN_USAGE, (domains,))
    judge_quota(fetch_rows(conn, _SQL_LIMITED, (growing,) * 3), additional)


def adjust_quota(conn: Connection, account_id: AccountId, size: int, count: int) -> None:
    if size or count:
        conn.exec_driver_sql(_SQL_ADD_QUOTA, (account_id, size, count))


def admit_keywords(
    conn: Connection, mailbox_id: MailboxId, found: dict[str, str], limit: int
) -> frozenset[str]:
    """``sqlite/keywords.admit_keywords``: the mailbox's keyword list grown within ``limit`` in the
    write; the comparison keys of the keywords that did not fit."""
    if not found:
        return frozenset()
    rows = fetch_rows(conn, _SQL_KEYWORDS_READ, (mailbox_id,))
    if not rows:
        return frozenset()  # a missing mailbox: the write raises NotFound on its own
    merged, refused = merge_keywords(rows[0][0], found, limit)
    if merged is not None:
        conn.exec_driver_sql(_SQL_KEYWORDS_WRITE, (merged, mailbox_id))
    return refused


def retain_messages(conn: Connection, counts: Counter[MessageId]) -> None:
    _many(conn, _SQL_RETAIN, [(n, mid) for mid, n in sorted(counts.items())])


def release_messages(conn: Connection, counts: Counter[MessageId]) -> None:
    """Drop references; a message nobody holds loses its row and derived rows (its blob stays for GC)."""
    if not counts:
        return
    _many(conn, _SQL_RETAIN, [(-n, mid) for mid, n in sorted(counts.items())])
    dead = [int(row[0]) for row in fetch_rows(conn, _SQL_DEAD_MESSAGES, (sorted(counts),))]
    if not dead:
        return
    for sql in _SQL_FORGET:
        conn.exec_driver_sql(sql, (dead,))
    unindexed = [int(row[0]) for row in fetch_rows(conn, _SQL_UNQUEUE_UNINDEXED, (dead, INDEX_DROP))]
    if unindexed:
        conn.exec_driver_sql(_SQL_DELETE_TEXTS, (unindexed,))
    indexed = sorted(set(dead) - set(unindexed))
    _many(conn, _SQL_QUEUE, [(mid, INDEX_DROP) for mid in indexed])
    conn.exec_driver_sql(_SQL_DELETE_MESSAGES, (dead,))


# Memberships, messages


def box_by_name(conn: Connection, account_id: AccountId, name: str) -> MailboxId | None:
    found = fetch_rows(conn, SQL_BOX_BY_NAME, (account_id, name))
    return MailboxId(found[0][0]) if found else None


def deleted_entries(conn: Connection, mailbox_id: MailboxId) -> list[EntryRow]:
    return [entry_row(row) for row in fetch_rows(conn, _SQL_ENTRIES_DELETED, (mailbox_id,))]


def insert_memberships(conn: Connection, rows: Sequence[MembershipRow]) -> None:
    _many(conn, _SQL_INSERT_MEMBERSHIP, rows)


def delete_memberships(
    conn: Connection, mailbox_id: MailboxId, uids: Sequence[Uid], modseq: ModSeq, at: int
) -> None:
    _many(conn, _SQL_DELETE_MEMBERSHIP, [(mailbox_id, uid) for uid in uids])
    _many(conn, _SQL_INSERT_EXPUNGED, [(mailbox_id, uid, modseq, at) for uid in uids])


def update_flags(conn: Connection, rows: Sequence[tuple[str, bool, bool, int, MailboxId, Uid]]) -> None:
    _many(conn, _SQL_UPDATE_FLAGS, rows)


def upsert_message(conn: Connection, message: PreparedMessage, references: int) -> MessageId:
    """Single-instance store: reuse the row of a known blob, else add it with its search rows
    (queued for an indexer) and its wire forms."""
    params = (message.blob.sha256, message.blob.size, message.parsed_json, PARSE_VERSION, references)
    for _ in range(_UPSERT_TRIES):
        found = fetch_rows(conn, _SQL_RETAIN_BY_SHA, (references, message.blob.sha256))
        if found:
            return MessageId(int(found[0][0]))
        # None yet, or the last reference's release deleted it while this waited for its lock.
        created = fetch_rows(conn, _SQL_INSERT_MESSAGE, params)
        if created:
            break
        # Another write inserted it meanwhile (and committed: ON CONFLICT waited): take a reference.
    else:
        raise NotFound(f"message {message.blob.sha256} kept vanishing while it was delivered")
    inserted = int(created[0][0])
    rows = message.search
    conn.exec_driver_sql(_SQL_SEARCH_TEXT, (inserted, rows.headers, rows.body))
    _many(conn, _SQL_HEADER, [(inserted, *row) for row in rows.header_values])
    conn.exec_driver_sql(_SQL_QUEUE, (inserted, INDEX_ADD))
    forms = message.wire
    conn.exec_driver_sql(
        _SQL_WIRE,
        (
            inserted,
            WIRE_VERSION,
            forms.envelope,
            forms.body,
            forms.bodystructure,
            forms.envelope_utf8,
            forms.body_utf8,
            forms.bodystructure_utf8,
        ),
    )
    return inserted


# \Recent


def take_recent(conn: Connection, mailbox_id: MailboxId, before: Uid) -> Uid:
    """``Store.take_recent``: the boundary read and raised in one write."""
    rows = fetch_rows(conn, _SQL_RECENT_FIRST, (mailbox_id,))
    if not rows:
        raise NotFound(f"no mailbox with id {mailbox_id}")
    first = Uid(rows[0][0])
    if first < before:
        # RFC 3501 §2.3.2: "subsequent sessions will not see \\Recent set for this message".
        conn.exec_driver_sql(_SQL_RECENT_TAKE, {"before": before, "id": mailbox_id})
    return first


# Deleting mailboxes (``sqlite/mailboxes.drop_mailboxes``'s PostgreSQL form)

_SQL_MAILBOX_USAGE = (
    "SELECT m.message_id, count(*), sum(g.size) FROM membership AS m "
    "JOIN messages AS g ON g.id = m.message_id WHERE m.mailbox_id = %s GROUP BY m.message_id"
)
_SQL_DROP_MAILBOX = (
    "DELETE FROM membership WHERE mailbox_id = %(id)s",
    "DELETE FROM expunged WHERE mailbox_id = %(id)s",
    "DELETE FROM expunge_horizon WHERE mailbox_id = %(id)s",
    "DELETE FROM mailboxes WHERE id = %(id)s",
)


def drop_mailboxes(conn: Connection, events: list[Change], rows: Sequence[Any]) -> None:
    """Delete mailboxes (rows of ``mailboxes``) with their memberships: refcounts and quota follow,
    blob files are collected later."""
    for mailbox in rows:
        modseq = take_modseq(conn, mailbox.account_id)  # first: the counter before any other row
        usage = fetch_rows(conn, _SQL_MAILBOX_USAGE, (mailbox.id,))
        for sql in _SQL_DROP_MAILBOX:
            conn.exec_driver_sql(sql, {"id": mailbox.id})
        adjust_quota(
            conn, mailbox.account_id, -sum(int(size) for _, _, size in usage), -sum(n for _, n, _ in usage)
        )
        record_emails(conn, mailbox.account_id, modseq, removed=[int(mid) for mid, _, _ in usage])
        release_messages(conn, Counter({int(mid): int(n) for mid, n, _ in usage}))
        tombstone_mailbox(conn, mailbox.account_id, mailbox.id, mailbox.created_modseq, modseq)
        events.append(Change(ChangeKind.MAILBOX, mailbox.account_id, mailbox.id, mailbox.highestmodseq))
