"""Which store engine the servers of the end-to-end tests run on: ``POCHTA_TEST_STORE=sqlite`` (the
default) or ``postgresql``.

Under ``postgresql`` every server a test starts (the in-process ones of tests/*_env.py, and the
``pochta`` processes on a data directory made by ``pochta init``) keeps its store in a database of
its own, copied from a template at the schema's head (tests/pg_env.py) in the one throw-away cluster
of this test process, and named in its settings' ``[store] url``; its blob files stay in its data
directory. A second handle on the same store (``open_store(env.data_dir, env.settings)``) opens the
same database. Databases a test created are dropped after it (``drop_databases_since``, called by an
autouse fixture in tests/conftest.py); those of a module's server go with the cluster.

A test that is about SQLite itself (its writer, its caches, its database file) says so with
``sqlite_only``: it is skipped under ``postgresql`` with that reason.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from pochta.config import Settings
from pochta.store.api import Store
from pochta.store.factory import open_store

__all__ = [
    "ENGINE",
    "ON_POSTGRESQL",
    "created_databases",
    "drop_databases_since",
    "init_options",
    "new_store_url",
    "open_test_store",
    "read_rows",
    "sqlite_only",
    "store_settings",
]

ENGINE = os.environ.get("POCHTA_TEST_STORE", "sqlite")
if ENGINE not in ("sqlite", "postgresql"):
    raise RuntimeError(f"POCHTA_TEST_STORE={ENGINE!r}: expected sqlite or postgresql")
ON_POSTGRESQL = ENGINE == "postgresql"

_names = itertools.count(1)
_created: list[str] = []  # databases made for servers in this process, in order


def sqlite_only(reason: str) -> pytest.MarkDecorator:
    """Skip the test when the servers run on PostgreSQL: it is about SQLite's store itself."""
    return pytest.mark.skipif(ON_POSTGRESQL, reason=f"SQLite's store only: {reason}")


def new_store_url() -> str:
    """``[store] url`` for a new server: "" (SQLite in its data directory), or a fresh database."""
    if not ON_POSTGRESQL:
        return ""
    import pg_env

    cluster = pg_env.shared_cluster()
    name = f"e{os.getpid()}_{next(_names)}"
    url = cluster.create_database(name, template=pg_env.TEMPLATE)
    _created.append(name)
    return url


def init_options() -> list[str]:
    """``pochta init`` options for a new data directory's store: none on SQLite, ``--store-url`` of a
    fresh database on PostgreSQL."""
    url = new_store_url()
    return ["--store-url", url] if url else []


def store_settings(settings: Settings) -> Settings:
    """``settings`` for a new server's store: unchanged on SQLite, naming a fresh database on
    PostgreSQL, unless they name one already (a server restarted on its own settings)."""
    if settings.store.url:
        return settings
    url = new_store_url()
    if not url:
        return settings
    return settings.model_copy(update={"store": settings.store.model_copy(update={"url": url})})


async def open_test_store(data_dir: Path, settings: Settings, *, indexer: bool | None = None) -> Store:
    """The store of a test's server (``settings`` from ``store_settings``), with the background
    search indexer started as ``open_sqlite_store`` starts it (``indexer``, default
    ``search.indexer``)."""
    store = await open_store(data_dir, settings)
    if settings.search.indexer if indexer is None else indexer:
        store.start_indexer()
    return store


def created_databases() -> int:
    """How many databases this process has made so far (a mark for ``drop_databases_since``)."""
    return len(_created)


def drop_databases_since(mark: int) -> None:
    """Drop the databases made after ``mark`` (a test's, once its servers have stopped)."""
    if not ON_POSTGRESQL or len(_created) <= mark:
        return
    import pg_env

    cluster = pg_env.shared_cluster()
    for name in _created[mark:]:
        cluster.drop_database(name)
    del _created[mark:]


def read_rows(data_dir: Path, settings: Settings, sql: str, **params: object) -> list[tuple[object, ...]]:
    """The rows of one query (portable SQL, ``:name`` parameters) on a server's database, read
    beside the server as an operator's tool would: its SQLite file or its PostgreSQL database."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    url = settings.store.engine.postgresql_url
    if url is None:
        url = f"sqlite:///file:{data_dir / 'pochta.db'}?mode=ro&uri=true"
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql), params)]
    finally:
        engine.dispose()
