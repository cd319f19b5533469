"""The local side of a fetch test: a store with carol@example.com, the normal delivery and a
``Fetcher``; remotes are a second pochta (tests/pop3_env.py) or Dovecot (tests/dovecot_env.py).
Used by tests/e2e/test_fetch_*.py, tests/interop/test_dovecot_fetch.py and bench/fetch_pop3.py."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pochta.auth.passwords import hash_password, make_scram_credentials
from pochta.config import LISTENER_KINDS, Settings
from pochta.delivery import Delivery
from pochta.fetch import Fetcher
from pochta.fetch.accounts import AccountRequest, add_external_account
from pochta.store.api import Store
from pochta.store.fetch_model import FetchAccount, FetchProtocol, FetchTls
from pochta.store.model import Account
from store_env import open_test_store, store_settings

LOCAL = "carol@example.com"
SECRET = b"s" * 32


def fetch_settings(ca_file: str = "", **sections: Any) -> Settings:
    data: dict[str, Any] = {
        "listeners": {name: "off" for name in LISTENER_KINDS},
        "fetch": {"ca_file": ca_file, "connect_timeout": 5.0, "command_timeout": 10.0},
    }
    for section, values in sections.items():
        data[section] = data.get(section, {}) | values
    return Settings.model_validate(data)


@dataclass
class LocalSide:
    data_dir: Path
    store: Store
    account: Account
    delivery: Delivery
    fetcher: Fetcher

    async def add(
        self,
        port: int,
        login: str,
        password: str,
        *,
        tls: FetchTls = "starttls",
        keep: bool = True,
        folder: str | None = None,
        host: str = "127.0.0.1",
        protocol: FetchProtocol = "pop3",
        imap_folders: str | None = None,
        mirror_flags: bool = False,
    ) -> FetchAccount:
        request = AccountRequest(
            protocol,
            f"{host}:{port}",
            login,
            password,
            tls,
            keep,
            folder,
            imap_folders=imap_folders,
            mirror_flags=mirror_flags,
        )
        return await add_external_account(self.store, self.account, request, SECRET)

    async def messages(self, mailbox: str = "INBOX") -> list[bytes]:
        info = await self.store.get_mailbox(self.account.id, mailbox)
        assert info is not None
        view = await self.store.open_view(info.id)
        return [self.store.read_blob(view.blob(i)) for i in range(len(view))]

    async def flags(self, mailbox: str = "INBOX") -> list[frozenset[str]]:
        info = await self.store.get_mailbox(self.account.id, mailbox)
        assert info is not None
        return list((await self.store.open_view(info.id)).flags)


@contextlib.asynccontextmanager
async def local_side(tmp_path: Path, settings: Settings) -> AsyncIterator[LocalSide]:
    data_dir = tmp_path / "local"
    data_dir.mkdir(exist_ok=True)
    settings = store_settings(settings)
    store = await open_test_store(data_dir, settings, indexer=False)
    try:
        await store.add_domain("example.com")
        account = await store.add_account(LOCAL, hash_password("x"), make_scram_credentials("x"))
        delivery = Delivery(store, settings, data_dir)
        yield LocalSide(data_dir, store, account, delivery, Fetcher(delivery, data_dir, SECRET))
    finally:
        await store.close()
