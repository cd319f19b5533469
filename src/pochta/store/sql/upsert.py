"""INSERT ... ON CONFLICT for the engine a connection speaks: SQLite's and PostgreSQL's dialects
each have their own ``insert`` construct with ``on_conflict_do_update`` / ``on_conflict_do_nothing``
and ``excluded``, of the same shape, and the generic ``sqlalchemy.insert`` has neither. The
portable modules (``greylist``, ``send_limits``, ``transport``) build their upserts through
``insert(conn, table)`` so that the statement is compiled by the engine that runs it."""

from __future__ import annotations

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

__all__ = ["insert"]


def insert(conn: Connection, table: Table) -> sqlite.Insert | postgresql.Insert:
    """An INSERT into ``table`` with ON CONFLICT clauses, in the dialect of ``conn``."""
    name = conn.dialect.name
    if name == "sqlite":
        return sqlite.insert(table)
    if name == "postgresql":
        return postgresql.insert(table)
    raise NotImplementedError(f"no upsert for the {name} dialect: pochta's engines are SQLite and PostgreSQL")
