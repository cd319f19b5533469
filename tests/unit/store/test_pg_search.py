"""Search on PostgreSQL (``pochta.store.pg.search``): what is PostgreSQL's own beyond the store suite
(which runs its search tests on both engines, tests/unit/store/test_pg_store.py): LIKE's
metacharacters taken literally, strings pg_trgm draws no trigram from, non-ASCII folding, the
trigram indexes serving the queries, the indexer's claims by two stores on one database, messages
stored before SQLite's revision 0007 (INDEX_FILL), and revision 0035 on a database built at 0034.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

import pg_env
from pochta.config import Settings
from pochta.store.pg.schema import current_revision
from pochta.store.pg.search import TRIGRAM_INDEXES, like_pattern, narrows
from pochta.store.pg.store import PgStore, open_pg_store
from pochta.store.schema import INDEX_FILL
from pochta.store.sqlite.engine import SCHEMA_HEAD
from pochta.testing.store_suite import deliver, mailbox, make_account, make_message

pg_cluster = pg_env.pg_cluster
pg_url = pg_env.pg_url


@pytest.fixture
async def store(pg_url: str, tmp_path: Path) -> AsyncIterator[PgStore]:
    handle = await open_pg_store(pg_url, tmp_path / "data", Settings())
    try:
        yield handle
    finally:
        await handle.close()


def _sql(url: str, statement: str, **params: object) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def test_like_pattern_escapes_its_metacharacters() -> None:
    assert like_pattern("50% off_") == "%50\\% off\\_%"
    assert like_pattern("c:\\path") == "%c:\\\\path%"
    assert like_pattern("") == "%%"


def test_narrows_only_with_three_letters_or_digits_in_a_row() -> None:
    assert narrows("noon?")
    assert narrows("zürich")
    assert narrows("a1b")
    assert narrows("日本語")
    assert not narrows("on")
    assert not narrows("(a*b)")
    assert not narrows("a_b")
    assert not narrows("%%%")
    assert not narrows("a b c")


async def test_metacharacters_match_themselves_only(store: PgStore) -> None:
    inbox = await mailbox(store, await make_account(store))
    bodies = ["axb and 100x", "a_b and 100%", "c:\\path", "c:/path", "plain words"]
    for n, body in enumerate(bodies):
        await deliver(store, make_message(f"m{n}", body, n), inbox.id)
    for done in (False, True):  # before the indexer and after: the same answers
        assert await store.search_text(inbox.id, "a_b", "body") == {2}  # not "axb"
        assert await store.search_text(inbox.id, "100%", "body") == {2}  # not "100x"
        assert await store.search_text(inbox.id, "0%", "body") == {2}
        assert await store.search_text(inbox.id, "%", "body") == {2}
        assert await store.search_text(inbox.id, "_", "body") == {2}
        assert await store.search_text(inbox.id, "\\", "body") == {3}
        assert await store.search_text(inbox.id, "c:\\path", "body") == {3}  # not "c:/path"
        assert await store.search_text(inbox.id, "\\path", "text") == {3}
        assert await store.search_header(inbox.id, "subject", "%") == (set(), set())
        assert await store.search_header(inbox.id, "subject", "m_") == (set(), set())
        if not done:
            while (await store.index_pending()).done:
                pass


async def test_short_strings_and_non_ascii_folding(store: PgStore) -> None:
    inbox = await mailbox(store, await make_account(store))
    await deliver(store, make_message("Grüße aus ZÜRICH", "ΚΑΛΗΜΈΡΑ, Привет МИР: on (a*b)"), inbox.id)
    await deliver(store, make_message("other", "nothing here at all", 1), inbox.id)
    assert await store.search_text(inbox.id, "zürich", "text") == {1}
    assert await store.search_text(inbox.id, "ZüRiCh", "text") == {1}
    assert await store.search_text(inbox.id, "καλημέρα", "body") == {1}
    assert await store.search_text(inbox.id, "привет мир", "body") == {1}
    assert await store.search_text(inbox.id, "мир:", "body") == {1}
    assert await store.search_header(inbox.id, "subject", "GRÜSSE") == (set(), set())  # lower(), not casefold
    assert await store.search_header(inbox.id, "subject", "GRÜSE") == (set(), set())
    assert await store.search_header(inbox.id, "subject", "GRÜßE") == ({1}, set())
    # Shorter than a trigram, or no three letters in a row: the mailbox's texts are checked.
    assert await store.search_text(inbox.id, "мр", "body") == set()
    assert await store.search_text(inbox.id, "ир", "body") == {1}
    assert await store.search_text(inbox.id, "on", "body") == {1}
    assert await store.search_text(inbox.id, "(a*b)", "body") == {1}
    assert await store.search_text(inbox.id, "at", "body") == {2}
    assert await store.search_text(inbox.id, "a", "text") == {1, 2}


async def test_trigram_indexes_serve_the_searches(store: PgStore, pg_url: str) -> None:
    # The indexes exist, and PostgreSQL can answer LIKE on the octet-collated columns through them.
    found = {
        row[0] for row in _sql(pg_url, "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'ix_trgm_%'")
    }
    assert found == set(TRIGRAM_INDEXES)
    engine = create_engine(pg_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            for table, column in TRIGRAM_INDEXES.values():
                plan = "\n".join(
                    row[0]
                    for row in conn.execute(
                        text(f"EXPLAIN SELECT 1 FROM {table} WHERE {column} LIKE :p ESCAPE '\\'"),
                        {"p": like_pattern("platypus")},
                    )
                )
                assert "ix_trgm_" in plan, plan
    finally:
        engine.dispose()


async def test_claims_by_two_stores_on_one_database_are_disjoint(pg_url: str, tmp_path: Path) -> None:
    first = await open_pg_store(pg_url, tmp_path / "a", Settings())
    second = await open_pg_store(pg_url, tmp_path / "b", Settings())
    try:
        inbox = await mailbox(first, await make_account(first))
        for n in range(80):
            await deliver(first, make_message(f"s{n}", f"wombat{n:03d}", n), inbox.id)
        taken: list[list[int]] = [[], []]

        async def drain(handle: PgStore, into: list[int]) -> None:
            while True:
                result = await handle.index_pending(5)
                into.extend(result.added_ids)
                if not result.done and not result.threaded:
                    return

        await asyncio.gather(drain(first, taken[0]), drain(second, taken[1]))
        assert not set(taken[0]) & set(taken[1])
        assert len(taken[0]) + len(taken[1]) == 80
        assert await second.index_backlog() == 0
        # Every message's keys were kept by whichever store took it, and every row threaded once.
        rows = _sql(pg_url, "SELECT count(*) FROM message_sort_keys")
        assert rows == [(80,)]
        threads = await second.message_objects(inbox.id, None)
        assert len(threads) == 80
        assert None not in {row.thread_id for row in threads}
        assert await first.search_text(inbox.id, "wombat042", "body") == {43}
    finally:
        await first.close()
        await second.close()


async def test_messages_stored_before_the_index_are_filled(store: PgStore, pg_url: str) -> None:
    # A database moved from a SQLite store older than revision 0007: a message without search rows,
    # queued INDEX_FILL. Searches read its blob until the indexer stores its rows.
    inbox = await mailbox(store, await make_account(store))
    [placed] = await deliver(store, make_message("Ancient", "a coelacanth"), inbox.id)
    mid = placed.message_id
    _sql(pg_url, "DELETE FROM message_search_text WHERE message_id = :m", m=mid)
    _sql(pg_url, "DELETE FROM message_header_values WHERE message_id = :m", m=mid)
    _sql(pg_url, "UPDATE search_queue SET action = :fill WHERE message_id = :m", m=mid, fill=INDEX_FILL)
    assert await store.search_text(inbox.id, "coelacanth", "body") == {1}
    assert await store.search_header(inbox.id, "subject", "ancient") == (set(), {1})  # undecided
    result = await store.index_pending()
    assert result.fill == [(mid, placed.entry.blob.sha256)]
    assert result.filled == 1
    assert await store.index_backlog() == 0
    assert await store.search_text(inbox.id, "COELACANTH", "body") == {1}
    assert await store.search_header(inbox.id, "subject", "ancient") == ({1}, set())


async def test_revision_0035_builds_the_indexes_on_a_database_at_0034(pg_url: str, tmp_path: Path) -> None:
    for name in TRIGRAM_INDEXES:
        _sql(pg_url, f"DROP INDEX {name}")
    _sql(pg_url, pg_env.UNDO_AFTER_0036)  # the revisions after this one
    _sql(pg_url, "DROP TABLE large_blob_chunks, large_blobs")
    _sql(pg_url, "UPDATE alembic_version SET version_num = '0034'")
    handle = await open_pg_store(pg_url, tmp_path / "data", Settings())
    try:
        inbox = await mailbox(handle, await make_account(handle))
        await deliver(handle, make_message("after the upgrade", "a numbat"), inbox.id)
        assert await handle.search_text(inbox.id, "numbat", "body") == {1}
    finally:
        await handle.close()
    found = {
        row[0] for row in _sql(pg_url, "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'ix_trgm_%'")
    }
    assert found == set(TRIGRAM_INDEXES)
    engine = create_engine(pg_url)
    try:
        with engine.connect() as conn:
            assert current_revision(conn) == SCHEMA_HEAD
    finally:
        engine.dispose()


async def test_the_indexer_merges_the_pending_lists(store: PgStore, pg_url: str) -> None:
    # Deliveries put trigram entries in GIN's pending lists; the indexer's batch merges them into
    # the indexes (searches scan a pending list entry by entry). Merging again then finds nothing.
    await store.stop_indexer()
    inbox = await mailbox(store, await make_account(store))

    def merged() -> int:
        return sum(
            int(str(_sql(pg_url, f"SELECT gin_clean_pending_list('{name}')")[0][0]))
            for name in TRIGRAM_INDEXES
        )

    await deliver(store, make_message("first", "an aardvark"), inbox.id)
    assert merged() > 0  # left by the delivery, merged here
    for n in range(3):
        await deliver(store, make_message(f"next {n}", f"an echidna {n}", n + 1), inbox.id)
    result = await store.index_pending()
    assert result.added == 4
    assert merged() == 0  # the indexer merged them
    assert await store.search_text(inbox.id, "echidna 2", "body") == {4}
