"""``pochta.store.db_copy`` from a SQLite installation into PostgreSQL: every table arrives (the
engines' types apart: booleans, octet strings), the verification passes, the triggers' counters are
the source's, and the sequences continue after the copied ids. (Serving the copy needs the mail core
on PostgreSQL: docs/scaling.md.)"""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

import pg_env
from cli_env import init_data, ok, run
from pochta.config import CONFIG_FILE_NAME, Settings, load_settings
from pochta.mime import parse_message
from pochta.store import db_copy, schema
from pochta.store.api import Store
from pochta.store.factory import open_store
from pochta.store.import_model import ImportItem
from pochta.store.model import NewBlob, VerifyReport
from pochta.store.pg.store import open_pg_store
from pochta.store.queue_model import NewQueueEntry, NewQueueRecipient
from pochta.store.sieve_model import SieveQuota
from pochta.store.sqlite.engine import make_engine
from pochta.testing.store_suite import MIME, deliver, mailbox, make_account, make_message

pg_cluster = pg_env.pg_cluster
pg_url = pg_env.pg_url


async def _installation(data: Path) -> Path:
    store = await open_store(data, Settings())
    try:
        alice = await make_account(store, "alice@example.org")
        await store.add_alias("team@example.org", ["alice@example.org"])
        inbox = await mailbox(store, alice)
        for n in range(1, 13):
            await deliver(
                store, make_message(f"s{n}", f"text {n}", n), inbox.id, flags={"\\Seen"} if n % 2 else ()
            )
        await store.expunge(inbox.id, [3, 4])
        await store.set_account_settings("alice@example.org", {"pop3.enabled": False})
    finally:
        await store.close()
    return data / "pochta.db"


async def test_sqlite_installation_copied_into_postgresql(tmp_path: Path, pg_url: str) -> None:
    source = make_engine(await _installation(tmp_path / "data"), 5.0, writer=False)
    target = create_engine(pg_url)
    try:
        with source.connect() as s, s.begin(), target.connect() as t, t.begin():
            report = db_copy.copy_database(s, t)
            db_copy.after_copy(t)
            checks = db_copy.verify(s, t)
            assert [c.name for c in checks if not c.same] == []
            assert report.rows_by_table["membership"] == 10
            assert report.rows_by_table["expunged"] == 2
        with target.connect() as t:
            highest = t.execute(select(schema.domains.c.id)).scalars().all()
    finally:
        source.dispose()
        target.dispose()
    # The directory works on the copy, and new rows get new ids (sequences moved past the copy's).
    store = await open_pg_store(pg_url, tmp_path / "pg", Settings())
    try:
        alice = await store.get_account("alice@example.org")
        assert alice is not None
        assert alice.settings.allows("pop3") is False
        added = await store.add_domain("example.net")
        assert added.id > max(highest)
        bob = await make_account(store, "bob@example.net")
        assert bob.id > alice.id
    finally:
        await store.close()


# `pochta store migrate --to postgresql://...`: the command, its verification, and a PgStore on the
# target answering as the SQLite store did (issue 16's done-when: IMAP clients with CONDSTORE and
# QRESYNC state find nothing to resynchronise).

ROOMY = SieveQuota(max_scripts=5, max_storage=10_000)
KEYWORDS = ("$Important", "$Label1", "Work")
IMPORT_BATCH = 250


async def _fill(data: Path, messages: int) -> None:
    """Several accounts, mailboxes, flags and keywords, expunges (UIDNEXT ahead of the last UID,
    VANISHED records), a moved batch, the outbound queue, Sieve scripts, settings."""
    store = await open_store(data, load_settings(data / CONFIG_FILE_NAME))
    try:
        addresses = ("alice@example.org", "bob@example.org", "carol@example.org")
        boxes = []
        for address in addresses:
            account = await make_account(store, address)
            boxes.append(await mailbox(store, account))
            await store.create_mailbox(account.id, "Work/Projects")
            for name in ("Archive", "Work/Projects"):
                boxes.append(await mailbox(store, account, name))
        for start in range(0, messages, IMPORT_BATCH):
            items = []
            for n in range(start, min(start + IMPORT_BATCH, messages)):
                raw = make_message(f"subject {n}", f"body of message {n}", n)
                flags = {"\\Seen"} if n % 3 else set()
                if n % 7 == 0:
                    flags |= {KEYWORDS[n % 3], "\\Flagged"}
                box = boxes[n % len(boxes)]
                items.append(
                    ImportItem(
                        f"m{n}", box.id, NewBlob(hashlib.sha256(raw).hexdigest(), len(raw), raw),
                        parse_message(raw, MIME), frozenset(flags), None,
                    )
                )  # fmt: skip
            assert await store.import_place(boxes[0].account_id, "fill", items) == [None] * len(items)
        for box in boxes[:3]:
            await store.set_flags(box.id, [1, 2, 3], "add", ["\\Deleted", "$Done"])
            await store.expunge(box.id, None, only_deleted=True)
        await store.transfer(boxes[1].id, [4, 7, 10], boxes[2].id, move=True)
        await store.set_flags(boxes[4].id, [5], "replace", ["\\Answered"])
        large = make_message("large", "x" * 20_000, 10**6)  # a blob file on both engines
        await deliver(store, large, boxes[0].id, boxes[3].id)
        blob = await store.put_blob(make_message("outbound", "going out", 10**6 + 1))
        recipient = NewQueueRecipient("dave@elsewhere.example")
        await store.enqueue(NewQueueEntry(blob, addresses[0], (recipient,), "submission", datetime.now(UTC)))
        alice = await store.get_account(addresses[0])
        assert alice is not None
        await store.put_sieve_script(alice.id, "main", 'require "fileinto"; fileinto "Archive";', ROOMY)
        await store.activate_sieve_script(alice.id, "main")
        await store.set_account_settings(addresses[1], {"pop3.enabled": False})
    finally:
        await store.close()


