"""The outbound queue end to end: a pochta (example.org) sends through its queue to a second pochta
(remote.example) reached through the transport map or through MX records of a loopback DNS stub.

Retries, bounces (DSN to the local sender), expiry, delay notices, the null sender, and two
workers on one store delivering each message once.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import os
import re
import smtplib
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dkim
import pytest
import structlog

from dns_stub import DnsStub
from pochta.auth.passwords import hash_password, make_scram_credentials
from pochta.config import Settings
from pochta.config_dkim import DkimSettings
from pochta.delivery import Delivery
from pochta.queue import dkim_keys
from pochta.queue.worker import QueueWorker
from pochta.store.factory import open_store
from pochta.store.model import Account
from pochta.store.queue_model import NewQueueEntry, NewQueueRecipient
from smtp_env import ALICE, BOB, PASSWORD, SmtpEnv, message, smtp_server

REMOTE = "remote.example"
FRIEND = f"friend@{REMOTE}"


@dataclass
class Pair:
    local: SmtpEnv  # example.org, the sender's server
    remote: SmtpEnv  # remote.example
    friend: Account

    def settings(self, **queue: Any) -> Settings:
        transport = {"transport": {REMOTE: f"127.0.0.1:{self.remote.port('smtp')}"}}
        return self.local.queue_settings(**(transport | queue))

    def worker(self, **queue: Any) -> QueueWorker:
        return self.local.queue_worker(self.settings(**queue))

    def submit(self, data: bytes, recipients: list[str], *, sender: str = ALICE) -> None:
        host, port = self.local.address("submission")
        with smtplib.SMTP(host, port) as client:
            client.starttls(context=self.local.client_context())
            client.login(ALICE, PASSWORD)
            client.sendmail(sender, recipients, data)


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[Pair]:
    async with smtp_server(tmp_path / "local") as local, smtp_server(tmp_path / "remote") as remote:
        await remote.store.add_domain(REMOTE)
        friend = await remote.store.add_account(
            FRIEND, hash_password(PASSWORD), make_scram_credentials(PASSWORD)
        )
        yield Pair(local, remote, friend)


@contextlib.asynccontextmanager
async def running(worker: QueueWorker) -> AsyncIterator[QueueWorker]:
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def eventually(check: Any, seconds: float = 15.0) -> None:
    async with asyncio.timeout(seconds):
        while not await check():  # noqa: ASYNC110 - store state polled from outside, no event
            await asyncio.sleep(0.05)


async def _queue_empty(env: SmtpEnv) -> bool:
    return await env.store.queue_entries() == []


def _report(data: bytes) -> email.message.EmailMessage:
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    assert parsed.get_content_type() == "multipart/report"
    return parsed


async def test_submission_to_a_remote_domain_is_delivered(pair: Pair) -> None:
    data = message("to the world", sender=ALICE, to=FRIEND)
    await asyncio.to_thread(pair.submit, data, [FRIEND])
    async with running(pair.worker()):
        await eventually(lambda: _queue_empty(pair.local))
    [received] = await pair.remote.messages(pair.friend)
    assert received.endswith(data)
    # Two Received fields: the submission server's and the remote MX's (over STARTTLS: ESMTPS).
    assert received.count(b"Received: ") == 2
    assert b"with ESMTPS" in received.split(b"\r\n\r\n")[0]
    assert await pair.local.messages() == []  # no notice: delivered


async def test_mail_to_another_server_is_dkim_signed(pair: Pair) -> None:
    # The From domain's active keys (Ed25519 and RSA) sign once per attempt, before the bytes go out;
    # a pending key does not sign.
    keys = await dkim_keys.first_keys(pair.local.store, "example.org", DkimSettings())
    [pending] = await dkim_keys.rotate(pair.local.store, "example.org", DkimSettings(algorithms=["rsa"]))
    data = message("signed for the world", sender=ALICE, to=FRIEND)
    await asyncio.to_thread(pair.submit, data, [FRIEND])
    async with running(pair.worker()):
        await eventually(lambda: _queue_empty(pair.local))
    [received] = await pair.remote.messages(pair.friend)
    assert received.endswith(data)
    head = received.split(b"\r\n\r\n")[0]
    assert head.count(b"DKIM-Signature:") == 2
    assert pending.selector.encode() not in head
    records = {f"{dkim_keys.dns_name(key)}.": dkim_keys.txt_record(key).encode() for key in keys}

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return records.get(name.decode())

    assert dkim.DKIM(received).verify(idx=0, dnsfunc=lookup)
    assert dkim.DKIM(received).verify(idx=1, dnsfunc=lookup)


async def test_dkim_domain_follows_from_then_envelope_and_the_switch(pair: Pair) -> None:
    await dkim_keys.first_keys(pair.local.store, "example.org", DkimSettings())

    async def send(subject: str, header_from: str, sender: str, settings: Settings) -> bytes:
        blob = await pair.local.store.put_blob(message(subject, sender=header_from, to=FRIEND))
        entry = NewQueueEntry(
            blob, sender, (NewQueueRecipient(FRIEND),), "submission", arrival=datetime.now(UTC)
        )
        await pair.local.store.enqueue(entry)
        local = Delivery(pair.local.store, settings, pair.local.data_dir)
        async with running(QueueWorker(pair.local.store, settings, local)):
            await eventually(lambda: _queue_empty(pair.local))
        received = await pair.remote.messages(pair.friend)
        return received[-1].split(b"\r\n\r\n")[0]

    on = pair.settings()
    # A forward (From elsewhere, envelope sender ours) is signed for the envelope sender's domain.
    forwarded = await send("forwarded", "someone@elsewhere.example", ALICE, on)
    assert forwarded.count(b"DKIM-Signature:") == 2
    assert b"d=example.org" in forwarded
    assert b"DKIM-Signature:" not in await send("foreign", "a@elsewhere.example", "b@elsewhere.example", on)
    off = on.model_copy(update={"dkim": DkimSettings(sign=False)})
    assert b"DKIM-Signature:" not in await send("switched off", ALICE, ALICE, off)


async def test_permanent_failure_bounces_to_the_local_sender(pair: Pair) -> None:
    data = message("to nobody", sender=ALICE, to=f"nobody@{REMOTE}")
    await asyncio.to_thread(pair.submit, data, [f"nobody@{REMOTE}", FRIEND])
    async with running(pair.worker()):
        await eventually(lambda: _queue_empty(pair.local))
        await eventually(lambda: _has_mail(pair.local))
    assert len(await pair.remote.messages(pair.friend)) == 1
    [bounce] = await pair.local.messages()
    report = _report(bounce)
    assert report["To"] == f"<{ALICE}>" or ALICE in str(report["To"])
    status = bounce.decode()
    assert f"Final-Recipient: rfc822; nobody@{REMOTE}" in status
    assert "Action: failed" in status
    assert "Status: 5.1.1" in status
    assert "Diagnostic-Code: smtp; 550 5.1.1" in status
    assert "Subject: to nobody" in status  # the original comes back
    assert FRIEND not in status.split("message/delivery-status")[1].split("--")[0]  # only the failed one


async def _has_mail(env: SmtpEnv) -> bool:
    return bool(await env.messages())


async def test_temporary_failure_is_retried(pair: Pair) -> None:
    await pair.remote.store.update_account(FRIEND, quota_bytes=10)  # 452 4.2.2 at RCPT
    data = message("later", sender=ALICE, to=FRIEND)
    await asyncio.to_thread(pair.submit, data, [FRIEND])
    worker = pair.worker(retry_schedule=[2.0])
    async with running(worker):

        async def deferred() -> bool:
            [entry] = await pair.local.store.queue_entries()
            return entry.recipients[0].attempts >= 1

        await eventually(deferred)
        [entry] = await pair.local.store.queue_entries()
        recipient = entry.recipients[0]
        assert recipient.status == "pending"
        assert recipient.last_reply is not None
        assert recipient.last_reply.startswith("452 4.2.2")
        assert recipient.remote_mta == "127.0.0.1"
        await pair.remote.store.update_account(FRIEND, quota_bytes=None)
        await eventually(lambda: _queue_empty(pair.local))
    assert len(await pair.remote.messages(pair.friend)) == 1
    assert await pair.local.messages() == []  # a retry is not a failure: no notice


async def test_expiry_bounces_with_4_4_7(pair: Pair) -> None:
    await pair.remote.store.update_account(FRIEND, quota_bytes=10)
    data = message("expires", sender=ALICE, to=FRIEND)
    await asyncio.to_thread(pair.submit, data, [FRIEND])
    async with running(pair.worker(max_age=1.0)):
        await eventually(lambda: _has_mail(pair.local))
        await eventually(lambda: _queue_empty(pair.local))
    text = (await pair.local.messages())[0].decode()
    assert "Action: failed" in text
    assert "Status: 4.4.7" in text
    assert "452 4.2.2" in text  # the last error, in the diagnostic
    assert await pair.remote.messages(pair.friend) == []


async def test_delay_notice_once(pair: Pair) -> None:
    await pair.remote.store.update_account(FRIEND, quota_bytes=10)
    blob = await pair.local.store.put_blob(message("slow", sender=ALICE, to=FRIEND))
    long_ago = datetime.now(UTC) - timedelta(hours=5)
    await pair.local.store.enqueue(
        NewQueueEntry(blob, ALICE, (NewQueueRecipient(FRIEND),), "submission", arrival=long_ago)
    )
    async with running(pair.worker(retry_schedule=[0.5])):

        async def notified_and_retried() -> bool:
            entries = await pair.local.store.queue_entries()
            mine = [e for e in entries if e.origin == "submission"]
            return bool(mine) and mine[0].recipients[0].attempts >= 3 and await _has_mail(pair.local)

        await eventually(notified_and_retried)
    notices = await pair.local.messages()
    assert len(notices) == 1  # after three attempts, still one notice
    text = notices[0].decode()
    assert "Action: delayed" in text
    assert "Will-Retry-Until:" in text
    assert "Subject: Delayed Mail" in text


async def test_never_a_notice_to_the_null_sender(pair: Pair) -> None:
    blob = await pair.local.store.put_blob(message("bounce of a bounce", sender="", to=f"nobody@{REMOTE}"))
    await pair.local.store.enqueue(
        NewQueueEntry(blob, "", (NewQueueRecipient(f"nobody@{REMOTE}"),), "dsn", arrival=datetime.now(UTC))
    )
    worker = pair.worker()
    async with running(worker):
        await eventually(lambda: _queue_empty(pair.local))
        await asyncio.sleep(0.5)  # a notice, if any, would be queued by now
    assert await pair.local.store.queue_entries() == []
    assert await pair.local.messages() == []


async def test_two_workers_deliver_each_message_once(pair: Pair) -> None:
    count = 24
    for n in range(count):
        blob = await pair.local.store.put_blob(message(f"bulk {n}", sender=ALICE, to=FRIEND))
        await pair.local.store.enqueue(
            NewQueueEntry(blob, ALICE, (NewQueueRecipient(FRIEND),), "submission", arrival=datetime.now(UTC))
        )
    # A second store handle on the same data directory: as a second process would have.
    other_store = await open_store(pair.local.data_dir, pair.local.settings)
    try:
        first = pair.worker(concurrency=4)
        settings = pair.settings(concurrency=4)
        second = QueueWorker(other_store, settings, Delivery(other_store, settings, pair.local.data_dir))
        async with running(first), running(second):
            await eventually(lambda: _queue_empty(pair.local), seconds=60)
        received = await pair.remote.messages(pair.friend)
        subjects = sorted(m.split(b"Subject: ")[1].split(b"\r\n")[0] for m in received)
        assert subjects == sorted(f"bulk {n}".encode() for n in range(count))  # each exactly once
        assert first.attempts > 0
        assert second.attempts > 0
    finally:
        await other_store.close()


async def test_mx_records_route_the_mail(pair: Pair) -> None:
    zone = {
        (f"{REMOTE}.", "MX"): [f"10 mx.{REMOTE}."],
        (f"mx.{REMOTE}.", "A"): ["127.0.0.1"],
        ("nullmx.example.", "MX"): ["0 ."],
    }
    data = message("via MX", sender=ALICE, to=FRIEND)
    await asyncio.to_thread(pair.submit, data, [FRIEND, "someone@nullmx.example"])
    async with DnsStub(zone) as dns:
        worker = pair.worker(transport={}, dns_nameservers=[dns.nameserver], port=pair.remote.port("smtp"))
        async with running(worker):
            await eventually(lambda: _queue_empty(pair.local))
            await eventually(lambda: _has_mail(pair.local))
        assert (f"{REMOTE}.", "MX") in dns.queries
    [received] = await pair.remote.messages(pair.friend)
    assert received.endswith(data)
    text = (await pair.local.messages())[0].decode()
    assert "Final-Recipient: rfc822; someone@nullmx.example" in text
    assert "Status: 5.1.10" in text  # RFC 7505: null MX


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _cli(data_dir: Path, *args: str) -> str:
    """``pochta ARGS --data DATA_DIR`` as an administrator runs it, next to the running server."""
    result = subprocess.run(
        [sys.executable, "-m", "pochta", *args, "--data", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "POCHTA_DATA"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_one_id_for_the_reply_received_log_and_queue_commands(pair: Pair) -> None:
    local = pair.local
    (local.data_dir / "pochta.toml").write_text('hostname = "mx.example.org"\n', encoding="utf-8")
    data = message("one id", sender=ALICE, to=FRIEND)

    def submit() -> bytes:
        host, port = local.address("submission")
        with smtplib.SMTP(host, port) as client:
            client.starttls(context=local.client_context())
            client.login(ALICE, PASSWORD)
            client.mail(ALICE)
            client.rcpt(FRIEND)
            client.rcpt(BOB)
            code, text = client.data(data)
            assert code == 250
            return text

    with structlog.testing.capture_logs() as logs:
        reply = await asyncio.to_thread(submit)
    match = re.fullmatch(rb"2\.0\.0 Ok: queued as ([0-9A-F]{16})", reply)
    assert match is not None, reply
    queue_id = match.group(1).decode()
    # The log: one id, and the local copy (bob) apart from the queued one (friend).
    [logged] = [e for e in logs if e["event"] == "smtp delivered"]
    assert (logged["id"], logged["recipients"], logged["delivered"], logged["queued"]) == (queue_id, 2, 1, 1)
    # The queue, the Received field of both copies, the queue commands.
    [entry] = await local.store.queue_entries()
    assert entry.id == queue_id
    with local.store.open_blob(entry.blob) as f:
        assert f"with ESMTPSA id {queue_id}".encode() in f.read()
    assert f"with ESMTPSA id {queue_id}".encode() in (await local.messages(local.bob))[0]
    listing, shown = await asyncio.gather(
        asyncio.to_thread(_cli, local.data_dir, "queue", "list"),
        asyncio.to_thread(_cli, local.data_dir, "queue", "show", queue_id.lower()),
    )
    assert re.search(rf"^{queue_id}\s", listing, re.MULTILINE), listing
    assert f"id: {queue_id}\n" in shown

    # An attempt to a host that refuses the connection: the log names the id, `show` the host tried.
    worker = pair.worker(transport={REMOTE: f"127.0.0.1:{_closed_port()}"}, retry_schedule=[3600.0])
    with structlog.testing.capture_logs() as logs:
        assert await worker.run_until_idle(deadline=30) == 1
    [attempt] = [e for e in logs if e["event"] == "queue attempt"]
    assert (attempt["id"], attempt["status"]) == (queue_id, "pending")
    shown = await asyncio.to_thread(_cli, local.data_dir, "queue", "show", queue_id)
    assert re.search(r"^  last attempt: \S+ \S+ via 127\.0\.0\.1$", shown, re.MULTILINE), shown
    assert f"recipient {FRIEND}: pending, 1 attempt\n" in shown


async def test_bounce_for_a_domain_that_does_not_exist_names_it_once(pair: Pair) -> None:
    data = message("nowhere", sender=ALICE, to="someone@nowhere.example")
    await asyncio.to_thread(pair.submit, data, ["someone@nowhere.example"])
    async with DnsStub({}) as dns:  # every name: NXDOMAIN
        worker = pair.worker(transport={}, dns_nameservers=[dns.nameserver])
        async with running(worker):
            await eventually(lambda: _queue_empty(pair.local))
            await eventually(lambda: _has_mail(pair.local))
    text = (await pair.local.messages())[0].decode()
    assert "Status: 5.1.2" in text
    assert "nowhere.example: no such domain" in text
    assert "nowhere.example: nowhere.example" not in text
