"""The rules of ``reconstruct``, ``verify`` and expunge pruning that are the same on both engines
(their one owner): re-parsing a batch of messages and judging their derived rows, re-deriving every
counter from the membership rows (``recount``), the blobs the store refers to, re-hashing blob
files, and pruning old expunge records. Each engine's module (``sqlite/maintenance``,
``pg/maintenance``) reads the batches and writes the fixes in its own SQL, and gives ``recount``
the two things it does in its own SQL (``RecountForms``).

Everything here is SQLAlchemy Core over the connection of a ``run_read`` or ``run_write`` job.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, BinaryIO, Protocol, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    bindparam,
    case,
    delete,
    func,
    insert,
    select,
    text,
    update,
)

from pochta.config import MimeSettings
from pochta.mime import parse_message
from pochta.mime.imapform import WireForms, wire_forms
from pochta.store.api import NotFound
from pochta.store.blobs import BlobStore
from pochta.store.model import BlobRef, Change, MailboxId, ReconstructReport
from pochta.store.schema import (
    INDEX_FILL,
    account_emails,
    account_modseq,
    expunge_horizon,
    expunged,
    mailbox_snapshots,
    mailbox_tombstones,
    mailboxes,
    membership,
    message_search_text,
    messages,
    queue_messages,
    quota_usage,
    search_queue,
    uploads,
)
from pochta.store.sql.account_modseq import recount_account_state
from pochta.store.sql.mail_rows import PARSE_VERSION
from pochta.store.sqlite import keywords, search
from pochta.store.sqlite import quota as sqlite_quota
from pochta.store.sqlite.mail import chunked

__all__ = [
    "RECONSTRUCT_BATCH",
    "Batch",
    "CacheFix",
    "Jobs",
    "ReconstructForms",
    "RecountForms",
    "hash_all",
    "prune_expunged",
    "reconstruct",
    "recount",
    "referenced_blobs",
    "reparse",
    "search_check",
]

T = TypeVar("T")

# Messages re-parsed per round trip: bounded memory, and short write transactions.
RECONSTRUCT_BATCH = 100
PRUNE_MAILBOXES = 100  # mailboxes pruned in one write transaction


@dataclass(frozen=True)
class CacheFix:
    """A message's derived rows as its blob gives them (written by ``apply_fixes``)."""

    message_id: int
    size: int
    parsed_json: bytes
    search: search.SearchRows
    wire: WireForms


# One batch as an engine reads it: the message row (id, sha256, size, parsed_json, parse_version,
# body, headers of its search text), its header values, its kept wire forms (None: none kept, or of
# another version).
Batch = list[tuple[Row[Any], list[tuple[str, int, str]], WireForms | None]]


