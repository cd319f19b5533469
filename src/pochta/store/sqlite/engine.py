"""The SQLite database file of the embedded store: engines with the store's pragmas and
transaction discipline (writer and readers), and the schema brought to the newest revision
(``migrate``, alembic scripts in ``pochta.store.migrations``). ``pochta.store.sqlite.store`` builds the
store on them."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, Connection, Engine, create_engine, event
from sqlalchemy.pool import NullPool, QueuePool

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["READER_THREADS", "SCHEMA_HEAD", "alembic_config", "make_engine", "migrate"]

READER_THREADS = 4


def make_engine(
    path: Path, busy_timeout: float, *, writer: bool, pool_size: int = READER_THREADS, mmap_bytes: int = 0
) -> Engine:
    """An engine whose connections carry the store's pragmas and transaction discipline;
    ``mmap_bytes``: how much of the database file a reader maps (``PRAGMA mmap_size``)."""
    url = URL.create("sqlite", database=str(path))
    connect_args = {"timeout": busy_timeout, "check_same_thread": False}
    if writer:
        engine = create_engine(url, poolclass=NullPool, connect_args=connect_args)
    else:
        engine = create_engine(
            url, poolclass=QueuePool, pool_size=pool_size, max_overflow=0, connect_args=connect_args
        )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # The driver's own transaction handling skips BEGIN before SELECT and SAVEPOINT; SQLAlchemy
        # emits BEGIN itself (below), so reads see one snapshot and savepoints nest properly.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if writer:
                cursor.execute("PRAGMA journal_mode = WAL")  # persistent in the file; readers follow
                cursor.execute("PRAGMA synchronous = FULL")  # fsync the WAL at every commit
            else:
                cursor.execute("PRAGMA query_only = ON")
                # Pages read through the mapping, not a read() call each: a stored view snapshot
                # (1.5 MB for 20,000 messages) loads 5-7 times faster into a cold connection.
                cursor.execute(f"PRAGMA mmap_size = {int(mmap_bytes)}")
        finally:
            cursor.close()

    begin = "BEGIN IMMEDIATE" if writer else "BEGIN"

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock at BEGIN, where busy_timeout applies; a deferred transaction
        # upgraded to a writer after another process committed would fail with SQLITE_BUSY at once.
        # On the driver itself: exec_driver_sql would set up a cursor, a result and its events, a
        # tenth of a millisecond for a statement SQLite runs in microseconds, at every transaction.
        driver = conn.connection.driver_connection
        assert driver is not None
        driver.execute(begin)

    return engine


# The newest migration's revision id. Checked against the migration scripts by a test; knowing it here
# lets an up-to-date store open without importing alembic (half a second of every CLI command).
SCHEMA_HEAD = "0042"


def alembic_config(conn: Connection | None = None) -> Config:
    """Alembic configuration built in code: the scripts are package resources, so this works from an
    installed wheel as from the source tree."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "pochta.store:migrations")
    if conn is not None:
        config.attributes["connection"] = conn
    return config


def _current_revision(conn: Connection) -> str | None:
    # On the raw driver connection, in autocommit: a plain read that takes no write lock (SQLAlchemy
    # would BEGIN IMMEDIATE here), so opening an up-to-date store never waits for another writer.
    raw = conn.connection.dbapi_connection
    assert raw is not None
    try:
        row = raw.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:  # no such table: a new database
        return None
    return str(row[0]) if row is not None else None


def migrate(conn: Connection) -> None:
    """Bring the schema to the newest revision, holding the write lock so processes take turns."""
    if _current_revision(conn) == SCHEMA_HEAD:
        return
    from alembic import command

    config = alembic_config(conn)
    with conn.begin():
        # Alembic re-reads the version under the lock: a process that lost the race does nothing.
        command.upgrade(config, "head")
