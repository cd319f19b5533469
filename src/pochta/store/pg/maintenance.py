"""``PgStore``'s maintenance and placements: ``reconstruct``, ``verify``, expunge pruning, and the
import and migration state (a mixin, ``PgMaintenanceMethods``).

The rules are ``store/sql/maintenance``'s (re-parsing, recounting, referenced blobs, pruning) and
the placement mixins of ``store/sql`` (``import_journal``, ``migrate_state``, over the mail writes
of ``store/sql/mail_writes``); this module gives them their PostgreSQL statements (``_PgForms``).

How it differs from SQLite:

- Blobs are ``PgBlobs`` (``pg/blobs``): reconstruct and verify look at both of its places, the
  ``inline_blobs`` rows and the larger blobs' layout (files, or chunked rows).
- ``verify`` has no ``integrity_errors`` of its own: PostgreSQL checks its foreign keys and
  constraints in every write (SQLite's are checked by ``PRAGMA foreign_key_check``), and its
  page-level checks are the server's (``pg_amcheck``), not a client's.
- Rebuilding the search index is the queue's part only: every stored text is queued for the
  indexer again, as on SQLite, and texts waiting to leave the index go. The PostgreSQL search
  index itself is not this module's (docs/scaling.md).
"""

from __future__ import annotations

import asyncio
from functools import partial

from sqlalchemy import Connection, text

from pochta.config import Settings
from pochta.mime.imapform import WIRE_VERSION, WireForms
from pochta.store.model import MailboxId, ReconstructReport, VerifyReport
from pochta.store.pg.blobs import PgBlobs
from pochta.store.pg.jobs import PgJobs
from pochta.store.pg.mail import fetch_rows
from pochta.store.schema import INDEX_ADD, INDEX_DROP, INDEX_FILL
from pochta.store.sql import maintenance as rules
from pochta.store.sql.import_journal import ImportJournalMethods
from pochta.store.sql.maintenance import Batch, CacheFix
from pochta.store.sql.migrate_state import MigrateStateMethods
from pochta.store.sqlite.keywords import text_keywords

__all__ = ["PgMaintenanceMethods"]

_SQL_BATCH_HEADERS = (
    "SELECT message_id, field, position, value FROM message_header_values WHERE message_id = ANY(%s)"
)
_SQL_BATCH_WIRE = (
    "SELECT message_id, envelope, body, bodystructure, envelope_utf8, body_utf8, bodystructure_utf8 "
    "FROM message_wire WHERE version = %s AND message_id = ANY(%s)"
)


def _optional(value: bytes | None) -> bytes | None:
    return None if value is None else bytes(value)


def _message_batch(conn: Connection, after: int) -> Batch:
    rows = conn.execute(
        text(
            "SELECT m.id, m.sha256, m.size, m.parsed_json, m.parse_version, t.body, t.headers "
            "FROM messages AS m LEFT JOIN message_search_text AS t ON t.message_id = m.id "
            "WHERE m.id > :after ORDER BY m.id LIMIT :limit"
        ),
        {"after": after, "limit": rules.RECONSTRUCT_BATCH},
    ).all()
    if not rows:
        return []
    ids = [int(row.id) for row in rows]
    headers: dict[int, list[tuple[str, int, str]]] = {}
    for message_id, field, position, value in fetch_rows(conn, _SQL_BATCH_HEADERS, (ids,)):
        headers.setdefault(int(message_id), []).append((str(field), int(position), str(value)))
    forms = {
        int(row[0]): WireForms(
            bytes(row[1]),
            bytes(row[2]),
            bytes(row[3]),
            _optional(row[4]),
            _optional(row[5]),
            _optional(row[6]),
        )
        for row in fetch_rows(conn, _SQL_BATCH_WIRE, (WIRE_VERSION, ids))
    }
    return [(row, headers.get(int(row.id), []), forms.get(int(row.id))) for row in rows]


