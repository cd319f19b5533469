"""A real POP3 server for tests: SQLite store in a temp dir, pop3 (STLS) and pop3s listeners on
ephemeral ports of 127.0.0.1, a trustme CA, one account with a password. Used by tests/e2e,
tests/interop and bench/pop3_download.py."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import trustme

from pochta.auth.authenticator import Authenticator
from pochta.auth.passwords import hash_password, make_scram_credentials
from pochta.config import LISTENER_KINDS, Settings
from pochta.mail.ops import MailOps
from pochta.metrics import Metrics
from pochta.server.listeners import Server
from pochta.server.pop3 import Pop3Handler
from pochta.store.api import Store
from pochta.store.model import Account
from server_env import ListenerEnv, loopback_ca
from store_env import open_test_store, store_settings

ADDRESS = "alice@example.org"
PASSWORD = "correct horse battery"


def pop3_settings(**sections: Any) -> Settings:
    data: dict[str, Any] = {
        "listeners": {name: "off" for name in LISTENER_KINDS}
        | {"pop3": "127.0.0.1:0", "pop3s": "127.0.0.1:0"},
        "server": {"idle_timeout_unauthenticated": 10.0, "shutdown_grace": 2.0},
        "tls": {"handshake_timeout": 5.0},
        # Tests fail logins on purpose; keep the authenticator from slowing them down.
        "login": {"failures_before_delay": 1000, "lockout_after": 10000},
    }
    for section, values in sections.items():
        data[section] = data.get(section, {}) | values
    return Settings.model_validate(data)


@dataclass
class Pop3Env(ListenerEnv):
    data_dir: Path
    store: Store
    ops: MailOps
    server: Server
    handler: Pop3Handler
    account: Account
    ca: trustme.CA
    settings: Settings

    @property
    def plain(self) -> tuple[str, int]:
        return self.address("pop3")

    @property
    def tls(self) -> tuple[str, int]:
        return self.address("pop3s")

    async def deliver(
        self,
        data: bytes,
        *,
        mailbox: str = "INBOX",
        flags: Iterable[str] = (),
        date: datetime | None = None,
        account: Account | None = None,
    ) -> int:
        placed = await self.ops.append((account or self.account).id, mailbox, data, flags, date)
        return placed.uid

    async def add_account(self, address: str, password: str = PASSWORD) -> Account:
        return await self.store.add_account(
            address, hash_password(password), make_scram_credentials(password)
        )

    async def uids(self, mailbox: str = "INBOX", account: Account | None = None) -> list[int]:
        info = await self.store.get_mailbox((account or self.account).id, mailbox)
        assert info is not None
        return list((await self.store.open_view(info.id)).uids)

    async def flags(self, mailbox: str = "INBOX") -> list[frozenset[str]]:
        info = await self.store.get_mailbox(self.account.id, mailbox)
        assert info is not None
        return list((await self.store.open_view(info.id)).flags)


def message(n: int, body: bytes = b"", *, size: int = 0) -> bytes:
    head = (
        f"From: Bob <bob@example.net>\r\nTo: {ADDRESS}\r\nSubject: message {n}\r\n"
        f"Message-ID: <{n}@example.net>\r\n\r\n"
    ).encode()
    text = body or f"Body of message {n}.\r\n.A line with a leading dot\r\n".encode()
    while len(head) + len(text) < size:
        text += b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n"
    return head + text


@contextlib.asynccontextmanager
async def pop3_server(tmp_path: Path, settings: Settings | None = None) -> AsyncIterator[Pop3Env]:
    settings = store_settings(settings or pop3_settings())
    data_dir = tmp_path / "data"
    data_dir.mkdir(exist_ok=True)
    ca, server_context = loopback_ca()
    store = await open_test_store(data_dir, settings)
    try:
        await store.add_domain("example.org")
        account = await store.add_account(ADDRESS, hash_password(PASSWORD), make_scram_credentials(PASSWORD))
        ops = MailOps.from_settings(store, settings)
        handler = Pop3Handler(
            store,
            settings,
            authenticator=Authenticator(store, settings.login),
            ops=ops,
            scram_secret=b"k" * 32,
        )
        server = Server(settings, data_dir, {"pop3": handler}, metrics=Metrics(), ssl_context=server_context)
        await server.start()
        try:
            yield Pop3Env(data_dir, store, ops, server, handler, account, ca, settings)
        finally:
            await server.stop()
    finally:
        await store.close()
