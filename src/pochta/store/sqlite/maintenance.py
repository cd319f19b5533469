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

The rules both engines share (re-parsing, recounting, referenced blobs, pruning) are
``store/sql/maintenance``'s; this module reads and writes them in SQLite's SQL.

Blobs are files and rows alike here: reconstruct re-parses a message from either, verify re-hashes
both and reports missing and unreferenced ones of both kinds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy import Connection, select, text

from pochta.store.blobs import BlobStore
from pochta.store.model import Change, MailboxId, ReconstructReport, VerifyReport
from pochta.store.schema import messages, queue_messages, uploads
from pochta.store.sql import maintenance as rules
from pochta.store.sql.maintenance import Batch, CacheFix
from pochta.store.sqlite import inline, keywords, search, sortkeys, wire
from pochta.store.sqlite.mail import chunked
from pochta.store.sqlite.writer import driver_connection

if TYPE_CHECKING:
    from pochta.store.sqlite.store import SqliteStore

COLLECT_BATCH = 500

_SQL_HEADER_VALUES = (
    "SELECT field, position, value FROM message_header_values WHERE message_id = ? ORDER BY field, position"
)


def _message_batch(conn: Connection, after: int) -> Batch:
    rows = conn.execute(
        text(
            "SELECT m.id, m.sha256, m.size, m.parsed_json, m.parse_version, t.body, t.headers "
            "FROM messages AS m LEFT JOIN message_search_text AS t ON t.message_id = m.id "
            "WHERE m.id > :after ORDER BY m.id LIMIT :limit"
        ),
        {"after": after, "limit": rules.RECONSTRUCT_BATCH},
    ).all()
    raw = driver_connection(conn)
    return [
        (row, [tuple(h) for h in raw.execute(_SQL_HEADER_VALUES, (row.id,))], wire.stored_forms(raw, row.id))
        for row in rows
    ]


def _rewrite_derived(conn: Connection, fix: CacheFix) -> None:
    # The index is rebuilt at the end of reconstruct (search.rebuild_index), from these rows.
    search.replace_message(driver_connection(conn), fix.message_id, fix.search)
    wire.replace_forms(driver_connection(conn), fix.message_id, fix.wire)
    sortkeys.forget_keys(driver_connection(conn), [fix.message_id])  # derived again when needed


class _SqliteForms:
    """``sql/maintenance``'s engine forms on SQLite (``ReconstructForms``)."""

    message_batch = staticmethod(_message_batch)
    rewrite_derived = staticmethod(_rewrite_derived)

    def rebuild_index(self, conn: Connection) -> int:
        return search.rebuild_index(conn)

    def keywords_in_use(self, conn: Connection) -> dict[MailboxId, dict[str, str]]:
        return keywords.keywords_in_use(driver_connection(conn))

    def forget_orphans(self, conn: Connection) -> None:
        search.forget_orphans(driver_connection(conn))
        wire.forget_forms(driver_connection(conn), None)
        sortkeys.forget_orphans(driver_connection(conn))


FORMS = _SqliteForms()
referenced_blobs = rules.referenced_blobs  # the one rule of both engines (sql/maintenance)


async def reconstruct(store: SqliteStore, dry_run: bool) -> ReconstructReport:
    mime = store.settings.mime
    return await rules.reconstruct(
        store, FORMS, store.blob_reader.open, mime, partial(_stored_blobs, store), dry_run
    )


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


async def verify(store: SqliteStore) -> VerifyReport:
    referenced = await store.run_read(rules.referenced_blobs)
    on_disk = await store.blobs.list_all()
    stored = on_disk | await store.run_read(lambda c: inline.names(driver_connection(c)))
    report = VerifyReport(
        missing_blobs=sorted(referenced - stored),
        unreferenced_blobs=sorted(stored - referenced),
    )
    corrupt = await asyncio.to_thread(rules.hash_all, store.blobs, sorted(on_disk))
    report.corrupt_blobs = sorted(set(corrupt) | set(await _corrupt_rows(store)))
    report.integrity_errors = await store.run_read(_integrity)
    report.search_backlog, report.search_missing = await store.run_read(rules.search_check)
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
    still |= set(conn.execute(select(uploads.c.sha256).where(uploads.c.sha256.in_(names))).scalars())
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


async def prune_expunged(store: SqliteStore, older_than_seconds: float) -> int:
    """``sql/maintenance.prune_expunged`` through the writer."""
    return await rules.prune_expunged(store.run_write, older_than_seconds)
