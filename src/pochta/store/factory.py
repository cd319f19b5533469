"""The one place that chooses the store's engine: every process that opens a store (the server, its
workers, the CLI, bootstrap) asks ``open_store``, never an engine's opener by name. The engine is
``[store] url`` (``pochta.config_store_url``): SQLite in the data directory by default, PostgreSQL
(``pochta.store.pg``) by a postgresql URL, its blob files still under the data directory.

Callers get the ``Store`` interface (store/api.py) whichever engine serves it; what only one engine
has (SQLite's per-process caches, its backup) they reach through a capability of store/api.py or
``sqlite_database``. The engines are imported when chosen, so that a CLI command pays for neither
until it opens a store (and an installation without psycopg never imports it).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

from pochta.config import Settings
from pochta.store.api import StoreError

if TYPE_CHECKING:
    from pochta.store.api import Store

__all__ = ["EngineRefused", "StoreUnavailable", "open_store", "sqlite_database", "unsupported"]

PSYCOPG_MISSING = "the PostgreSQL store needs psycopg 3: pip install 'pochta[postgresql]'"


class EngineRefused(StoreError):
    """``[store] url`` names a store this installation cannot open; the message says why."""


class StoreUnavailable(StoreError):
    """The database server of ``[store] url`` could not be reached or refused us; the message
    names the server and database (never the password) and PostgreSQL's reason."""


def unsupported(data_dir: Path, settings: Settings) -> str | None:
    """Why ``open_store`` would refuse this data directory's ``[store] url`` before trying it, or None."""
    engine = settings.store.engine
    if engine.engine == "postgresql":
        import importlib.util

        if importlib.util.find_spec("psycopg") is None:
            return PSYCOPG_MISSING
        return None
    if engine.sqlite_path is not None:
        from pochta.store.sqlite.store import DB_FILE_NAME

        own = (data_dir / DB_FILE_NAME).resolve()
        named = (data_dir / engine.sqlite_path).resolve()  # an absolute path replaces data_dir
        if named != own:
            # Backup, restore and the blob reader know the database as DATA/pochta.db.
            return (
                f"[store] url names {named}, but the SQLite database must be the data directory's "
                f"own {DB_FILE_NAME} ({own}); to keep it elsewhere, move the data directory"
            )
    return None


def sqlite_database(data_dir: Path, settings: Settings) -> Path | None:
    """The SQLite database file of this data directory, or None when the store is PostgreSQL's:
    for what is SQLite's by nature (``pochta backup``/``restore`` copy the file)."""
    if settings.store.engine.engine != "sqlite":
        return None
    from pochta.store.sqlite.store import DB_FILE_NAME

    return data_dir / DB_FILE_NAME


async def open_store(data_dir: Path, settings: Settings) -> Store:
    """The store of this data directory, its schema brought to the newest revision. The search
    indexer is not started: the server starts it in the one process that runs it."""
    reason = unsupported(data_dir, settings)
    if reason is not None:
        raise EngineRefused(reason)
    url = settings.store.engine.postgresql_url
    if url is not None:
        return await _open_pg(url, data_dir, settings)
    from pochta.store.sqlite.store import open_sqlite_store

    return await open_sqlite_store(data_dir, settings, indexer=False)


async def _open_pg(url: str, data_dir: Path, settings: Settings) -> Store:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    from pochta.store.pg.store import open_pg_store

    try:
        store = await open_pg_store(url, data_dir, settings)
    except OperationalError as error:
        # A server down, a wrong name or password: an operator's problem, told without a traceback
        # (and without the password, which the URL may carry).
        where = make_url(url).render_as_string(hide_password=True)
        reason = str(error.orig).strip() if error.orig is not None else str(error)
        raise StoreUnavailable(f"cannot open the PostgreSQL store {where}: {reason}") from None
    # PgStore implements the whole Store once the search, maintenance and blob parts are in (issue
    # 16: they land beside this change); until then the type checker is told what the tests check.
    return cast("Store", store)
