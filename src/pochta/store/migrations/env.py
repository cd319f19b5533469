"""Alembic environment of the embedded store.

Migrations run only programmatically (``pochta.store.sqlite.engine.migrate``): the caller hands over an
open connection that already holds the write lock inside a transaction, so two processes opening the
same data directory cannot race an upgrade.
"""

from __future__ import annotations

from alembic import context

from pochta.store.schema import is_fts_table, metadata


def _include_name(name: str | None, type_: str, parent_names: object) -> bool:
    # The FTS5 table and its shadow tables are created by hand in the revisions.
    return not (type_ == "table" and is_fts_table(name))


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("pochta migrations run from pochta.store with an open connection, not the CLI")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode recreates tables
        transactional_ddl=True,
        include_name=_include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
