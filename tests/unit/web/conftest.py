"""The web tests' store: a SQLite store with alice's account (``ALICE``, ``PASSWORD``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pochta.auth.passwords import hash_password, make_scram_credentials
from pochta.config import Settings
from pochta.store.sqlite.store import SqliteStore, open_sqlite_store

ALICE = "alice@example.org"
PASSWORD = "secret-1"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await open_sqlite_store(tmp_path, Settings())
    await store.add_domain("example.org")
    await store.add_account(ALICE, hash_password(PASSWORD), make_scram_credentials(PASSWORD))
    try:
        yield store
    finally:
        await store.close()