async def _state(store: Store) -> dict[str, object]:
    """What an IMAP client with CONDSTORE/QRESYNC state compares, and what the server keeps."""
    state: dict[str, object] = {}
    for account in await store.list_accounts():
        for box in await store.mailboxes(account.id):
            view = await store.open_view(box.id)
            entries = list(zip(view.uids, map(sorted, view.flags), view.modseqs, strict=True))
            state[f"{account.address}/{box.name}"] = (
                box.uidvalidity, box.uidnext, box.highestmodseq, box.messages, box.unseen, box.deleted,
                box.size, sorted(box.keywords), entries, await store.expunged_since(box.id, 0),
            )  # fmt: skip
            assert (await store.changes_since(box.id, box.highestmodseq)).changed == ()
        state[f"{account.address} quota"] = await store.account_quota(account.id)
        state[f"{account.address} sieve"] = [
            (s.name, s.active) for s in await store.sieve_scripts(account.id)
        ]
        state[f"{account.address} settings"] = account.settings
    state["queue"] = [(e.sender, e.blob.sha256, e.recipients) for e in await store.queue_entries()]
    state["domain quota"] = await store.domain_quota("example.org")
    return state


async def _source_state(data: Path) -> dict[str, object]:
    store = await open_store(data, load_settings(data / CONFIG_FILE_NAME))
    try:
        return await _state(store)
    finally:
        await store.close()


async def _target_state(url: str, data: Path) -> tuple[dict[str, object], VerifyReport]:
    store = await open_pg_store(url, data, load_settings(data / CONFIG_FILE_NAME))
    try:
        state = await _state(store)
        report = await store.verify()
        # Served: a new message takes the next UID and MODSEQ after the copied ones.
        alice = await store.get_account("alice@example.org")
        assert alice is not None
        inbox = await mailbox(store, alice)
        [placed] = await deliver(store, make_message("after the move", "new", 10**7), inbox.id)
        assert placed.uid == inbox.uidnext
        assert (await store.get_mailbox_by_id(inbox.id)).highestmodseq > inbox.highestmodseq  # type: ignore[union-attr]
        return state, report
    finally:
        await store.close()


def _moved(tmp_path: Path, pg_url: str, messages: int) -> float:
    data = init_data(tmp_path / "data")
    asyncio.run(_fill(data, messages))
    before = asyncio.run(_source_state(data))
    started = time.monotonic()
    out = ok(run("store", "migrate", "--to", pg_url, data=data))
    seconds = time.monotonic() - started
    assert "verified" in out
    assert "[store] url" in out
    after, report = asyncio.run(_target_state(pg_url, data))
    assert after == before
    assert (report.missing_blobs, report.corrupt_blobs, report.search_missing) == ([], [], [])
    assert not report.damaged
    # A second copy into the same database is refused: it holds an installation now.
    again = run("store", "migrate", "--to", pg_url, data=data)
    assert again.returncode == 1
    assert "already holds" in again.stderr
    return seconds


def test_store_migrate_moves_an_installation_into_postgresql(tmp_path: Path, pg_url: str) -> None:
    _moved(tmp_path, pg_url, 300)


@pytest.mark.slow
def test_store_migrate_moves_ten_thousand_messages(tmp_path: Path, pg_url: str) -> None:
    seconds = _moved(tmp_path, pg_url, 10_000)
    print(f"store migrate of 10,000 messages: {seconds:.1f} s")  # docs/scaling.md records it


def test_store_migrate_refuses_a_postgresql_url_without_a_database(tmp_path: Path) -> None:
    data = init_data(tmp_path / "data")
    result = run("store", "migrate", "--to", "postgresql://pochta@localhost", data=data)
    assert result.returncode == 2
    assert "names no database" in result.stderr
