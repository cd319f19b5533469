"""`pochta store migrate --to URL`: an installation copied into a new database, verified, and served
from it as it was (UIDVALIDITY, UIDs, flags, MODSEQs, expunge records, queue, Sieve, directory), so
that an IMAP client finds nothing to resynchronise."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cli_env import init_data, ok, run
from pochta.config import CONFIG_FILE_NAME, load_settings
from pochta.store.api import Store
from pochta.store.factory import open_store
from pochta.store.model import MailboxView
from pochta.store.queue_model import NewQueueEntry, NewQueueRecipient
from pochta.store.sieve_model import SieveQuota
from pochta.testing.store_suite import deliver, mailbox, make_account, make_message
from store_env import sqlite_only

pytestmark = sqlite_only(
    "copies and compares SQLite database files (a copy to PostgreSQL: the store's migration tests)"
)

ROOMY = SieveQuota(max_scripts=5, max_storage=10_000)


async def _populate(store: Store) -> None:
    alice = await make_account(store, "alice@example.org", quota=10_000_000)
    bob = await make_account(store, "bob@example.org")
    await store.add_alias("team@example.org", ["alice@example.org", "bob@example.org"])
    inbox = await mailbox(store, alice)
    await store.create_mailbox(alice.id, "Projects")
    archive = await mailbox(store, alice, "Projects")
    for n in range(1, 41):
        flags = {"\\Seen"} if n % 3 == 0 else set()
        if n % 7 == 0:
            flags.add("$Important")
        await deliver(
            store, make_message(f"subject {n}", f"body word{n} of message {n}", n), inbox.id, flags=flags
        )
    await store.set_flags(inbox.id, [2, 4, 6], "add", ["\\Deleted"])
    await store.expunge(inbox.id, [2, 4, 6], only_deleted=True)
    await store.transfer(inbox.id, [10, 11, 12], archive.id, move=True)
    await store.set_flags(inbox.id, [1], "add", ["\\Flagged"])
    bob_inbox = await mailbox(store, bob)
    await deliver(store, make_message("for bob", "zebra crossing", 99), bob_inbox.id, inbox.id)
    blob = await store.put_blob(make_message("outbound", "going out", 100))
    recipient = NewQueueRecipient("carol@elsewhere.example")
    await store.enqueue(
        NewQueueEntry(blob, "alice@example.org", (recipient,), "submission", datetime.now(UTC))
    )
    await store.put_sieve_script(alice.id, "main", 'require "fileinto"; fileinto "Projects";', ROOMY)
    await store.activate_sieve_script(alice.id, "main")


async def _state(store: Store) -> dict[str, object]:
    """What a client and the server see of the installation, by value."""
    state: dict[str, object] = {}
    for account in await store.list_accounts():
        for box in await store.mailboxes(account.id):
            view: MailboxView = await store.open_view(box.id)
            entries = list(zip(view.uids, map(sorted, view.flags), view.modseqs, strict=True))
            expunged = await store.expunged_since(box.id, 0)
            state[f"{account.address}/{box.name}"] = (
                box.uidvalidity,
                box.uidnext,
                box.highestmodseq,
                box.messages,
                box.unseen,
                entries,
                expunged,
            )
        quota = await store.account_quota(account.id)
        state[f"{account.address} quota"] = quota
    state["aliases"] = [(a.source, sorted(a.targets)) for a in await store.list_aliases()]
    state["domain quota"] = await store.domain_quota("example.org")
    state["directory version"] = store.directory_version()
    alice = await store.get_account("alice@example.org")
    assert alice is not None
    state["sieve"] = [(s.name, s.active) for s in await store.sieve_scripts(alice.id)]
    inbox = await store.get_mailbox(alice.id, "INBOX")
    assert inbox is not None
    state["search"] = sorted(await store.search_text(inbox.id, "word17", "body"))
    return state


async def _read_state(data: Path) -> dict[str, object]:
    store = await open_store(data, load_settings(data / CONFIG_FILE_NAME))
    try:
        return await _state(store)
    finally:
        await store.close()


async def _fill(data: Path) -> None:
    store = await open_store(data, load_settings(data / CONFIG_FILE_NAME))
    try:
        await _populate(store)
    finally:
        await store.close()


@pytest.fixture
def installation(tmp_path: Path) -> Path:
    data = init_data(tmp_path / "data")
    asyncio.run(_fill(data))
    return data


def _served_from_copy(tmp_path: Path, source: Path) -> Path:
    """A data directory for the copied database: the same settings, the same blob files."""
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(source / CONFIG_FILE_NAME, copy / CONFIG_FILE_NAME)
    (copy / "blobs").symlink_to(source / "blobs")
    return copy


def test_copy_is_served_as_it_was(installation: Path, tmp_path: Path) -> None:
    before = asyncio.run(_read_state(installation))
    copy = _served_from_copy(tmp_path, installation)
    out = ok(run("store", "migrate", "--to", f"sqlite:///{copy / 'pochta.db'}", data=installation))
    assert "verified" in out
    assert "search index:" in out
    after = asyncio.run(_read_state(copy))
    assert after == before
    # Trigger-kept counters are the source's, not counted again by the target's triggers.
    source_db = sqlite3.connect(installation / "pochta.db")
    target_db = sqlite3.connect(copy / "pochta.db")
    for sql in (
        "SELECT id, recent, first_recent_uid FROM mailboxes ORDER BY id",
        "SELECT * FROM domain_quota_usage ORDER BY domain_id",
        "SELECT * FROM queue_recipients",
    ):
        assert target_db.execute(sql).fetchall() == source_db.execute(sql).fetchall(), sql
    # The copy's full-text index is its own: rebuilt from the copied texts.
    queued = target_db.execute("SELECT count(*) FROM search_queue").fetchone()[0]
    assert queued == target_db.execute("SELECT count(*) FROM message_search_text").fetchone()[0] > 0


def test_refusals(installation: Path, tmp_path: Path) -> None:
    result = run("store", "migrate", "--to", "postgresql://pochta@localhost/mail", data=installation)
    assert result.returncode == 1
    assert "PostgreSQL store is not complete yet" in result.stderr
    result = run("store", "migrate", "--to", "mysql://x/y", data=installation)
    assert result.returncode == 2
    assert "unsupported store URL" in result.stderr
    result = run("store", "migrate", "--to", f"sqlite:///{installation / 'pochta.db'}", data=installation)
    assert result.returncode == 1
    assert "own database" in result.stderr
    existing = tmp_path / "existing.db"
    existing.write_bytes(b"something")
    result = run("store", "migrate", "--to", f"sqlite:///{existing}", data=installation)
    assert result.returncode == 1
    assert "exists" in result.stderr
    assert existing.read_bytes() == b"something"
    result = run("store", "migrate", "--to", f"sqlite:///{tmp_path / 'x.db'}", data=tmp_path / "nothing")
    assert result.returncode != 0
    assert not (tmp_path / "x.db").exists()
