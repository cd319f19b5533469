"""The store conformance suite bound to the SQLite backend, plus what only SQLite has.

The suite (pochta.testing.store_suite) runs here through a star import; the tests below it cover
SQLite plumbing: migrations, pragmas, a second process, blob collection, the local change feed.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from pathlib import Path

import pytest

pytest.register_assert_rewrite("pochta.testing.store_suite")

from alembic.autogenerate import compare_metadata  # noqa: E402
from alembic.runtime.migration import MigrationContext  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402
from sqlalchemy import Connection, event, func, select  # noqa: E402

from pochta.config import MimeSettings, Settings  # noqa: E402
from pochta.mime import parse_message  # noqa: E402
from pochta.store.api import NotFound, Store  # noqa: E402
from pochta.store.changes import LocalChangeFeed  # noqa: E402
from pochta.store.dkim_model import DkimKey, KeyState  # noqa: E402
from pochta.store.dmarc_model import DmarcRow  # noqa: E402
from pochta.store.fetch_model import FetchMark, FetchRunResult, NewFetchAccount  # noqa: E402
from pochta.store.greylist_model import GreylistRow  # noqa: E402
from pochta.store.jmap_record_model import JmapRecordWrite  # noqa: E402
from pochta.store.migrate_state_model import MigrateItem, Placement  # noqa: E402
from pochta.store.model import (  # noqa: E402
    AccountId,
    BlobRef,
    Change,
    ChangeKind,
    MailboxView,
    MetadataLimits,
    ModSeq,
    QuotaLimits,
    QuotaUsage,
    Target,
)
from pochta.store.queue_model import NewQueueEntry, NewQueueRecipient  # noqa: E402
from pochta.store.schema import is_fts_table, large_blob_chunks, large_blobs, metadata  # noqa: E402
from pochta.store.send_limit_model import (  # noqa: E402
    SendCharge,
    SendLimitOverride,
    SendLimitReached,
    SendLimits,
)
from pochta.store.sieve_model import ManagedScript, RuleEdit  # noqa: E402
from pochta.store.sql.fetch import AlreadyFetched  # noqa: E402
from pochta.store.sql.mail_rows import uid_ranges  # noqa: E402
from pochta.store.sqlite import views as views  # noqa: E402
from pochta.store.sqlite.engine import SCHEMA_HEAD, alembic_config, make_engine  # noqa: E402
from pochta.store.sqlite.store import (  # noqa: E402
    DB_FILE_NAME,
    SqliteStore,
    open_sqlite_store,
)
from pochta.store.sqlite.writer import driver_connection  # noqa: E402
from pochta.store.upload_model import Upload  # noqa: E402
from pochta.store.web_session_model import WebSession  # noqa: E402
from pochta.testing.store_suite import *  # noqa: E402, F403
from pochta.testing.store_suite import (  # noqa: E402
    StoreFactory,
    deliver,
    mailbox,
    make_account,
    make_message,
    put,
    refreshed,
)
from server_env import WriterGate  # noqa: E402


def _sqlite(store: Store) -> SqliteStore:
    assert isinstance(store, SqliteStore)
    return store


def _db(store: Store) -> sqlite3.Connection:
    # A connection of our own, as an operator's sqlite3 shell would be: it bypasses the store.
    return sqlite3.connect(_sqlite(store).data_dir / DB_FILE_NAME, timeout=10, isolation_level=None)


def _run_sql(store: Store, script: str) -> None:
    conn = _db(store)
    try:
        conn.executescript(script)
    finally:
        conn.close()


class SqliteBackdoor:
    async def scramble_counters(self, store: Store) -> None:
        await asyncio.to_thread(
            _run_sql,
            store,
            """
            UPDATE mailboxes SET messages = messages + 7, unseen = unseen + 3, deleted = deleted + 2,
                size = size * 2 + 1, recent = recent + 4;
            UPDATE quota_usage SET bytes = bytes + 12345, messages = messages + 5;
            UPDATE messages SET refcount = refcount + 3;
            UPDATE membership SET seen = NOT seen;
            """,
        )

    async def scramble_caches(self, store: Store) -> None:
        await asyncio.to_thread(
            _run_sql,
            store,
            """
            UPDATE messages SET parsed_json = CAST('{"garbage": true}' AS BLOB), size = size + 1;
            UPDATE message_search_text SET body = 'garbage'
                WHERE message_id = (SELECT min(message_id) FROM message_search_text);
            DELETE FROM message_search_text
                WHERE message_id = (SELECT max(message_id) FROM message_search_text);
            DELETE FROM message_header_values
                WHERE message_id = (SELECT max(message_id) FROM message_header_values);
            """,
        )

    async def drop_wire_forms(self, store: Store) -> None:
        await asyncio.to_thread(_run_sql, store, "DELETE FROM message_wire")
        _sqlite(store).wire_cache.clear()  # and what this process holds of them

    async def wire_form_count(self, store: Store) -> int:
        def count() -> int:
            conn = _db(store)
            try:
                return int(conn.execute("SELECT count(*) FROM message_wire").fetchone()[0])
            finally:
                conn.close()

        return await asyncio.to_thread(count)

    def blob_path(self, store: Store, sha256: str) -> Path:
        return _sqlite(store).blobs.path_for(sha256)

    def blob_files(self, store: Store) -> set[str]:
        return _sqlite(store).blobs.list_sync()

    async def inline_blobs(self, store: Store) -> dict[str, bytes]:
        def rows() -> dict[str, bytes]:
            conn = _db(store)
            try:
                return {
                    name: bytes(data) for name, data in conn.execute("SELECT sha256, data FROM inline_blobs")
                }
            finally:
                conn.close()

        return await asyncio.to_thread(rows)

    async def set_inline_blob(self, store: Store, sha256: str, data: bytes | None) -> None:
        def change() -> None:
            conn = _db(store)
            try:
                if data is None:
                    conn.execute("DELETE FROM inline_blobs WHERE sha256 = ?", (sha256,))
                else:
                    conn.execute("UPDATE inline_blobs SET data = ? WHERE sha256 = ?", (data, sha256))
            finally:
                conn.close()

        await asyncio.to_thread(change)


@pytest.fixture
def backdoor() -> SqliteBackdoor:
    return SqliteBackdoor()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
async def store_factory(data_dir: Path) -> AsyncIterator[StoreFactory]:
    opened: list[SqliteStore] = []

    async def factory(settings: Settings | None = None) -> Store:
        handle = await open_sqlite_store(data_dir, settings or Settings())
        opened.append(handle)
        return handle

    yield factory
    for handle in opened:
        await handle.close()  # idempotent: tests may have closed it already


def test_every_suite_test_is_exported() -> None:
    # The binding runs what the star import brings in: a suite test missing from __all__ never runs.
    import pochta.testing.store_suite as suite

    tests = {name for name in vars(suite) if name.startswith("test_")}
    assert tests <= set(suite.__all__)


# Migrations and connection setup


async def test_migrations_create_the_schema_described_in_code(store: Store) -> None:
    engine = _sqlite(store)._write_engine
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={"include_name": lambda name, type_, parents: not (type_ == "table" and is_fts_table(name))},
        )
        assert compare_metadata(context, metadata) == []
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert context.get_current_revision() == head == SCHEMA_HEAD
        conn.rollback()


async def test_app_passwords_from_before_lookup_digests_survive_the_upgrade(data_dir: Path) -> None:
    """Revision 0005 keeps older app passwords, without a lookup digest (they must be re-issued)."""
    from alembic import command

    store = await open_sqlite_store(data_dir, Settings())
    await make_account(store, "alice@example.org")
    await store.add_app_password("alice@example.org", "phone", "hash", b"x" * 32)
    await store.add_login_unblock("127.0.0.9/32", keep_seconds=60)
    await store.close()
    engine = make_engine(data_dir / DB_FILE_NAME, 30.0, writer=True)
    with engine.connect() as conn, conn.begin():
        command.downgrade(alembic_config(conn), "0003")  # as a database from before both revisions
    engine.dispose()
    store = await open_sqlite_store(data_dir, Settings())  # upgrades
    try:
        [phone] = await store.list_app_passwords("alice@example.org")
        assert (phone.name, phone.password_hash, phone.lookup) == ("phone", "hash", None)
        assert await store.login_unblocks_after(0) == []
    finally:
        await store.close()


async def test_messages_from_before_0007_are_searchable_and_filled_by_the_indexer(data_dir: Path) -> None:
    """Revision 0007 queues stored messages for the indexer (FILL) instead of parsing them itself;
    until then text searches read their blobs and header searches leave them to the caller."""
    from alembic import command

    store = await open_sqlite_store(data_dir, Settings(), indexer=False)
    account = await make_account(store)
    inbox = await mailbox(store, account)
    for n in range(3):
        await deliver(store, make_message(f"old meeting {n}", f"old body okapi{n}"), inbox.id)
    await store.close()
    engine = make_engine(data_dir / DB_FILE_NAME, 30.0, writer=True)
    with engine.connect() as conn, conn.begin():
        command.downgrade(alembic_config(conn), "0006")  # the search data of 0007 is gone
    engine.dispose()
    store = await open_sqlite_store(data_dir, Settings(), indexer=False)  # upgrades
    try:
        assert await store.index_backlog() == 3
        assert (await store.verify()).damaged is False  # a backlog, not damage
        assert await store.search_text(inbox.id, "okapi1", "body") == {2}  # from the blob
        assert await store.search_text(inbox.id, "meeting 2", "text") == {3}
        assert await store.search_header(inbox.id, "subject", "meeting") == (set(), {1, 2, 3})
        result = await store.index_pending(2)
        assert (result.added, result.filled) == (0, 2)
        assert await store.search_header(inbox.id, "subject", "meeting") == ({1, 2}, {3})
        await store.index_pending()
        assert await store.index_backlog() == 0
        assert await store.search_header(inbox.id, "subject", "meeting 2") == ({3}, set())
        assert await store.search_text(inbox.id, "okapi1", "body") == {2}  # through the index
        conn = _db(store)
        try:
            indexed = conn.execute(
                "SELECT rowid FROM message_index WHERE message_index MATCH 'oka'"
            ).fetchall()
        finally:
            conn.close()
        assert len(indexed) == 3
    finally:
        await store.close()


async def test_verify_reports_messages_without_search_text(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    await deliver(store, make_message("lost text", "body"), inbox.id)
    await _sqlite(store).stop_indexer()
    await store.index_pending()
    await asyncio.to_thread(_run_sql, store, "DELETE FROM message_search_text")
    report = await store.verify()
    assert report.search_missing == [1]
    assert report.damaged
    await store.reconstruct()
    assert not (await store.verify()).damaged
    assert await store.search_text(inbox.id, "lost text", "text") == {1}


async def test_index_batch_is_bounded_by_messages_and_characters(data_dir: Path) -> None:
    settings = Settings.model_validate({"search": {"index_batch": 3, "index_batch_chars": 300}})
    store = await open_sqlite_store(data_dir, settings, indexer=False)
    try:
        account = await make_account(store)
        inbox = await mailbox(store, account)
        for n in range(4):
            await deliver(store, make_message(f"s{n}", "small"), inbox.id)  # ~200 characters each
        await deliver(store, make_message("big", "large " * 200), inbox.id)
        await deliver(store, make_message("after", "small"), inbox.id)
        sizes, more = [], []
        while (result := await store.index_pending()).done:
            sizes.append(result.added)
            more.append(result.more)
        assert sizes == [1, 1, 1, 1, 1, 1]  # 300 characters hold one message of these
        assert more == [True, True, True, True, True, False]  # cut by the characters but the last
        for n in range(3):
            await deliver(store, make_message(f"t{n}", "x"), inbox.id)
        assert (await store.index_pending(2)).added == 1  # a limit given: characters still bound it
    finally:
        await store.close()
    settings = Settings.model_validate({"search": {"index_batch": 2}})
    store = await open_sqlite_store(data_dir, settings, indexer=False)
    try:
        assert (await store.index_pending()).added == 2
    finally:
        await store.close()


async def _until_indexed(store: Store) -> None:
    for _ in range(400):
        if await store.index_backlog() == 0:
            return
        await asyncio.sleep(0.025)
    raise AssertionError("the indexer did not catch up")


async def test_indexer_writes_once_per_batch_with_the_sort_keys(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    await _sqlite(store).stop_indexer()
    for n in range(3):
        await deliver(store, make_message(f"keyed {n}", "body"), inbox.id)
    commits = _sqlite(store).writer_stats.commits
    result = await store.index_pending()
    assert (result.added, result.more) == (3, False)
    assert _sqlite(store).writer_stats.commits == commits + 1  # index, keys and threads: one commit
    conn = _db(store)
    try:
        assert conn.execute("SELECT count(*) FROM message_sort_keys").fetchone() == (3,)
    finally:
        conn.close()


async def test_indexer_runs_in_the_background(data_dir: Path) -> None:
    settings = Settings.model_validate({"search": {"index_interval": 0.05, "index_batch": 2}})
    store = await open_sqlite_store(data_dir, settings)
    try:
        account = await make_account(store)
        inbox = await mailbox(store, account)
        for n in range(5):
            await deliver(store, make_message(f"m{n}", "background badger"), inbox.id)
        for _ in range(400):
            if await store.index_backlog() == 0:
                break
            await asyncio.sleep(0.025)
        assert await store.index_backlog() == 0
        assert await store.search_text(inbox.id, "badger", "body") == {1, 2, 3, 4, 5}
    finally:
        await store.close()
    # After a batch that took all it found, the next waits search.index_pause (or a wake-up).
    paused = Settings.model_validate({"search": {"index_interval": 0.05, "index_pause": 3600}})
    store = await open_sqlite_store(data_dir, paused)
    try:
        await deliver(store, make_message("first", "paused badger"), inbox.id)
        await _until_indexed(store)
        await deliver(store, make_message("second", "paused badger"), inbox.id)
        await asyncio.sleep(0.3)  # past index_interval: the pause holds
        assert await store.index_backlog() == 1
        _sqlite(store).wake_indexer()
        await _until_indexed(store)
        assert await store.search_text(inbox.id, "paused", "body") == {6, 7}
    finally:
        await store.close()
    # Switched off in settings: nothing indexes.
    off = Settings.model_validate({"search": {"indexer": False, "index_interval": 0.05}})
    store = await open_sqlite_store(data_dir, off)
    try:
        await deliver(store, make_message("later", "quiet badger"), inbox.id)
        await asyncio.sleep(0.3)
        assert await store.index_backlog() == 1
    finally:
        await store.close()


async def test_reopen_is_idempotent_and_pragmas_hold(data_dir: Path) -> None:
    first = await open_sqlite_store(data_dir, Settings())
    await first.add_domain("example.org")
    second = await open_sqlite_store(data_dir, Settings())  # at head already: nothing to do
    try:
        assert [d.name for d in await second.list_domains()] == ["example.org"]
        pragmas = await second.run_write(
            lambda conn, events: [
                conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            ]
        )
        assert pragmas == ["wal", 2, 1, 30000]  # WAL, synchronous=FULL, FKs on, settings' timeout
        only_read = await second.run_read(lambda conn: conn.exec_driver_sql("PRAGMA query_only").scalar())
        assert only_read == 1
    finally:
        await first.close()
        await second.close()
    assert (data_dir / DB_FILE_NAME).is_file()
    assert (data_dir / "blobs" / "tmp").is_dir()


async def test_blocking_work_stays_off_the_loop(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every SQLite statement runs on the writer or a reader thread, never on the event loop thread.
    loop_thread = threading.get_ident()
    threads: set[int] = set()

    def record(*args: object) -> None:
        threads.add(threading.get_ident())

    for engine in (_sqlite(store)._write_engine, _sqlite(store)._read_engine):
        event.listen(engine, "before_cursor_execute", record)
    account = await make_account(store)
    await deliver(store, make_message(), (await mailbox(store, account)).id)
    await store.search_text((await mailbox(store, account)).id, "hello", "text")
    assert threads
    assert loop_thread not in threads


# Several processes


async def test_another_process_writes_while_open(store: Store, data_dir: Path) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    script = textwrap.dedent(
        f"""
        import asyncio
        from pathlib import Path
        from pochta.config import MimeSettings, Settings
        from pochta.mime import parse_message
        from pochta.store.model import Target
        from pochta.store.sqlite.store import open_sqlite_store

        async def main():
            store = await open_sqlite_store(Path({str(data_dir)!r}), Settings())
            try:
                await store.add_account("bob@example.org", "hash", None)
                data = b"Subject: from the CLI\\r\\n\\r\\nhello from another process\\r\\n"
                blob = await store.put_blob(data)
                await store.deliver(blob, parse_message(data, MimeSettings()), [Target({inbox.id})])
            finally:
                await store.close()

        asyncio.run(main())
        """
    )
    # Meanwhile this process keeps writing: both wait for each other's locks, neither fails.
    writer = asyncio.gather(*(deliver(store, make_message(n=n), inbox.id) for n in range(20)))
    result = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    await writer
    assert result.returncode == 0, result.stderr
    bob = await store.get_account("bob@example.org")  # no cache: the other process's row is seen
    assert bob is not None
    info = await store.get_mailbox_by_id(inbox.id)
    assert info is not None
    assert info.messages == 21
    assert await store.search_text(inbox.id, "another process", "body") != set()
    view = await store.open_view(inbox.id)
    assert sorted(e.uid for e in view.messages) == list(range(1, 22))


@pytest.mark.parametrize("root", ["account", "domain"])
async def test_quota_race_between_processes(store: Store, data_dir: Path, root: str) -> None:
    # Two processes (as two workers of pochta serve) deliver 30 messages each, all at once, into an
    # account with room for 7 (or, alternately, into two accounts of a domain whose MESSAGE quota
    # is 7): the check in each write transaction lets exactly 7 through in all.
    size = len(make_message(n=10))
    account = await make_account(store, quota=7 * size + size // 2 if root == "account" else None)
    inbox = await mailbox(store, account)
    boxes = [inbox.id]
    if root == "domain":
        boxes.append((await mailbox(store, await make_account(store, "bob@example.org"))).id)
        await store.set_domain_quota("example.org", quota_messages=7)
    script = textwrap.dedent(
        f"""
        import asyncio, json, sys
        from pathlib import Path
        from pochta.config import Settings
        from pochta.store.api import QuotaExceeded
        from pochta.store.sqlite.store import open_sqlite_store
        from pochta.testing.store_suite.support import deliver, make_message

        async def main(first):
            store = await open_sqlite_store(Path({str(data_dir)!r}), Settings())
            try:
                print("ready", flush=True)
                await asyncio.to_thread(sys.stdin.readline)
                results = await asyncio.gather(
                    *(
                        deliver(store, make_message(n=n), {boxes}[n % {len(boxes)}])
                        for n in range(first, first + 30)
                    ),
                    return_exceptions=True,
                )
                stored = sum(isinstance(r, list) for r in results)
                refused = sum(isinstance(r, QuotaExceeded) for r in results)
                print(json.dumps([stored, refused]), flush=True)
            finally:
                await store.close()

        asyncio.run(main(int(sys.argv[1])))
        """
    )
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            script,
            str(first),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for first in (10, 40)
    ]
    try:
        async with asyncio.timeout(120):
            for child in children:
                assert child.stdout is not None
                assert await child.stdout.readline() == b"ready\n"
            for child in children:
                assert child.stdin is not None
                child.stdin.write(b"go\n")
                await child.stdin.drain()
            outputs = [await child.communicate() for child in children]
    finally:
        for child in children:
            if child.returncode is None:
                child.kill()
                await child.wait()
    counts = [json.loads(out) for out, _ in outputs]
    assert [child.returncode for child in children] == [0, 0], [err.decode() for _, err in outputs]
    assert sum(stored for stored, _ in counts) == 7, counts
    assert sum(refused for _, refused in counts) == 53, counts
    quota = await store.account_quota(account.id)
    assert quota is not None
    if root == "account":
        assert quota.account_used == QuotaUsage(7 * size, 7)
        info = await refreshed(store, inbox)
        assert (info.messages, info.size, info.uidnext) == (7, 7 * size, 8)
    else:
        assert quota.domain_used == QuotaUsage(7 * size, 7)
        infos = [await store.get_mailbox_by_id(box) for box in boxes]
        assert sum(info.messages for info in infos if info is not None) == 7


async def test_reconstruct_recounts_domain_usage(store: Store) -> None:
    alice = await make_account(store)
    bob = await make_account(store, "bob@example.org")
    data = make_message(n=10)
    await deliver(store, data, (await mailbox(store, alice)).id, (await mailbox(store, bob)).id)
    expected = QuotaUsage(2 * len(data), 2)
    assert await store.domain_quota("example.org") == (QuotaLimits(), expected)
    # Wrong on its own (the triggers only ever move it with the accounts' usage), and missing.
    await asyncio.to_thread(_run_sql, store, "UPDATE domain_quota_usage SET bytes = 1, messages = 99")
    assert await store.domain_quota("example.org") == (QuotaLimits(), QuotaUsage(1, 99))
    assert (await store.reconstruct(dry_run=True)).quota_changed == 1
    assert (await store.reconstruct()).quota_changed == 1
    assert await store.domain_quota("example.org") == (QuotaLimits(), expected)
    await asyncio.to_thread(_run_sql, store, "DELETE FROM domain_quota_usage")
    assert (await store.reconstruct()).quota_changed == 1
    assert await store.domain_quota("example.org") == (QuotaLimits(), expected)
    assert (await store.reconstruct()).quota_changed == 0


async def test_migration_0017_fills_domain_usage(data_dir: Path) -> None:
    # A store at revision 0013 with mail in two domains: the upgrade sums its accounts' usage.
    store = await open_sqlite_store(data_dir, Settings())
    alice = await make_account(store)
    carol = await make_account(store, "carol@example.net")
    data = make_message(n=10)
    await deliver(store, data, (await mailbox(store, alice)).id, (await mailbox(store, alice, "Archive")).id)
    await deliver(store, data, (await mailbox(store, carol)).id)
    await store.add_domain("empty.example")
    await store.close()
    downgrade_to(data_dir, "0016")
    store = await open_sqlite_store(data_dir, Settings())
    try:
        assert [
            await store.domain_quota(name) for name in ("example.org", "example.net", "empty.example")
        ] == [
            (QuotaLimits(), QuotaUsage(2 * len(data), 2)),
            (QuotaLimits(), QuotaUsage(len(data), 1)),
            (QuotaLimits(), QuotaUsage()),
        ]
        account = await store.get_account("alice@example.org")
        assert account is not None
        assert (account.quota_messages, account.admin) == (None, False)
    finally:
        await store.close()


async def test_migration_0019_adds_metadata_entries(data_dir: Path) -> None:
    # A store at revision 0018 with mailboxes: the upgrade adds the (empty) table, which works at once.
    store = await open_sqlite_store(data_dir, Settings())
    alice = await make_account(store)
    await store.close()
    downgrade_to(data_dir, "0018")
    store = await open_sqlite_store(data_dir, Settings())
    try:
        inbox = await mailbox(store, alice)
        assert await store.metadata(inbox.id, alice.id) == {}
        limits = MetadataLimits(1024, 10, 10, 4096)
        await store.set_metadata(inbox.id, alice.id, [("/shared/comment", b"after 0019")], limits)
        assert await store.metadata(inbox.id, alice.id) == {"/shared/comment": b"after 0019"}
    finally:
        await store.close()


async def test_migration_0020_adds_sieve_scripts(data_dir: Path) -> None:
    # A store at revision 0019 with an account: the upgrade adds the (empty) table, which works at once.
    store = await open_sqlite_store(data_dir, Settings())
    alice = await make_account(store)
    await store.close()
    downgrade_to(data_dir, "0019")
    store = await open_sqlite_store(data_dir, Settings())
    try:
        assert await store.sieve_scripts(alice.id) == []
        await store.put_sieve_script(alice.id, "main", "keep;", Settings().sieve.quota())
        await store.activate_sieve_script(alice.id, "main")
        active = await store.active_sieve_script(alice.id)
        assert active is not None
        assert active.source == "keep;"
    finally:
        await store.close()


async def test_migration_0021_adds_sieve_state(data_dir: Path) -> None:
    # A store at revision 0020 with an active script: the upgrade adds the (empty) tables, and from
    # then on a change to a script moves the directory version (delivery's "who has a script").
    store = await open_sqlite_store(data_dir, Settings())
    alice = await make_account(store)
    await store.put_sieve_script(alice.id, "main", "keep;", Settings().sieve.quota())
    await store.activate_sieve_script(alice.id, "main")
    await store.close()
    downgrade_to(data_dir, "0020")
    store = await open_sqlite_store(data_dir, Settings())
    try:
        assert await store.sieve_active_accounts() == frozenset({alice.id})
        assert await store.sieve_errors(alice.id) == []
        assert await store.sieve_vacation_due(alice.id, "k", 100, 10)
        before = store.directory_version()
        await store.activate_sieve_script(alice.id, None)
        assert store.directory_version() != before
        assert await store.sieve_active_accounts() == frozenset()
    finally:
        await store.close()


async def test_directory_version_is_read_once_per_turn_of_the_loop(data_dir: Path) -> None:
    # Sessions served in one turn of the event loop share one read; the next turn reads afresh,
    # so a change committed by another process (here a plain connection) shows from then on.
    store = await open_sqlite_store(data_dir, Settings())
    try:
        first = store.directory_version()
        assert first is not None
        other = sqlite3.connect(data_dir / DB_FILE_NAME, isolation_level=None)
        try:
            other.execute("UPDATE directory_version SET version = version + 1 WHERE id = 1")
        finally:
            other.close()
        assert store.directory_version() == first  # the same turn: the read it already made
        await asyncio.sleep(0)
        assert store.directory_version() == first + 1
    finally:
        await store.close()


def test_directory_version_off_the_loop_reads_every_time(data_dir: Path) -> None:
    # Outside a running loop (a CLI or a thread) there is no turn to keep an answer for.
    store = asyncio.run(open_sqlite_store(data_dir, Settings()))
    try:
        first = store.directory_version()
        assert first is not None
        other = sqlite3.connect(data_dir / DB_FILE_NAME, isolation_level=None)
        try:
            other.execute("UPDATE directory_version SET version = version + 1 WHERE id = 1")
        finally:
            other.close()
        assert store.directory_version() == first + 1
    finally:
        asyncio.run(store.close())


async def test_migration_0022_fills_the_keyword_lists(data_dir: Path) -> None:
    # A store at revision 0021 with keywords on messages of two mailboxes (one spelt two ways) and
    # a mailbox with system flags only: the upgrade lists each mailbox's keywords, first spelling.
    store = await open_sqlite_store(data_dir, Settings())
    alice = await make_account(store)
    inbox, archive, other = [await mailbox(store, alice, name) for name in ("INBOX", "Archive", "Trash")]
    await deliver(store, make_message(n=1), inbox.id, flags=["$Work", "\\Seen"])
    await deliver(store, make_message(n=2), inbox.id, flags=["$work", "$Later"])
    await deliver(store, make_message(n=3), archive.id, flags=["Junk"])
    await deliver(store, make_message(n=4), other.id, flags=["\\Flagged", "\\Seen"])
    await store.close()
    downgrade_to(data_dir, "0021")
    store = await open_sqlite_store(data_dir, Settings())
    try:
        got = {box.name: box.keywords for box in await store.mailboxes(alice.id)}
        assert (sorted(got["INBOX"]), got["Archive"], got["Trash"]) == (["$Later", "$Work"], ("Junk",), ())
        assert (await store.reconstruct()).counters_changed == 0  # the lists are complete
    finally:
        await store.close()


async def test_migration_0025_moves_the_directory_version_with_imapsieve_entries(data_dir: Path) -> None:
    # A store at revision 0024: the upgrade adds the triggers; a /shared/imapsieve/script entry set,
    # changed or removed moves the version, another entry does not (RFC 6785 §2.3.1).
    store = await open_sqlite_store(data_dir, Settings())
    alice = await make_account(store)
    inbox = await mailbox(store, alice)
    await store.close()
    downgrade_to(data_dir, "0024")
    store = await open_sqlite_store(data_dir, Settings())
    limits = MetadataLimits(1024, 10, 100, 100000)
    try:
        before = store.directory_version()
        await store.set_metadata(inbox.id, alice.id, [("/shared/comment", b"x")], limits)
        assert store.directory_version() == before
        for value in (b"spam", b"ham", None):
            await store.set_metadata(inbox.id, alice.id, [("/shared/imapsieve/script", value)], limits)
            assert store.directory_version() != before
            before = store.directory_version()
        await store.set_metadata(None, alice.id, [("/shared/imapsieve/script", b"global")], limits)
        assert store.directory_version() != before
    finally:
        await store.close()


async def test_migration_0023_makes_every_account_a_user(data_dir: Path) -> None:
    # A store at revision 0022 with an account: the upgrade gives it the kind "user", and a domain's
    # hidden owner of public mailboxes can be added at once (no mailbox, no login, not deliverable).
    store = await open_sqlite_store(data_dir, Settings())
    alice = await make_account(store)
    await store.close()
    downgrade_to(data_dir, "0022")
    store = await open_sqlite_store(data_dir, Settings())
    try:
        account = await store.get_account(alice.address)
        assert account is not None
        assert (account.kind, account.is_user) == ("user", True)
        owner = await store.add_shared_owner("Example.ORG")
        assert (owner.address, owner.kind, owner.is_user) == ("(shared)@example.org", "shared", False)
        assert await store.add_shared_owner("example.org") == owner  # added once
        assert await store.mailboxes(owner.id) == []
        assert not owner.settings.allows("imap")
        assert not owner.settings.allows("pop3")
    finally:
        await store.close()


async def test_migration_0024_adds_mail_rules(data_dir: Path) -> None:
    # A store at revision 0023 with an account: the upgrade adds the (empty) table, which works at once.
    store = await open_sqlite_store(data_dir, Settings())
    alice = await make_account(store)
    await store.close()
    downgrade_to(data_dir, "0023")
    store = await open_sqlite_store(data_dir, Settings())
    try:
        assert await store.mail_rules(alice.id) == []
        managed = ManagedScript(
            "pochta-settings", lambda rules: f"# {len(rules)} rules\n", Settings().sieve.quota()
        )
        [rule] = await store.edit_mail_rules(alice.id, RuleEdit(add=("forward", "{}")), managed)
        assert (rule.kind, rule.data) == ("forward", "{}")
        active = await store.active_sieve_script(alice.id)
        assert active is not None
        assert active.source == "# 1 rules\n"
    finally:
        await store.close()


async def test_migration_0034_moves_account_settings_out_of_accounts(data_dir: Path) -> None:
    # A store at revision 0033 whose accounts carry switches, an APOP secret and a POP3 policy in
    # their columns: the upgrade moves each into the settings store (a switch only where it was
    # off), puts every account in the root unit, and its downgrade puts them back.
    from alembic import command

    store = await open_sqlite_store(data_dir, Settings())
    alice = await make_account(store, "alice@example.org")
    bob = await make_account(store, "bob@example.org")
    await store.close()
    downgrade_to(data_dir, "0033")
    conn = sqlite3.connect(data_dir / DB_FILE_NAME, isolation_level=None)
    try:
        conn.execute(
            "UPDATE accounts SET pop3 = 0, submission = 0, apop_secret = 'tanstaaf', pop_mode = "
            "'since-enabled', pop_delete_action = 'archive', pop_login_delay = 900, "
            "pop_enabled_at = 1700000000, pop_last_login = 1700000100 WHERE id = ?",
            (alice.id,),
        )
    finally:
        conn.close()
    store = await open_sqlite_store(data_dir, Settings())
    try:
        moved = await store.get_account("alice@example.org")
        assert moved is not None
        own = dict(moved.settings.own)
        assert own == {
            "pop3.enabled": False,
            "submission.enabled": False,
            "pop3.apop_secret": "tanstaaf",
            "pop3.mode": "since-enabled",
            "pop3.delete_action": "archive",
            "pop3.login_delay": 900,
            "pop3.enabled_at": datetime.fromtimestamp(1700000000, UTC),
            "pop3.last_login": datetime.fromtimestamp(1700000100, UTC),
        }
        assert (moved.settings.unit, moved.settings.allows("imap")) == ("root", True)
        untouched = await store.get_account_by_id(bob.id)
        assert untouched is not None
        assert dict(untouched.settings.own) == {}  # on, as by default: its unit decides
        await store.add_unit("staff")
        await store.set_unit_settings("staff", {"imap.enabled": False})
        await store.set_account_unit("bob@example.org", "staff")
    finally:
        await store.close()
    # The revision's own downgrade: the values go back to their columns (what units set is lost).
    engine = make_engine(data_dir / DB_FILE_NAME, 10.0, writer=True)
    try:
        with engine.connect() as conn_sa, conn_sa.begin():
            command.downgrade(alembic_config(conn_sa), "0033")
    finally:
        engine.dispose()
    conn = sqlite3.connect(data_dir / DB_FILE_NAME, isolation_level=None)
    try:
        rows = conn.execute(
            "SELECT imap, pop3, submission, apop_secret, pop_mode, pop_delete_action, pop_login_delay, "
            "pop_enabled_at, pop_last_login FROM accounts ORDER BY id"
        ).fetchall()
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()
    assert rows == [
        (1, 0, 0, "tanstaaf", "since-enabled", "archive", 900, 1700000000, 1700000100),
        (1, 1, 1, None, None, None, None, None, None),
    ]
    assert not tables & {"units", "unit_settings", "account_units", "account_settings"}
    store = await open_sqlite_store(data_dir, Settings())  # and up again
    try:
        again = await store.get_account("alice@example.org")
        assert again is not None
        assert again.settings.own == own
    finally:
        await store.close()


async def test_migration_0035_changes_nothing_on_sqlite(data_dir: Path) -> None:
    # Revision 0035 builds PostgreSQL's trigram indexes (tests/unit/store/test_pg_search.py); a
    # SQLite store at 0034 is brought to the head with its FTS5 index and search as they were.
    store = await open_sqlite_store(data_dir, Settings(), indexer=False)
    inbox = await mailbox(store, await make_account(store))
    await deliver(store, make_message("before", "a quokka"), inbox.id)
    await store.index_pending()
    await store.close()
    downgrade_to(data_dir, "0034")
    store = await open_sqlite_store(data_dir, Settings(), indexer=False)
    try:
        assert await store.search_text(inbox.id, "quokka", "body") == {1}
        await deliver(store, make_message("after", "another quokka", 2), inbox.id)
        assert await store.search_text(inbox.id, "QUOKKA", "body") == {1, 2}
    finally:
        await store.close()
    conn = sqlite3.connect(data_dir / DB_FILE_NAME)
    try:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (SCHEMA_HEAD,)
    finally:
        conn.close()


async def test_migration_0033_adds_the_import_journal(data_dir: Path) -> None:
    # A store at revision 0032: the upgrade adds the (empty) journal of `pochta import`, which an
    # import then fills in the transaction of each placement.
    from pochta.fetch.importer import import_path

    store = await open_sqlite_store(data_dir, Settings())
    await store.close()
    downgrade_to(data_dir, "0032")
    store = await open_sqlite_store(data_dir, Settings())
    try:
        account = await make_account(store)
        assert await store.import_journal(account.id, "/nowhere") == set()
        source = data_dir / "one.eml"
        source.write_bytes(b"Subject: j\r\n\r\nx\r\n")
        report = await import_path(store, Settings(), account, source)
        assert report.placed == 1
        assert await store.import_journal(account.id, str(source.resolve())) == {"one.eml"}
    finally:
        await store.close()


async def test_migration_0031_adds_fetch_accounts(data_dir: Path) -> None:
    # A store at revision 0030: the upgrade adds the (empty) fetcher tables; an external account is
    # added, due at once, its run recorded; a delivery with its fetched record commits both, and a
    # second delivery of the same record stores nothing (AlreadyFetched); deleting the local
    # account takes its external accounts and records with it.
    store = await open_sqlite_store(data_dir, Settings())
    await store.close()
    downgrade_to(data_dir, "0030")
    store = await open_sqlite_store(data_dir, Settings())
    try:
        alice = await make_account(store)
        new = NewFetchAccount(alice.id, "pop3", "pop.example.net", 995, "implicit", "al", "v1:x")
        added = await store.add_fetch_account(new, 1000)
        assert (added.next_run, added.keep, added.failures) == (1000, True, 0)
        assert await store.due_fetch_accounts(999, 10) == []
        assert [a.id for a in await store.due_fetch_accounts(1000, 10)] == [added.id]
        await store.record_fetch_run(added.id, FetchRunResult(1001, "auth", "refused", 0, 0, 1100, "auth"))
        await store.record_fetch_run(added.id, FetchRunResult(1101, "auth", "refused", 0, 0, 1300))
        state = await store.fetch_account(added.id)
        assert state is not None
        assert (state.failures, state.notified, state.next_run, state.last_error) == (
            2,
            "auth",
            1300,
            "refused",
        )
        inbox = await mailbox(store, alice)
        blob, parsed = await put(store, b"Subject: fetched\r\n\r\nbody\r\n")
        mark = FetchMark(added.id, "uidl:1")
        await store.deliver(blob, parsed, [Target(inbox.id)], fetched=[mark])
        with pytest.raises(AlreadyFetched):
            # An IMAP message leaves two records; one recorded already rolls both back.
            await store.deliver(blob, parsed, [Target(inbox.id)], fetched=[FetchMark(added.id, "x"), mark])
        assert len(await store.open_view(inbox.id)) == 1  # the second one rolled back whole
        assert await store.fetched_keys(added.id) == {"uidl:1"}
        await store.record_fetch_run(added.id, FetchRunResult(1400, "ok", "", 1, 0, 1700, ""))
        state = await store.fetch_account(added.id)
        assert state is not None
        assert (state.failures, state.total_fetched, state.notified) == (0, 1, "")
        assert await store.forget_fetched(added.id, ["uidl:1", "uidl:9"]) == 1
        await store.delete_account(alice.address)
        assert await store.fetch_account(added.id) is None
    finally:
        await store.close()


async def test_migration_0032_adds_migrate_state(data_dir: Path) -> None:
    # A store at revision 0031: the upgrade adds the (empty) migration state; a folder's state is
    # made, a message placed and recorded (tests/unit/store/test_migrate_state.py has the rest).
    store = await open_sqlite_store(data_dir, Settings())
    try:
        account = await make_account(store)
    finally:
        await store.close()
    downgrade_to(data_dir, "0031")
    store = await open_sqlite_store(data_dir, Settings())
    try:
        inbox = await mailbox(store, account)
        folder = await store.migrate_folder(account.id, "imap://a@h:993", "INBOX", 7, inbox.id)
        assert await store.migrated(folder) == {}
        data = b"Subject: migrated\r\n\r\nx\r\n"
        parsed = parse_message(data, MimeSettings())
        item = MigrateItem(3, await store.new_blob(data), parsed, frozenset(), None)
        assert await store.migrate_place(folder, [item]) == [Placement.COPIED]
        assert list(await store.migrated(folder)) == [3]
    finally:
        await store.close()


async def test_migration_0030_adds_send_limits(data_dir: Path) -> None:
    # A store at revision 0029: the upgrade adds the (empty) override and count tables; an override
    # set and cleared, a check that counts nothing, and a notice flag taken once per window.
    store = await open_sqlite_store(data_dir, Settings())
    await store.close()
    downgrade_to(data_dir, "0029")
    store = await open_sqlite_store(data_dir, Settings())
    try:
        assert await store.send_limit_override("account", "a@example.org") is None
        override = SendLimitOverride("account", "a@example.org", messages_per_hour=3)
        await store.set_send_limit_override(override)
        assert await store.send_limit_override("account", "a@example.org") == override
        given = SendCharge("a@example.org", "example.org", 1, 7200 + 5, SendLimits(messages_per_day=1))
        hit = await store.send_limit_check(given)
        assert hit is None  # nothing counted yet: 1 of 1 a day may pass
        counts = await store.send_counts("account", "a@example.org", 7200 + 5)
        assert [(c.period, c.start, c.messages) for c in counts] == [("hour", 7200, 0), ("day", 0, 0)]
        await store.set_send_limit_override(SendLimitOverride("account", "a@example.org"))
        assert await store.send_limit_override("account", "a@example.org") is None
        blocked = SendLimitReached("account", "a@example.org", "messages", "hour", 3, 7200)
        assert await store.send_limit_notified(blocked)
        assert not await store.send_limit_notified(blocked)
    finally:
        await store.close()


async def test_migration_0029_adds_greylist(data_dir: Path) -> None:
    # A store at revision 0028: the upgrade adds the (empty) triplet table; rows go in, are replaced,
    # tell which sender domains passed, and are pruned by their times.
    store = await open_sqlite_store(data_dir, Settings())
    await store.close()
    downgrade_to(data_dir, "0028")
    store = await open_sqlite_store(data_dir, Settings())
    try:
        assert await store.greylist_get("192.0.2.0/24", "a@example.net", "b@example.org") is None
        waiting = GreylistRow("192.0.2.0/24", "a@example.net", "b@example.org", "example.net", 100, 100)
        await store.greylist_put(waiting)
        assert await store.greylist_get("192.0.2.0/24", "a@example.net", "b@example.org") == waiting
        assert not await store.greylist_sender_known("example.net", 0)
        passed = replace(waiting, passed=400, last_seen=400)
        await store.greylist_put(passed)
        assert await store.greylist_get("192.0.2.0/24", "a@example.net", "b@example.org") == passed
        assert await store.greylist_sender_known("example.net", 400)
        assert not await store.greylist_sender_known("example.net", 401)
        other = GreylistRow("198.51.100.0/24", "c@example.com", "b@example.org", "example.com", 150, 150)
        await store.greylist_put(other)
        assert await store.prune_greylist(unconfirmed_before=151, passed_before=0) == 1
        assert await store.greylist_get("198.51.100.0/24", "c@example.com", "b@example.org") is None
        assert await store.prune_greylist(unconfirmed_before=0, passed_before=401) == 1
        assert await store.greylist_get("192.0.2.0/24", "a@example.net", "b@example.org") is None
    finally:
        await store.close()


async def test_migration_0028_adds_transport_security(data_dir: Path) -> None:
    # A store at revision 0027 with a queued message: the upgrade keeps it (no cascade into its
    # recipients), flags it as not REQUIRETLS, and adds the empty policy cache and TLS-RPT counts.
    store = await open_sqlite_store(data_dir, Settings())
    blob = await store.new_blob(b"Subject: x\r\n\r\nbody\r\n")
    now = datetime.now(UTC)
    entry = NewQueueEntry(blob, "a@example.org", (NewQueueRecipient("b@example.net"),), "submission", now)
    await store.enqueue(entry)
    await store.close()
    downgrade_to(data_dir, "0027")
    store = await open_sqlite_store(data_dir, Settings())
    try:
        [queued] = await store.queue_entries()
        assert queued.requiretls is False
        assert [r.address for r in queued.recipients] == ["b@example.net"]
        assert await store.mta_sts_policy("example.net") is None
        assert await store.tls_results_before("9999-12-31") == []
    finally:
        await store.close()


async def test_migration_0036_adds_the_tables_of_blobs_kept_in_the_database(data_dir: Path) -> None:
    # A store at revision 0034 with a message: the upgrade adds the two (empty) tables of
    # store.blobs = "postgresql", which SQLite keeps as one schema with PostgreSQL; the message
    # stays readable.
    store = await open_sqlite_store(data_dir, Settings())
    blob, _ = await put(store, make_message("before 0036"))
    await store.close()
    downgrade_to(data_dir, "0034")
    conn = sqlite3.connect(data_dir / DB_FILE_NAME)
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()
    assert not {"large_blobs", "large_blob_chunks"} & tables
    store = await open_sqlite_store(data_dir, Settings())
    try:
        assert await asyncio.to_thread(store.read_blob, blob) == make_message("before 0036")
        tables = (large_blobs, large_blob_chunks)
        counts = await store.run_read(
            lambda c: [c.execute(select(func.count()).select_from(t)).scalar() for t in tables]
        )
        assert counts == [0, 0]
    finally:
        await store.close()


async def test_migration_0037_adds_the_webmail_sessions(data_dir: Path) -> None:
    # A store at revision 0036 with an account: the upgrade adds the (empty) sessions table, which
    # then keeps a session of that account.
    store = await open_sqlite_store(data_dir, Settings())
    await store.add_domain("example.org")
    account = await store.add_account("alice@example.org", "x", None)
    await store.close()
    downgrade_to(data_dir, "0036")
    conn = sqlite3.connect(data_dir / DB_FILE_NAME)
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()
    assert "web_sessions" not in tables
    store = await open_sqlite_store(data_dir, Settings())
    try:
        assert await store.web_sessions(account.id) == []
        session = WebSession("h", account.id, "c", 1, 2, 3, "127.0.0.1", "ua")
        await store.add_web_session(session, keep=1)
        assert await store.web_session("h") == session
    finally:
        await store.close()


async def test_migration_0042_adds_the_mailbox_sort_order(data_dir: Path) -> None:
    # A store at revision 0041 with a mailbox: the upgrade gives every mailbox sortOrder 0.
    store = await open_sqlite_store(data_dir, Settings())
    alice = await make_account(store)
    work = await store.create_mailbox(alice.id, "Work")
    await store.close()
    downgrade_to(data_dir, "0041")
    conn = sqlite3.connect(data_dir / DB_FILE_NAME)
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(mailboxes)")}
    finally:
        conn.close()
    assert "sort_order" not in columns
    store = await open_sqlite_store(data_dir, Settings())
    try:
        assert await store.mailbox_sort_orders(alice.id) == {}
        await store.set_mailbox_sort_order(alice.id, work.id, 3)
        assert await store.mailbox_sort_orders(alice.id) == {work.id: 3}
    finally:
        await store.close()


async def test_migration_0041_adds_the_jmap_records(data_dir: Path) -> None:
    # A store at revision 0040 with an account: the upgrade adds the empty records and states.
    store = await open_sqlite_store(data_dir, Settings())
    alice = await make_account(store)
    await store.close()
    downgrade_to(data_dir, "0040")
    conn = sqlite3.connect(data_dir / DB_FILE_NAME)
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()
    assert not {"jmap_records", "jmap_record_states"} & tables
    store = await open_sqlite_store(data_dir, Settings())
    try:
        assert (await store.jmap_records(alice.id, "Identity")).state == 0
        wrote = await store.write_jmap_records(alice.id, "Identity", JmapRecordWrite(creates=(("{}", None),)))
        assert wrote.new_state == 1
    finally:
        await store.close()


async def test_migration_0040_adds_the_uploads_table(data_dir: Path) -> None:
    # A store at revision 0039 with an account: the upgrade adds an empty uploads table.
    store = await open_sqlite_store(data_dir, Settings())
    alice = await make_account(store)
    await store.close()
    downgrade_to(data_dir, "0039")
    conn = sqlite3.connect(data_dir / DB_FILE_NAME)
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()
    assert "uploads" not in tables
    store = await open_sqlite_store(data_dir, Settings())
    try:
        blob = await store.put_blob(b"x")
        assert await store.upload_of(alice.id, blob.sha256, since=0) is None
        await store.add_upload(Upload(alice.id, blob.sha256, "text/plain", 1, 5))
        assert await store.upload_of(alice.id, blob.sha256, since=0) == Upload(
            alice.id, blob.sha256, "text/plain", 1, 5
        )
    finally:
        await store.close()


async def test_migration_0039_indexes_messages_by_internal_date(data_dir: Path) -> None:
    # A store at revision 0038 with mail: the upgrade adds the index, which the page query uses.
    store = await open_sqlite_store(data_dir, Settings())
    alice = await make_account(store)
    inbox = await store.get_mailbox(alice.id, "INBOX")
    assert inbox is not None
    await store.close()
    downgrade_to(data_dir, "0038")

    def indexes() -> set[str]:
        conn = sqlite3.connect(data_dir / DB_FILE_NAME)
        try:
            return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        finally:
            conn.close()

    assert "ix_membership_received" not in indexes()
    store = await open_sqlite_store(data_dir, Settings())
    await store.close()
    assert "ix_membership_received" in indexes()
    conn = sqlite3.connect(data_dir / DB_FILE_NAME)
    try:
        plan = " ".join(
            str(row[-1])
            for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT message_id FROM membership WHERE mailbox_id = ? "
                "ORDER BY internal_date DESC, message_id LIMIT 50",
                (inbox.id,),
            )
        )
    finally:
        conn.close()
    assert "ix_membership_received" in plan


async def test_migration_0038_counts_each_account_from_its_highest_modseq(data_dir: Path) -> None:
    # A store at revision 0037 with mail: one message in two mailboxes, one flagged, an account
    # with no mail. The upgrade gives each account its counter at its mailboxes' highest MODSEQ and
    # a live Email record per message it holds; the next write takes the MODSEQ above it.
    store = await open_sqlite_store(data_dir, Settings())
    alice = await make_account(store)
    bob = await make_account(store, "bob@example.org")
    inbox, sent = await mailbox(store, alice), await mailbox(store, alice, "Sent")
    [both, _] = await deliver(store, make_message("both"), inbox.id, sent.id)
    [alone] = await deliver(store, make_message("alone"), inbox.id)
    await store.set_flags(inbox.id, [alone.uid], "add", ["\\Seen"])
    await store.close()
    downgrade_to(data_dir, "0037")
    conn = sqlite3.connect(data_dir / DB_FILE_NAME)
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        columns = {row[1] for row in conn.execute("PRAGMA table_info(mailboxes)")}
    finally:
        conn.close()
    assert not {"account_modseq", "account_emails", "mailbox_tombstones"} & tables
    assert not {"created_modseq", "meta_modseq"} & columns
    store = await open_sqlite_store(data_dir, Settings())
    try:
        highest = max([(await refreshed(store, box)).highestmodseq for box in (inbox, sent)])
        assert await store.account_state(alice.id) == highest
        assert await store.account_state(bob.id) == 1  # its new mailboxes' MODSEQ
        changes = await store.email_changes(alice.id, ModSeq(0), None, 100)
        assert changes.created == (both.message_id, alone.message_id)
        assert (changes.updated, changes.destroyed, changes.state) == ((), (), highest)
        assert (await store.mailbox_changes(alice.id, highest, None, 100)).created == ()
        [placed] = await deliver(store, make_message("after"), sent.id)
        assert placed.entry.modseq == highest + 1
        changes = await store.email_changes(alice.id, highest, None, 100)
        assert changes.created == (placed.message_id,)
        assert (await store.reconstruct(dry_run=True)).counters_changed == 0
    finally:
        await store.close()


async def test_reconstruct_rebuilds_the_account_counter_and_email_records(data_dir: Path) -> None:
    # Damage behind the store's back: the counter behind the mailboxes, a held message without its
    # record, a record of a message the account does not hold. Reconstruct repairs all three, with a
    # new MODSEQ that a client's next changes see.
    store = await open_sqlite_store(data_dir, Settings())
    account = await make_account(store)
    inbox = await mailbox(store, account)
    [placed] = await deliver(store, make_message("kept"), inbox.id)
    state = await store.account_state(account.id)
    await store.close()
    conn = sqlite3.connect(data_dir / DB_FILE_NAME, isolation_level=None)
    try:
        conn.execute("UPDATE account_modseq SET modseq = 0")
        conn.execute("DELETE FROM account_emails")
        conn.execute(
            "INSERT INTO account_emails (account_id, message_id, created, changed) VALUES (?, 999, 1, 1)",
            (account.id,),
        )
    finally:
        conn.close()
    store = await open_sqlite_store(data_dir, Settings())
    try:
        assert (await store.reconstruct(dry_run=True)).counters_changed == 3
        await store.reconstruct()
        assert (await store.reconstruct(dry_run=True)).counters_changed == 0
        assert await store.account_state(account.id) == state + 1
        changes = await store.email_changes(account.id, state, None, 100)
        assert (changes.created, changes.updated, changes.destroyed) == ((placed.message_id,), (), (999,))
    finally:
        await store.close()


async def test_migration_0027_adds_dmarc_results(data_dir: Path) -> None:
    # A store at revision 0026: the upgrade adds the (empty) results table; rows go in, come back
    # before a time and are deleted by it.
    store = await open_sqlite_store(data_dir, Settings())
    await store.close()
    downgrade_to(data_dir, "0026")
    store = await open_sqlite_store(data_dir, Settings())
    try:
        assert await store.dmarc_results(2**40) == []
        row = DmarcRow(
            100,
            "example.net",
            "example.net",
            "192.0.2.1",
            "example.net",
            "example.org",
            '{"p": "reject"}',
            "mailto:d@example.net",
            "reject",
            False,
            True,
            "",
            "",
            "{}",
        )
        await store.add_dmarc_result(row)
        await store.add_dmarc_result(replace(row, received=200, dkim_aligned=True))
        assert await store.dmarc_results(150) == [row]
        assert len(await store.dmarc_results(201)) == 2
        assert (await store.dmarc_results(201))[1].dkim_aligned is True
        assert await store.delete_dmarc_results(150) == 1
        assert [r.received for r in await store.dmarc_results(2**40)] == [200]
    finally:
        await store.close()


async def test_migration_0026_adds_dkim_keys(data_dir: Path) -> None:
    # A store at revision 0025 with a domain: the upgrade adds the (empty) key table, and a key
    # added after it moves the directory version (the signers' cache).
    store = await open_sqlite_store(data_dir, Settings())
    await store.add_domain("example.org")
    await store.close()
    downgrade_to(data_dir, "0025")
    store = await open_sqlite_store(data_dir, Settings())
    try:
        assert await store.dkim_keys() == []
        version = store.directory_version()
        key = DkimKey("example.org", "s1", "ed25519", "c2VlZA==", "cHVibGlj", KeyState.ACTIVE, 1)
        await store.add_dkim_keys("example.org", [key])
        assert await store.dkim_keys() == [key]
        assert store.directory_version() != version
    finally:
        await store.close()


async def test_reconstruct_keeps_the_keyword_lists_and_adds_what_they_lack(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    await deliver(store, make_message(n=1), inbox.id, flags=["$Gone", "\\Deleted"])
    await deliver(store, make_message(n=2), inbox.id, flags=["$Here"])
    await store.expunge(inbox.id, [1])
    assert sorted((await refreshed(store, inbox)).keywords) == ["$Gone", "$Here"]
    # Damaged behind the store's back: the list lost a keyword a message still carries.
    await asyncio.to_thread(_run_sql, store, "UPDATE mailboxes SET keywords = '$Gone'")
    assert (await store.reconstruct(dry_run=True)).counters_changed == 1
    assert (await refreshed(store, inbox)).keywords == ("$Gone",)
    assert (await store.reconstruct()).counters_changed == 1
    assert (await refreshed(store, inbox)).keywords == ("$Gone", "$Here")  # kept, and rebuilt
    assert (await store.reconstruct()).counters_changed == 0


# Blob collection (beyond the contract)


async def test_collect_blobs_after_grace(store: Store) -> None:
    sqlite_store = _sqlite(store)
    account = await make_account(store)
    inbox = await mailbox(store, account)
    kept = await deliver(store, make_message("kept"), inbox.id)
    young = await store.put_blob(b"young and unreferenced")
    old = await store.put_blob(b"old and unreferenced")
    expunged = await deliver(store, make_message("expunged"), inbox.id)
    await store.expunge(inbox.id, [expunged[0].uid])
    past = time.time() - 7200
    view = await store.open_view(inbox.id)
    kept_sha = view.messages[0].blob.sha256
    for sha in (old.sha256, kept_sha):
        os.utime(sqlite_store.blobs.path_for(sha), (past, past))
    removed = await sqlite_store.collect_blobs(grace_seconds=3600)
    assert removed == [old.sha256]  # referenced, young and the just-expunged one stay
    assert kept[0].uid in [e.uid for e in (await store.open_view(inbox.id)).messages]
    assert sqlite_store.blobs.exists_sync(young.sha256)
    assert sqlite_store.blobs.exists_sync(kept_sha)
    assert await sqlite_store.collect_blobs(grace_seconds=0) != []  # now nothing protects them
    assert not (await store.verify()).damaged


async def test_put_blob_refreshes_an_old_blob_against_collection(store: Store) -> None:
    sqlite_store = _sqlite(store)
    data = b"delivered again, long after it was last referenced"
    ref = await store.put_blob(data)
    past = time.time() - 7200
    os.utime(sqlite_store.blobs.path_for(ref.sha256), (past, past))
    await store.put_blob(data)  # a new delivery of the same bytes is under way
    assert await sqlite_store.collect_blobs(grace_seconds=3600) == []


# Large UID sets are chunked into several statements


def test_uid_ranges() -> None:
    assert uid_ranges([]) == []
    assert uid_ranges([1, 2, 3, 7, 9, 10]) == [(1, 3), (7, 7), (9, 10)]


async def test_large_sparse_uid_sets(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    blob, parsed = await put(store, make_message())
    placed = await store.deliver(blob, parsed, [Target(inbox.id)] * 1000)
    assert [p.uid for p in placed] == list(range(1, 1001))
    odd = range(1, 1001, 2)  # 500 separate ranges
    changed = await store.set_flags(inbox.id, odd, "add", ["\\Seen"])
    assert len(changed.changed) == 500
    info = await store.get_mailbox_by_id(inbox.id)
    assert info is not None
    assert info.unseen == 500
    copied = await store.transfer(inbox.id, odd, inbox.id, move=False)
    assert copied.destination_uids == tuple(range(1001, 1501))
    gone = await store.expunge(inbox.id, range(1, 1501, 3))
    assert len(gone.expunged) == 500
    assert len(await store.cached(inbox.id, range(1, 2000))) == 1000
    assert await store.quota_usage(account.id) == 1000 * blob.size


# Mailbox views: the one-row fast path and the plain path agree


async def test_open_view_paths_agree(store: Store) -> None:
    account = await make_account(store)
    inbox, archive = await mailbox(store, account), await mailbox(store, account, "Archive")
    zones = [timezone(timedelta(minutes=m)) for m in (0, -420, 345, 1439, -1439)]
    for n in range(30):
        when = datetime(1960 + n * 3, 1 + n % 12, 1 + n, 12, n, n, tzinfo=zones[n % len(zones)])
        flags = ["\\Seen", "$Work", "\\Flagged", f"$label{n % 4}"][: n % 5]
        await deliver(store, make_message(n=n), inbox.id, flags=flags, when=when)
    await deliver(store, make_message(n=0), inbox.id)  # the same blob again: a shared message row
    await store.expunge(inbox.id, [3, 4, 10])
    await store.set_flags(inbox.id, [1, 2, 20], "add", ["\\Deleted"])
    await store.transfer(inbox.id, range(1, 40), archive.id, move=False)
    for box in (inbox, archive):
        fast, plain = await _sqlite(store).run_read(partial(_both_views, mailbox_id=box.id))
        assert fast is not None
        assert fast == plain
        assert tuple(fast) == tuple(plain)
        assert fast == await store.open_view(box.id)
        assert len(fast) == (await refreshed(store, box)).messages


def _both_views(conn: Connection, mailbox_id: int) -> tuple[MailboxView | None, MailboxView]:
    """The view by the one-row query (None if it declines) and by one row per message."""
    raw = driver_connection(conn)
    info = views.read_mailbox(raw, mailbox_id)
    return views.view_from_columns(raw, info), views.view_from_rows(raw, info)


async def test_open_view_takes_the_plain_path_for_odd_rows(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    for n in range(3):
        await deliver(store, make_message(n=n), inbox.id)
    await asyncio.to_thread(_run_sql, store, "UPDATE messages SET sha256 = 'odd' WHERE id = 2;")
    fast, plain = await _sqlite(store).run_read(lambda conn: _both_views(conn, inbox.id))
    assert fast is None
    view = await store.open_view(inbox.id)
    assert view == plain
    assert [e.blob.sha256 for e in view][1] == "odd"
    assert view.blob(1).sha256 == "odd"


async def test_open_view_of_a_mailbox_too_big_for_one_string(store: Store) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    for n in range(30):  # 30 x 80 hex digits: over the limit set below
        await deliver(store, make_message(n=n), inbox.id)
    expected = await store.open_view(inbox.id)

    def limited(conn: Connection) -> tuple[MailboxView | None, MailboxView]:
        raw = driver_connection(conn)
        old = raw.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 2000)
        try:
            return _both_views(conn, inbox.id)
        finally:
            raw.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, old)

    fast, plain = await _sqlite(store).run_read(limited)
    assert fast is None
    assert plain == expected


# Search text is written with the delivery, and goes with a failed job


async def test_search_text_of_a_batch(store: Store) -> None:
    sqlite_store = _sqlite(store)
    await sqlite_store.stop_indexer()  # its commits would count below
    account = await make_account(store)
    inbox = await mailbox(store, account)
    words = ["alphaword", "bravoword", "charlieword", "deltaword"]
    prepared = [await put(store, make_message(subject=w, body=f"body {w}", n=i)) for i, w in enumerate(words)]
    gate = WriterGate(sqlite_store.writer)
    before = sqlite_store.writer_stats.snapshot()
    jobs = [
        # Its message row is added, then the missing mailbox fails the job: row and text roll back,
        # and the next new message may get the same id.
        store.deliver(*prepared[0], [Target(inbox.id + 1000)]),
        store.deliver(*prepared[1], [Target(inbox.id)]),  # UID 1
        store.deliver(*prepared[2], [Target(inbox.id)]),  # UID 2, expunged in the same batch
        store.expunge(inbox.id, [2]),
        store.deliver(*prepared[3], [Target(inbox.id)]),  # UID 3
    ]
    tasks = []
    async with gate:
        for job in jobs:  # one at a time, so that they queue in this order
            tasks.append(asyncio.ensure_future(job))
            await gate.queued(len(tasks))
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[0], NotFound)
    assert sqlite_store.writer_stats.commits - before.commits == 2  # the gate's batch, then ours
    found = {w: await store.search_text(inbox.id, w, "body") for w in words}
    assert found == {"alphaword": set(), "bravoword": {1}, "charlieword": set(), "deltaword": {3}}
    conn = _db(store)
    try:
        text_ids = [row[0] for row in conn.execute("SELECT message_id FROM message_search_text ORDER BY 1")]
        message_ids = [row[0] for row in conn.execute("SELECT id FROM messages ORDER BY id")]
    finally:
        conn.close()
    assert text_ids == message_ids
    assert len(message_ids) == 2


# The local change feed


def _change(n: int, mailbox_id: int = 1) -> Change:
    return Change(ChangeKind.FLAGS, 1, mailbox_id, n, (n,))


async def test_feed_overflow_is_bounded() -> None:
    feed = LocalChangeFeed(max_pending=3)
    slow = feed.subscribe(1)
    await asyncio.to_thread(feed.publish, [_change(n) for n in range(1, 11)])  # from another thread
    await asyncio.sleep(0.01)
    first = await asyncio.wait_for(anext(slow), 1)
    assert first.kind is ChangeKind.OVERFLOW  # one marker instead of the backlog
    assert slow.pending() == 0
    feed.publish([_change(11)])
    later = await asyncio.wait_for(anext(slow), 1)
    assert (later.kind, later.modseq) == (ChangeKind.FLAGS, 11)
    await slow.aclose()


async def test_feed_delivery_order_and_unsubscribe() -> None:
    feed = LocalChangeFeed()
    one, two = feed.subscribe(1), feed.subscribe(2)
    feed.publish([_change(1, 1), _change(2, 2), _change(3, 1)])
    assert [(await anext(one)).modseq for _ in range(2)] == [1, 3]
    assert (await anext(two)).modseq == 2
    async with feed.subscribe(1) as three:
        assert feed.subscriber_count(1) == 2
    assert feed.subscriber_count(1) == 1
    with pytest.raises(StopAsyncIteration):
        await anext(three)
    await one.aclose()
    assert feed.subscriber_count(1) == 0
    del two
    gc.collect()  # an abandoned subscription costs nothing
    assert feed.subscriber_count(2) == 0
    feed.publish([_change(4, 1), _change(5, 2)])  # nobody listens: fine


async def test_feed_close_ends_iteration() -> None:
    feed = LocalChangeFeed()
    subscription = feed.subscribe(7)
    waiter = asyncio.create_task(anext(subscription))
    await asyncio.sleep(0)
    feed.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiter, 1)


async def test_feed_account_subscriptions_get_every_mailbox_of_their_account() -> None:
    feed = LocalChangeFeed()
    alice = feed.subscribe_account(AccountId(1), max_pending=2)
    bob = feed.subscribe_account(AccountId(2))
    feed.publish([_change(1, 1), Change(ChangeKind.MAILBOX, 2, 9, 2), _change(3, 5)])
    assert [(c.mailbox_id, c.modseq) for c in [await anext(alice), await anext(alice)]] == [(1, 1), (5, 3)]
    assert (await anext(bob)).kind is ChangeKind.MAILBOX
    # Its own bound: a fourth change waiting makes one OVERFLOW marker; resync_all makes one too.
    feed.publish([_change(n, n) for n in range(4, 8)])
    await asyncio.sleep(0.01)
    assert (await anext(alice)).kind is ChangeKind.OVERFLOW
    feed.resync_all()
    await asyncio.sleep(0.01)
    assert (await anext(bob)).kind is ChangeKind.OVERFLOW
    await alice.aclose()
    feed.publish([_change(8, 1)])  # nobody of account 1 listens: fine
    feed.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(bob), 1)


async def test_sessions_share_one_view_while_the_mailbox_is_unchanged(store_factory: StoreFactory) -> None:
    store = await store_factory()
    account = await make_account(store)
    inbox = await mailbox(store, account)
    await deliver(store, make_message("one"), inbox.id)
    first = await store.open_view(inbox.id)
    assert await store.open_view(inbox.id) is first  # same MODSEQ: the same (immutable) view
    other = await store_factory()  # another handle keeps its own cache, and sees the same content
    assert await other.open_view(inbox.id) == first
    await store.set_flags(inbox.id, [1], "add", ["\\Seen"])
    changed = await store.open_view(inbox.id)
    assert changed is not first
    assert changed.flags[0] == frozenset({"\\Seen"})
    assert first.flags[0] == frozenset()  # a view is a snapshot: never modified afterwards
    del first, changed
    gc.collect()
    fresh = await store.open_view(inbox.id)  # the cache held it weakly; a new one is built
    assert fresh.flags[0] == frozenset({"\\Seen"})


async def test_migration_0011_adds_inline_blobs_and_files_stay_readable(data_dir: Path) -> None:
    # A store at revision 0010 (every blob a file) is opened by this version: the file-backed
    # message reads as before, and a new small message goes into the new table.
    store = await open_sqlite_store(data_dir, Settings())
    account = await make_account(store)
    inbox = await mailbox(store, account)
    old, parsed = await put(store, make_message("before 0011"))
    await store.deliver(old, parsed, [Target(inbox.id)])
    await store.close()
    downgrade_to(data_dir, "0010")
    store = await open_sqlite_store(data_dir, Settings())
    try:
        assert await asyncio.to_thread(store.read_blob, old) == make_message("before 0011")
        data = make_message("after 0011")
        new = await store.new_blob(data)
        await store.deliver(new, parse_message(data, Settings().mime), [Target(inbox.id)])
        assert not store.blobs.exists_sync(new.sha256)
        assert await store.read_blobs([old, BlobRef(new.sha256, new.size)]) == {
            old.sha256: make_message("before 0011"),
            new.sha256: data,
        }
    finally:
        await store.close()


async def test_migration_0016_threads_old_messages_and_dates_them_by_internal_date(data_dir: Path) -> None:
    # A store at revision 0013 (no save dates, no threads) is opened by this version: its rows answer
    # SAVEDATE with their internal date (RFC 8514 §4.2, docs/imap.md), and the indexer threads them.
    store = await open_sqlite_store(data_dir, Settings(), indexer=False)
    account = await make_account(store)
    inbox = await mailbox(store, account)
    when = datetime(2020, 5, 6, 7, 8, 9, tzinfo=UTC)
    for n, refs in ((1, ""), (2, "References: <1.old@example.net>\r\n")):
        data = make_message("old", "text", n).replace(b"MIME-Version", refs.encode() + b"MIME-Version")
        blob, parsed = await put(store, data)
        await store.deliver(blob, parsed, [Target(inbox.id, frozenset(), when)])
    await store.close()
    downgrade_to(data_dir, "0015")
    store = await open_sqlite_store(data_dir, Settings(), indexer=False)
    try:
        rows = await store.message_objects(inbox.id, None)
        assert [(row.save_date, row.thread_id) for row in rows] == [(int(when.timestamp()), None)] * 2
        assert (await store.index_pending()).threaded == 2
        threads = {row.thread_id for row in await store.message_objects(inbox.id, None)}
        assert len(threads) == 1
        assert None not in threads
    finally:
        await store.close()


def _later_trigger(name: str) -> bool:
    """A directory-version trigger of a later revision (0021's scripts, 0025's IMAPSIEVE entries,
    0026's DKIM keys, 0034's units and settings)."""
    later = ("sieve_scripts", "imapsieve", "dkim_keys", "units", "unit_settings", "account_settings")
    return any(part in name for part in later)


def undo_0010(conn: sqlite3.Connection) -> str:
    """SQL taking out what revision 0010 added: the directory version and its triggers."""
    triggers = conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name != ''")
    # (0021's, 0025's and 0026's triggers go with their UNDO entries: _later_trigger.)
    names = [
        name for (name,) in triggers if name.startswith("directory_version_") and not _later_trigger(name)
    ]
    assert len(names) == 12
    return "".join(f"DROP TRIGGER {name};" for name in names) + "DROP TABLE directory_version;"


# Each revision since 0011 taken out again by hand, as its downgrade does (a migration test takes the
# store back with ``downgrade_to`` and lets the upgrade run again). A new revision adds its entry.
_SETTING_0034 = "(SELECT value FROM account_settings WHERE account_id = accounts.id AND key = '{}')"
_COLUMNS_0034 = (
    ("imap", "BOOLEAN NOT NULL DEFAULT 1", f"coalesce({_SETTING_0034.format('imap.enabled')} != 'off', 1)"),
    ("pop3", "BOOLEAN NOT NULL DEFAULT 1", f"coalesce({_SETTING_0034.format('pop3.enabled')} != 'off', 1)"),
    (
        "submission",
        "BOOLEAN NOT NULL DEFAULT 1",
        f"coalesce({_SETTING_0034.format('submission.enabled')} != 'off', 1)",
    ),
    ("apop_secret", "TEXT", _SETTING_0034.format("pop3.apop_secret")),
    ("pop_mode", "TEXT", _SETTING_0034.format("pop3.mode")),
    ("pop_delete_action", "TEXT", _SETTING_0034.format("pop3.delete_action")),
    ("pop_login_delay", "INTEGER", f"CAST({_SETTING_0034.format('pop3.login_delay')} AS INTEGER)"),
    ("pop_enabled_at", "BIGINT", f"CAST({_SETTING_0034.format('pop3.enabled_at')} AS INTEGER)"),
    ("pop_last_login", "BIGINT", f"CAST({_SETTING_0034.format('pop3.last_login')} AS INTEGER)"),
)
_TABLES_0034 = ("units", "unit_settings", "account_units", "account_settings")


def undo_0034() -> str:
    """Revision 0034 by hand: the settings back into their accounts columns, the new tables and
    their triggers out."""
    triggers = "".join(
        f"DROP TRIGGER directory_version_{table}_{event};"
        for table in _TABLES_0034
        for event in ("insert", "update", "delete")
    )
    columns = "".join(
        f"ALTER TABLE accounts ADD COLUMN {name} {declared};" for name, declared, _ in _COLUMNS_0034
    )
    fill = "UPDATE accounts SET " + ", ".join(f"{name} = {value}" for name, _, value in _COLUMNS_0034) + ";"
    return (
        triggers
        + columns
        + fill
        + "DROP TABLE account_settings; DROP INDEX ix_account_units_unit_id; DROP TABLE account_units; "
        "DROP TABLE unit_settings; DROP INDEX ix_units_parent_id; UPDATE units SET parent_id = NULL; "
        "DROP TABLE units;"
    )


UNDO: dict[str, str] = {
    # JMAP Mailbox sortOrder
    "0042": "ALTER TABLE mailboxes DROP COLUMN sort_order;",
    # JMAP Identity and EmailSubmission records
    "0041": (
        "DROP INDEX ix_jmap_records_type_ref; DROP INDEX ix_jmap_records_account_id_type; "
        "DROP TABLE jmap_records; DROP TABLE jmap_record_states;"
    ),
    # JMAP uploads
    "0040": (
        "DROP INDEX ix_uploads_created; DROP INDEX ix_uploads_sha256; "
        "DROP INDEX ix_uploads_account_id_sha256; DROP TABLE uploads;"
    ),
    # Email/query's index of a mailbox's messages by internal date
    "0039": "DROP INDEX ix_membership_received;",
    # PostgreSQL's trigram indexes for search: nothing on SQLite
    "0035": "",
    # blobs kept in the database (store.blobs = "postgresql"; empty on SQLite)
    "0036": "DROP TABLE large_blob_chunks; DROP TABLE large_blobs;",
    # the account MODSEQ counters and JMAP's change records
    "0038": (
        "DROP TABLE mailbox_tombstones; DROP TABLE account_emails; DROP TABLE account_modseq; "
        "ALTER TABLE mailboxes DROP COLUMN meta_modseq; ALTER TABLE mailboxes DROP COLUMN created_modseq;"
    ),
    # the webmail's sessions
    "0037": (
        "DROP INDEX ix_web_sessions_expires; DROP INDEX ix_web_sessions_account_id; DROP TABLE web_sessions;"
    ),
    # the settings store and organisational units
    "0034": undo_0034(),
    # the fetcher's external accounts and fetched-message records
    "0031": (
        "DROP TABLE fetched_messages; DROP INDEX ix_fetch_accounts_next_run; "
        "DROP INDEX ix_fetch_accounts_account_id; DROP TABLE fetch_accounts;"
    ),
    # what `pochta migrate` copied
    "0032": "DROP TABLE migrate_messages; DROP TABLE migrate_folders;",
    # the sending limits: overrides and counts
    "0033": "DROP TABLE import_journal;",
    "0030": "DROP TABLE send_counts; DROP TABLE send_limits;",
    # the DMARC results for aggregate reports
    # the greylisting triplets
    "0029": "DROP INDEX ix_greylist_last_seen; DROP INDEX ix_greylist_sender_domain; DROP TABLE greylist;",
    # transport security: the MTA-STS policy cache, TLS-RPT counts, the REQUIRETLS flag
    "0028": (
        "DROP TABLE tls_rpt_results; DROP TABLE mta_sts_policies; "
        "ALTER TABLE queue_messages DROP COLUMN requiretls;"
    ),
    "0027": "DROP INDEX ix_dmarc_results_received; DROP TABLE dmarc_results;",
    # the DKIM keys
    "0026": (
        "DROP TRIGGER directory_version_dkim_keys_insert; "
        "DROP TRIGGER directory_version_dkim_keys_update; "
        "DROP TRIGGER directory_version_dkim_keys_delete; DROP TABLE dkim_keys;"
    ),
    # IMAPSIEVE's directory-version triggers
    "0025": (
        "DROP TRIGGER directory_version_imapsieve_insert; "
        "DROP TRIGGER directory_version_imapsieve_update; "
        "DROP TRIGGER directory_version_imapsieve_delete;"
    ),
    # the Gmail-style rules
    "0024": "DROP TABLE mail_rules;",
    # the account kinds
    "0023": "ALTER TABLE accounts DROP COLUMN kind;",
    # the keyword lists
    "0022": "ALTER TABLE mailboxes DROP COLUMN keywords;",
    # Sieve at delivery's state and the directory version's triggers on scripts
    "0021": (
        "DROP TRIGGER directory_version_sieve_scripts_insert; "
        "DROP TRIGGER directory_version_sieve_scripts_update; "
        "DROP TRIGGER directory_version_sieve_scripts_delete; DROP TABLE sieve_errors; "
        "DROP TABLE sieve_duplicates; DROP TABLE sieve_vacation;"
    ),
    # Sieve scripts
    "0020": "DROP TABLE sieve_scripts;",
    # METADATA entries
    "0019": "DROP TABLE metadata_entries;",
    # the ACL table
    "0018": "DROP TABLE mailbox_acl;",
    # the quota resources: the MESSAGE and domain limits, the admin flag, domain usage and its
    # triggers; the directory version's accounts trigger back to its 0010 columns
    "0017": (
        "DROP TRIGGER directory_version_accounts_update; "
        "CREATE TRIGGER directory_version_accounts_update "
        "AFTER UPDATE OF address, address_key, domain_id, quota_bytes, enabled ON accounts "
        "BEGIN UPDATE directory_version SET version = version + 1 WHERE id = 1; "
        "END; DROP TRIGGER quota_usage_domain_insert; DROP TRIGGER quota_usage_domain_update; "
        "DROP TRIGGER accounts_domain_quota_delete; DROP TABLE domain_quota_usage; "
        "ALTER TABLE domains DROP COLUMN quota_messages; ALTER TABLE domains DROP COLUMN quota_bytes; "
        "ALTER TABLE accounts DROP COLUMN admin; ALTER TABLE accounts DROP COLUMN quota_messages;"
    ),
    # thread tables and the save date
    "0016": (
        "DROP TABLE thread_progress; DROP TABLE thread_keys; DROP TABLE message_threads; "
        "ALTER TABLE membership DROP COLUMN save_date;"
    ),
    # the sort keys
    "0015": "DROP TABLE message_sort_keys;",
    # the expunge records' time and horizon
    "0014": "DROP TABLE expunge_horizon; ALTER TABLE expunged DROP COLUMN at;",
    # the partial index of \\Deleted rows
    "0013": "DROP INDEX ix_membership_deleted;",
    # \\Recent's columns and triggers
    "0012": (
        "DROP TRIGGER membership_recent_insert; DROP TRIGGER membership_recent_delete; "
        "ALTER TABLE mailboxes DROP COLUMN recent; "
        "ALTER TABLE mailboxes DROP COLUMN first_recent_uid;"
    ),
    # the inline blobs
    "0011": "DROP TABLE inline_blobs;",
}


def undo_since(revision: str) -> str:
    """SQL taking out every revision after ``revision`` (0010 at the earliest), newest first."""
    return "".join(UNDO[later] for later in sorted(UNDO, reverse=True) if later > revision)


def downgrade_to(data_dir: Path, revision: str) -> None:
    """Take the closed store in ``data_dir`` back to ``revision`` (0010 or later) by hand."""
    conn = sqlite3.connect(data_dir / DB_FILE_NAME, isolation_level=None)
    try:
        conn.executescript(undo_since(revision) + f"UPDATE alembic_version SET version_num = '{revision}';")
    finally:
        conn.close()


def test_every_revision_has_its_undo() -> None:
    # A revision without its entry would leave its tables behind in every downgrade above it. The
    # revisions are the scripts' (a branch may skip a number another branch brings).
    scripts = ScriptDirectory.from_config(alembic_config())
    revisions = sorted(script.revision for script in scripts.walk_revisions() if script.revision >= "0011")
    assert sorted(UNDO) == revisions
    assert revisions[-1] == SCHEMA_HEAD


# What revision 0007 added, taken out again by hand (as its downgrade does).
UNDO_0007 = (
    "DROP TABLE message_index; DROP TABLE search_queue; DROP TABLE message_header_values; "
    "DROP TABLE message_search_text; "
    "CREATE VIRTUAL TABLE message_text USING fts5(body, headers, tokenize = 'trigram');"
)


async def test_migration_0006_gives_queued_messages_ids(data_dir: Path) -> None:
    # A store at revision 0005 with queued messages (integer ids only) is opened by this version.
    store = await open_sqlite_store(data_dir, Settings())
    blob, _ = await put(store, make_message("queued before 0006"))
    for address in ("a@remote.example", "b@remote.example"):
        await store.enqueue(
            NewQueueEntry(
                blob, "s@example.org", (NewQueueRecipient(address),), "submission", datetime.now(UTC)
            )
        )
    await store.close()
    conn = sqlite3.connect(data_dir / DB_FILE_NAME, isolation_level=None)
    try:
        conn.executescript(
            undo_since("0010") + undo_0010(conn) + "DROP TABLE message_wire;"  # revision 0009
            "DROP TABLE mailbox_snapshots;"  # revision 0008
             + UNDO_0007 + "DROP INDEX ix_queue_messages_qid; ALTER TABLE queue_messages DROP COLUMN qid;"
            "UPDATE alembic_version SET version_num = '0005';"
        )
    finally:
        conn.close()
    store = await open_sqlite_store(data_dir, Settings())
    try:
        entries = await store.queue_entries()
        assert sorted(r.address for e in entries for r in e.recipients) == [
            "a@remote.example",
            "b@remote.example",
        ]
        ids = [e.id for e in entries]
        assert len(set(ids)) == 2
        assert all(len(i) == 16 and i == i.upper() and int(i, 16) >= 0 for i in ids)
        assert await store.queue_entry(ids[0]) == entries[0]
    finally:
        await store.close()
