"""Messages in mailboxes (deliver, views, flags, copy/move, expunge), over a Connection.

Every function here runs in a writer job (those taking ``events``, inside the writer's transaction
and savepoint) or in a reader thread (inside one read transaction, so one snapshot). None is ever
called on the event loop. ``SqliteStore`` in ``sqlite.py`` is the async face; mailbox creation,
renaming and deletion live in ``sqlite/mailboxes``; search data, the indexer and the search queries
in ``sqlite/search``.

Counters (mailbox messages/unseen/deleted/size, quota usage, message refcounts) are adjusted by deltas
in the same transaction as the change that moves them; ``reconstruct`` re-derives them from scratch.
The quota is enforced there too (``sqlite_quota.enforce_quota``): ``deliver`` and ``copy_messages``
check each account's and its domain's limits and usage inside the write transaction and raise
QuotaExceeded before anything of the job is kept.
MODSEQs: each write operation bumps a mailbox's HIGHESTMODSEQ once and stamps every membership it
touched with the new value (RFC 7162 §3.1 allows one value for the messages one command changed).

Mailbox views (``open_view``) live in ``sqlite/views``. The hot paths (``deliver``, views) run raw
SQL on the sqlite3 connection under the SQLAlchemy one (``writer.driver_connection``), in the same
transaction: at a few hundred deliveries per second SQLAlchemy's per-statement work was most of the
writer thread's time.
"""

from __future__ import annotations

import operator
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import islice
from typing import Any, NamedTuple

from sqlalchemy import Connection, Row, select

from pochta.mail.flags import (
    DELETED_KEY,
    SEEN_KEY,
    apply_stored,
    is_system_flag,
    parse_stored,
    stored_flags,
    stored_text,
)
from pochta.mime.imapform import WireForms
from pochta.store.api import FlagOp, NotFound
from pochta.store.blobs import BlobStore
from pochta.store.model import (
    AccountId,
    BlobRef,
    CachedMessage,
    Change,
    ChangeKind,
    ChangeSet,
    CopyResult,
    MailboxId,
    MailboxInfo,
    MessageEntry,
    MessageId,
    ModSeq,
    Placed,
    Target,
    Uid,
    date_from_parts,
    date_parts,
)
from pochta.store.schema import accounts, quota_usage
from pochta.store.sqlite import inline, keywords, search, sortkeys, threads, wire
from pochta.store.sqlite.quota import enforce_quota
from pochta.store.sqlite.writer import driver_connection

# Version of the parse cache layout written at delivery; reconstruct rewrites caches regardless.
PARSE_VERSION = 1

# Ranges per statement when selecting a UID set: SQLite limits expression depth (1000) and
# host parameters; 200 ranges keep a statement well inside both.
RANGES_PER_STATEMENT = 200
IDS_PER_STATEMENT = 500

# UID sets


def normalize_uids(uids: Iterable[Uid]) -> list[Uid]:
    """Sorted, distinct, positive. A list that is so already (a search's result: SORT over 20,000
    UIDs) is checked in one pass and copied, instead of going through a set and a sort."""
    if isinstance(uids, list) and uids and uids[0] > 0 and all(map(operator.lt, uids, islice(uids, 1, None))):
        return list(uids)
    return sorted({int(uid) for uid in uids if uid > 0})


def uid_ranges(uids: Sequence[Uid]) -> list[tuple[Uid, Uid]]:
    """Sorted, distinct UIDs as inclusive ranges: [1, 2, 3, 7] -> [(1, 3), (7, 7)]."""
    ranges: list[tuple[Uid, Uid]] = []
    for uid in uids:
        if ranges and ranges[-1][1] + 1 == uid:
            ranges[-1] = (ranges[-1][0], uid)
        else:
            ranges.append((uid, uid))
    return ranges


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


class EntryRow(NamedTuple):
    """One membership row joined with its message, as the write jobs and ``changes_since`` read it."""

    uid: Uid
    message_id: MessageId
    flags: str
    seen: int
    deleted: int
    modseq: ModSeq
    internal_date: int
    internal_tz: int
    sha256: str
    size: int


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


def message_entry(
    row: EntryRow,
    flags: dict[str, str] | None = None,
    modseq: ModSeq | None = None,
    uid: Uid | None = None,
) -> MessageEntry:
    return MessageEntry(
        uid=row.uid if uid is None else uid,
        message_id=row.message_id,
        flags=frozenset(row.flags.split()) if flags is None else frozenset(flags.values()),
        modseq=row.modseq if modseq is None else modseq,
        size=row.size,
        internal_date=date_from_parts(row.internal_date, row.internal_tz),
        blob=BlobRef(row.sha256, row.size),
    )


