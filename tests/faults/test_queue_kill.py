"""SIGKILL of a real ``pochta serve`` with mail in its outbound queue, then a restart.

The remote MX is a scripted sink (``tests/smtp_sink.py``) in the test's event loop, reached through
``[queue] transport``. Ten messages are submitted (AUTH on the submission port) while the sink
answers 451, so they wait in the queue; then the server is killed:

- between attempts: after the restart each message arrives exactly once and the queue is empty;
- in the middle of deliveries (the sink holds back its final replies, and the kill lands right after
  one of them is written): no message is lost, and only a message the sink acknowledged before the
  kill may arrive twice (RFC 5321 §6.1: a duplicate rather than a loss). A message that had left the
  queue before the kill was acknowledged before it and is not sent again.

``POCHTA_FAULT_SEED`` replays a run (it picks which acknowledgement the kill follows).
"""

from __future__ import annotations

import asyncio
import random
import re
import secrets
import smtplib
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from faults_support import base_seed

from pochta.config import load_settings
from pochta.store.queue_model import QueueEntry
from pochta.store.sqlite.store import open_sqlite_store
from serve_process import ServeProcess, init_data_dir, run_pochta
from smtp_sink import Script, SmtpSink, Transaction

ALICE = "alice@example.org"
PASSWORD = "pw pw pw pw"
REMOTE = "remote.example"
COUNT = 10
BUSY = Script(mail_reply="451 4.3.0 try again later")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    init_data_dir(path, listeners=["submission"], accounts={ALICE: PASSWORD})
    return path


def _configure_queue(data: Path, sink_port: int) -> None:
    with open(data / "pochta.toml", "a") as config:
        config.write(
            "\n[queue]\n"
            f'transport = {{ "{REMOTE}" = "127.0.0.1:{sink_port}" }}\n'
            "retry_schedule = [1.0]\n"
            "poll_interval = 0.3\n"
            "lease_seconds = 3\n"
        )


class Served(ServeProcess):
    """A ``pochta serve`` process (tests/serve_process.py) that remembers when it died."""

    def __init__(self, data: Path, log: Path) -> None:
        super().__init__(data, log)
        self.port = 0
        self.died = 0.0  # time.monotonic() once the process is known to be dead

    async def started(self) -> Served:
        # In a thread: the sink keeps serving on this event loop meanwhile.
        ports = await asyncio.to_thread(self.wait_listening, ["submission"], 30)
        self.port = ports["submission"]
        return self

    def kill(self) -> int | None:
        """SIGKILL and reap, synchronously: called on the event loop thread, nothing else runs meanwhile."""
        status = super().kill()
        if not self.died:
            self.died = time.monotonic()
        return status

    async def stop_gracefully(self) -> int:
        """SIGTERM and wait, in a thread (the sink keeps serving)."""
        return await asyncio.to_thread(self.stop)


def _message(index: int, run: str) -> tuple[str, bytes]:
    subject = f"queued {index} of {run}"
    data = (
        f"From: {ALICE}\r\nTo: friend@{REMOTE}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{index}.{run}@example.org>\r\n\r\nmessage number {index}\r\n"
    )
    return subject, data.encode()


def _submit(port: int, messages: list[bytes]) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.login(ALICE, PASSWORD)  # plaintext AUTH is allowed from loopback
        for data in messages:
            client.sendmail(ALICE, [f"friend@{REMOTE}"], data)


def _header(data: bytes, name: str) -> str:
    found = re.search(rb"^" + name.encode() + rb": ([^\r\n]*)", data, re.MULTILINE)
    assert found is not None, data[:500]
    return found.group(1).decode()


def _subject(data: bytes) -> str:
    return _header(data, "Subject")


async def _queue(data: Path) -> list[tuple[QueueEntry, str]]:
    """The queued messages with their subjects, from a store handle of our own."""
    store = await open_sqlite_store(data, load_settings(data / "pochta.toml"))
    try:
        result = []
        for entry in await store.queue_entries():
            with store.open_blob(entry.blob) as blob:
                result.append((entry, _subject(blob.read())))
        return result
    finally:
        await store.close()


async def _eventually(
    check: Callable[[], Awaitable[bool]], what: str, server: Served, seconds: float
) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting: {what}\n{server.tail()}")
        await asyncio.sleep(0.1)


def _acked(sink: SmtpSink) -> list[Transaction]:
    return [t for t in sink.transactions if t.acked is not None and t.data is not None]


async def _queue_list(data: Path) -> str:
    result = await asyncio.to_thread(run_pochta, "queue", "list", "--data", str(data))
    return result.stdout


