"""IDLE when no wake-up comes: a change made by another process on the data directory (here a
second store opened beside the server's, as a `pochta` command would) is not on the server's change
feed; the session finds it by asking the store every ``imap.idle_check_seconds`` (docs/imap.md
"IDLE"), so a lost wake-up delays a change by at most one interval and never loses it."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from imap_env import ImapEnv, imap_server, imap_settings, message, open_session, read_line
from pochta.mime import parse_message
from pochta.store.factory import open_store
from pochta.store.model import Target

CHECK_SECONDS = 1.0


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ImapEnv]:
    settings = imap_settings(imap={"idle_check_seconds": CHECK_SECONDS})
    async with imap_server(tmp_path, settings) as running:
        yield running


async def _deliver_beside(env: ImapEnv, n: int) -> None:
    """Deliver through a store of its own (its own writer and feed), as another process does."""
    other = await open_store(env.data_dir, env.settings)
    try:
        inbox = await other.get_mailbox(env.alice.id, "INBOX")
        assert inbox is not None
        data = message(n)
        blob = await other.put_blob(data)
        await other.deliver(
            blob, parse_message(data, env.settings.mime), [Target(inbox.id, frozenset(), None)]
        )
    finally:
        await other.close()


def _line_within(sock: socket.socket, seconds: float) -> bytes | None:
    sock.settimeout(seconds)
    try:
        return read_line(sock)
    except TimeoutError:
        return None
    finally:
        sock.settimeout(15)


async def test_a_change_beside_the_server_reaches_idle(env: ImapEnv) -> None:
    await env.deliver(message(1))
    a = await open_session(env)
    try:
        await asyncio.to_thread(a.sendall, b"i IDLE\r\n")
        assert await asyncio.to_thread(read_line, a) == b"+ idling\r\n"
        started = time.monotonic()
        await _deliver_beside(env, 2)
        pushed = await asyncio.to_thread(_line_within, a, 10 * CHECK_SECONDS)
        waited = time.monotonic() - started
        await asyncio.to_thread(a.sendall, b"DONE\r\n")
    finally:
        a.close()
    assert pushed == b"* 2 EXISTS\r\n"
    print(f"found by the store check after {waited:.2f} s")


async def test_without_the_check_the_change_waits(tmp_path: Path) -> None:
    # The control: with a long interval nothing comes within a few seconds (the feed of the server's
    # store never heard of the delivery), and the next command after IDLE reports it (a poll).
    settings = imap_settings(imap={"idle_check_seconds": 3600.0})
    async with imap_server(tmp_path, settings) as env:
        await env.deliver(message(1))
        a = await open_session(env)
        try:
            await asyncio.to_thread(a.sendall, b"i IDLE\r\n")
            assert await asyncio.to_thread(read_line, a) == b"+ idling\r\n"
            await _deliver_beside(env, 2)
            assert await asyncio.to_thread(_line_within, a, 3 * CHECK_SECONDS) is None
            await asyncio.to_thread(a.sendall, b"DONE\r\nn NOOP\r\n")
            lines = [await asyncio.to_thread(read_line, a) for _ in range(3)]
        finally:
            a.close()
        assert lines[0] == b"i OK IDLE terminated\r\n"
        assert b"* 2 EXISTS\r\n" in lines[1:]