def read_entries(conn: Connection, mailbox_id: MailboxId, uids: Iterable[Uid]) -> list[EntryRow]:
    """Membership rows (joined with their message) for the UIDs that exist, in UID order: raw SQL,
    one statement per chunk of UID ranges (``uid_condition_sql``)."""
    raw = driver_connection(conn)
    rows: list[EntryRow] = []
    ranges = uid_ranges(normalize_uids(uids))
    for start in range(0, len(ranges), RANGES_PER_STATEMENT):
        condition, params = uid_condition_sql(ranges[start : start + RANGES_PER_STATEMENT])
        sql = f"{_SQL_ENTRIES}AND ({condition}) ORDER BY m.uid"
        rows.extend(map(EntryRow._make, raw.execute(sql, (mailbox_id, *params))))
    return rows


# Mailbox rows and counters
#
# The statements of the write path are raw SQL on the driver connection (see the module docstring),
# or, for the colder ones, SQLAlchemy statements built once (SQLAlchemy then skips construction and
# cache-key computation on every call).

_SQL_BOX = "SELECT account_id, highestmodseq, uidvalidity, deleted FROM mailboxes WHERE id = ?"
_SQL_BOX_BY_NAME = "SELECT id FROM mailboxes WHERE account_id = ? AND name = ?"
_SQL_UIDNEXT = "SELECT uidnext FROM mailboxes WHERE id = ?"

