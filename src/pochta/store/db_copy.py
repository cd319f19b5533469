"""Copying a store's database into another database (``pochta store migrate --to URL``).

Every table of ``schema.metadata`` is copied row for row, parents before children (foreign keys),
from one read transaction of the source (one snapshot: a server may keep running, and what it
commits after the snapshot is not in the copy) into one write transaction of the target (a failed
copy leaves the target as it was). Rows keep their ids, so everything a client has seen stays as it
was: UIDVALIDITY, UIDs, MODSEQs, flags, object ids, the expunge records QRESYNC answers from.

Three things need care, each owned here:

- **Trigger-kept columns.** The target's triggers fire on the copied rows (``membership`` adds to
  ``mailboxes.recent``, ``quota_usage`` to ``domain_quota_usage``, every directory table to
  ``directory_version``), counting twice what the copied rows already hold. The rows of the tables
  those triggers write are written again from the source after everything else
  (``TRIGGER_WRITTEN``).
- **Derived search data** is not copied as the engine keeps it (SQLite's FTS5 index is not in
  ``schema.metadata``): the target's engine rebuilds it from the copied texts (``after_copy``), and
  searches stay exact while its indexer catches up.
- **Generated ids.** Rows are inserted with their ids; an engine with sequences (PostgreSQL) has
  them moved past the copied ids (``after_copy``) so that the next row gets a new one.

``verify`` then compares every table of both databases: row counts and a digest of the rows in
primary-key order, with values normalised across engines (booleans, octet strings).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, func, select, text, update

from pochta.store import schema
from pochta.store.blobs import BlobStore
from pochta.store.schema import INDEX_DROP

__all__ = [
    "BATCH_ROWS",
    "TRIGGER_WRITTEN",
    "CopyRefused",
    "CopyReport",
    "after_copy",
    "copy_database",
    "export_inline_blobs",
    "verify",
]

BATCH_ROWS = 2000  # rows per INSERT executemany: large enough to amortise, small enough to stream

# Tables whose rows the engines' triggers change when other tables' rows are inserted (migrations
# 0010, 0012 and 0017 create those triggers): rewritten from the source after the copy.
TRIGGER_WRITTEN = ("mailboxes", "domain_quota_usage", "directory_version")

# The tables that say whether a database holds an installation: a target with rows in any of them
# is refused (a copy never merges two installations).
_INSTALLATION = ("domains", "accounts", "mailboxes", "messages", "queue_messages")

# Kept by the engine's indexer from the copied texts, not copied (``after_copy`` queues every text).
_DERIVED = ("search_queue",)


class CopyRefused(Exception):
    """The copy cannot start (target not empty, schema revisions differ): nothing was written."""


@dataclass
class CopyReport:
    tables: int = 0
    rows: int = 0
    rows_by_table: dict[str, int] = field(default_factory=dict)


Progress = Callable[[str, int], None]  # (table, rows just copied)


def copied_tables() -> list[Table]:
    """The tables a copy writes, parents before children."""
    return [t for t in schema.metadata.sorted_tables if t.name not in _DERIVED]


def count_rows(conn: Connection) -> dict[str, int]:
    """Rows per table of ``copied_tables`` (what a progress bar needs before the copy starts)."""
    return {
        t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one()) for t in copied_tables()
    }


def _ordered(table: Table) -> Any:
    return select(table).order_by(*table.primary_key.columns)


def _batches(conn: Connection, table: Table) -> Iterator[list[dict[str, Any]]]:
    result = conn.execution_options(stream_results=True, yield_per=BATCH_ROWS).execute(_ordered(table))
    for part in result.mappings().partitions(BATCH_ROWS):
        yield [dict(row) for row in part]


def check_target(source: Connection, target: Connection) -> None:
    """Refuse a target that holds an installation, or whose schema is at another revision."""
    revision = "SELECT version_num FROM alembic_version"
    want = source.execute(text(revision)).scalar_one_or_none()
    have = target.execute(text(revision)).scalar_one_or_none()
    if want != have:
        raise CopyRefused(
            f"the target's schema is at revision {have}, the source's at {want}: "
            "upgrade both to the same pochta version first"
        )
    for name in _INSTALLATION:
        table = schema.metadata.tables[name]
        if target.execute(select(func.count()).select_from(table)).scalar_one():
            raise CopyRefused(f"the target already holds {name}: a copy goes into an empty database only")


def copy_database(source: Connection, target: Connection, progress: Progress | None = None) -> CopyReport:
    """Copy every table from ``source`` (inside one read transaction) to ``target`` (inside one
    write transaction; the caller commits). ``progress`` is told each batch."""
    check_target(source, target)
    report = CopyReport()
    # What a new database holds before anything is stored (the rows its migrations insert: the
    # directory version, the root unit ...) gives way to the source's rows.
    for table in reversed(copied_tables()):
        target.execute(table.delete())
    for table in copied_tables():
        copied = 0
        for rows in _batches(source, table):
            if table.name == "message_search_text":
                rows = _without_dropped(source, rows)
            target.execute(table.insert(), rows)
            copied += len(rows)
            if progress is not None:
                progress(table.name, len(rows))
        report.rows_by_table[table.name] = copied
        report.rows += copied
        report.tables += 1
    for name in TRIGGER_WRITTEN:
        _rewrite(source, target, schema.metadata.tables[name])
    return report


def after_copy(target: Connection) -> int:
    """What the target's engine needs once the rows are in, in the copy's transaction; returns how
    many messages its indexer has to index. SQLite: its FTS5 index rebuilt from the copied texts.
    PostgreSQL: every sequence moved past the ids the copy inserted (``nextval`` would hand out a
    copied id again otherwise); its full-text search comes with its mail core (docs/scaling.md)."""
    if target.dialect.name == "sqlite":
        from pochta.store.sqlite.search import rebuild_index

        return rebuild_index(target)
    for table in copied_tables():
        keys = list(table.primary_key.columns)
        if len(keys) != 1:
            continue
        column = keys[0].name
        sequence = target.execute(
            text("SELECT pg_get_serial_sequence(:table, :column)"), {"table": table.name, "column": column}
        ).scalar_one()
        if sequence is not None:
            highest = select(func.coalesce(func.max(table.c[column]), 0)).scalar_subquery()
            target.execute(select(func.setval(sequence, highest + 1, False)))
    return 0


def _without_dropped(source: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # The texts of messages already gone wait in the source only to leave its index: the target's
    # index never had them, so they are left behind (as reconstruct's rebuild drops them).
    ids = [row["message_id"] for row in rows]
    queue = schema.search_queue
    gone = set(
        source.execute(
            select(queue.c.message_id).where(and_(queue.c.action == INDEX_DROP, queue.c.message_id.in_(ids)))
        ).scalars()
    )
    return [row for row in rows if row["message_id"] not in gone] if gone else rows


def _rewrite(source: Connection, target: Connection, table: Table) -> None:
    """Write the target's rows of ``table`` again with the source's values (after triggers moved them)."""
    keys = list(table.primary_key.columns)
    others = [c for c in table.columns if c not in keys]
    if not others:
        return
    statement = (
        update(table)
        .where(and_(*(c == _bind(c.name) for c in keys)))
        .values({c.name: _bind(c.name) for c in others})
    )
    for rows in _batches(source, table):
        target.execute(statement, [{f"k_{k}": v for k, v in row.items()} for row in rows])


def _bind(name: str) -> Any:
    return bindparam(f"k_{name}")  # not the column's own name, which UPDATE ... SET reserves


# Verification


@dataclass
class TableCheck:
    name: str
    source_rows: int
    target_rows: int
    same: bool


def _normalise(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    return value


def _digest(conn: Connection, table: Table, skip: set[Any] | None = None) -> tuple[int, str]:
    digest = hashlib.sha256()
    count = 0
    for rows in _batches(conn, table):
        for row in rows:
            if skip is not None and row.get("message_id") in skip:
                continue
            digest.update(repr(tuple(_normalise(v) for v in row.values())).encode())
            count += 1
    return count, digest.hexdigest()


def verify(source: Connection, target: Connection, tables: Sequence[Table] | None = None) -> list[TableCheck]:
    """Every copied table compared: row counts and row digests in primary-key order. The source's
    search texts of messages already gone are left out, as the copy leaves them out."""
    queue = schema.search_queue
    dropped = set(source.execute(select(queue.c.message_id).where(queue.c.action == INDEX_DROP)).scalars())
    checks = []
    for table in tables if tables is not None else copied_tables():
        skip = dropped if table.name == "message_search_text" else None
        source_rows, source_digest = _digest(source, table, skip)
        target_rows, target_digest = _digest(target, table)
        checks.append(TableCheck(table.name, source_rows, target_rows, source_digest == target_digest))
    return checks


def export_inline_blobs(
    source: Connection, blobs: BlobStore, threads: int, progress: Progress | None = None
) -> list[str]:
    """Write every blob the source keeps in its database (SQLite's ``inline_blobs``: small messages)
    as a blob file, fsynced, for a target whose store reads blobs from files only (PostgreSQL's, for
    now: docs/scaling.md); called before the copy commits, so every message the target refers to
    has its bytes on disk first. ``threads`` files are written at once (``store.blob_threads``:
    concurrent fsyncs share the filesystem's journal commits; one at a time, 10,000 small blobs
    took minutes). Returns the digests of rows whose bytes no longer match their name (nothing is
    written for them: the caller refuses the copy)."""
    corrupt: list[str] = []
    table = schema.inline_blobs
    rows = source.execution_options(yield_per=BATCH_ROWS).execute(
        select(table.c.sha256, table.c.data).order_by(table.c.sha256)
    )

    def write(row: Any) -> str | None:
        sha256, data = str(row[0]), bytes(row[1])
        if hashlib.sha256(data).hexdigest() != sha256:
            return sha256
        blobs.put_sync(data)
        return None

    with concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="pochta-copy-blobs") as pool:
        for batch in rows.partitions():
            for bad in pool.map(write, batch):
                if bad is not None:
                    corrupt.append(bad)
            if progress is not None:
                progress("inline_blobs as files", len(batch))
    return corrupt
