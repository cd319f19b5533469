"""Fixtures for import and export tests: a real SQLite store in a temporary data directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pochta.config import Settings
from pochta.store.model import Account
from pochta.store.sqlite.store import SqliteStore, open_sqlite_store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    opened = await open_sqlite_store(data_dir, Settings(), indexer=False)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def alice(store: SqliteStore) -> Account:
    await store.add_domain("example.org")
    return await store.add_account("alice@example.org", "not-a-real-hash", None)


@pytest.fixture
async def bob(store: SqliteStore, alice: Account) -> Account:
    return await store.add_account("bob@example.org", "not-a-real-hash", None)
