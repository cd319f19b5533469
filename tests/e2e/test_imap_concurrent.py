"""Several clients at once on one mailbox: two IMAP sessions, a POP3 client and deliveries.

Each session keeps its own numbering; another's changes reach it as untagged EXISTS, EXPUNGE and
FETCH FLAGS only where RFC 9051 allows (never an EXPUNGE during FETCH, STORE or SEARCH by sequence
number, §7.5.1); POP3's deletions become visible to IMAP once its QUIT commits (RFC 1939 §6).
"""

from __future__ import annotations

import asyncio
import poplib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from imap_env import ALICE, PASSWORD, ImapEnv, ask, imap_server, imap_settings, message, open_session
from pochta.mime import parse_message
from pochta.store.factory import open_store
from pochta.store.model import Target
from pochta.store.sqlite.store import SqliteStore
from store_env import sqlite_only


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ImapEnv]:
    async with imap_server(tmp_path, imap_settings(listeners={"pop3": "127.0.0.1:0"})) as running:
        yield running


def untagged(lines: list[bytes]) -> list[bytes]:
    return [line for line in lines if line.startswith(b"* ")]


async def test_expunge_by_another_session_waits_for_an_allowed_moment(env: ImapEnv) -> None:
    for n in range(5):
        await env.deliver(message(n))
    a = await open_session(env)
    b = await open_session(env)
    try:
        await ask(b, b"b1 STORE 2,4 +FLAGS.SILENT (\\Deleted)")
        assert untagged(await ask(b, b"b2 EXPUNGE")) == [b"* 2 EXPUNGE\r\n", b"* 3 EXPUNGE\r\n"]
        # A: FETCH, STORE and SEARCH by number must not bring the EXPUNGEs; numbers stay as A knows.
        lines = await ask(a, b"a1 FETCH 4 (UID)")
        assert lines[0] == b"* 4 FETCH (UID 4)\r\n"
        assert not [x for x in lines if x.endswith(b"EXPUNGE\r\n")]
        lines = await ask(a, b"a2 STORE 5 +FLAGS (\\Seen)")
        assert not [x for x in lines if x.endswith(b"EXPUNGE\r\n")]
        assert b"* 5 FETCH (FLAGS (\\Seen \\Recent))\r\n" in lines  # A selected first: A's
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
        assert lines[0] == b"* 3 FETCH (UID 5 FLAGS (\\Seen \\Recent))\r\n"  # the numbering A knows now
        assert lines[1] == b"* 1 EXPUNGE\r\n"  # then the update, before the tagged OK
        assert (await ask(a, b"a8 FETCH 2 (UID)"))[0] == b"* 2 FETCH (UID 5)\r\n"
    finally:
        a.close()
        b.close()


async def test_new_mail_and_flags_reach_the_other_session(env: ImapEnv) -> None:
    await env.deliver(message(1))
    a = await open_session(env)
    b = await open_session(env)
    try:
        await env.deliver(message(2))  # through the store, as SMTP/LMTP deliver
        await ask(b, b"b1 STORE 1 +FLAGS (\\Flagged)")
        lines = untagged(await ask(a, b"a1 NOOP"))
        assert b"* 2 EXISTS\r\n" in lines
        # \Recent (RFC 3501 §2.3.2): message 1 is A's (A selected first); message 2 is B's, told of
        # it first (after its STORE).
        assert b"* 1 FETCH (FLAGS (\\Flagged \\Recent))\r\n" in lines
        assert lines.index(b"* 2 EXISTS\r\n") < lines.index(b"* 1 FETCH (FLAGS (\\Flagged \\Recent))\r\n")
        assert (await ask(a, b"a2 FETCH 2 (UID FLAGS)"))[0] == b"* 2 FETCH (UID 2 FLAGS ())\r\n"
        assert (await ask(b, b"b9 FETCH 2 (UID FLAGS)"))[0] == b"* 2 FETCH (UID 2 FLAGS (\\Recent))\r\n"
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
    a = await open_session(env)
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


def flag_lines(lines: list[bytes]) -> list[bytes]:
    return [line for line in lines if b" FETCH (UID " in line]


@sqlite_only("the per-process view cache")
async def test_sessions_sharing_a_view_diverge_and_new_ones_see_every_change(env: ImapEnv) -> None:
    # Sessions of one process that select the same mailbox state share one immutable view (the
    # store's view cache); each keeps its own overlay. A later SELECT gets the cached view brought
    # forward, also after a change made by another process (here a second store on the data
    # directory, as the CLI or another worker would be).
    for n in range(6):
        await env.deliver(message(n))
    inbox = await env.mailbox()
    a = await open_session(env)
    b = await open_session(env)
    try:
        assert isinstance(env.store, SqliteStore)
        assert (await env.store.open_view_traced(inbox.id)).source == "cache"  # what A and B got
        await ask(a, b"a1 STORE 2 +FLAGS (\\Flagged)")
        await ask(b, b"b1 NOOP")  # B learns of it ...
        lines = await ask(b, b"b2 FETCH 1:* (UID FLAGS)")  # ... and lists it from its overlay
        assert flag_lines(lines)[:3] == [
            b"* 1 FETCH (UID 1 FLAGS ())\r\n",
            b"* 2 FETCH (UID 2 FLAGS (\\Flagged))\r\n",
            b"* 3 FETCH (UID 3 FLAGS ())\r\n",
        ]
        await ask(a, b"a2 STORE 3 +FLAGS.SILENT (\\Deleted)")
        await ask(a, b"a3 EXPUNGE")
        # B has not been told: its numbering still holds message 3.
        assert len(flag_lines(await ask(b, b"b3 FETCH 1:* (UID FLAGS)"))) == 6
        assert untagged(await ask(b, b"b4 NOOP")) == [b"* 3 EXPUNGE\r\n"]
        from_b = flag_lines(await ask(b, b"b5 UID FETCH 1:* (UID FLAGS)"))
        assert [line.split(b" (")[0] for line in from_b] == [b"* %d FETCH" % n for n in range(1, 6)]
        # A new session: the cached view plus the delta, the same state.
        c = await open_session(env)
        try:
            assert flag_lines(await ask(c, b"c1 UID FETCH 1:* (UID FLAGS)")) == from_b
        finally:
            c.close()
        # Another process changes the mailbox: this process's cached view is checked against the
        # database at the next SELECT, not trusted.
        other = await open_store(env.data_dir, env.settings)
        try:
            await other.set_flags(inbox.id, [1], "add", ["$FromElsewhere"])
            await other.expunge(inbox.id, [6])
            blob = await other.put_blob(message(7))
            parsed = parse_message(message(7), env.settings.mime)
            await other.deliver(blob, parsed, [Target(inbox.id)])
        finally:
            await other.close()
        d = await open_session(env)
        try:
            lines = flag_lines(await ask(d, b"d1 UID FETCH 1:* (UID FLAGS)"))
            assert lines[0] == b"* 1 FETCH (UID 1 FLAGS ($FromElsewhere))\r\n"
            assert [line.split(b"UID ")[1].split(b" ")[0] for line in lines] == [b"1", b"2", b"4", b"5", b"7"]
        finally:
            d.close()
    finally:
        a.close()
        b.close()