class Scenario:
    def __init__(self, data: Path, sink: SmtpSink) -> None:
        self.data = data
        self.sink = sink
        self.run = secrets.token_hex(4)
        self.messages = [_message(i, self.run) for i in range(COUNT)]
        self.subjects = {subject for subject, _ in self.messages}

    async def start(self, name: str) -> Served:
        return await Served(self.data, self.data.parent / f"{name}.log").started()

    async def fill_queue(self, server: Served) -> None:
        """Submit every message; wait until each has been tried (and deferred) at least once."""
        await asyncio.to_thread(_submit, server.port, [data for _, data in self.messages])

        async def all_deferred() -> bool:
            queued = await _queue(self.data)
            return {s for _, s in queued} == self.subjects and all(
                r.attempts >= 1 and r.status == "pending" for e, _ in queued for r in e.recipients
            )

        await _eventually(all_deferred, "every message deferred once", server, 15)

    async def drain(self, server: Served) -> None:
        """Wait until every message was acknowledged by the sink and the queue is empty."""

        async def done() -> bool:
            got = {_subject(t.data) for t in _acked(self.sink) if t.data is not None}
            return got >= self.subjects and not await _queue(self.data)

        await _eventually(done, "every message delivered and the queue empty", server, 20)
        await asyncio.sleep(1.0)  # more than a poll interval and a retry step: a late duplicate shows
        assert not await _queue(self.data)
        listing = (await _queue_list(self.data)).splitlines()
        assert listing[0].split()[:2] == ["ID", "ARRIVED"], listing
        assert listing[1:] == [], listing  # nothing left


@pytest.fixture
async def sink() -> AsyncIterator[SmtpSink]:
    async with SmtpSink(BUSY) as running:
        yield running


async def test_sigkill_with_deferred_messages_then_each_delivered_once(data: Path, sink: SmtpSink) -> None:
    _configure_queue(data, sink.port)
    scenario = Scenario(data, sink)
    server = await scenario.start("first")
    try:
        await scenario.fill_queue(server)
    finally:
        server.kill()
    assert _acked(sink) == []  # so far only 451s
    assert {s for _, s in await _queue(data)} == scenario.subjects  # all survived the kill

    sink.scripts = [Script()]  # the remote MX accepts from now on
    server = await scenario.start("second")
    try:
        await scenario.drain(server)
    finally:
        await server.stop_gracefully()
    assert server.process.returncode == 0, server.tail()
    delivered = Counter(_subject(t.data) for t in _acked(sink) if t.data is not None)
    assert delivered == Counter(scenario.subjects), delivered  # each exactly once
    message_ids = Counter(_header(t.data, "Message-ID") for t in _acked(sink) if t.data is not None)
    assert message_ids == Counter(f"<{i}.{scenario.run}@example.org>" for i in range(COUNT))


async def test_sigkill_in_the_middle_of_deliveries_loses_nothing(data: Path, sink: SmtpSink) -> None:
    seed = base_seed()
    rng = random.Random(seed)
    kill_after = rng.randrange(2, COUNT - 3)  # kill right after this many acknowledgements
    context = f"(POCHTA_FAULT_SEED={seed}, kill after ack {kill_after})"
    _configure_queue(data, sink.port)
    scenario = Scenario(data, sink)
    server = await scenario.start("first")
    killed = asyncio.Event()
    try:
        await scenario.fill_queue(server)

        def on_acked(transaction: Transaction) -> None:
            if len(_acked(sink)) >= kill_after and not killed.is_set():
                server.kill()  # at once, in the same loop step as the write of the 250
                killed.set()

        # From the next connection on, the sink takes the messages but holds each final reply back
        # a little longer than the previous one: the kill finds some acknowledged, some in flight.
        sink.on_acked = on_acked
        base = len(sink.connections)
        sink.scripts = [BUSY] * base + [Script(final_delay=1.5 + 0.25 * i) for i in range(COUNT + 5)]
        async with asyncio.timeout(20):
            await killed.wait()
    finally:
        server.kill()
    sink.on_acked = None
    died = server.died
    before = [t for t in _acked(sink) if t.acked is not None and t.acked < died]
    assert len(before) >= kill_after, context
    in_flight = [
        t
        for c in sink.connections[base:]
        for t in c.transactions
        if t.data is not None and (t.acked is None or t.acked > died)
    ]
    assert in_flight, f"no transaction was in flight at the kill {context}"
    acked_before = Counter(_subject(t.data) for t in before if t.data is not None)

    # With the server dead: what left the queue must have been acknowledged (nothing lost) ...
    queued_at_kill = {s for _, s in await _queue(data)}
    gone = scenario.subjects - queued_at_kill
    assert gone <= set(acked_before), f"left the queue unacknowledged: {gone - set(acked_before)} {context}"

    sink.scripts = [Script()]  # new connections: accept at once
    server = await scenario.start("second")
    try:
        await scenario.drain(server)
    finally:
        await server.stop_gracefully()
    acked = Counter(_subject(t.data) for t in _acked(sink) if t.data is not None)
    after = Counter(
        _subject(t.data)
        for t in _acked(sink)
        if t.data is not None and t.acked is not None and t.acked > died
    )
    # ... every message arrived ...
    assert set(acked) == scenario.subjects, context
    for subject in scenario.subjects:
        if subject in gone:
            # ... one that had left the queue is not sent again ...
            assert acked[subject] == 1, f"{subject} sent again after it was recorded delivered {context}"
        else:
            # ... one still queued is sent once more after the restart (a duplicate only if the sink
            # had acknowledged it before the kill: RFC 5321 §6.1).
            assert after[subject] == 1, f"{subject}: {after[subject]} deliveries after restart {context}"
            assert acked[subject] == 1 + acked_before[subject], context
        assert acked_before[subject] <= 1, context
    duplicates = {s for s, n in acked.items() if n > 1}
    assert duplicates <= set(acked_before), context
