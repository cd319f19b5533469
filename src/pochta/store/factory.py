"""The one place that chooses the store's engine: every process that opens a store (the server, its
workers, the CLI, bootstrap) asks ``open_store``, never an engine's opener by name, so that a second
engine (PostgreSQL, issue 16) plugs in here, chosen by ``[store]`` settings."""

from __future__ import annotations

from pathlib import Path

from pochta.config import Settings
from pochta.store.sqlite.store import SqliteStore, open_sqlite_store

__all__ = ["open_store"]


async def open_store(data_dir: Path, settings: Settings) -> SqliteStore:
    """The store of this data directory, its schema brought to the newest revision. The search
    indexer is not started: the server starts it in the one process that runs it."""
    return await open_sqlite_store(data_dir, settings, indexer=False)