# One statement per mailbox and operation: reserve UIDs, take the next MODSEQ and move the counters.
_SQL_BUMP_MAILBOX = (
    "UPDATE mailboxes SET uidnext = uidnext + ?, highestmodseq = highestmodseq + 1, "
    "messages = messages + ?, unseen = unseen + ?, deleted = deleted + ?, size = size + ? "
    "WHERE id = ? RETURNING uidnext, highestmodseq, uidvalidity, account_id"
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


class Box(NamedTuple):
    """What the write jobs read of a mailbox row before they change it."""

    account_id: AccountId
    highestmodseq: ModSeq
    uidvalidity: int
    deleted: int


def mailbox_box(conn: Connection, mailbox_id: MailboxId) -> Box:
    rows = driver_connection(conn).execute(_SQL_BOX, (mailbox_id,)).fetchall()
    if not rows:
        raise NotFound(f"no mailbox with id {mailbox_id}")
    return Box(*rows[0])


def require_account(conn: Connection, account_id: AccountId) -> None:
    if conn.execute(select(accounts.c.id).where(accounts.c.id == account_id)).first() is None:
        raise NotFound(f"no account with id {account_id}")


class BumpedMailbox(NamedTuple):
    uidnext: Uid
    highestmodseq: ModSeq
    uidvalidity: int
    account_id: AccountId


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
    rows = (
        driver_connection(conn)
        .execute(_SQL_BUMP_MAILBOX, (uids, messages, unseen, deleted, size, mailbox_id))
        .fetchall()  # to the end, so that the statement is finished before the next one
    )
    if not rows:
        raise NotFound(f"no mailbox with id {mailbox_id}")
    return BumpedMailbox(*rows[0])


def adjust_quota(conn: Connection, account_id: AccountId, size: int, count: int) -> None:
    if size or count:
        driver_connection(conn).execute(_SQL_ADD_QUOTA, (account_id, size, count))


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


def remove_memberships(
    conn: Connection, events: list[Change], mailbox_id: MailboxId, rows: Sequence[EntryRow]
) -> ModSeq:
    """Expunge these membership rows: records for VANISHED, counters, quota, refcounts, one MODSEQ."""
    size = sum(row.size for row in rows)
    box = bump_mailbox(
        conn,
        mailbox_id,
        messages=-len(rows),
        unseen=-sum(1 for row in rows if not row.seen),
        deleted=-sum(1 for row in rows if row.deleted),
        size=-size,
    )
    modseq = int(box.highestmodseq)
    uids = [row.uid for row in rows]
    raw = driver_connection(conn)
    raw.executemany(_SQL_DELETE_MEMBERSHIP, [(mailbox_id, uid) for uid in uids])
    now = int(time.time())
    raw.executemany(_SQL_INSERT_EXPUNGED, [(mailbox_id, uid, modseq, now) for uid in uids])
    adjust_quota(conn, box.account_id, -size, -len(rows))
    release_messages(conn, Counter(row.message_id for row in rows))
    events.append(Change(ChangeKind.EXPUNGED, box.account_id, mailbox_id, modseq, tuple(uids)))
    return modseq


# Messages


@dataclass(frozen=True)
class PreparedMessage:
    """What deliver stores about a message, computed off the writer thread."""

    blob: BlobRef
    parsed_json: bytes
    search: search.SearchRows
    wire: WireForms  # ENVELOPE, BODY, BODYSTRUCTURE as sent (sqlite_wire)


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


def deliver(
    conn: Connection,
    events: list[Change],
    blobs: BlobStore,
    message: PreparedMessage,
    targets: Sequence[Target],
    max_keywords: int,
) -> list[Placed]:
    if not targets:
        return []
    # A small message's bytes are stored here, in this transaction; any other blob is checked inside
    # it: garbage collection removes blobs only inside one too, so a blob seen here cannot vanish
    # before this reference commits.
    inline.ensure_stored(driver_connection(conn), blobs, message.blob)
    message_id = upsert_message(conn, message, len(targets))
    size = message.blob.size
    by_box: dict[MailboxId, list[int]] = {}
    for index, target in enumerate(targets):
        by_box.setdefault(target.mailbox_id, []).append(index)
    flags = [stored_flags(target.flags) for target in targets]
    raw = driver_connection(conn)
    for mid, indexes in by_box.items():
        # Most deliveries store no keyword: then nothing more is read or written.
        if any(not is_system_flag(key) for i in indexes for key in flags[i]):
            found = keywords.text_keywords(" ".join(flags[i].values()) for i in indexes)
            refused = keywords.admit_keywords(raw, mid, found, max_keywords)
            for i in indexes:
                flags[i] = {key: flag for key, flag in flags[i].items() if key not in refused}
    placed: list[Placed | None] = [None] * len(targets)
    rows: list[tuple[int | str | bool, ...]] = []
    saved = int(time.time())  # RFC 8514 §3: the save date, whatever internal date APPEND gave
    quota: dict[AccountId, list[int]] = {}
    for mid, indexes in by_box.items():
        box = bump_mailbox(
            conn,
            mid,
            uids=len(indexes),
            messages=len(indexes),
            unseen=sum(1 for i in indexes if SEEN_KEY not in flags[i]),
            deleted=sum(1 for i in indexes if DELETED_KEY in flags[i]),
            size=len(indexes) * size,
        )
        first_uid = box.uidnext - len(indexes)
        for uid, i in enumerate(indexes, start=first_uid):
            epoch, tz = date_parts(targets[i].internal_date)
            wanted = flags[i]
            row = (
                mid,
                uid,
                message_id,
                stored_text(wanted),
                SEEN_KEY in wanted,
                DELETED_KEY in wanted,
                box.highestmodseq,
                epoch,
                tz,
                saved,
            )
            rows.append(row)
            entry = MessageEntry(
                uid,
                message_id,
                frozenset(wanted.values()),
                box.highestmodseq,
                size,
                date_from_parts(epoch, tz),
                message.blob,
            )
            placed[i] = Placed(mid, box.uidvalidity, uid, message_id, entry)
        used = quota.setdefault(box.account_id, [0, 0])
        used[0] += len(indexes) * size
        used[1] += len(indexes)
        new_uids = tuple(range(first_uid, first_uid + len(indexes)))
        events.append(Change(ChangeKind.APPENDED, box.account_id, mid, box.highestmodseq, new_uids))
    # Before anything is inserted; the mailbox bumps above roll back with the job's savepoint.
    enforce_quota(conn, {account: (used[0], used[1]) for account, used in quota.items()})
    raw.executemany(_SQL_INSERT_MEMBERSHIP, rows)
    raw.executemany(_SQL_ADD_QUOTA, [(account, used[0], used[1]) for account, used in quota.items()])
    return [p for p in placed if p is not None]


def append_named(
    conn: Connection,
    events: list[Change],
    blobs: BlobStore,
    message: PreparedMessage,
    account_id: AccountId,
    name: str,
    target: Target,
    max_keywords: int,
) -> Placed | None:
    """``deliver`` to the account's mailbox of that (canonical) name, looked up in the write
    transaction (``target`` gives flags and date; its mailbox id is not used): None when there is
    no such mailbox, nothing stored."""
    found = driver_connection(conn).execute(_SQL_BOX_BY_NAME, (account_id, name)).fetchall()
    if not found:
        return None
    [placed] = deliver(conn, events, blobs, message, [replace(target, mailbox_id=found[0][0])], max_keywords)
    return placed


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


def set_flags(
    conn: Connection,
    events: list[Change],
    mailbox_id: MailboxId,
    uids: Iterable[Uid],
    op: FlagOp,
    flags: Iterable[str],
    unchanged_since: ModSeq | None,
    max_keywords: int,
) -> ChangeSet:
    if op not in ("add", "remove", "replace"):
        raise ValueError(f"unknown flag operation {op!r}")
    box = mailbox_box(conn, mailbox_id)
    wanted = stored_flags(flags)
    rows = read_entries(conn, mailbox_id, uids)
    changes: list[tuple[EntryRow, dict[str, str]]] = []
    failed: list[Uid] = []
    unseen = deleted = 0
    for row in rows:
        # RFC 7162 §3.1.3: UNCHANGEDSINCE fails messages changed after the given mod-sequence.
        if unchanged_since is not None and row.modseq > unchanged_since:
            failed.append(row.uid)
            continue
        current = parse_stored(row.flags)
        new = apply_stored(current, op, wanted)
        if new.keys() == current.keys():
            continue  # flags compare case-insensitively: nothing to store, no new MODSEQ
        changes.append((row, new))
        unseen += int(bool(row.seen)) - int(SEEN_KEY in new)
        deleted += int(DELETED_KEY in new) - int(bool(row.deleted))
    raw = driver_connection(conn)
    if changes and op != "remove":  # removing flags never brings a keyword
        refused = keywords.admit_keywords(
            raw, mailbox_id, keywords.text_keywords(wanted.values()), max_keywords
        )
        if refused:  # past the keyword limit (module sqlite_keywords): stored without those
            changes = _without_refused(changes, refused)
    if not changes:
        return ChangeSet(mailbox_id, box.highestmodseq, (), (), tuple(failed))
    modseq = int(bump_mailbox(conn, mailbox_id, unseen=unseen, deleted=deleted).highestmodseq)
    raw.executemany(
        _SQL_UPDATE_FLAGS,
        [
            (stored_text(new), SEEN_KEY in new, DELETED_KEY in new, modseq, mailbox_id, row.uid)
            for row, new in changes
        ],
    )
    changed = tuple(message_entry(row, new, modseq) for row, new in changes)
    events.append(Change(ChangeKind.FLAGS, box.account_id, mailbox_id, modseq, tuple(e.uid for e in changed)))
    return ChangeSet(mailbox_id, modseq, changed, (), tuple(failed))


def _without_refused(
    changes: list[tuple[EntryRow, dict[str, str]]], refused: frozenset[str]
) -> list[tuple[EntryRow, dict[str, str]]]:
    """The flag changes with the refused keywords left off, and without those left changing nothing
    (\\Seen and \\Deleted are never refused, so the unseen and deleted counts stand)."""
    kept = []
    for row, new in changes:
        trimmed = {key: flag for key, flag in new.items() if key not in refused}
        if trimmed.keys() != parse_stored(row.flags).keys():
            kept.append((row, trimmed))
    return kept


def transfer(
    conn: Connection,
    events: list[Change],
    account_id: AccountId,
    source_id: MailboxId,
    uids: Iterable[Uid],
    destination_name: str,
    move: bool,
    max_keywords: int,
) -> CopyResult | None:
    """COPY or MOVE from the account's mailbox ``source_id`` (NotFound when it is not one) to its
    mailbox of that (canonical) name, the lookups in the write transaction: None when there is no
    such destination, nothing copied."""
    source = mailbox_box(conn, source_id)
    if source.account_id != account_id:
        raise NotFound(f"no mailbox with id {source_id} in account {account_id}")
    found = driver_connection(conn).execute(_SQL_BOX_BY_NAME, (account_id, destination_name)).fetchall()
    if not found:
        return None
    return copy_messages(conn, events, source_id, uids, found[0][0], move, max_keywords, source)


def copy_messages(
    conn: Connection,
    events: list[Change],
    source_id: MailboxId,
    uids: Iterable[Uid],
    destination_id: MailboxId,
    move: bool,
    max_keywords: int,
    source: Box | None = None,
) -> CopyResult:
    if source is None:
        source = mailbox_box(conn, source_id)  # NotFound for a missing source
    rows = read_entries(conn, source_id, uids)
    if not rows:
        return CopyResult(destination_id, mailbox_box(conn, destination_id).uidvalidity, (), ())
    size = sum(row.size for row in rows)
    target = mailbox_box(conn, destination_id)
    found = keywords.text_keywords({row.flags for row in rows})
    refused = keywords.admit_keywords(driver_connection(conn), destination_id, found, max_keywords)
    if refused:  # the target's keyword list is full (module sqlite_keywords): copied without those
        rows = [row._replace(flags=keywords.without_keys(row.flags, refused)) for row in rows]
    if not (move and target.account_id == source.account_id):
        # Each copy counts against the quota (the blob is shared, the usage is not); a MOVE within
        # one account leaves its usage as it was.
        enforce_quota(conn, {target.account_id: (size, len(rows))})
    # RFC 4315 §4.3: the destination UIDs are allocated in source UID order.
    box = bump_mailbox(
        conn,
        destination_id,
        uids=len(rows),
        messages=len(rows),
        unseen=sum(1 for row in rows if not row.seen),
        deleted=sum(1 for row in rows if row.deleted),
        size=size,
    )
    first = int(box.uidnext) - len(rows)
    new_uids = tuple(range(first, first + len(rows)))
    modseq = box.highestmodseq
    saved = int(time.time())  # RFC 8514 §3: a copy (or a move) is saved now, not when its source was
    driver_connection(conn).executemany(
        _SQL_INSERT_MEMBERSHIP,
        [
            (
                destination_id,
                uid,
                row.message_id,
                row.flags,
                row.seen,
                row.deleted,
                modseq,
                row.internal_date,
                row.internal_tz,
                saved,
            )
            for uid, row in zip(new_uids, rows, strict=True)
        ],
    )
    # References are added before the move's expunge releases them, so no message hits zero between.
    retain_messages(conn, Counter(row.message_id for row in rows))
    adjust_quota(conn, box.account_id, size, len(rows))
    events.append(Change(ChangeKind.APPENDED, box.account_id, destination_id, modseq, new_uids))
    entries = tuple(
        message_entry(row, modseq=modseq, uid=uid) for uid, row in zip(new_uids, rows, strict=True)
    )
    added = ChangeSet(destination_id, modseq, entries)
    source_uids = tuple(row.uid for row in rows)
    removed = None
    if move:
        # RFC 6851 §3.3: MOVE is atomic; this runs in the same transaction as the copy.
        removed = ChangeSet(source_id, remove_memberships(conn, events, source_id, rows), (), source_uids)
    return CopyResult(destination_id, box.uidvalidity, source_uids, new_uids, added, removed)


def expunge(
    conn: Connection, events: list[Change], mailbox_id: MailboxId, uids: Iterable[Uid] | None
) -> ChangeSet:
    """Expunge exactly these UIDs (those that exist; None: every message of the mailbox)."""
    box = mailbox_box(conn, mailbox_id)
    if uids is None:
        (uidnext,) = driver_connection(conn).execute(_SQL_UIDNEXT, (mailbox_id,)).fetchone()
        uids = range(1, int(uidnext))
    rows = read_entries(conn, mailbox_id, uids)
    if not rows:
        return ChangeSet(mailbox_id, box.highestmodseq)
    modseq = remove_memberships(conn, events, mailbox_id, rows)
    return ChangeSet(mailbox_id, modseq, (), tuple(row.uid for row in rows))


def expunge_deleted(
    conn: Connection, events: list[Change], mailbox_id: MailboxId, uids: Sequence[Uid] | None
) -> ChangeSet:
    """Expunge the messages carrying \\Deleted (only those among ``uids`` unless None), chosen in
    the write transaction itself: no read before the write, and no message flagged or unflagged
    between the choice and the expunge. Nothing to do (the mailbox's counter says no \\Deleted
    message): no write at all."""
    box = mailbox_box(conn, mailbox_id)
    if not box.deleted:
        return ChangeSet(mailbox_id, box.highestmodseq)
    raw = driver_connection(conn)
    rows = list(map(EntryRow._make, raw.execute(_SQL_ENTRIES_DELETED, (mailbox_id,)).fetchall()))
    if uids is not None:
        wanted = set(uids)
        rows = [row for row in rows if row.uid in wanted]
    if not rows:
        return ChangeSet(mailbox_id, box.highestmodseq)
    modseq = remove_memberships(conn, events, mailbox_id, rows)
    return ChangeSet(mailbox_id, modseq, (), tuple(row.uid for row in rows))


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
