"""A real SMTP server for tests: SQLite store in a temp dir, smtp (STARTTLS), submission (STARTTLS),
submissions (implicit TLS) and lmtp listeners on ephemeral ports of 127.0.0.1, a trustme CA, the
domain example.org with accounts alice and bob (password PASSWORD). Used by tests/e2e and
tests/interop."""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme

from pochta.auth.passwords import hash_password, make_scram_credentials
from pochta.config import LISTENER_KINDS, QueueSettings, Settings
from pochta.delivery import Delivery
from pochta.delivery.forwarding import load_srs_key
from pochta.mail import srs
from pochta.metrics import Metrics
from pochta.queue.worker import QueueWorker
from pochta.server.listeners import Server
from pochta.server.smtp import smtp_handlers
from pochta.store.api import Store
from pochta.store.model import Account
from server_env import ListenerEnv, loopback_ca, stored_blob_names
from store_env import open_test_store, store_settings

DOMAIN = "example.org"
ALICE = "alice@example.org"
BOB = "bob@example.org"
PASSWORD = "correct horse battery"


def smtp_settings(**sections: Any) -> Settings:
    data: dict[str, Any] = {
        "hostname": "mx.example.org",
        "listeners": {name: "off" for name in LISTENER_KINDS}
        | {
            "smtp": "127.0.0.1:0",
            "submission": "127.0.0.1:0",
            "submissions": "127.0.0.1:0",
            "lmtp": "127.0.0.1:0",
        },
        "server": {"idle_timeout_unauthenticated": 10.0, "shutdown_grace": 2.0, "min_free_disk": 0},
        "tls": {"handshake_timeout": 5.0},
        "login": {"failures_before_delay": 1000, "lockout_after": 10000},
    }
    for section, values in sections.items():
        data[section] = data.get(section, {}) | values if isinstance(values, dict) else values
    return Settings.model_validate(data)


@dataclass
class SmtpEnv(ListenerEnv):
    data_dir: Path
    store: Store
    server: Server
    alice: Account
    bob: Account
    ca: trustme.CA
    settings: Settings
    metrics: Metrics

    async def messages(self, account: Account | None = None, mailbox: str = "INBOX") -> list[bytes]:
        """The stored bytes of every message in the mailbox, in UID order."""
        info = await self.store.get_mailbox((account or self.alice).id, mailbox)
        assert info is not None
        view = await self.store.open_view(info.id)
        result = []
        for index in range(len(view)):
            with self.store.open_blob(view.blob(index)) as blob:
                result.append(blob.read())
        return result

    def blob_count(self) -> int:
        """Blobs kept, as files or rows of the database (store.inline_blob_max)."""
        return len(stored_blob_names(self.data_dir))

    def spool_files(self) -> list[Path]:
        return [p for p in (self.data_dir / "blobs" / "tmp").glob("*") if p.is_file()]

    def queue_settings(self, **queue: Any) -> Settings:
        """This server's settings with a queue quick enough for tests (retries after a second, polled
        five times a second), updated with ``queue``."""
        values: dict[str, Any] = {"retry_schedule": [1.0], "poll_interval": 0.2, "lease_seconds": 30}
        values.update(queue)
        return self.settings.model_copy(update={"queue": QueueSettings(**values)})

    def queue_worker(self, settings: Settings) -> QueueWorker:
        """A queue worker of this server's store, delivering locally through its own Delivery."""
        return QueueWorker(self.store, settings, Delivery(self.store, settings, self.data_dir))

    def unsrs(self, address: str) -> str:
        """The original sender an SRS envelope sender of this server encodes (pochta.mail.srs)."""
        return srs.reverse(load_srs_key(self.settings, self.data_dir), address, time.time())


def message(
    subject: str = "hello", sender: str = "carol@example.net", to: str = ALICE, body: str = ""
) -> bytes:
    text = body or "Hello.\r\n.A line with a leading dot\r\nBye.\r\n"
    return (
        f"From: Carol <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}@example.net>\r\n"
        "Date: Sun, 22 Nov 2026 01:00:00 +0000\r\n\r\n" + text
    ).encode()


