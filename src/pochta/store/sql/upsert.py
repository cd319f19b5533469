"""INSERT ... ON CONFLICT for the engine a connection speaks: SQLite's and PostgreSQL's dialects
each have their own ``insert`` construct with ``on_conflict_do_update`` / ``on_conflict_do_nothing``
and ``excluded``, of the same shape, and the generic ``sqlalchemy.insert`` has neither. The
portable modules (``greylist``, ``send_limits``, ``transport``) build their upserts through
``insert(conn, table)`` so that the statement is compiled by the engine that runs it."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

__all__ = ["insert"]


# The engines ``[store] url`` names; each dialect's ``insert`` has ``on_conflict_do_update``.
_INSERTS: dict[str, Callable[[Table], sqlite.Insert | postgresql.Insert]] = {
    "sqlite": sqlite.insert,
    "postgresql": postgresql.insert,
}


def insert(conn: Connection, table: Table) -> sqlite.Insert | postgresql.Insert:
    """An INSERT into ``table`` with ON CONFLICT clauses, in the dialect of ``conn`` (one of the
    engines ``pochta.config_store_url`` accepts: nothing else reaches here)."""
    return _INSERTS[conn.dialect.name](table)