# A fixed message's derived rows (``sqlite/search.replace_message``, ``sqlite/wire.replace_forms``,
# ``sqlite/sortkeys.forget_keys``): written again whatever was there.
_SQL_FIX_TEXT = (
    "DELETE FROM message_search_text WHERE message_id = %s",
    "DELETE FROM message_header_values WHERE message_id = %s",
    "DELETE FROM message_sort_keys WHERE message_id = %s",
)
_SQL_INSERT_TEXT = "INSERT INTO message_search_text (message_id, headers, body) VALUES (%s, %s, %s)"
_SQL_INSERT_HEADER = (
    "INSERT INTO message_header_values (message_id, field, position, value) VALUES (%s, %s, %s, %s)"
)
_SQL_UNQUEUE_FILL = "DELETE FROM search_queue WHERE message_id = %s AND action = %s"
_SQL_REPLACE_WIRE = (
    "INSERT INTO message_wire (message_id, version, envelope, body, bodystructure, envelope_utf8, "
    "body_utf8, bodystructure_utf8) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (message_id) DO UPDATE SET version = excluded.version, envelope = excluded.envelope, "
    "body = excluded.body, bodystructure = excluded.bodystructure, "
    "envelope_utf8 = excluded.envelope_utf8, body_utf8 = excluded.body_utf8, "
    "bodystructure_utf8 = excluded.bodystructure_utf8"
)


def _rewrite_derived(conn: Connection, fix: CacheFix) -> None:
    for sql in _SQL_FIX_TEXT:
        conn.exec_driver_sql(sql, (fix.message_id,))
    rows = fix.search
    conn.exec_driver_sql(_SQL_INSERT_TEXT, (fix.message_id, rows.headers, rows.body))
    for header in rows.header_values:
        conn.exec_driver_sql(_SQL_INSERT_HEADER, (fix.message_id, *header))
    conn.exec_driver_sql(_SQL_UNQUEUE_FILL, (fix.message_id, INDEX_FILL))
    forms = fix.wire
    conn.exec_driver_sql(
        _SQL_REPLACE_WIRE,
        (fix.message_id, WIRE_VERSION, forms.envelope, forms.body, forms.bodystructure,
         forms.envelope_utf8, forms.body_utf8, forms.bodystructure_utf8),
    )  # fmt: skip


# Derived rows of messages that are gone (``pg/mail.release_messages`` for rows reconstruct
# removed, or that outlived their message): search text the index never took goes now, text it
# took is queued for the indexer to take out.
_SQL_ORPHANS = (
    "SELECT message_id FROM message_search_text WHERE message_id NOT IN (SELECT id FROM messages) "
    "AND message_id NOT IN (SELECT message_id FROM search_queue WHERE action = %(drop)s) "
    "UNION SELECT message_id FROM message_header_values WHERE message_id NOT IN (SELECT id FROM messages) "
    "UNION SELECT message_id FROM search_queue "
    "WHERE action != %(drop)s AND message_id NOT IN (SELECT id FROM messages)"
)
_SQL_FORGET_HEADERS = "DELETE FROM message_header_values WHERE message_id = ANY(%s)"
_SQL_FORGET_ORPHANS = (
    "DELETE FROM message_wire WHERE message_id NOT IN (SELECT id FROM messages)",
    "DELETE FROM message_sort_keys WHERE message_id NOT IN (SELECT id FROM messages)",
    "DELETE FROM message_threads WHERE message_id NOT IN (SELECT id FROM messages)",
)
_SQL_UNQUEUE_UNINDEXED = (
    "DELETE FROM search_queue WHERE message_id = ANY(%s) AND action != %s RETURNING message_id"
)
_SQL_DELETE_TEXTS = "DELETE FROM message_search_text WHERE message_id = ANY(%s)"
_SQL_QUEUE_DROP = (
    "INSERT INTO search_queue (message_id, action) SELECT message_id, %s FROM message_search_text "
    "WHERE message_id = ANY(%s) ON CONFLICT (message_id) DO UPDATE SET action = excluded.action"
)

# Keywords in use (``sqlite/keywords._SQL_IN_USE``): flag texts with a word not starting with '\'.
_SQL_IN_USE = "SELECT DISTINCT mailbox_id, flags FROM membership WHERE (' ' || flags) ~ ' [^\\\\]'"