def reparse(
    open_blob: Callable[[BlobRef], BinaryIO],
    mime: MimeSettings,
    rows: Batch,
    report: ReconstructReport,
) -> list[CacheFix]:
    """Parse each message of the batch again from its blob (CPU work: called in a thread); the
    messages whose stored derived rows differ from what the parse gives. A missing blob is
    reported, and its message keeps what it has."""
    fixes = []
    for row, header_values, stored_wire in rows:
        try:
            with open_blob(BlobRef(row.sha256, row.size)) as f:
                data = f.read()
        except NotFound:
            report.missing_blobs.append(row.sha256)
            continue
        parsed = parse_message(data, mime)
        report.messages_reparsed += 1
        fix = CacheFix(
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


class RecountForms(Protocol):
    """What ``recount`` asks of an engine in the engine's own SQL."""

    def keywords_in_use(self, conn: Connection) -> dict[MailboxId, dict[str, str]]:
        """Per mailbox, the keywords its messages carry now (``sqlite/keywords.text_keywords``)."""

    def forget_orphans(self, conn: Connection) -> None:
        """In the write that removed message rows: the derived rows (search text and header values,
        wire forms, sort keys) of messages that are gone."""


class ReconstructForms(RecountForms, Protocol):
    """What ``reconstruct`` asks of an engine besides ``RecountForms``."""

    def message_batch(self, conn: Connection, after: int) -> Batch:
        """The next ``RECONSTRUCT_BATCH`` messages after this id, in id order."""

    def rewrite_derived(self, conn: Connection, fix: CacheFix) -> None:
        """In ``apply_fixes``'s write, once the message row is fixed: the engine's derived rows of
        the message (search text and header values, wire forms, sort keys)."""

    def rebuild_index(self, conn: Connection) -> int:
        """In a write: empty the search index and queue every stored text again; how many queued."""


class Jobs(Protocol):
    """A store's transactions (``run_read``, ``run_write``), as both engines have them."""

    async def run_read(self, fn: Callable[[Connection], T]) -> T: ...
    async def run_write(self, fn: Callable[[Connection, list[Change]], T]) -> T: ...


_SQL_BUMP_DIRECTORY_VERSION = "UPDATE directory_version SET version = version + 1 WHERE id = 1"


def apply_fixes(
    conn: Connection, events: list[Change], fixes: Sequence[CacheFix], forms: ReconstructForms
) -> None:
    """In a write: store the fixed parse records and the engine's derived rows (a message gone
    meanwhile is skipped)."""
    del events
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
        forms.rewrite_derived(conn, fix)
        rewritten = True
    if rewritten:
        # Every process's cache of kept forms (wire_cache) holds them by message id while
        # directory_version stays the same: moving it empties them all, in this commit.
        conn.execute(text(_SQL_BUMP_DIRECTORY_VERSION))


async def reconstruct(
    jobs: Jobs,
    forms: ReconstructForms,
    open_blob: Callable[[BlobRef], BinaryIO],
    mime: MimeSettings,
    stored_blobs: Callable[[], Awaitable[set[str]]],
    dry_run: bool,
) -> ReconstructReport:
    """Re-derive everything derived from the blobs and the membership rows (the module docstring of
    ``sqlite/maintenance`` lists it), in batches of reads and short writes beside a running
    server; ``dry_run`` only counts what it would change. ``stored_blobs`` lists every blob the
    engine keeps (files, and rows where it keeps some)."""
    report = ReconstructReport()
    after = 0
    while True:
        rows = await jobs.run_read(partial(forms.message_batch, after=after))
        if not rows:
            break
        after = rows[-1][0].id
        # Parsing is CPU work: in a thread, one batch at a time.
        fixes = await asyncio.to_thread(reparse, open_blob, mime, rows, report)
        if fixes and not dry_run:
            await jobs.run_write(partial(apply_fixes, fixes=fixes, forms=forms))
    if dry_run:
        await jobs.run_read(lambda c: recount(c, False, report, forms))
    else:
        # One write transaction: counters are recomputed against a still database (SQLite's writer
        # lock; PostgreSQL's serializable write, run again if a write raced it).
        await jobs.run_write(lambda c, e: recount(c, True, report, forms))
        report.search_queued = await jobs.run_write(lambda c, e: forms.rebuild_index(c))
    referenced = await jobs.run_read(referenced_blobs)
    report.unreferenced_blobs = sorted(await stored_blobs() - referenced)
    report.missing_blobs.sort()
    return report


# The engines' two-argument substring position (1-based, 0 when absent): SQLite has instr,
# PostgreSQL strpos; the bits below run on whichever engine the connection speaks.
_POSITION = {"sqlite": func.instr, "postgresql": func.strpos}


def _flag_set(conn: Connection, flag: str) -> ColumnElement[bool]:
    # System flags are stored canonically, space-separated: " \Seen " inside " flags ".
    padded = " " + membership.c.flags + " "
    return _POSITION[conn.dialect.name](padded, f" {flag} ") > 0


def recount(conn: Connection, apply: bool, report: ReconstructReport, forms: RecountForms) -> None:
    """Re-derive counters from membership rows; writes only when ``apply`` (inside a write job).

    Stored view snapshots (``sqlite/views``) are derived data too: a reconstruct drops them all, and
    the next full read of each big mailbox stores a new one. (A process's cached view notices a
    repaired size by the mailbox's size counter, which changes without a new MODSEQ.)
    """
    if apply:
        conn.execute(delete(mailbox_snapshots))
    seen, deleted = _flag_set(conn, "\\Seen"), _flag_set(conn, "\\Deleted")
    bits_wrong = (membership.c.seen != seen) | (membership.c.deleted != deleted)
    wrong = conn.execute(select(func.count()).select_from(membership).where(bits_wrong)).scalar_one()
    report.counters_changed += wrong
    if apply and wrong:
        conn.execute(update(membership).where(bits_wrong).values(seen=seen, deleted=deleted))

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
        forms.forget_orphans(conn)

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
    gone = {
        row.mailbox_id: row
        for row in conn.execute(
            select(
                expunged.c.mailbox_id,
                func.max(expunged.c.uid).label("max_uid"),
                func.max(expunged.c.modseq).label("max_modseq"),
            ).group_by(expunged.c.mailbox_id)
        )
    }
    in_use = forms.keywords_in_use(conn)  # revision 0022: the list keeps them
    for box in conn.execute(select(mailboxes).order_by(mailboxes.c.id)).all():
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
    # The account MODSEQ counters and Email records (revision 0038), after the mailboxes' MODSEQs.
    report.counters_changed += recount_account_state(conn, apply)


def referenced_blobs(conn: Connection) -> set[str]:
    # Stored messages, queued ones (the outbound queue keeps its blobs until it is done), and JMAP
    # uploads until they are pruned (revision 0040).
    return (
        set(conn.execute(select(messages.c.sha256)).scalars())
        | set(conn.execute(select(queue_messages.c.sha256)).scalars())
        | set(conn.execute(select(uploads.c.sha256)).scalars())
    )


def hash_all(blobs: BlobStore, names: Sequence[str]) -> list[str]:
    """The blob files among ``names`` whose bytes no longer match their digest (in a thread)."""
    # A blob removed (by collection) between the listing and its check is not corrupt.
    return [name for name in names if not blobs.verify_sync(name) and blobs.exists_sync(name)]


def search_check(conn: Connection) -> tuple[int, list[int]]:
    """Verify: (queue rows waiting for the indexer, messages with no search text and none queued
    to be filled from their blob)."""
    backlog = conn.execute(select(func.count()).select_from(search_queue)).scalar_one()
    missing = conn.execute(
        select(messages.c.id)
        .where(
            messages.c.id.not_in(select(message_search_text.c.message_id)),
            messages.c.id.not_in(
                select(search_queue.c.message_id).where(search_queue.c.action == INDEX_FILL)
            ),
        )
        .order_by(messages.c.id)
    ).scalars()
    return int(backlog), [int(m) for m in missing]


# Expunge records older than the cutoff, per mailbox: the highest MODSEQ among them. Housekeeping
# deletes every record of the mailbox up to it and raises the mailbox's horizon to it, in one write.


def _prune_batch(conn: Connection, events: list[Change], cutoff: int) -> tuple[int, int]:
    """One write job: (mailboxes pruned, records deleted)."""
    del events
    found = conn.execute(
        select(expunged.c.mailbox_id, func.max(expunged.c.modseq))
        .where(expunged.c.at < cutoff)
        .group_by(expunged.c.mailbox_id)
        .limit(PRUNE_MAILBOXES)
    ).all()
    deleted = 0
    for mailbox_id, modseq in found:
        # The horizon only rises: a row of a higher one stays as it is.
        raised = conn.execute(
            update(expunge_horizon)
            .where(expunge_horizon.c.mailbox_id == mailbox_id, expunge_horizon.c.modseq < modseq)
            .values(modseq=modseq)
        )
        if raised.rowcount == 0:
            have = conn.execute(
                select(expunge_horizon.c.modseq).where(expunge_horizon.c.mailbox_id == mailbox_id)
            ).first()
            if have is None:
                conn.execute(insert(expunge_horizon).values(mailbox_id=mailbox_id, modseq=modseq))
        pruned = conn.execute(
            delete(expunged).where(expunged.c.mailbox_id == mailbox_id, expunged.c.modseq <= modseq)
        )
        deleted += int(pruned.rowcount or 0)
        prune_account_records(conn, mailbox_id, modseq)
    return len(found), deleted


def prune_account_records(conn: Connection, mailbox_id: MailboxId, modseq: int) -> None:
    """JMAP's tombstones of the mailbox's account up to ``modseq`` go with its expunge records
    (account MODSEQs grow with time, so they are as old): its Email and Mailbox changes can no
    longer be told from a state before it (``account_modseq.pruned``, RFC 8620 §5.2)."""
    owner = conn.execute(select(mailboxes.c.account_id).where(mailboxes.c.id == mailbox_id)).first()
    if owner is None:
        return
    account_id = owner.account_id
    conn.execute(
        delete(account_emails).where(
            account_emails.c.account_id == account_id,
            account_emails.c.destroyed.is_not(None),
            account_emails.c.destroyed <= modseq,
        )
    )
    conn.execute(
        delete(mailbox_tombstones).where(
            mailbox_tombstones.c.account_id == account_id, mailbox_tombstones.c.modseq <= modseq
        )
    )
    conn.execute(
        update(account_modseq)
        .where(account_modseq.c.account_id == account_id, account_modseq.c.pruned < modseq)
        .values(pruned=modseq)
    )


async def prune_expunged(
    run_write: Callable[[Callable[[Connection, list[Change]], tuple[int, int]]], Awaitable[tuple[int, int]]],
    older_than_seconds: float,
) -> int:
    """Delete expunge records older than ``older_than_seconds`` (RFC 7162 QRESYNC's VANISHED data)
    and remember per mailbox the highest MODSEQ deleted (``expunge_horizon``), in writes of
    ``PRUNE_MAILBOXES`` mailboxes each. Returns the number of records deleted."""
    cutoff = int(time.time() - older_than_seconds)
    total = 0
    while True:
        mailboxes_done, deleted = await run_write(lambda c, e: _prune_batch(c, e, cutoff))
        total += deleted
        if mailboxes_done < PRUNE_MAILBOXES:
            return total
