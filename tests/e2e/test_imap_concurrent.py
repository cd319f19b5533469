"""Several clients at once on one mailbox: two IMAP sessions, a POP3 client and deliveries.

Each session keeps its own numbering; another's changes reach it as untagged EXISTS, EXPUNGE and
FETCH FLAGS only where RFC 9051 allows (never an EXPUNGE during FETCH, STORE or SEARCH by sequence
number, §7.5.1); POP3's deletions become visible to IMAP once its QUIT commits (RFC 1939 §6).
"""

from __future__ import annotations

import asyncio
import poplib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from imap_env import ALICE, PASSWORD, ImapEnv, exchange, imap_server, imap_settings, message


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ImapEnv]:
    async with imap_server(tmp_path, imap_settings(listeners={"pop3": "127.0.0.1:0"})) as running:
        yield running


def session(env: ImapEnv) -> socket.socket:
    sock = env.raw()
    assert exchange(sock, b"L LOGIN alice@example.org PASSWORD")[-1].startswith(b"L OK")
    assert exchange(sock, b"S SELECT INBOX")[-1].startswith(b"S OK")
    return sock


async def ask(sock: socket.socket, line: bytes) -> list[bytes]:
    return await asyncio.to_thread(exchange, sock, line)


def untagged(lines: list[bytes]) -> list[bytes]:
    return [line for line in lines if line.startswith(b"* ")]


async def test_expunge_by_another_session_waits_for_an_allowed_moment(env: ImapEnv) -> None:
    for n in range(5):
        await env.deliver(message(n))
    a = await asyncio.to_thread(session, env)
    b = await asyncio.to_thread(session, env)
    try:
        await ask(b, b"b1 STORE 2,4 +FLAGS.SILENT (\\Deleted)")
        assert untagged(await ask(b, b"b2 EXPUNGE")) == [b"* 2 EXPUNGE\r\n", b"* 3 EXPUNGE\r\n"]
        # A: FETCH, STORE and SEARCH by number must not bring the EXPUNGEs; numbers stay as A knows.
        lines = await ask(a, b"a1 FETCH 4 (UID)")
        assert lines[0] == b"* 4 FETCH (UID 4)\r\n"
        assert not [x for x in lines if x.endswith(b"EXPUNGE\r\n")]
        lines = await ask(a, b"a2 STORE 5 +FLAGS (\\Seen)")
        assert not [x for x in lines if x.endswith(b"EXPUNGE\r\n")]
        assert b"* 5 FETCH (FLAGS (\\Seen))\r\n" in lines
        lines = await ask(a, b"a3 SEARCH ALL")
        assert lines[0] == b"* SEARCH 1 2 3 4 5\r\n"  # still five as far as A was told
        # NOOP may: ascending, each number lowered by those before (RFC 9051 §7.5.1).
        assert untagged(await ask(a, b"a4 NOOP")) == [b"* 2 EXPUNGE\r\n", b"* 3 EXPUNGE\r\n"]
        assert (await ask(a, b"a5 SEARCH ALL"))[0] == b"* SEARCH 1 2 3\r\n"
        assert (await ask(a, b"a6 FETCH 3 (UID)"))[0] == b"* 3 FETCH (UID 5)\r\n"
        # A UID command may carry them at once (RFC 9051 §7.5.1 forbids them only for numbers).
        await ask(b, b"b3 STORE 1 +FLAGS.SILENT (\\Deleted)")
        await ask(b, b"b4 EXPUNGE")
        lines = await ask(a, b"a7 UID FETCH 5 (FLAGS)")
        assert lines[0] == b"* 3 FETCH (UID 5 FLAGS (\\Seen))\r\n"  # the numbering A knows now
        assert lines[1] == b"* 1 EXPUNGE\r\n"  # then the update, before the tagged OK
        assert (await ask(a, b"a8 FETCH 2 (UID)"))[0] == b"* 2 FETCH (UID 5)\r\n"
    finally:
        a.close()
        b.close()


async def test_new_mail_and_flags_reach_the_other_session(env: ImapEnv) -> None:
    await env.deliver(message(1))
    a = await asyncio.to_thread(session, env)
    b = await asyncio.to_thread(session, env)
    try:
        await env.deliver(message(2))  # through the store, as SMTP/LMTP deliver
        await ask(b, b"b1 STORE 1 +FLAGS (\\Flagged)")
        lines = untagged(await ask(a, b"a1 NOOP"))
        assert b"* 2 EXISTS\r\n" in lines
        assert b"* 1 FETCH (FLAGS (\\Flagged))\r\n" in lines
        assert lines.index(b"* 2 EXISTS\r\n") < lines.index(b"* 1 FETCH (FLAGS (\\Flagged))\r\n")
        # \Recent: this (IMAP4rev1) session was the first told of it (RFC 3501 §2.3.2).
        assert (await ask(a, b"a2 FETCH 2 (UID FLAGS)"))[0] == b"* 2 FETCH (UID 2 FLAGS (\\Recent))\r\n"
        # UIDs ascend and are never reused: an expunged UID does not come back.
        await ask(b, b"b2 UID STORE 2 +FLAGS.SILENT (\\Deleted)")
        await ask(b, b"b3 EXPUNGE")
        await env.deliver(message(3))
        lines = untagged(await ask(a, b"a3 NOOP"))
        assert lines[:2] == [b"* 2 EXPUNGE\r\n", b"* 2 EXISTS\r\n"]
        assert (await ask(a, b"a4 FETCH 2 UID"))[0] == b"* 2 FETCH (UID 3)\r\n"
    finally:
        a.close()
        b.close()


def _pop3_delete(env: ImapEnv, numbers: list[int], *, quit: bool) -> None:
    address = env.server.bound_addresses()["pop3"]
    assert isinstance(address, tuple)
    client = poplib.POP3(*address, timeout=10)
    client.user(ALICE)
    client.pass_(PASSWORD)
    for number in numbers:
        client.dele(number)
    if quit:
        client.quit()
    else:
        client.close()  # dropped without QUIT: RFC 1939 §6, nothing is removed


async def test_pop3_deletions_reach_imap_when_quit_commits(env: ImapEnv) -> None:
    for n in range(3):
        await env.deliver(message(n))
    a = await asyncio.to_thread(session, env)
    try:
        await asyncio.to_thread(_pop3_delete, env, [1, 3], quit=False)
        assert untagged(await ask(a, b"a1 NOOP")) == []  # no QUIT: nothing happened
        await asyncio.to_thread(_pop3_delete, env, [1, 3], quit=True)
        lines = await ask(a, b"a2 FETCH 1:3 (UID)")
        assert not [x for x in lines if x.endswith(b"EXPUNGE\r\n")]  # not during FETCH by number
        assert untagged(await ask(a, b"a3 NOOP")) == [b"* 1 EXPUNGE\r\n", b"* 2 EXPUNGE\r\n"]
        assert (await ask(a, b"a4 FETCH 1:* (UID)"))[0] == b"* 1 FETCH (UID 2)\r\n"
    finally:
        a.close()
