"""The one place that chooses the store's engine: every process that opens a store (the server, its
workers, the CLI, bootstrap) asks ``open_store``, never an engine's opener by name. The engine is
``[store] url`` (``pochta.config_store_url``): SQLite by default, PostgreSQL by a postgresql URL.

The PostgreSQL store (``pochta.store.pg``) does not serve mail yet (docs/scaling.md): until it
does, ``open_store`` and the CLI (``unsupported``) refuse a postgresql URL with one message, and
tests construct ``PgStore`` directly. The engines are imported when chosen, so that a CLI command
pays for neither until it opens a store.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pochta.config import Settings
from pochta.store.api import StoreError

if TYPE_CHECKING:
    from pochta.store.sqlite.store import SqliteStore

__all__ = ["PG_NOT_COMPLETE", "EngineRefused", "open_store", "unsupported"]

PG_NOT_COMPLETE = (
    "the PostgreSQL store is not complete yet: it keeps the directory, Sieve scripts, mailboxes and "
    "messages, but not yet search, the outbound queue or maintenance (docs/scaling.md); "
    'remove [store] url or set it to "" to use SQLite in the data directory'
)


class EngineRefused(StoreError):
    """``[store] url`` names a store this version cannot open; the message says why."""


def unsupported(data_dir: Path, settings: Settings) -> str | None:
    """Why ``open_store`` would refuse this data directory's ``[store] url``, or None."""
    engine = settings.store.engine
    if engine.engine == "postgresql":
        return PG_NOT_COMPLETE
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


async def open_store(data_dir: Path, settings: Settings) -> SqliteStore:
    """The store of this data directory, its schema brought to the newest revision. The search
    indexer is not started: the server starts it in the one process that runs it."""
    reason = unsupported(data_dir, settings)
    if reason is not None:
        raise EngineRefused(reason)
    from pochta.store.sqlite.store import open_sqlite_store

    return await open_sqlite_store(data_dir, settings, indexer=False)
