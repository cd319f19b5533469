"""What ``pochta serve`` asks of a store beyond the mail interface, on both engines: the readers
opened before the server accepts, the commit count it exports, and the capability of per-process
caches warmed across workers (``PeerWarmedCaches``: SQLite's, not PostgreSQL's)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

import pg_env
from pochta.config import Settings, StoreSettings
from pochta.store.api import PeerWarmedCaches
from pochta.store.factory import open_store
from pochta.testing.pg_cluster import PgCluster

pg_cluster = pg_env.pg_cluster
pg_url = pg_env.pg_url


def _settings(url: str) -> Settings:
    return Settings(store=StoreSettings(url=url, pg_pool_size=3))


async def test_start_readers_opens_every_pooled_connection(
    tmp_path: Path, pg_cluster: PgCluster, pg_url: str
) -> None:
    database = pg_url.partition("@/")[2].partition("?")[0]

    def sessions() -> int:
        with psycopg.connect(pg_cluster.conninfo("postgres")) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            ).fetchone()
            assert row is not None
            return int(row[0])

    store = await open_store(tmp_path, _settings(pg_url))
    try:
        await store.start_readers()
        # The pool's 3 connections, each opened by a job of its own (besides: directory_version's)
        assert sessions() >= 3
    finally:
        await store.close()


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
async def test_commit_count_counts_write_transactions(
    tmp_path: Path, engine: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("pg_url") if engine == "postgresql" else ""
    store = await open_store(tmp_path, _settings(url))
    try:
        before = store.commit_count()
        await store.add_domain("example.org")
        await store.add_domain("example.net")
        await store.list_domains()  # a read commits nothing
        assert store.commit_count() == before + 2
    finally:
        await store.close()


@pytest.mark.parametrize(("engine", "caches"), [("sqlite", True), ("postgresql", False)])
async def test_only_sqlite_has_caches_warmed_across_workers(
    tmp_path: Path, engine: str, caches: bool, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("pg_url") if engine == "postgresql" else ""
    store = await open_store(tmp_path, _settings(url))
    try:
        assert isinstance(store, PeerWarmedCaches) is caches
    finally:
        await store.close()
