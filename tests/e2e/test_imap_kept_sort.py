"""SORT and THREAD answered from what a worker keeps for a big mailbox (store/sqlite/sort_orders.py,
server/imap/kept_threads.py), over real sockets, with "big" made small (store.sort_cache_min_messages
= 2). After every change (a delivery, an expunge in another session, a flag change, a message whose
Message-ID makes it the parent of threads already there) each answer must equal one computed afresh
by the pure orderings (``sort_items``, ``references``, ``ordered_subject``) over the store's keys."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from imap_env import ImapEnv, ask, imap_server, imap_session, imap_settings
from pochta.mime.sortkeys import SortKeys
from pochta.proto.imap.sort import Item, encode_sort, sort_items
from pochta.proto.imap.thread import encode_threads, ordered_subject, references
from pochta.store.sqlite.sortkeys import FIELDS

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
CRITERIA = {b"SUBJECT": ("SUBJECT", False), b"REVERSE DATE": ("DATE", True), b"FROM": ("FROM", False)}


def mail(n: int, subject: str, references: str = "", date: str = "", msgid: str = "") -> bytes:
    head = f"From: u{n % 3}@example.net\r\nSubject: {subject}\r\nMessage-ID: {msgid or f'<{n}@x>'}\r\n"
    if references:
        head += f"References: {references}\r\n"
    if date:
        head += f"Date: {date}\r\n"
    return (head + "\r\n" + "x" * n + "\r\n").encode()


CONVERSATION = [
    mail(1, "plans", date="Mon, 02 Nov 2026 10:00:00 +0000"),
    mail(2, "Re: plans", "<1@x>", "Mon, 02 Nov 2026 11:00:00 +0000"),
    mail(3, "Re: plans", "<1@x> <2@x>"),
    mail(4, "budget", "<root@x>", "Mon, 02 Nov 2026 09:00:00 +0000"),  # <root@x> is not here (yet)
    mail(5, "Re: budget", "<root@x>", "Mon, 02 Nov 2026 09:30:00 +0000"),
    mail(6, "zebra", date="Mon, 02 Nov 2026 08:00:00 +0000"),
]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ImapEnv]:
    settings = imap_settings(store={"sort_cache_min_messages": 2})
    async with imap_server(tmp_path, settings) as running:
        for n, data in enumerate(CONVERSATION):
            await running.deliver(data, date=T0 + timedelta(minutes=n))
        await running.seen_elsewhere()
        yield running


async def expected(env: ImapEnv, uid: bool, gone: frozenset[int] = frozenset()) -> dict[bytes, bytes]:
    """The answers computed afresh over the store's keys (``gone``: numbered here, expunged there)."""
    info = await env.mailbox()
    numbered = await env.uids() if not gone else sorted({*await env.uids(), *gone})
    rows = {row.uid: row for row in await env.store.sort_keys(info.id, numbered, FIELDS)}
    items = []
    for seq, each in enumerate(numbered, 1):
        row = rows.get(each)
        number = each if uid else seq
        items.append(
            Item(number, seq, SortKeys(), 0, 0)
            if row is None
            else Item(number, seq, row.keys, row.internal_date, row.size)
        )
    prefix = b"UID " if uid else b""
    answers = {}
    for name, criterion in CRITERIA.items():
        answers[prefix + b"SORT (" + name + b") UTF-8 ALL"] = encode_sort(
            [i.number for i in sort_items(items, [criterion])]
        )
    answers[prefix + b"THREAD REFERENCES UTF-8 ALL"] = encode_threads(references(items))
    answers[prefix + b"THREAD ORDEREDSUBJECT UTF-8 ALL"] = encode_threads(ordered_subject(items))
    return answers


