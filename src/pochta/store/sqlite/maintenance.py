"""reconstruct, verify and blob collection for the SQLite store.

All three work beside a running server (from the CLI, in another process): reads use their own
snapshot, writes go through the writer in short transactions that other writers simply wait for.

- ``reconstruct`` re-derives everything derived from the blobs and the membership rows: the parse
  cache, IMAP wire forms, search text and header values of each message (re-parsed from its blob),
  the full-text index (emptied, every message queued for the background indexer), the seen/deleted
  bits of each membership, message refcounts, mailbox counters and quota usage (Cyrus ``reconstruct`` and
  ``quota -f`` in one). Counters are recomputed in one transaction, so they are exact even while
  mail is being delivered.
- ``verify`` changes nothing: missing, corrupt (hash mismatch) and unreferenced blobs, messages
  without search text, the indexer's backlog (not damage), and SQLite's own integrity and
  foreign-key checks.
- ``collect_blobs`` removes unreferenced blob files after a grace period, and unreferenced rows of
  ``inline_blobs`` (small messages kept in the database, ``sqlite/inline``) at once, in one write
  transaction.

Blobs are files and rows alike here: reconstruct re-parses a message from either, verify re-hashes
both and reports missing and unreferenced ones of both kinds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, bindparam, case, delete, func, insert, select, text, update

from pochta.config import MimeSettings
from pochta.mime import parse_message
from pochta.mime.imapform import WireForms, wire_forms
from pochta.store.api import NotFound
from pochta.store.blobs import BlobStore
from pochta.store.model import BlobRef, Change, ReconstructReport, VerifyReport
from pochta.store.schema import (
    mailbox_snapshots,
    mailboxes,
    membership,
    messages,
    queue_messages,
    quota_usage,
)
from pochta.store.sql.mail_rows import PARSE_VERSION
from pochta.store.sqlite import inline, keywords, queue, search, sortkeys, wire
from pochta.store.sqlite import quota as sqlite_quota
from pochta.store.sqlite.inline import BlobReader
from pochta.store.sqlite.mail import chunked
from pochta.store.sqlite.writer import driver_connection

if TYPE_CHECKING:
    from pochta.store.sqlite.store import SqliteStore

# Messages re-parsed per round trip: bounded memory, and short write transactions.
RECONSTRUCT_BATCH = 100
COLLECT_BATCH = 500


@dataclass(frozen=True)
class _CacheFix:
    message_id: int
    size: int
    parsed_json: bytes
    search: search.SearchRows
    wire: WireForms


_SQL_HEADER_VALUES = (
    "SELECT field, position, value FROM message_header_values WHERE message_id = ? ORDER BY field, position"
)


_Batch = list[tuple[Row[Any], list[tuple[str, int, str]], WireForms | None]]


def _message_batch(conn: Connection, after: int) -> _Batch:
    rows = conn.execute(
        text(
            "SELECT m.id, m.sha256, m.size, m.parsed_json, m.parse_version, t.body, t.headers "
            "FROM messages AS m LEFT JOIN message_search_text AS t ON t.message_id = m.id "
            "WHERE m.id > :after ORDER BY m.id LIMIT :limit"
        ),
        {"after": after, "limit": RECONSTRUCT_BATCH},
    ).all()
    raw = driver_connection(conn)
    return [
        (row, [tuple(h) for h in raw.execute(_SQL_HEADER_VALUES, (row.id,))], wire.stored_forms(raw, row.id))
        for row in rows
    ]


def _reparse(
    blobs: BlobReader,
    mime: MimeSettings,
    rows: _Batch,
    report: ReconstructReport,
) -> list[_CacheFix]:
    fixes = []
    for row, header_values, stored_wire in rows:
        try:
            with blobs.open(BlobRef(row.sha256, row.size)) as f:
                data = f.read()
        except NotFound:
            report.missing_blobs.append(row.sha256)
            continue
        parsed = parse_message(data, mime)
        report.messages_reparsed += 1
        fix = _CacheFix(
            row.id,
            len(data),
            parsed.to_json(with_text=False),
            search.search_rows(parsed),
            wire_forms(parsed.root),
        )
        if (
            bytes(row.parsed_json) != fix.parsed_json
            or row.size != fix.size
            or row.parse_version != PARSE_VERSION
            or row.body != fix.search.body
            or row.headers != fix.search.headers
            or sorted(header_values) != sorted(fix.search.header_values)
            or stored_wire != fix.wire
        ):
            report.caches_changed += 1
            fixes.append(fix)
    return fixes


_SQL_BUMP_DIRECTORY_VERSION = "UPDATE directory_version SET version = version + 1 WHERE id = 1"


def _apply_fixes(conn: Connection, events: list[Change], fixes: Sequence[_CacheFix]) -> None:
    rewritten = False
    for fix in fixes:
        # The message may have been expunged everywhere since it was read: then there is nothing to fix.
        result = conn.execute(
            update(messages)
            .where(messages.c.id == fix.message_id)
            .values(size=fix.size, parsed_json=fix.parsed_json, parse_version=PARSE_VERSION)
        )
        if result.rowcount == 0:
            continue
        # The index is rebuilt at the end of reconstruct (search.rebuild_index), from these rows.
        search.replace_message(driver_connection(conn), fix.message_id, fix.search)
        wire.replace_forms(driver_connection(conn), fix.message_id, fix.wire)
        rewritten = True
        sortkeys.forget_keys(driver_connection(conn), [fix.message_id])  # derived again when needed
    if rewritten:
        # Every process's cache of kept forms (wire_cache) holds them by message id while
        # directory_version stays the same: moving it empties them all, in this commit.
        driver_connection(conn).execute(_SQL_BUMP_DIRECTORY_VERSION)


# The seen/deleted bits as the flags text says they should be (system flags are stored canonically).
_COUNT_BITS_WRONG = (
    "SELECT count(*) FROM membership "
    "WHERE seen != (instr(' ' || flags || ' ', ' \\Seen ') > 0) "
    "OR deleted != (instr(' ' || flags || ' ', ' \\Deleted ') > 0)"
)
_FIX_BITS = (
    "UPDATE membership SET seen = (instr(' ' || flags || ' ', ' \\Seen ') > 0), "
    "deleted = (instr(' ' || flags || ' ', ' \\Deleted ') > 0) "
    "WHERE seen != (instr(' ' || flags || ' ', ' \\Seen ') > 0) "
    "OR deleted != (instr(' ' || flags || ' ', ' \\Deleted ') > 0)"
)
_EXPUNGED_MAX = (
    "SELECT mailbox_id, max(uid) AS max_uid, max(modseq) AS max_modseq FROM expunged GROUP BY mailbox_id"
)


def _recount(conn: Connection, apply: bool, report: ReconstructReport) -> None:
    """Re-derive counters from membership rows; writes only when ``apply`` (inside a writer job).

    Stored view snapshots (``sqlite/views``) are derived data too: a reconstruct drops them all, and
    the next full read of each big mailbox stores a new one. (A process's cached view notices a
    repaired size by the mailbox's size counter, which changes without a new MODSEQ.)
    """
    if apply:
        conn.execute(delete(mailbox_snapshots))
    wrong = conn.execute(text(_COUNT_BITS_WRONG)).scalar_one()
    report.counters_changed += wrong
    if apply and wrong:
        conn.execute(text(_FIX_BITS))

    # Message refcounts; a message no mailbox holds loses its row and search text.
    held = (
        select(func.count())
        .select_from(membership)
        .where(membership.c.message_id == messages.c.id)
        .scalar_subquery()
    )
    refs = conn.execute(select(messages.c.id, held.label("held")).where(messages.c.refcount != held)).all()
    report.counters_changed += len(refs)
    if apply and refs:
        alive = [{"b_id": row.id, "refcount": row.held} for row in refs if row.held > 0]
        dead = [row.id for row in refs if row.held == 0]
        if alive:
            conn.execute(update(messages).where(messages.c.id == bindparam("b_id")), alive)
        for ids in chunked(dead):
            conn.execute(delete(messages).where(messages.c.id.in_(ids)))
    if apply:
        search.forget_orphans(driver_connection(conn))
        wire.forget_forms(driver_connection(conn), None)
        sortkeys.forget_orphans(driver_connection(conn))

    # Mailbox counters, UIDNEXT and HIGHESTMODSEQ (never lowered: they only have to stay ahead).
    stats = {
        row.mailbox_id: row
        for row in conn.execute(
            select(
                membership.c.mailbox_id,
                func.count().label("n"),
                func.sum(case((membership.c.seen, 0), else_=1)).label("unseen"),
                func.sum(case((membership.c.deleted, 1), else_=0)).label("deleted"),
                func.sum(messages.c.size).label("size"),
                func.max(membership.c.uid).label("max_uid"),
                func.max(membership.c.modseq).label("max_modseq"),
                func.sum(case((membership.c.uid >= mailboxes.c.first_recent_uid, 1), else_=0)).label(
                    "recent"
                ),
            )
            .join_from(membership, messages, membership.c.message_id == messages.c.id)
            .join(mailboxes, membership.c.mailbox_id == mailboxes.c.id)
            .group_by(membership.c.mailbox_id)
        )
    }
    gone = {row.mailbox_id: row for row in conn.execute(text(_EXPUNGED_MAX))}
    in_use = keywords.keywords_in_use(driver_connection(conn))  # revision 0022: the list keeps them
    for box in conn.execute(select(mailboxes)).all():
        report.mailboxes_recounted += 1
        stat, exp = stats.get(box.id), gone.get(box.id)
        expected: dict[str, int | str] = {
            "messages": stat.n if stat else 0,
            "unseen": int(stat.unseen) if stat else 0,
            "deleted": int(stat.deleted) if stat else 0,
            "size": int(stat.size) if stat else 0,
            "recent": int(stat.recent) if stat else 0,  # RFC 3501 §2.3.2 (revision 0012)
            "uidnext": max(box.uidnext, (stat.max_uid + 1) if stat else 0, (exp.max_uid + 1) if exp else 0),
            "highestmodseq": max(
                box.highestmodseq, stat.max_modseq if stat else 0, exp.max_modseq if exp else 0
            ),
        }
        # What the messages carry is listed whatever the limit: FLAGS must name every keyword in use.
        listed, _ = keywords.merge_keywords(box.keywords, in_use.get(box.id, {}))
        if listed is not None:
            expected["keywords"] = listed
        if any(getattr(box, key) != value for key, value in expected.items()):
            report.counters_changed += 1
            if apply:
                conn.execute(update(mailboxes).where(mailboxes.c.id == box.id).values(expected))

    # Quota usage: every membership counts (a message in two mailboxes counts twice, as IMAP QUOTA).
    usage = {
        row.account_id: row
        for row in conn.execute(
            select(mailboxes.c.account_id, func.count().label("n"), func.sum(messages.c.size).label("size"))
            .select_from(membership)
            .join(mailboxes, membership.c.mailbox_id == mailboxes.c.id)
            .join(messages, membership.c.message_id == messages.c.id)
            .group_by(mailboxes.c.account_id)
        )
    }
    stored = {row.account_id: row for row in conn.execute(select(quota_usage))}
    account_ids = {row.account_id for row in conn.execute(text("SELECT id AS account_id FROM accounts"))}
    for account_id in sorted(account_ids):
        actual = usage.get(account_id)
        size, count = (int(actual.size), int(actual.n)) if actual else (0, 0)
        have = stored.get(account_id)
        if have is not None and (have.bytes, have.messages) == (size, count):
            continue
        report.quota_changed += 1
        if not apply:
            continue
        if have is None:
            conn.execute(insert(quota_usage).values(account_id=account_id, bytes=size, messages=count))
        else:
            conn.execute(
                update(quota_usage)
                .where(quota_usage.c.account_id == account_id)
                .values(bytes=size, messages=count)
            )
    # Domain usage (revision 0017): the triggers carried the accounts' corrections to it; a domain
    # row wrong on its own is found here.
    sqlite_quota.recount_domains(conn, report, apply)


def referenced_blobs(conn: Connection) -> set[str]:
    # Stored messages, and queued ones (the outbound queue keeps its blobs until it is done).
    return set(conn.execute(select(messages.c.sha256)).scalars()) | queue.referenced_blobs(conn)


async def reconstruct(store: SqliteStore, dry_run: bool) -> ReconstructReport:
    report = ReconstructReport()
    after = 0
    while True:
        rows = await store.run_read(partial(_message_batch, after=after))
        if not rows:
            break
        after = rows[-1][0].id
        # Parsing is CPU work: in a thread, one batch at a time.
        fixes = await asyncio.to_thread(_reparse, store.blob_reader, store.settings.mime, rows, report)
        if fixes and not dry_run:
            await store.run_write(partial(_apply_fixes, fixes=fixes))
    if dry_run:
        await store.run_read(lambda c: _recount(c, False, report))
    else:
        # The write transaction holds the lock: counters are recomputed against a still database.
        await store.run_write(lambda c, e: _recount(c, True, report))
        report.search_queued = await store.run_write(lambda c, e: search.rebuild_index(c))
    referenced = await store.run_read(referenced_blobs)
    report.unreferenced_blobs = sorted(await _stored_blobs(store) - referenced)
    report.missing_blobs.sort()
    return report


async def _stored_blobs(store: SqliteStore) -> set[str]:
    """The digest of every blob file and every inline row."""
    rows = await store.run_read(lambda c: inline.names(driver_connection(c)))
    return rows | await store.blobs.list_all()


def _corrupt_after(conn: Connection, after: str) -> tuple[list[str], str | None]:
    return inline.corrupt_after(driver_connection(conn), after)


async def _corrupt_rows(store: SqliteStore) -> list[str]:
    """Inline rows whose bytes no longer match their digest, a batch per read job."""
    corrupt: list[str] = []
    after: str | None = ""
    while after is not None:
        bad, after = await store.run_read(partial(_corrupt_after, after=after))
        corrupt.extend(bad)
    return corrupt


def _integrity(conn: Connection) -> list[str]:
    errors = [str(row[0]) for row in conn.exec_driver_sql("PRAGMA integrity_check")]
    errors = [] if errors == ["ok"] else errors
    for row in conn.exec_driver_sql("PRAGMA foreign_key_check"):
        errors.append(f"foreign key violation: {tuple(row)}")
    return errors


def _hash_all(blobs: BlobStore, names: Sequence[str]) -> list[str]:
    # A blob removed (by collection) between the listing and its check is not corrupt.
    return [name for name in names if not blobs.verify_sync(name) and blobs.exists_sync(name)]


async def verify(store: SqliteStore) -> VerifyReport:
    referenced = await store.run_read(referenced_blobs)
    on_disk = await store.blobs.list_all()
    stored = on_disk | await store.run_read(lambda c: inline.names(driver_connection(c)))
    report = VerifyReport(
        missing_blobs=sorted(referenced - stored),
        unreferenced_blobs=sorted(stored - referenced),
    )
    corrupt = await asyncio.to_thread(_hash_all, store.blobs, sorted(on_disk))
    report.corrupt_blobs = sorted(set(corrupt) | set(await _corrupt_rows(store)))
    report.integrity_errors = await store.run_read(_integrity)
    report.search_backlog, report.search_missing = await store.run_read(search.check)
    return report


def _remove_unreferenced(
    conn: Connection, events: list[Change], blobs: BlobStore, names: Sequence[str], grace: float
) -> list[str]:
    """Inside a write transaction, so that no delivery can reference a blob between check and unlink
    (deliver checks the blob exists inside its write transaction too)."""
    still = set(conn.execute(select(messages.c.sha256).where(messages.c.sha256.in_(names))).scalars())
    still |= set(
        conn.execute(select(queue_messages.c.sha256).where(queue_messages.c.sha256.in_(names))).scalars()
    )
    return [name for name in names if name not in still and blobs.remove_if_old_sync(name, grace)]


async def collect_blobs(store: SqliteStore, grace_seconds: float) -> list[str]:
    # Rows: no grace period (module docstring of sqlite_inline), one write transaction.
    rows = await store.run_write(lambda c, e: inline.collect(driver_connection(c)))
    referenced = await store.run_read(referenced_blobs)
    candidates = await asyncio.to_thread(store.blobs.collectable_sync, referenced, grace_seconds)
    removed: list[str] = rows
    for names in chunked(candidates, COLLECT_BATCH):
        job = partial(_remove_unreferenced, blobs=store.blobs, names=names, grace=grace_seconds)
        removed.extend(await store.run_write(job))
    return removed


# Expunge records older than the cutoff, per mailbox: the highest MODSEQ among them. Housekeeping
# deletes every record of the mailbox up to it and raises the mailbox's horizon to it, in one write.
_SQL_PRUNABLE = "SELECT mailbox_id, max(modseq) FROM expunged WHERE at < ? GROUP BY mailbox_id LIMIT ?"
_SQL_RAISE_HORIZON = (
    "INSERT INTO expunge_horizon (mailbox_id, modseq) VALUES (?, ?) ON CONFLICT (mailbox_id) "
    "DO UPDATE SET modseq = max(expunge_horizon.modseq, excluded.modseq)"
)
_SQL_PRUNE = "DELETE FROM expunged WHERE mailbox_id = ? AND modseq <= ?"
PRUNE_MAILBOXES = 100  # mailboxes pruned in one write transaction


def _prune_batch(conn: Connection, cutoff: int) -> tuple[int, int]:
    """One write job: (mailboxes pruned, records deleted)."""
    raw = driver_connection(conn)
    found = raw.execute(_SQL_PRUNABLE, (cutoff, PRUNE_MAILBOXES)).fetchall()
    deleted = 0
    for mailbox_id, modseq in found:
        raw.execute(_SQL_RAISE_HORIZON, (mailbox_id, modseq))
        deleted += raw.execute(_SQL_PRUNE, (mailbox_id, modseq)).rowcount
    return len(found), deleted


async def prune_expunged(store: SqliteStore, older_than_seconds: float) -> int:
    """Delete expunge records older than ``older_than_seconds`` (RFC 7162 QRESYNC's VANISHED data)
    and remember per mailbox the highest MODSEQ deleted (``expunge_horizon``), in writes of
    ``PRUNE_MAILBOXES`` mailboxes each. Returns the number of records deleted."""
    cutoff = int(time.time() - older_than_seconds)
    total = 0
    while True:
        mailboxes_done, deleted = await store.run_write(lambda c, e: _prune_batch(c, cutoff))
        total += deleted
        if mailboxes_done < PRUNE_MAILBOXES:
            return total
