"""`pochta queue list|show|retry|delete|flush` as real subprocesses on a data directory whose queue the
test fills through the store (as submission would: a durable blob, then ``enqueue``).

``flush`` delivers through the ``[queue] transport`` map (set in pochta.toml) to a scripted sink in
the test's event loop, or leaves a message deferred (one attempt recorded) when the sink says 451;
``delete`` drops a message without any notice to its sender.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pochta.config import load_settings
from pochta.store.factory import open_store
from pochta.store.queue_model import NewQueueEntry, NewQueueRecipient, QueueEntry, QueueId
from smtp_sink import Script, SmtpSink

POCHTA = [sys.executable, "-m", "pochta"]
ALICE = "alice@example.org"
REMOTE = "remote.example"
FRIEND = f"friend@{REMOTE}"
STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"


def pochta(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "POCHTA_DATA"}
    return subprocess.run(
        [*POCHTA, *args, "--data", str(data)], capture_output=True, text=True, timeout=60, env=env
    )


def ok(*args: str, data: Path) -> str:
    result = pochta(*args, data=data)
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


async def aok(*args: str, data: Path) -> str:
    """``ok`` off the event loop, so that a sink in this loop keeps answering."""
    return await asyncio.to_thread(ok, *args, data=data)


def message(subject: str) -> bytes:
    return f"From: {ALICE}\r\nTo: {FRIEND}\r\nSubject: {subject}\r\n\r\nbody of {subject}\r\n".encode()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    ok("init", "--domain", "example.org", "--account", ALICE, data=path)
    return path


def set_transport(data: Path, port: int) -> None:
    with open(data / "pochta.toml", "a") as config:
        config.write(f'\n[queue]\ntransport = {{ "{REMOTE}" = "127.0.0.1:{port}" }}\n')


def entry(**envelope: Any) -> dict[str, Any]:
    """An envelope for ``enqueue``: from alice to FRIEND by submission, arriving now, unless told."""
    defaults: dict[str, Any] = {
        "sender": ALICE,
        "recipients": (NewQueueRecipient(FRIEND),),
        "origin": "submission",
        "arrival": datetime.now(UTC),
    }
    return {**defaults, **envelope}


async def enqueue(data: Path, *items: tuple[bytes, dict[str, Any]]) -> list[QueueId]:
    """Each (message, envelope): the message stored as a durable blob, then queued with that envelope."""
    store = await open_store(data, load_settings(data / "pochta.toml"))
    try:
        ids = []
        for content, envelope in items:
            blob = await store.put_blob(content)
            ids.append(await store.enqueue(NewQueueEntry(blob=blob, **envelope)))
        return ids
    finally:
        await store.close()


async def queue_state(data: Path) -> tuple[list[QueueEntry], int]:
    """The queue, and how many messages alice has (a notice to her would be delivered locally)."""
    store = await open_store(data, load_settings(data / "pochta.toml"))
    try:
        account = await store.get_account(ALICE)
        assert account is not None
        inbox = await store.get_mailbox(account.id, "INBOX")
        assert inbox is not None
        return await store.queue_entries(), len(await store.open_view(inbox.id))
    finally:
        await store.close()


def rows(listing: str) -> dict[str, list[str]]:
    """``queue list`` output: header check, then id -> columns (split on runs of 2+ spaces)."""
    lines = listing.splitlines()
    header = re.split(r"\s{2,}", lines[0])
    assert header == ["ID", "ARRIVED (UTC)", "SIZE", "SENDER", "PENDING", "NEXT ATTEMPT", "LAST REPLY"]
    result = {}
    for line in lines[1:]:
        columns = re.split(r"\s{2,}", line)
        result[columns[0]] = columns
    return result


async def test_list_show_retry_delete_and_unknown_ids(data: Path) -> None:
    later = datetime.now(UTC) + timedelta(hours=2)
    first, second = await enqueue(
        data,
        (
            message("two recipients"),
            entry(
                recipients=(
                    NewQueueRecipient(FRIEND, notify=("FAILURE", "DELAY"), orcpt=("rfc822", FRIEND)),
                    NewQueueRecipient(f"other@{REMOTE}"),
                ),
                envid="env-1",
                ret="HDRS",
            ),
        ),
        (message("a bounce, later") * 10, entry(sender="", origin="dsn", next_attempt=later)),
    )

    # Read-only commands, side by side (each is a process start).
    listing, shown, shown_second = await asyncio.gather(
        aok("queue", "list", data=data),
        aok("queue", "show", str(first), data=data),
        aok("queue", "show", second.lower(), data=data),  # as typed: any case
    )
    listed = rows(listing)
    assert set(listed) == {str(first), str(second)}
    one = listed[str(first)]
    assert re.fullmatch(STAMP, one[1]), one
    assert re.fullmatch(STAMP, one[5]), one
    assert one[2:5] == [str(len(message("two recipients"))), ALICE, "2/2"]
    assert len(one) == 6  # no last reply yet
    two = listed[str(second)]
    assert two[2:5] == [str(len(message("a bounce, later")) * 10), "<>", "1/1"]
    assert two[5] == later.strftime("%Y-%m-%d %H:%M:%S")

    assert f"id: {first}\n" in shown
    assert "origin: submission\n" in shown
    assert f"sender: {ALICE}\n" in shown
    assert re.search(rf"^arrived: {STAMP}$", shown, re.MULTILINE)
    assert re.search(rf"^size: {len(message('two recipients'))} \([0-9a-f]{{64}}\)$", shown, re.MULTILINE)
    assert "dsn: envid=env-1 ret=HDRS\n" in shown
    assert f"recipient {FRIEND}: pending, 0 attempts\n" in shown
    assert f"recipient other@{REMOTE}: pending, 0 attempts\n" in shown
    assert f"  notify: FAILURE,DELAY orcpt: rfc822;{FRIEND}\n" in shown
    assert "  last attempt: - via -\n" in shown
    assert "  last reply: -\n" in shown
    assert "being delivered by" not in shown  # no lease

    assert "sender: <>\n" in shown_second
    assert "origin: dsn\n" in shown_second
    assert f"next attempt: {later.strftime('%Y-%m-%d %H:%M:%S')}\n" in shown_second

    # retry ID: that message (only) is due now.
    assert await aok("queue", "retry", str(second), data=data) == "1 message due now\n"
    queued, _ = await queue_state(data)
    due = {e.id: e.next_attempt for e in queued}
    assert due[second] <= datetime.now(UTC)
    assert all(r.next_attempt <= datetime.now(UTC) for e in queued for r in e.recipients)
    # retry (all): both.
    assert await aok("queue", "retry", data=data) == "2 messages due now\n"

    # Unknown ids: exit 1 and a message naming the id, for every command that takes one.
    commands = ("show", "retry", "delete")
    *unknown, bad = await asyncio.gather(
        *(asyncio.to_thread(pochta, "queue", command, "0123456789abcdef", data=data) for command in commands),
        asyncio.to_thread(pochta, "queue", "show", "7", data=data),
    )
    for command, result in zip(commands, unknown, strict=True):
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        assert "no queued message 0123456789ABCDEF" in result.stderr, (command, result.stderr)
        assert result.stdout == ""
    assert bad.returncode == 2  # a usage error, not an operation failure

    assert await aok("queue", "delete", str(first), data=data) == f"deleted queued message {first}\n"
    assert set(rows(await aok("queue", "list", data=data))) == {str(second)}
    result = await asyncio.to_thread(pochta, "queue", "show", str(first), data=data)
    assert result.returncode == 1
    assert f"no queued message {first}" in result.stderr


async def test_flush_delivers_through_the_transport_map(data: Path) -> None:
    subjects = [f"flushed {n}" for n in range(3)]
    await enqueue(data, *((message(s), entry()) for s in subjects))
    # One of them is not due for hours: flush makes it due too.
    await enqueue(
        data, (message("flushed later"), entry(next_attempt=datetime.now(UTC) + timedelta(hours=3)))
    )
    async with SmtpSink(Script()) as sink:
        set_transport(data, sink.port)
        flushed = await asyncio.to_thread(pochta, "queue", "flush", data=data)
    # The report alone on stdout; the worker's log lines on stderr, in the configured key=value format.
    assert flushed.returncode == 0, flushed.stderr
    assert flushed.stdout == "4 attempts; 0 messages still queued\n"
    attempts = [line for line in flushed.stderr.splitlines() if " queue attempt " in line]
    assert len(attempts) == 4, flushed.stderr
    assert all("status=delivered" in line and "relay=127.0.0.1" in line for line in attempts), attempts
    # Each as queued, behind the two DKIM signatures of example.org's keys (made by `init`).
    originals = sorted(message(s) for s in [*subjects, "flushed later"])
    assert sorted(m[m.index(b"From: ") :] for m in sink.messages) == originals
    assert all(m.count(b"DKIM-Signature: ") == 2 for m in sink.messages)
    assert all(t.accepted == [FRIEND] for t in sink.transactions)
    assert all(t.mail.startswith(f"MAIL FROM:<{ALICE}>") for t in sink.transactions)
    assert rows(ok("queue", "list", data=data)) == {}
    queued, inbox = await queue_state(data)
    assert queued == []
    assert inbox == 0
    assert ok("queue", "flush", data=data) == "0 attempts; 0 messages still queued\n"


async def test_flush_deferred_by_451_then_delete_without_notice(data: Path) -> None:
    [queue_id] = await enqueue(data, (message("deferred"), entry()))
    async with SmtpSink(Script(mail_reply="451 4.3.0 sink busy")) as sink:
        set_transport(data, sink.port)
        out = await aok("queue", "flush", data=data)
        assert out == "1 attempt; 1 message still queued\n"
        assert len(sink.transactions) == 1
        assert sink.messages == []

        shown, listing = await asyncio.gather(
            aok("queue", "show", str(queue_id), data=data), aok("queue", "list", data=data)
        )
        assert f"recipient {FRIEND}: pending, 1 attempt\n"  # not "1 attempts" in shown
        assert re.search(rf"^  last attempt: {STAMP} via 127\.0\.0\.1$", shown, re.MULTILINE), shown
        assert re.search(r"^  last reply: 451 4\.3\.0 .*sink busy", shown, re.MULTILINE), shown
        assert re.search(rf"^  next attempt: {STAMP}$", shown, re.MULTILINE), shown
        [row] = rows(listing).values()
        assert row[0] == str(queue_id)
        assert row[4] == "1/1"
        assert row[6].startswith("451 4.3.0"), row

        assert (
            await aok("queue", "delete", str(queue_id), data=data) == f"deleted queued message {queue_id}\n"
        )
        assert rows(await aok("queue", "list", data=data)) == {}
        # Nothing more is tried, and nobody is told: no DSN queued, none delivered to alice.
        assert await aok("queue", "flush", data=data) == "0 attempts; 0 messages still queued\n"
        assert len(sink.transactions) == 1
    queued, inbox = await queue_state(data)
    assert queued == []
    assert inbox == 0
