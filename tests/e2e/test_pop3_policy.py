"""Gmail-style POP3 policies end to end: since-enabled, DELE actions, recent:, LOGIN-DELAY,
POP3 switched off, extra maildrop folders, autologout."""

from __future__ import annotations

import asyncio
import poplib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pochta.store.account_settings import POP3_LAST_LOGIN
from pochta.store.model import ProtocolSwitches
from pop3_env import ADDRESS, PASSWORD, Pop3Env, message, pop3_server, pop3_settings
from server_env import drip


def login(env: Pop3Env, user: str = ADDRESS) -> poplib.POP3:
    client = poplib.POP3(*env.plain, timeout=10)
    client.user(user)
    client.pass_(PASSWORD)
    return client


async def in_thread(env: Pop3Env, script: Any, user: str = ADDRESS) -> Any:
    def run() -> Any:
        client = login(env, user)
        try:
            return script(client)
        finally:
            client.quit()

    return await asyncio.to_thread(run)


def count(client: poplib.POP3) -> int:
    return client.stat()[0]


def dele_all(client: poplib.POP3) -> None:
    for n in range(1, client.stat()[0] + 1):
        client.retr(n)
        client.dele(n)


async def test_since_enabled_serves_only_newer_mail(tmp_path: Path) -> None:
    async with pop3_server(tmp_path, pop3_settings(pop3={"mode": "since-enabled"})) as env:
        await env.deliver(message(1), date=datetime(2001, 1, 1, tzinfo=UTC))
        await env.deliver(message(2))
        assert await in_thread(env, count) == 1


async def test_delete_action_delete_is_the_default(tmp_path: Path) -> None:
    async with pop3_server(tmp_path) as env:
        await env.deliver(message(1))
        await in_thread(env, dele_all)
        assert await env.uids() == []


async def test_delete_action_seen_keeps_and_hides(tmp_path: Path) -> None:
    async with pop3_server(tmp_path, pop3_settings(pop3={"delete_action": "seen"})) as env:
        await env.deliver(message(1))
        await env.deliver(message(2))
        await in_thread(env, lambda c: c.dele(1))
        assert len(await env.uids()) == 2
        flags = await env.flags()
        assert "\\Seen" in flags[0]
        assert "$POP3Deleted" in flags[0]
        assert await in_thread(env, count) == 1  # not served again
        assert await in_thread(env, count, f"recent:{ADDRESS}") == 2  # recent: shows it


@pytest.mark.parametrize(("action", "folder"), [("archive", "Archive"), ("trash", "Trash")])
async def test_delete_action_moves(tmp_path: Path, action: str, folder: str) -> None:
    async with pop3_server(tmp_path, pop3_settings(pop3={"delete_action": action})) as env:
        await env.deliver(message(1))
        await env.deliver(message(2))
        await in_thread(env, lambda c: c.dele(2))
        assert len(await env.uids()) == 1
        assert len(await env.uids(folder)) == 1
        assert await in_thread(env, count) == 1


async def test_recent_mode(tmp_path: Path) -> None:
    async with pop3_server(tmp_path) as env:
        now = datetime.now(UTC)
        await env.deliver(message(1), date=now - timedelta(days=40))
        await env.deliver(message(2), date=now - timedelta(days=3))
        await env.deliver(message(3))
        # A normal session downloads and deletes... (delete action "delete" removes it)
        normal = await asyncio.to_thread(login, env)
        assert (await asyncio.to_thread(normal.stat))[0] == 3
        # ...while a recent: session may run beside it (it never removes anything).
        recent = await asyncio.to_thread(login, env, f"recent:{ADDRESS}")
        assert (await asyncio.to_thread(recent.stat))[0] == 2  # the last 30 days only
        capa = await asyncio.to_thread(recent.capa)
        assert capa["EXPIRE"] == ["30", "USER"]
        await asyncio.to_thread(recent.dele, 1)
        await asyncio.to_thread(recent.dele, 2)
        await asyncio.to_thread(recent.quit)
        assert len(await env.uids()) == 3  # recent: DELE never removes
        await asyncio.to_thread(normal.quit)
        # A second device lists the same recent mail again, whatever was downloaded before.
        assert await in_thread(env, count, f"recent:{ADDRESS}") == 2


