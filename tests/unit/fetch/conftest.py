"""Fixtures for import and export tests: a real SQLite store in a temporary data directory."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from pochta.config import Settings
from pochta.store.model import Account
from pochta.store.sqlite import SqliteStore, open_sqlite_store


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


Content = Counter[tuple[bytes, frozenset[str], int]]


async def contents(store: SqliteStore, account: Account) -> dict[str, Content]:
    """Every non-empty mailbox: the multiset of (bytes, flags, internal date as epoch seconds)."""
    out: dict[str, Content] = {}
    for box in await store.mailboxes(account.id):
        view = await store.open_view(box.id)
        found: Content = Counter()
        for entry in view:
            found[(store.read_blob(entry.blob), entry.flags, int(entry.internal_date.timestamp()))] += 1
        if found:
            out[box.name] = found
    return out


def epoch(when: datetime) -> int:
    return int(when.timestamp())
