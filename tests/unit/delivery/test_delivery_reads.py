"""How many store reads recipient resolution and commit take, and that the bulk reads keep the rules.

One read job per RCPT (however long the alias chain) and one per transaction at commit (accounts,
quota usage, mailboxes); a real (temporary) SQLite store whose ``run_read`` is counted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import Connection

from pochta.config import Settings
from pochta.delivery.pipeline import Delivery, Envelope
from pochta.delivery.resolve import Destination
from pochta.mime import parse_message
from pochta.mime.address import SmtpPath, parse_smtp_path
from pochta.store.model import Target
from pochta.store.sqlite import SqliteStore, open_sqlite_store

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
    assert [d.used for d in result.destinations] == [len(MESSAGE)] == [await store.quota_usage(alice.id)]
    assert result.destinations[0] == Destination(alice)  # usage is not part of equality
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