async def test_login_delay(tmp_path: Path) -> None:
    async with pop3_server(tmp_path, pop3_settings(pop3={"login_delay": 3})) as env:

        def script() -> None:
            client = poplib.POP3(*env.plain, timeout=10)
            assert client.capa()["LOGIN-DELAY"] == ["3"]
            client.user(ADDRESS)
            client.pass_(PASSWORD)
            assert client.capa()["LOGIN-DELAY"] == ["3", "USER"]
            client.quit()
            client = poplib.POP3(*env.plain, timeout=10)
            client.user(ADDRESS)
            with pytest.raises(poplib.error_proto, match=r"\[LOGIN-DELAY\]"):
                client.pass_(PASSWORD)
            client.quit()

        await asyncio.to_thread(script)
        # As if 3 seconds passed: the last login time is kept in the store.
        account = await env.store.get_account(ADDRESS)
        assert account is not None
        last = account.settings.optional(POP3_LAST_LOGIN)
        assert last is not None
        await env.store.record_account_setting(account.id, POP3_LAST_LOGIN.name, last - timedelta(seconds=4))
        assert await in_thread(env, count) == 0


@pytest.mark.parametrize("where", ["account", "domain"])
async def test_pop3_disabled(tmp_path: Path, where: str) -> None:
    async with pop3_server(tmp_path) as env:
        if where == "account":
            await env.store.set_account_settings(ADDRESS, {"pop3.enabled": False})
        else:
            await env.store.set_domain_protocols("example.org", ProtocolSwitches(pop3=False))

        def script() -> None:
            client = poplib.POP3(*env.plain, timeout=10)
            client.user(ADDRESS)
            with pytest.raises(poplib.error_proto, match=r"\[AUTH\] POP3 access is disabled"):
                client.pass_(PASSWORD)
            client.quit()

        await asyncio.to_thread(script)


async def test_maildrop_includes_configured_folders(tmp_path: Path) -> None:
    async with pop3_server(tmp_path, pop3_settings(pop3={"maildrop_folders": ["Junk", "Nope"]})) as env:
        await env.deliver(message(1))
        await env.deliver(message(2), mailbox="Junk")

        def script(client: poplib.POP3) -> list[bytes]:
            _, lines, _ = client.uidl()
            client.dele(2)
            return lines

        lines = await in_thread(env, script)
        assert len(lines) == 2
        assert await env.uids("Junk") == []
        assert len(await env.uids()) == 1


async def test_autologout_commits_nothing(tmp_path: Path) -> None:
    settings = pop3_settings()
    # Below the 600-second floor only through model_copy, which skips validation: a test shortcut.
    settings = settings.model_copy(update={"pop3": settings.pop3.model_copy(update={"autologout": 0.5})})
    async with pop3_server(tmp_path, settings) as env:
        await env.deliver(message(1))

        def script() -> bytes:
            client = login(env)
            client.dele(1)
            try:
                return client.file.readline()  # the server speaks first when the timer expires
            finally:
                client.close()

        line = await asyncio.to_thread(script)
        assert line.startswith(b"-ERR [SYS/TEMP] Autologout")
        assert len(await env.uids()) == 1


def test_autologout_never_below_ten_minutes() -> None:
    with pytest.raises(ValueError, match="600"):
        pop3_settings(pop3={"autologout": 60})


async def test_account_policy_overrides_server_default(tmp_path: Path) -> None:
    async with pop3_server(tmp_path) as env:
        await env.deliver(message(1), date=datetime(2020, 1, 1, tzinfo=UTC))
        await env.deliver(message(2))
        await env.store.set_account_settings(
            ADDRESS,
            {
                "pop3.mode": "since-enabled",
                "pop3.delete_action": "trash",
                "pop3.enabled_at": datetime.now(UTC) - timedelta(days=1),
            },
        )
        assert await in_thread(env, count) == 1
        await in_thread(env, lambda c: c.dele(1))
        assert len(await env.uids("Trash")) == 1
        assert len(await env.uids()) == 1


async def test_deadlines_before_login(tmp_path: Path) -> None:
    settings = pop3_settings(server={"line_timeout": 1.0, "login_timeout": 2.0})
    async with pop3_server(tmp_path, settings) as env:
        (dripped, seconds), (noops, noop_seconds) = await asyncio.gather(
            asyncio.to_thread(drip, env.plain, b"CAPA\r\n"),
            asyncio.to_thread(drip, env.plain, b"CAPA\r\n", octets=6),  # whole lines, no login
        )
    assert dripped.endswith(b"-ERR Autologout: command line not completed within 1 second\r\n")
    assert 0.9 < seconds < 2.5
    assert noops.endswith(b"-ERR Autologout: not logged in within 2 seconds\r\n")
    assert 1.9 < noop_seconds < 3
