"""DELE then drop without QUIT: whatever the moment the connection dies (between commands, in the
middle of a RETR, after a pipelined QUIT-less batch), nothing is deleted and no flag changes."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pop3_env import ADDRESS, PASSWORD, Pop3Env, message, pop3_server

MESSAGES = 6


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Pop3Env]:
    async with pop3_server(tmp_path) as running:
        for n in range(MESSAGES):
            await running.deliver(message(n, size=300_000 if n == 2 else 0))
        yield running


async def drop_session(env: Pop3Env, rng: random.Random) -> None:
    reader, writer = await asyncio.open_connection(*env.plain)
    try:
        await reader.readline()
        commands = [f"USER {ADDRESS}", f"PASS {PASSWORD}"]
        for _ in range(rng.randint(0, 8)):
            n = rng.randint(1, MESSAGES)
            commands.append(rng.choice([f"DELE {n}", f"RETR {n}", f"TOP {n} 3", "STAT", "UIDL", "RSET"]))
        writer.write("".join(c + "\r\n" for c in commands).encode())
        await writer.drain()
        # Read a random amount of the replies (maybe none, maybe part of a RETR), then vanish.
        wanted = rng.choice([0, 10, 100, 1000, 50_000, 10**6])
        got = 0
        while got < wanted:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), 0.05)
            except TimeoutError:
                break  # everything sent already: the server waits for the next command
            if not chunk:
                break
            got += len(chunk)
    finally:
        writer.transport.abort()


async def check_untouched(env: Pop3Env) -> None:
    # The server notices the drop asynchronously; wait until the lock is released.
    async with asyncio.timeout(10):
        while env.handler.locks.held(env.account.id):  # noqa: ASYNC110 - server state from outside
            await asyncio.sleep(0.005)
    assert len(await env.uids()) == MESSAGES
    assert all("\\Seen" not in flags for flags in await env.flags())


async def run_drops(env: Pop3Env, count: int, seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(count):
        await drop_session(env, rng)
    await check_untouched(env)


async def test_a_handful_of_random_disconnects(env: Pop3Env) -> None:
    await run_drops(env, 25, seed=4)


@pytest.mark.slow
async def test_a_thousand_random_disconnects(env: Pop3Env) -> None:
    await run_drops(env, 1000, seed=1939)