async def check(env: ImapEnv, sock: socket.socket, gone: frozenset[int] = frozenset()) -> dict[bytes, bytes]:
    """Every command twice (the second from what the first kept), UID and numbered forms."""
    seen = {}
    for uid in (True, False):
        for command, answer in (await expected(env, uid, gone)).items():
            for _ in range(2):
                lines = await ask(sock, b"k " + command)
                assert lines[-1].startswith(b"k OK"), lines
                found = [line for line in lines if line.startswith((b"* SORT", b"* THREAD"))]
                assert found == [answer], command
            seen[command] = answer
    return seen


async def test_answers_follow_deliveries_flags_expunges_and_new_parents(env: ImapEnv) -> None:
    sock = await asyncio.to_thread(imap_session, env)
    other = await asyncio.to_thread(imap_session, env)
    try:
        before = await check(env, sock)
        assert b"((4)(5))" in before[b"UID THREAD REFERENCES UTF-8 ALL"]  # siblings under a dummy
        # a flag change: the same answers
        assert (await ask(other, b"f STORE 1:* +FLAGS (\\Seen $Work)"))[-1].startswith(b"f OK")
        assert await check(env, sock) == before
        # a delivery the session is told of, one with its keys not derived yet
        await env.store.stop_indexer()
        await env.deliver(mail(7, "Re: zebra", "<6@x>", "Mon, 02 Nov 2026 08:30:00 +0000"), date=T0)
        await ask(sock, b"n NOOP")
        after = await check(env, sock)
        assert b"(6 7)" in after[b"UID THREAD REFERENCES UTF-8 ALL"]
        # the message both earlier ones named as their parent arrives: it becomes theirs
        await env.deliver(
            mail(8, "budget", date="Mon, 02 Nov 2026 08:45:00 +0000", msgid="<root@x>"), date=T0
        )
        await env.store.index_pending()
        await ask(sock, b"n NOOP")
        parented = await check(env, sock)
        uids = await env.uids()
        assert b"(%d (%d)(%d))" % (uids[7], uids[3], uids[4]) in parented[b"UID THREAD REFERENCES UTF-8 ALL"]
        # an expunge in another session, this one not told yet: the message threads with no keys
        assert (await ask(other, b"d UID STORE %d +FLAGS.SILENT (\\Deleted)" % uids[0]))[-1].startswith(
            b"d OK"
        )
        assert (await ask(other, b"d EXPUNGE"))[-1].startswith(b"d OK")
        lines = await ask(sock, b"t THREAD REFERENCES UTF-8 ALL")
        held = await expected(env, False, frozenset({uids[0]}))
        assert lines[0] == held[b"THREAD REFERENCES UTF-8 ALL"]
        assert lines[0] != parented[b"THREAD REFERENCES UTF-8 ALL"]
        # told now (a UID command may send EXPUNGE): every answer as computed afresh
        await ask(sock, b"n NOOP")
        await check(env, sock)
    finally:
        sock.close()
        other.close()


async def test_a_selected_mailbox_deleted_elsewhere(env: ImapEnv) -> None:
    """SORT and THREAD of a mailbox deleted meanwhile (its view gone from the store): answered over
    what the session sees, then the BYE every command of such a session gets."""
    await env.store.create_mailbox(env.alice.id, "Box")
    for n in range(3):
        await env.deliver(mail(20 + n, f"s{n}"), mailbox="Box", date=T0)
    socks = [await asyncio.to_thread(imap_session, env, select=b"Box") for _ in range(2)]
    try:
        assert (await ask(socks[0], b"s UID SORT (SUBJECT) UTF-8 ALL"))[-1].startswith(b"s OK")
        await env.store.delete_mailbox(env.alice.id, "Box")
        for sock, command in zip(
            socks, (b"UID SORT (SUBJECT) UTF-8 ALL", b"UID THREAD REFERENCES UTF-8 ALL"), strict=True
        ):
            lines = await ask(sock, b"t " + command)
            assert lines[0].startswith((b"* SORT", b"* THREAD")), lines
            assert lines[1].startswith(b"* BYE [NONEXISTENT]"), lines
            assert lines[-1].startswith(b"t OK"), lines
    finally:
        for sock in socks:
            sock.close()
