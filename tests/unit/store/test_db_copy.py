"""``pochta.store.db_copy`` on SQLite databases: what it refuses, and that ``verify`` notices a row
that differs (the CLI's copy end to end is tests/e2e/test_store_migrate_cli.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from pochta.config import Settings
from pochta.store import db_copy, schema
from pochta.store.factory import open_store
from pochta.store.sqlite.engine import make_engine, migrate
from pochta.testing.store_suite import make_account


async def _installation(path: Path) -> Path:
    store = await open_store(path, Settings())
    try:
        await make_account(store, "alice@example.org")
    finally:
        await store.close()
    return path / "pochta.db"


def _empty(path: Path) -> Engine:
    engine = make_engine(path, 5.0, writer=True)
    with engine.connect() as conn:
        migrate(conn)
    return engine


async def test_refuses_a_target_holding_an_installation(tmp_path: Path) -> None:
    source = make_engine(await _installation(tmp_path / "a"), 5.0, writer=False)
    target = make_engine(await _installation(tmp_path / "b"), 5.0, writer=True)
    refused = pytest.raises(db_copy.CopyRefused, match="already holds domains")
    with source.connect() as s, s.begin(), target.connect() as t, t.begin(), refused:
        db_copy.copy_database(s, t)
    source.dispose()
    target.dispose()


async def test_refuses_another_schema_revision(tmp_path: Path) -> None:
    source = make_engine(await _installation(tmp_path / "a"), 5.0, writer=False)
    target = _empty(tmp_path / "b.db")
    with target.connect() as t, t.begin():
        t.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    refused = pytest.raises(db_copy.CopyRefused, match="revision 0001")
    with source.connect() as s, s.begin(), target.connect() as t, t.begin(), refused:
        db_copy.copy_database(s, t)
    source.dispose()
    target.dispose()


async def test_verify_notices_a_changed_row(tmp_path: Path) -> None:
    source = make_engine(await _installation(tmp_path / "a"), 5.0, writer=False)
    target = _empty(tmp_path / "b.db")
    with source.connect() as s, s.begin(), target.connect() as t, t.begin():
        report = db_copy.copy_database(s, t)
        assert report.rows_by_table["accounts"] == 1
        assert all(check.same for check in db_copy.verify(s, t))
        t.execute(schema.accounts.update().values(quota_bytes=1))
        changed = [check.name for check in db_copy.verify(s, t) if not check.same]
        assert sorted(changed) == ["accounts", "directory_version"]  # the trigger counted the change
    source.dispose()
    target.dispose()