def strip_received(data: bytes) -> bytes:
    """The message as sent: the Received field we prepend removed (it is the first field)."""
    assert data.startswith(b"Received: "), data[:80]
    end = data.index(b"\r\n", 0)
    while data[end + 2 : end + 3] in (b" ", b"\t"):
        end = data.index(b"\r\n", end + 2)
    return data[end + 2 :]


@contextlib.asynccontextmanager
async def smtp_server(
    tmp_path: Path,
    settings: Settings | None = None,
    *,
    tls_names: tuple[str, ...] = ("localhost", "127.0.0.1", "mx.example.org"),
) -> AsyncIterator[SmtpEnv]:
    """``tls_names``: the names the server's certificate is for (its CA is ``SmtpEnv.ca``)."""
    settings = store_settings(settings or smtp_settings())
    data_dir = tmp_path / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    ca, server_context = loopback_ca(*tls_names, common_name=None)
    store = await open_test_store(data_dir, settings)
    try:
        if await store.get_domain(DOMAIN) is None:
            await store.add_domain(DOMAIN)
            scram = make_scram_credentials(PASSWORD)
            await store.add_account(ALICE, hash_password(PASSWORD), scram)
            await store.add_account(BOB, hash_password(PASSWORD), scram)
        # else: a data directory used before (a restart): its accounts as they are
        alice, bob = await store.get_account(ALICE), await store.get_account(BOB)
        assert alice is not None
        assert bob is not None
        delivery = Delivery(store, settings, data_dir)
        handlers = smtp_handlers(store, settings, delivery, scram_secret=b"k" * 32)
        metrics = Metrics()
        server = Server(settings, data_dir, dict(handlers), metrics=metrics, ssl_context=server_context)
        await server.start()
        try:
            yield SmtpEnv(data_dir, store, server, alice, bob, ca, settings, metrics)
        finally:
            await server.stop()
    finally:
        await store.close()


async def converse(
    address: tuple[str, int] | str,
    payload: bytes,
    *,
    context: ssl.SSLContext | None = None,
    seconds: float = 10,
) -> str:
    """Sends ``payload`` in one write after the greeting and returns everything the server says
    until it closes (end the payload with QUIT)."""
    if isinstance(address, str):
        reader, writer = await asyncio.open_unix_connection(address)
    else:
        reader, writer = await asyncio.open_connection(*address, ssl=context)
    try:
        async with asyncio.timeout(seconds):
            greeting = await reader.readline()
            writer.write(payload)
            await writer.drain()
            rest = await reader.read()
        return (greeting + rest).decode("utf-8", "replace")
    finally:
        writer.close()


def dot_stuff(data: bytes) -> bytes:
    """RFC 5321 §4.5.2: a leading "." on a line is doubled."""
    stuffed = data.replace(b"\r\n.", b"\r\n..")
    return b"." + stuffed if stuffed.startswith(b".") else stuffed


def send_one(env: SmtpEnv, role: str, rcpt: str, data: bytes) -> tuple[int, int | None]:
    """One message to one recipient over the ``smtp``, ``lmtp`` or ``submission`` listener (as alice
    on submission, from carol@example.net elsewhere): (RCPT reply code, data reply code or None when
    RCPT was refused). Blocking: run it in a thread."""
    client: smtplib.SMTP = (
        smtplib.LMTP(*env.address("lmtp"), timeout=10)
        if role == "lmtp"
        else smtplib.SMTP(*env.address(role), timeout=10)
    )
    with client:
        client.ehlo("client.example.net")
        sender = "carol@example.net"
        if role == "submission":
            client.starttls(context=env.client_context())
            client.ehlo("client.example.net")
            client.login(ALICE, PASSWORD)
            sender = ALICE
        assert client.mail(sender)[0] == 250
        code, _ = client.docmd(f"RCPT TO:{rcpt}")
        if code != 250:
            return code, None
        return code, client.data(data)[0]
