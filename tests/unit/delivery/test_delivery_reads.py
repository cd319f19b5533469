"""How many store reads recipient resolution and commit take, and that the bulk reads keep the rules.

One read job per RCPT (however long the alias chain) and one per transaction at commit (accounts,
quota usage, mailboxes); a real (temporary) SQLite store whose ``run_read`` is counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import Connection

from pochta.config import Settings
from pochta.delivery import Delivery, Envelope
from pochta.delivery.resolve import Destination
from pochta.mime import parse_message
from pochta.mime.address import SmtpPath, parse_smtp_path
from pochta.store.model import QuotaUsage, Target
from pochta.store.queue_model import QueueEntry, new_queue_id
from pochta.store.sqlite.store import SqliteStore, open_sqlite_store
from server_env import delivered_first

T = TypeVar("T")

MESSAGE = b"From: a@remote.example\r\nSubject: hi\r\n\r\n" + b"x" * 500 + b"\r\n"


class Counted:
    def __init__(self, store: SqliteStore) -> None:
        self.reads = 0
        original = store.run_read

        async def run_read(fn: Callable[[Connection], T]) -> T:
            self.reads += 1
            return await original(fn)

        store.run_read = run_read  # type: ignore[method-assign]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await open_sqlite_store(tmp_path / "data", Settings())
    await store.add_domain("example.org")
    for name in ("alice", "bob", "postmaster"):
        await store.add_account(f"{name}@example.org", "x", None)
    await store.add_alias("team@example.org", ["alice@example.org", "bob@example.org"])
    await store.add_alias("crew@example.org", ["team@example.org", "alice@example.org"])
    try:
        yield store
    finally:
        await store.close()


def _path(text: str) -> SmtpPath:
    path = parse_smtp_path(text)
    assert isinstance(path, SmtpPath), path
    return path


def _delivery(store: SqliteStore, tmp_path: Path) -> Delivery:
    return Delivery(store, Settings(), tmp_path / "data")


@pytest.mark.parametrize(
    "address",
    ["<alice@example.org>", "<crew@example.org>", "<alice+news@example.org>", "<nobody@example.org>"],
)
async def test_one_read_per_rcpt(store: SqliteStore, tmp_path: Path, address: str) -> None:
    delivery = _delivery(store, tmp_path)
    counted = Counted(store)
    await delivery.begin(Envelope(_path("<a@remote.example>"))).add_recipient(_path(address))
    assert counted.reads == 1


async def test_postmaster_is_one_read(store: SqliteStore, tmp_path: Path) -> None:
    counted = Counted(store)
    result = await _delivery(store, tmp_path).resolver.resolve(SmtpPath("Postmaster", ""))
    assert [d.account.address for d in result.destinations] == ["postmaster@example.org"]
    assert counted.reads == 1


async def test_destinations_carry_quota_usage(store: SqliteStore, tmp_path: Path) -> None:
    alice = await store.get_account("alice@example.org")
    assert alice is not None
    inbox = await store.get_mailbox(alice.id, "INBOX")
    assert inbox is not None
    await store.deliver(
        await store.put_blob(MESSAGE), parse_message(MESSAGE, Settings().mime), [Target(inbox.id)]
    )
    result = await _delivery(store, tmp_path).resolver.resolve(_path("<alice@example.org>"))
    used = QuotaUsage(len(MESSAGE), 1)
    assert [d.quota for d in result.destinations] == [await store.account_quota(alice.id)]
    assert [d.quota and d.quota.account_used for d in result.destinations] == [used]
    assert [d.quota and d.quota.domain_used for d in result.destinations] == [used]
    assert result.destinations[0] == Destination(alice)  # the quota is not part of equality
    assert result.destinations[0].exceeds_quota(10**9) is False  # no quota: never
    assert Destination(alice).exceeds_quota(1) is None  # usage not read


async def _send(delivery: Delivery, *rcpts: str, declared: int = 0) -> tuple[list[str], list[int]]:
    txn = delivery.begin(Envelope(_path("<a@remote.example>"), declared_size=declared))
    rcpt_codes = [(await txn.add_recipient(_path(r))).reply.code for r in rcpts]
    txn.start_body()
    txn.write(MESSAGE)
    txn.end_body()
    result = await txn.commit()
    return [f"{r.code} {r.enhanced}" for r in result.replies], rcpt_codes


async def test_who_has_a_sieve_script_is_read_once_per_directory_version(
    store: SqliteStore, tmp_path: Path
) -> None:
    delivery = _delivery(store, tmp_path)
    alice = await store.get_account("alice@example.org")
    assert alice is not None
    counted = Counted(store)
    assert not await delivery.sieve.runner.has_scripts(alice)
    assert not await delivery.sieve.runner.has_scripts(alice)
    assert counted.reads == 1
    await store.put_sieve_script(alice.id, "main", "keep;", Settings().sieve.quota())
    await store.activate_sieve_script(alice.id, "main")  # moves the directory version (0021)
    assert await delivery.sieve.runner.has_scripts(alice)
    assert await delivery.sieve.runner.has_scripts(alice)
    assert counted.reads == 2


async def test_commit_is_one_read_and_files_by_folder(store: SqliteStore, tmp_path: Path) -> None:
    delivery = _delivery(store, tmp_path)
    alice = await store.get_account("alice@example.org")
    assert alice is not None
    await store.create_mailbox(alice.id, "news")
    txn = delivery.begin(Envelope(_path("<a@remote.example>")))
    for rcpt in ("<alice+news@example.org>", "<crew@example.org>", "<bob+nofolder@example.org>"):
        assert (await txn.add_recipient(_path(rcpt))).accepted
    txn.start_body()
    txn.write(MESSAGE)
    txn.end_body()
    # Who has a Sieve script is read once per directory version (docs/sieve.md "At delivery"):
    # the first time here; no commit reads it again while the version stays.
    assert not await delivery.sieve.runner.has_scripts(alice)
    counted = Counted(store)
    result = await txn.commit()
    assert [r.code for r in result.replies] == [250, 250, 250]
    assert counted.reads == 1
    counts: dict[tuple[str, str], int | None] = {}
    for address, name in (("alice", "news"), ("alice", "INBOX"), ("bob", "INBOX"), ("bob", "nofolder")):
        account = await store.get_account(f"{address}@example.org")
        assert account is not None
        info = await store.get_mailbox(account.id, name)
        counts[address, name] = None if info is None else info.messages
    assert counts == {
        ("alice", "news"): 1,
        ("alice", "INBOX"): 1,
        ("bob", "INBOX"): 1,
        ("bob", "nofolder"): None,
    }


async def test_quota_at_rcpt_and_at_commit(store: SqliteStore, tmp_path: Path) -> None:
    delivery = _delivery(store, tmp_path)
    await store.update_account("bob@example.org", quota_bytes=300)
    # The declared SIZE is refused at RCPT; without it, the real size is refused at commit.
    assert await _send(delivery, "<alice@example.org>", "<bob@example.org>", declared=400) == (
        ["250 2.0.0"],
        [250, 452],
    )
    assert await _send(delivery, "<alice@example.org>", "<bob@example.org>") == (
        ["250 2.0.0", "452 4.2.2"],
        [250, 250],
    )


async def test_quota_changed_or_account_deleted_before_commit(store: SqliteStore, tmp_path: Path) -> None:
    delivery = _delivery(store, tmp_path)
    txn = delivery.begin(Envelope(_path("<a@remote.example>")))
    for rcpt in ("<alice@example.org>", "<bob@example.org>", "<postmaster@example.org>"):
        assert (await txn.add_recipient(_path(rcpt))).accepted
    txn.start_body()
    txn.write(MESSAGE)
    txn.end_body()
    await store.update_account("bob@example.org", quota_bytes=100)  # set after RCPT: still counts
    await store.delete_account("postmaster@example.org")  # gone after RCPT: refused as before
    result = await txn.commit()
    assert [f"{r.code} {r.enhanced}" for r in result.replies] == ["250 2.0.0", "452 4.2.2", "452 4.2.2"]


async def test_quota_filled_between_the_checks_and_the_write(store: SqliteStore, tmp_path: Path) -> None:
    # The queue worker's way in (deliver_queued), and an LMTP-like commit: bob has room for this
    # message, but another delivery takes it between the checks and the write. The store refuses
    # bob's account in the write transaction; bob and the alias reaching him get the quota reply,
    # and the message is delivered to the others with a second call.
    delivery = _delivery(store, tmp_path)
    other = b"Subject: meanwhile\r\n\r\n" + b"y" * 150 + b"\r\n"
    await store.update_account("bob@example.org", quota_bytes=len(MESSAGE) + 100)
    bob = await store.get_account("bob@example.org")
    alice = await store.get_account("alice@example.org")
    assert bob is not None
    assert alice is not None
    inbox_b, inbox_a = await store.get_mailbox(bob.id, "INBOX"), await store.get_mailbox(alice.id, "INBOX")
    assert inbox_b is not None
    assert inbox_a is not None
    now = datetime.now(UTC)
    entry = QueueEntry(
        new_queue_id(), await store.put_blob(MESSAGE), "a@remote.example", None, None, None, False,
        "forward", now, now, None, None, (),
    )  # fmt: skip
    addresses = ["alice@example.org", "team@example.org", "Bob@example.org"]
    async with delivered_first(store, inbox_b.id, other) as gate:
        queued = asyncio.ensure_future(delivery.deliver_queued(entry, addresses))
        await gate.queued(2)
    out = {address: f"{r.code} {r.enhanced}" for address, r in (await queued).items()}
    assert out == {
        "alice@example.org": "250 2.0.0",
        "team@example.org": "452 4.2.2",
        "Bob@example.org": "452 4.2.2",
    }
    assert [(await store.open_view(box.id)).sizes.tolist() for box in (inbox_a, inbox_b)] == [
        [len(MESSAGE)],
        [len(other)],
    ]
    assert await store.quota_usage(bob.id) == len(other)
    # The same through a transaction (LMTP: one reply each). Room for 1000 more octets: this
    # message with its Received field (under 1000) or the other one (700), not both.
    await store.update_account("bob@example.org", quota_bytes=len(other) + 1000)
    bigger = b"Subject: meanwhile\r\n\r\n" + b"z" * 676 + b"\r\n"
    assert len(bigger) == 700
    txn = delivery.begin(Envelope(_path("<a@remote.example>")))
    for rcpt in ("<bob@example.org>", "<alice@example.org>"):
        assert (await txn.add_recipient(_path(rcpt))).accepted
    txn.start_body()
    txn.write(MESSAGE)
    txn.end_body()
    async with delivered_first(store, inbox_b.id, bigger) as gate:
        committing = asyncio.ensure_future(txn.commit())
        await gate.queued(2)
    result = await committing
    assert [f"{r.code} {r.enhanced}" for r in result.replies] == ["452 4.2.2", "250 2.0.0"]
    assert result.delivered == 1
    assert len((await store.open_view(inbox_a.id)).uids) == 2
    assert await store.quota_usage(bob.id) == len(other) + len(bigger)
