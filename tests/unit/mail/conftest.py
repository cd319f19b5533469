"""Fixtures for mail ops tests: a real SQLite store in a temporary data directory."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pochta.config import MimeSettings, Settings
from pochta.mail.ops import MailOps
from pochta.store.api import Store
from pochta.store.model import Account


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    from pochta.store.sqlite.store import open_sqlite_store

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    opened = open_sqlite_store(data_dir, Settings())
    backend: Store = await opened if inspect.isawaitable(opened) else opened
    try:
        yield backend
    finally:
        await backend.close()


@pytest.fixture
async def account(store: Store) -> Account:
    await store.add_domain("example.org")
    return await store.add_account("alice@example.org", "not-a-real-hash", None)


@pytest.fixture
def ops(store: Store) -> MailOps:
    return MailOps(store, MimeSettings())
