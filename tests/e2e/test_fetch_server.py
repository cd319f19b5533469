"""``pochta serve`` runs the fetch scheduler (in its housekeeper process): an external account added
while it runs is fetched within ``fetch.check_interval``, through the normal delivery, and its
state recorded for ``pochta fetch status`` (docs/fetch.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pochta.bootstrap import ensure_server_secret, initialise
from pochta.config import LISTENER_KINDS, load_settings
from pochta.fetch.accounts import AccountRequest, add_external_account
from pochta.store.factory import open_store
from pop3_env import ADDRESS, PASSWORD, message, pop3_server
from serve_process import ServeProcess
from store_env import read_rows

LOCAL = "carol@example.org"


def run_state(data: Path) -> tuple[int, str]:
    """(messages recorded as fetched, the account's last result)."""
    settings = load_settings(data / "pochta.toml")
    [(count,)] = read_rows(data, settings, "SELECT count(*) FROM fetched_messages")
    rows = read_rows(data, settings, "SELECT last_result FROM fetch_accounts")
    return int(str(count)), str(rows[0][0]) if rows else ""


async def test_the_server_polls_external_accounts(tmp_path: Path) -> None:
    async with pop3_server(tmp_path) as remote:
        for n in range(3):
            await remote.deliver(message(n))
        data = tmp_path / "local"
        listen = {name: "off" for name in LISTENER_KINDS} | {"imap": "127.0.0.1:0"}
        await asyncio.to_thread(initialise, data, domain="example.org", listen=listen, account=LOCAL)
        config = data / "pochta.toml"
        config.write_text(
            config.read_text() + f'\n[fetch]\nca_file = "{remote.ca_file()}"\ncheck_interval = 0.2\n'
        )
        server = ServeProcess(data, tmp_path / "serve.log")
        try:
            await asyncio.to_thread(server.wait_listening, ["imap"])
            settings = load_settings(config)
            store = await open_store(data, settings)
            try:
                local = await store.get_account(LOCAL)
                assert local is not None
                request = AccountRequest("pop3", f"127.0.0.1:{remote.tls[1]}", ADDRESS, PASSWORD, "implicit")
                await add_external_account(store, local, request, ensure_server_secret(data))
            finally:
                await store.close()
            async with asyncio.timeout(60):
                while run_state(data) != (3, "ok"):  # noqa: ASYNC110 - another process's database
                    await asyncio.sleep(0.05)
            assert "fetch run" in server.log_text()
        finally:
            await asyncio.to_thread(server.stop)
        assert server.failures() == []
        store = await open_store(data, load_settings(config))
        try:
            local = await store.get_account(LOCAL)
            assert local is not None
            inbox = await store.get_mailbox(local.id, "INBOX")
            assert inbox is not None
            view = await store.open_view(inbox.id)
            assert len(view) == 3
            assert b"with POP3 id" in store.read_blob(view.blob(0))
        finally:
            await store.close()
        assert len(await remote.uids()) == 3  # keep mode
