"""The store's schema on PostgreSQL (docs/architecture.md "Store engines").

The SQLite revisions 0001-0033 are SQLite's history (FTS5 tables, SQLite triggers, batch-mode table
rebuilds): PostgreSQL never runs them. An empty PostgreSQL database is built at the head at once:

- every table and index of ``store/schema.py`` (so a table a later revision adds there comes
  along without being named here), through ``pg_metadata``: a copy where SQLite's partial indexes
  (``sqlite_where``) are partial on PostgreSQL too (``ix_sieve_scripts_active`` is a *unique*
  partial index: made whole, it would allow one script per account) and every text column
  compares octets (``COLLATE "C"``), as SQLite's BINARY collation does, whatever the database's
  locale: names sort the same on both engines;
- the triggers of ``triggers.py`` and the rows a fresh SQLite database is born with
  (``directory_version``'s);
- ``alembic_version`` stamped with the head.

A database at an older revision than this code's head is brought forward by alembic
(``command.upgrade``): revisions after 0033 run on both engines, each writing the DDL its dialect
needs where they differ. Two processes opening one database take turns on an advisory lock held
for the transaction, so exactly one builds or upgrades it.

Search's trigram indexes (pg_trgm, ``pg/search.TRIGRAM_INDEXES``) are PostgreSQL's own: SQLite's
FTS5 table stands in their place there.
"""

from __future__ import annotations

import time

from sqlalchemy import Connection, MetaData, String, create_engine, insert, text

from pochta.store.account_settings import ROOT_UNIT
from pochta.store.pg.search import trigram_ddl
from pochta.store.pg.triggers import TRIGGERS, trigger_ddl
from pochta.store.schema import directory_version, metadata, units
from pochta.store.sqlite.engine import SCHEMA_HEAD

__all__ = ["SchemaError", "create_schema", "create_schema_sync", "current_revision", "pg_metadata"]

# pg_advisory_xact_lock's key for "building or upgrading the schema" (any constant: the store's own).
_SCHEMA_LOCK = 0x706F6368  # "poch"
_ALEMBIC_TABLE = (
    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
    "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
)


class SchemaError(Exception):
    """The database cannot hold the store (its encoding, a revision newer than this code ...)."""


def pg_metadata() -> MetaData:
    """``store/schema.py``'s tables as PostgreSQL is to create them (see the module's docstring)."""
    copy = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.sorted_tables:
        table.to_metadata(copy)
    for table in copy.tables.values():
        for column in table.columns:
            if isinstance(column.type, String) and column.type.collation is None:
                column.type = column.type.copy()
                column.type.collation = "C"
        for index in table.indexes:
            where = index.dialect_options["sqlite"].get("where")
            if where is not None and index.dialect_options["postgresql"].get("where") is None:
                index.dialect_options["postgresql"]["where"] = where
    return copy


def current_revision(conn: Connection) -> str | None:
    exists = conn.execute(text("SELECT to_regclass('alembic_version') IS NOT NULL")).scalar_one()
    if not exists:
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()


def create_schema(conn: Connection) -> None:
    """Build the schema at the head on an empty database, or bring an older one to the head; in
    the caller's transaction (DDL is transactional on PostgreSQL: all of it or none)."""
    encoding = conn.execute(
        text("SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = current_database()")
    ).scalar_one()
    if encoding != "UTF8":
        # Addresses, mailbox names and header text are Unicode; another encoding refuses some.
        raise SchemaError(
            f"the database's encoding is {encoding}; pochta needs UTF8 (CREATE DATABASE ... ENCODING 'UTF8' "
            "TEMPLATE template0)"
        )
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
    revision = current_revision(conn)
    if revision == SCHEMA_HEAD:
        return
    if revision is None:
        _create_at_head(conn)
        return
    _upgrade(conn, revision)


def _create_at_head(conn: Connection) -> None:
    pg_metadata().create_all(conn)
    # The rows the SQLite revisions insert, before the triggers (as there: no version moved by
    # them). 0010: the directory's version starts at 0; 0034: the root organisational unit, which
    # every account belongs to by default.
    conn.execute(insert(directory_version).values(id=1, version=0))
    conn.execute(insert(units).values(name=ROOT_UNIT, parent_id=None, created=int(time.time())))
    for trigger in TRIGGERS:
        for statement in trigger_ddl(trigger):
            conn.exec_driver_sql(statement)
    # Search: pg_trgm's indexes of the folded text (pg/search.py; revision 0035 on an older database).
    for statement in trigram_ddl():
        conn.exec_driver_sql(statement)
    conn.exec_driver_sql(_ALEMBIC_TABLE)
    conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:head)"), {"head": SCHEMA_HEAD})


def _upgrade(conn: Connection, revision: str) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory

    from pochta.store.sqlite.engine import alembic_config

    config = alembic_config(conn)
    try:
        known = ScriptDirectory.from_config(config).get_revision(revision) is not None
    except Exception:  # alembic raises its own errors for an id it has no script for
        known = False
    if not known:
        raise SchemaError(
            f"the database is at revision {revision}, which this version of pochta does not know"
        )
    command.upgrade(config, "head")


def create_schema_sync(url: str) -> None:
    """Build the schema in the database at ``url`` (tests' template database, tools)."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            create_schema(conn)
    finally:
        engine.dispose()
