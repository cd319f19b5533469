"""REPLACE and UID REPLACE (RFC 8508) over raw sockets: the responses in order (APPENDUID in an
untagged OK, EXPUNGE, EXISTS), a second session told of both, another mailbox as destination,
literal8, the errors (nothing appended when the old message is gone) and APPENDLIMIT."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest

from imap_env import (
    ImapEnv,
    exchange,
    imap_server,
    imap_session,
    imap_settings,
    message,
    read_line,
    send_append,
)
from pochta.store.model import ChangeSet

LIMIT = 4096


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ImapEnv]:
    async with imap_server(tmp_path) as running:
        await running.deliver(message(1))
        await running.deliver(message(2), flags=["\\Draft"])
        await running.deliver(message(3))
        await running.seen_elsewhere()
        yield running


async def test_replace_in_the_selected_mailbox_and_another_session_sees_it(env: ImapEnv) -> None:
    new = message(4, b"the second draft\r\n")

    def run() -> tuple[list[bytes], list[bytes], list[bytes], list[bytes]]:
        a, b = imap_session(env), imap_session(env)
        try:
            replaced = send_append(a, b"r REPLACE 2 INBOX", [(b"(\\Draft \\Seen) ", new)])
            fetched = exchange(a, b"f FETCH 1:* (UID FLAGS)")
            body = exchange(a, b"g UID FETCH 4 (BODY.PEEK[TEXT])")
            return replaced, fetched, body, exchange(b, b"n NOOP")
        finally:
            a.close()
            b.close()

    replaced, fetched, body, other = await asyncio.to_thread(run)
    info = await env.mailbox()
    assert replaced == [
        b"+ Ready for literal data\r\n",
        b"* OK [APPENDUID %d 4] Replacement Message ready\r\n" % info.uidvalidity,  # RFC 8508 §4.3
        b"* 2 EXPUNGE\r\n",
        b"* 3 EXISTS\r\n",
        b"* 1 RECENT\r\n",  # an IMAP4rev1 session: the new message is its \Recent one
        b"r OK REPLACE completed\r\n",
    ]
    assert fetched[:3] == [
        b"* 1 FETCH (UID 1 FLAGS ())\r\n",
        b"* 2 FETCH (UID 3 FLAGS ())\r\n",
        b"* 3 FETCH (UID 4 FLAGS (\\Draft \\Seen \\Recent))\r\n",
    ]
    assert b"the second draft\r\n" in body
    # The other session: the same two changes (the new message is \Recent in the first one only).
    assert other == [b"* 2 EXPUNGE\r\n", b"* 3 EXISTS\r\n", b"* 0 RECENT\r\n", b"n OK NOOP completed\r\n"]
    assert await env.uids() == [1, 3, 4]


async def test_uid_replace_into_another_mailbox_with_a_date(env: ImapEnv) -> None:
    sent = await env.mailbox("Sent")

    def run() -> list[bytes]:
        sock = imap_session(env)
        try:
            date = b'"01-Jan-2015 00:05:00 -0500" '
            return send_append(sock, b"u UID REPLACE 3 Sent", [(b"(\\Seen) " + date, message(5))])
        finally:
            sock.close()

    replaced = await asyncio.to_thread(run)
    assert replaced[1:] == [
        b"* OK [APPENDUID %d %d] Replacement Message ready\r\n" % (sent.uidvalidity, sent.uidnext),
        b"* 3 EXPUNGE\r\n",
        b"u OK UID REPLACE completed\r\n",
    ]
    assert await env.uids() == [1, 2]
    assert await env.uids("Sent") == [sent.uidnext]


async def test_literal8_replacement_keeps_its_octets(env: ImapEnv) -> None:
    binary = message(6, b"NUL \x00 here\r\n")

    def run() -> list[bytes]:
        sock = imap_session(env)
        try:
            sock.sendall(b"r REPLACE 1 INBOX ~{%d+}\r\n" % len(binary) + binary + b"\r\n")
            lines = [read_line(sock) for _ in range(5)]
            return lines + exchange(sock, b"f UID FETCH 4 (BINARY.PEEK[1])")
        finally:
            sock.close()

    lines = await asyncio.to_thread(run)
    assert lines[1:4] == [b"* 1 EXPUNGE\r\n", b"* 3 EXISTS\r\n", b"* 1 RECENT\r\n"]
    assert b"NUL \x00 here\r\n" in b"".join(lines[4:])


async def test_errors_leave_everything_as_it_was(env: ImapEnv) -> None:
    def run() -> list[list[bytes]]:
        a, b = imap_session(env), imap_session(env)
        try:
            got = [
                send_append(a, b"a REPLACE 9 INBOX", [(b"", message(7))]),  # past the end: BAD
                send_append(a, b"b UID REPLACE 99 INBOX", [(b"", message(7))]),  # no such UID
                send_append(a, b"c REPLACE 1 Nowhere", [(b"", message(7))]),  # TRYCREATE
                send_append(a, b"d REPLACE 1 INBOX", [(b"(\\Bogus) ", message(7))]),  # bad flag
            ]
            exchange(b, b"x STORE 1 +FLAGS.SILENT (\\Deleted)")
            exchange(b, b"y EXPUNGE")
            # Expunged by b, not yet told to a.
            got.append(send_append(a, b"e UID REPLACE 1 INBOX", [(b"", message(7))]))
            got.append(exchange(a, b"n NOOP"))
            got.append(exchange(a, b"E EXAMINE INBOX"))
            got.append(send_append(a, b"f REPLACE 1 INBOX", [(b"", message(7))]))
            exchange(a, b"U UNSELECT")
            got.append(exchange(a, b"g REPLACE 1 INBOX {3}"))  # not selected
            return got
        finally:
            a.close()
            b.close()

    past, no_uid, trycreate, flag, gone, noop, _, read_only, unselected = await asyncio.to_thread(run)
    assert past[-1].startswith(b"a BAD Message number 9 is beyond the last message")
    assert no_uid[-1] == b"b NO [NONEXISTENT] No message has that UID\r\n"
    assert trycreate[-1].startswith(b"c NO [TRYCREATE]")
    assert flag[-1].startswith(b"d ")
    assert b"[APPENDUID" not in b"".join(flag)
    assert gone[-1] == b"e NO [EXPUNGEISSUED] The message was expunged meanwhile\r\n"
    assert b"* 1 EXPUNGE\r\n" in gone  # a UID command: b's expunge is reported with it
    assert noop == [b"n OK NOOP completed\r\n"]
    assert read_only[-1] == b"f NO [READ-ONLY] Mailbox is read-only (EXAMINE)\r\n"
    assert unselected == [b"g BAD No mailbox selected\r\n"]
    assert await env.uids() == [2, 3]  # nothing appended by any of them
    assert (await env.mailbox()).uidnext == 4


async def test_appendlimit_applies_before_the_continuation(tmp_path: Path) -> None:
    async with imap_server(tmp_path, imap_settings(limits={"max_message_size": LIMIT})) as env:
        await env.deliver(message(1))

        def run() -> tuple[list[bytes], list[bytes]]:
            sock = imap_session(env)
            try:
                big = message(2, b"x" * LIMIT)
                return send_append(sock, b"a REPLACE 1 INBOX", [(b"", big)]), exchange(sock, b"b NOOP")
            finally:
                sock.close()

        toobig, after = await asyncio.to_thread(run)
        assert toobig == [b"a NO [TOOBIG] Literal too big\r\n"]
        assert after[-1] == b"b OK NOOP completed\r\n"
        assert await env.uids() == [1]


async def test_message_vanishing_between_the_two_writes_leaves_nothing(
    env: ImapEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another session expunges the message after REPLACE appended its replacement and before the
    removal: the replacement is removed again, NO [EXPUNGEISSUED], no EXPUNGE of it is sent."""
    original = env.ops.expunge_uids
    raced: list[int] = []

    async def expunged_meanwhile(mailbox_id: int, uids: Iterable[int]) -> ChangeSet:
        wanted = list(uids)
        if not raced:
            raced.extend(wanted)
            await original(mailbox_id, wanted)  # "another session" gets there first
        return await original(mailbox_id, wanted)

    monkeypatch.setattr(env.ops, "expunge_uids", expunged_meanwhile)

    def run() -> tuple[list[bytes], list[bytes]]:
        sock = imap_session(env)
        try:
            return send_append(sock, b"r UID REPLACE 2 INBOX", [(b"", message(8))]), exchange(sock, b"n NOOP")
        finally:
            sock.close()

    replaced, noop = await asyncio.to_thread(run)
    assert raced == [2]
    assert replaced[-1] == b"r NO [EXPUNGEISSUED] The message was expunged meanwhile\r\n"
    assert not any(b"APPENDUID" in line or b"EXISTS" in line for line in replaced)
    assert b"* 2 EXPUNGE\r\n" in replaced + noop  # the other session's expunge, reported
    assert await env.uids() == [1, 3]  # the replacement (UID 4) is gone again