# ``sqlite/search.rebuild_index``'s queue half (the index itself is the search engine's).
_SQL_DROP_LEAVING = (
    "DELETE FROM message_search_text WHERE message_id IN "
    "(SELECT message_id FROM search_queue WHERE action = %s)"
)
_SQL_UNQUEUE_LEAVING = "DELETE FROM search_queue WHERE action = %s"
_SQL_QUEUE_ALL = (
    "INSERT INTO search_queue (message_id, action) SELECT message_id, %s FROM message_search_text "
    "ON CONFLICT (message_id) DO UPDATE SET action = excluded.action"
)


class _PgForms:
    """``sql/maintenance``'s engine forms on PostgreSQL (``ReconstructForms``)."""

    message_batch = staticmethod(_message_batch)
    rewrite_derived = staticmethod(_rewrite_derived)

    def keywords_in_use(self, conn: Connection) -> dict[MailboxId, dict[str, str]]:
        texts: dict[MailboxId, list[str]] = {}
        for mailbox_id, flags in conn.exec_driver_sql(_SQL_IN_USE):
            texts.setdefault(MailboxId(mailbox_id), []).append(str(flags))
        return {mailbox_id: text_keywords(found) for mailbox_id, found in texts.items()}

    def forget_orphans(self, conn: Connection) -> None:
        gone = sorted({int(row[0]) for row in conn.exec_driver_sql(_SQL_ORPHANS, {"drop": INDEX_DROP})})
        for sql in _SQL_FORGET_ORPHANS:
            conn.exec_driver_sql(sql)
        if not gone:
            return
        conn.exec_driver_sql(_SQL_FORGET_HEADERS, (gone,))
        unindexed = [int(row[0]) for row in fetch_rows(conn, _SQL_UNQUEUE_UNINDEXED, (gone, INDEX_DROP))]
        if unindexed:
            conn.exec_driver_sql(_SQL_DELETE_TEXTS, (unindexed,))
        indexed = sorted(set(gone) - set(unindexed))
        if indexed:
            conn.exec_driver_sql(_SQL_QUEUE_DROP, (INDEX_DROP, indexed))

    def rebuild_index(self, conn: Connection) -> int:
        # Texts of messages already gone were waiting to leave the index: they go with it.
        conn.exec_driver_sql(_SQL_DROP_LEAVING, (INDEX_DROP,))
        conn.exec_driver_sql(_SQL_UNQUEUE_LEAVING, (INDEX_DROP,))
        return int(conn.exec_driver_sql(_SQL_QUEUE_ALL, (INDEX_ADD,)).rowcount or 0)


FORMS = _PgForms()


class PgMaintenanceMethods(ImportJournalMethods, MigrateStateMethods, PgJobs):
    """Mixed into ``PgStore``, which provides what is declared here."""

    settings: Settings
    blobs: PgBlobs

    async def reconstruct(self, dry_run: bool = False) -> ReconstructReport:
        return await rules.reconstruct(
            self, FORMS, self.open_blob, self.settings.mime, self.blobs.list_all, dry_run
        )

    async def verify(self) -> VerifyReport:
        referenced = await self.run_read(rules.referenced_blobs)
        on_disk = await self.blobs.list_all()
        report = VerifyReport(
            missing_blobs=sorted(referenced - on_disk),
            unreferenced_blobs=sorted(on_disk - referenced),
        )
        report.corrupt_blobs = sorted(await asyncio.to_thread(_corrupt, self.blobs, sorted(on_disk)))
        report.search_backlog, report.search_missing = await self.run_read(rules.search_check)
        return report

    async def prune_expunged(self, older_than_seconds: float) -> int:
        return await rules.prune_expunged(partial(self.run_write), older_than_seconds)


def _corrupt(blobs: PgBlobs, names: list[str]) -> list[str]:
    """The stored blobs among ``names`` whose bytes no longer match their digest (in a thread); a
    blob collected between the listing and its check is not corrupt."""
    return [name for name in names if blobs.intact_sync(name) is False]
