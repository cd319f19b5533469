"""SORT, UID SORT, ESORT and THREAD over real sockets (RFC 5256, RFC 5957, RFC 5267 §3): exact
transcripts, imapclient's sort() and thread(), a second session's expunge, and the kept sort keys
(filled by the indexer, or by the first SORT that needs them; gone with their message)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import imapclient
import pytest

from imap_env import ImapEnv, ask, imap_server, imap_session
from store_env import read_rows

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

# (headers, internal date offset in minutes): a conversation and two strangers
MESSAGES = [
    ("From: Zoe <zoe@example.net>\r\nTo: alice@example.org\r\nSubject: Lunch\r\n"
     "Date: Mon, 02 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@x>", 5),
    ("From: adam@example.net\r\nTo: Bob <bob@example.org>\r\nSubject: Re: lunch\r\n"
     "Date: Mon, 02 Nov 2026 11:00:00 +0000\r\nMessage-ID: <2@x>\r\nReferences: <1@x>", 3),
    ("From: =?utf-8?q?=C3=89mile?= <emile@example.net>\r\nTo: carol@example.org\r\nSubject: agenda\r\n"
     "Date: Mon, 02 Nov 2026 09:00:00 +0000\r\nMessage-ID: <3@x>", 9),
    ("From: Bea <bea@example.net>\r\nTo: alice@example.org\r\nSubject: [fwd: Lunch]\r\n"
     "Message-ID: <4@x>\r\nIn-Reply-To: <2@x>", 1),
    ("From: carl@example.net\r\nSubject: Re: agenda (fwd)\r\nCc: dan@example.org\r\n"
     "Date: Mon, 02 Nov 2026 09:30:00 +0000\r\nMessage-ID: <5@x>\r\nReferences: <gone@x> <3@x>", 7),
]  # fmt: skip


def data(n: int) -> bytes:
    headers, _ = MESSAGES[n]
    return (headers + "\r\n\r\n" + "x" * (10 * (n + 1)) + "\r\n").encode()


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ImapEnv]:
    async with imap_server(tmp_path) as running:
        for n, (_, minutes) in enumerate(MESSAGES):
            await running.deliver(data(n), date=T0 + timedelta(minutes=minutes))
        await running.seen_elsewhere()
        yield running


def newest_has_keys(env: ImapEnv) -> bool:
    newest = "SELECT count(*) FROM message_sort_keys WHERE message_id = (SELECT max(id) FROM messages)"
    [(found,)] = read_rows(env.data_dir, env.settings, newest)
    return bool(found)


def key_rows(env: ImapEnv) -> int:
    [(count,)] = read_rows(env.data_dir, env.settings, "SELECT count(*) FROM message_sort_keys")
    return int(str(count))


async def test_sort_transcripts(env: ImapEnv) -> None:
    sock = await asyncio.to_thread(imap_session, env)
    try:
        assert await ask(sock, b"a SORT (SUBJECT) UTF-8 ALL") == [
            b"* SORT 3 5 1 2 4\r\n",
            b"a OK SORT completed\r\n",
        ]
        assert (await ask(sock, b"a SORT (REVERSE SUBJECT DATE) US-ASCII ALL"))[0] == b"* SORT 4 1 2 3 5\r\n"
        # DATE: 4 has no Date:, its internal date (12:01 on the 1st) is its sent date (RFC 5256 §2.2)
        assert (await ask(sock, b"a SORT (DATE) UTF-8 ALL"))[0] == b"* SORT 4 3 5 1 2\r\n"
        assert (await ask(sock, b"a SORT (ARRIVAL) UTF-8 ALL"))[0] == b"* SORT 4 2 1 5 3\r\n"
        by_size = sorted(range(1, 6), key=lambda n: -len(data(n - 1)))
        assert (await ask(sock, b"a SORT (REVERSE SIZE) UTF-8 ALL"))[0] == b"* SORT %s\r\n" % " ".join(
            map(str, by_size)
        ).encode()
        # FROM compares the addr-mailbox, DISPLAYFROM the decoded name (RFC 5957 §3)
        assert (await ask(sock, b"a SORT (FROM) UTF-8 ALL"))[0] == b"* SORT 2 4 5 3 1\r\n"
        assert (await ask(sock, b"a SORT (DISPLAYFROM) UTF-8 ALL"))[0] == b"* SORT 2 4 5 3 1\r\n"
        assert (await ask(sock, b"a SORT (DISPLAYTO TO) UTF-8 ALL"))[0] == b"* SORT 5 1 4 2 3\r\n"
        assert (await ask(sock, b"a SORT (CC) UTF-8 ALL"))[0] == b"* SORT 1 2 3 4 5\r\n"
        # searching first: a criterion and a UID SORT
        assert (await ask(sock, b'a UID SORT (SUBJECT) UTF-8 SUBJECT "lunch"'))[0] == b"* SORT 1 2 4\r\n"
        assert (await ask(sock, b"a SORT (SUBJECT) UTF-8 TEXT nowhere"))[0] == b"* SORT\r\n"
        assert (await ask(sock, b"a SORT (SUBJECT) UTF-8 2:3,5"))[0] == b"* SORT 3 5 2\r\n"
    finally:
        sock.close()


async def test_esort(env: ImapEnv) -> None:
    sock = await asyncio.to_thread(imap_session, env)
    try:
        lines = await ask(sock, b"e1 SORT RETURN (MIN MAX COUNT ALL) (SUBJECT) UTF-8 ALL")
        # RFC 5267 §3.1: MIN and MAX are the first and last in the sort order; ALL keeps the order
        assert lines[0] == b'* ESEARCH (TAG "e1") MIN 3 MAX 4 ALL 3,5,1:2,4 COUNT 5\r\n'
        lines = await ask(sock, b"e2 UID SORT RETURN () (REVERSE ARRIVAL) UTF-8 ALL")
        assert lines[0] == b'* ESEARCH (TAG "e2") UID ALL 3,5,1:2,4\r\n'
        lines = await ask(sock, b"e3 SORT RETURN (COUNT MIN) (DATE) UTF-8 TEXT nowhere")
        assert lines[0] == b'* ESEARCH (TAG "e3") COUNT 0\r\n'
    finally:
        sock.close()


async def saved(sock: socket.socket) -> list[int]:
    """The message numbers ``$`` names now (FETCH $, RFC 5182 §2.1)."""
    lines = await ask(sock, b"f FETCH $ (UID)")
    assert lines[-1].startswith(b"f OK"), lines
    return [int(line.split()[1]) for line in lines[:-1]]


async def test_esort_save(env: ImapEnv) -> None:
    """RFC 5182 §1, §2.4: SORT ... RETURN (SAVE ...) keeps its result in "$" as SEARCH's does (the
    same answers as Dovecot 2.3.19: tests/interop/test_dovecot_sort.py)."""
    sock = await asyncio.to_thread(imap_session, env)
    try:
        # SAVE alone: no ESEARCH, "$" is the whole result (SUBJECT order 3 5 1 2 4)
        assert await ask(sock, b"s1 SORT RETURN (SAVE) (SUBJECT) UTF-8 NOT 2") == [
            b"s1 OK SORT completed\r\n"
        ]
        assert await saved(sock) == [1, 3, 4, 5]
        # with MIN alone just the first in the sort order is saved, with MIN and MAX both ends
        assert (await ask(sock, b"s2 SORT RETURN (SAVE MIN) (SUBJECT) UTF-8 ALL"))[0] == (
            b'* ESEARCH (TAG "s2") MIN 3\r\n'
        )
        assert await saved(sock) == [3]
        assert (await ask(sock, b"s3 UID SORT RETURN (MAX SAVE MIN) (REVERSE SUBJECT) UTF-8 ALL"))[0] == (
            b'* ESEARCH (TAG "s3") UID MIN 1 MAX 5\r\n'
        )
        assert await saved(sock) == [1, 5]
        # with COUNT (or ALL) every message found is saved
        assert (await ask(sock, b"s4 SORT RETURN (SAVE COUNT MIN) (SUBJECT) UTF-8 1:3"))[0] == (
            b'* ESEARCH (TAG "s4") MIN 3 COUNT 3\r\n'
        )
        assert await saved(sock) == [1, 2, 3]
        # RFC 9394 §3.2: with PARTIAL, the partial results (of the sorted list)
        assert (await ask(sock, b"s5 SORT RETURN (SAVE PARTIAL 2:3) (SUBJECT) UTF-8 ALL"))[0] == (
            b'* ESEARCH (TAG "s5") PARTIAL (2:3 5,1)\r\n'
        )
        assert await saved(sock) == [1, 5]
        # "$" as the search key of the next SORT ... SAVE
        assert (await ask(sock, b"s6 SORT RETURN (SAVE MAX) (SIZE) UTF-8 $"))[
            0
        ] == b'* ESEARCH (TAG "s6") MAX 5\r\n'
        assert await saved(sock) == [5]
        # RFC 5182 §2.1: a SAVE that fails (NO) empties "$"; one refused as BAD leaves it alone
        assert (await ask(sock, b"s7 SORT RETURN (SAVE SAVE) (SIZE) UTF-8 ALL"))[-1].startswith(b"s7 BAD")
        assert await saved(sock) == [5]
        assert (await ask(sock, b"s8 SORT RETURN (SAVE) (SIZE) KOI8-R ALL"))[-1].startswith(
            b"s8 NO [BADCHARSET"
        )
        assert await saved(sock) == []
    finally:
        sock.close()


async def test_sort_and_esort_with_a_modseq_key(env: ImapEnv) -> None:
    """RFC 7162 §3.1.9: SORT with a MODSEQ key ends with "(MODSEQ n)", the highest mod-sequence of
    the messages returned; §3.1.10: ESORT carries the MODSEQ result option (RFC 4731 §3.2), of MIN
    and MAX alone when only they are returned (the first and last sorted, RFC 5267 §3.1)."""
    sock = await asyncio.to_thread(imap_session, env)
    try:
        assert (await ask(sock, b"s STORE 3 +FLAGS.SILENT (\\Flagged)"))[-1].startswith(b"s OK")
        modseqs = await env.modseqs()
        uids = await env.uids()
        flagged = modseqs[uids[2]]
        top = max(modseqs.values())
        assert flagged == top
        lines = await ask(sock, b"a SORT (SUBJECT) UTF-8 MODSEQ 1")
        # RFC 7162 §3.1: a MODSEQ search key enables CONDSTORE (as in SEARCH; Dovecot does so too).
        assert lines[0] == b"* OK [HIGHESTMODSEQ %d] Highest mailbox mod-sequence\r\n" % top
        assert lines[1] == b"* SORT 3 5 1 2 4 (MODSEQ %d)\r\n" % top
        lines = await ask(sock, b"a SORT (SUBJECT) UTF-8 MODSEQ %d" % (top + 1))
        assert lines[0] == b"* SORT\r\n"  # nothing matched: no MODSEQ
        lines = await ask(sock, b"e SORT RETURN (ALL) (SUBJECT) UTF-8 MODSEQ 1")
        assert lines[0] == b'* ESEARCH (TAG "e") ALL 3,5,1:2,4 MODSEQ %d\r\n' % top
        # MAX alone (message 4, not the one flagged): its own mod-sequence.
        lines = await ask(sock, b"e SORT RETURN (MAX) (SUBJECT) UTF-8 MODSEQ 1")
        assert lines[0] == b'* ESEARCH (TAG "e") MAX 4 MODSEQ %d\r\n' % modseqs[uids[3]]
        lines = await ask(sock, b"e SORT RETURN (MIN) (SUBJECT) UTF-8 MODSEQ 1")
        assert lines[0] == b'* ESEARCH (TAG "e") MIN 3 MODSEQ %d\r\n' % flagged
        lines = await ask(sock, b"e UID SORT RETURN (PARTIAL 2:3) (SUBJECT) UTF-8 MODSEQ 1")
        partial = max(modseqs[uids[4]], modseqs[uids[0]])
        expected = b'* ESEARCH (TAG "e") UID PARTIAL (2:3 %d,%d) MODSEQ %d\r\n' % (uids[4], uids[0], partial)
        assert lines[0] == expected
        lines = await ask(sock, b"e SORT RETURN (COUNT) (SUBJECT) UTF-8 MODSEQ %d" % (top + 1))
        assert lines[0] == b'* ESEARCH (TAG "e") COUNT 0\r\n'
        lines = await ask(sock, b"e SEARCH RETURN (PARTIAL 1:1) MODSEQ 1")
        assert lines[0] == b'* ESEARCH (TAG "e") PARTIAL (1:1 1) MODSEQ %d\r\n' % modseqs[uids[0]]
    finally:
        sock.close()


async def test_thread_transcripts(env: ImapEnv) -> None:
    sock = await asyncio.to_thread(imap_session, env)
    try:
        lines = await ask(sock, b"t THREAD REFERENCES UTF-8 ALL")
        # 5's parent <gone@x> is absent but its last reference <3@x> is present; 4 answers 2
        assert lines == [b"* THREAD (3 5)(1 2 4)\r\n", b"t OK THREAD completed\r\n"]
        lines = await ask(sock, b"t THREAD ORDEREDSUBJECT UTF-8 ALL")
        assert lines[0] == b"* THREAD (4 (1)(2))(3 5)\r\n"
        lines = await ask(sock, b"t UID THREAD REFERENCES US-ASCII NOT 1")
        # without 1 the lunch thread's root is a dummy, promoted since 2 is its only child
        assert lines[0] == b"* THREAD (3 5)(2 4)\r\n"
        assert (await ask(sock, b"t THREAD REFERENCES UTF-8 TEXT nowhere"))[0] == b"* THREAD\r\n"
    finally:
        sock.close()


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (b"x SORT (SUBJECT) KOI8-R ALL", b"x NO [BADCHARSET (US-ASCII UTF-8)]"),
        (b"x THREAD REFERENCES ISO-2022-JP ALL", b"x NO [BADCHARSET (US-ASCII UTF-8)]"),
        (b"x SORT (SUBJECT) US-ASCII SUBJECT \xc3\xa9", b"x BAD"),
        (b"x SORT (SIZE) UTF-8 ALL ALL)", b"x BAD"),
        (b"x SORT (FOO) UTF-8 ALL", b"x BAD Unknown sort criterion FOO"),
        (b"x THREAD FOO UTF-8 ALL", b"x BAD Unknown threading algorithm FOO"),
        (b"x SORT RETURN (SAVE SAVE) (SIZE) UTF-8 ALL", b"x BAD Unknown or repeated SORT return option SAVE"),
        (b"x SORT RETURN (PARTIAL 1:*) (SIZE) UTF-8 ALL", b"x BAD"),  # RFC 5267 §5: no "*"
    ],
)
async def test_refusals(env: ImapEnv, line: bytes, reply: bytes) -> None:
    sock = await asyncio.to_thread(imap_session, env)
    try:
        lines = await ask(sock, line)
        assert lines[-1].startswith(reply), lines
        assert (await ask(sock, b"n NOOP"))[-1].startswith(b"n OK")  # the session goes on
    finally:
        sock.close()


async def test_not_selected_and_capabilities(env: ImapEnv) -> None:
    sock = await asyncio.to_thread(imap_session, env, select=b"")
    try:
        assert (await ask(sock, b"s SORT (SUBJECT) UTF-8 ALL"))[-1].startswith(b"s BAD No mailbox selected")
        caps = (await ask(sock, b"c CAPABILITY"))[0].split()
        for name in (b"SORT", b"SORT=DISPLAY", b"ESORT", b"THREAD=ORDEREDSUBJECT", b"THREAD=REFERENCES"):
            assert name in caps
        assert b"CONTEXT=SORT" in caps  # RFC 5267 §4.1: with SORT
        assert b"CONTEXT=SEARCH" in caps
    finally:
        sock.close()


async def test_expunge_in_another_session(env: ImapEnv) -> None:
    first = await asyncio.to_thread(imap_session, env)
    other = await asyncio.to_thread(imap_session, env)
    try:
        assert (await ask(other, b"d STORE 1 +FLAGS.SILENT (\\Deleted)"))[-1].startswith(b"d OK")
        assert (await ask(other, b"d EXPUNGE"))[0] == b"* 1 EXPUNGE\r\n"
        # RFC 5256 §3: no untagged EXPUNGE during SORT; message 1 keeps its number, with empty keys
        lines = await ask(first, b"a SORT (SUBJECT) UTF-8 ALL")
        assert b"* 1 EXPUNGE\r\n" not in lines
        assert lines[0] == b"* SORT 1 3 5 2 4\r\n"
        # ... but during UID SORT it may come, and the numbers then move
        lines = await ask(first, b"b UID SORT (SUBJECT) UTF-8 ALL")
        assert lines[0] == b"* SORT 1 3 5 2 4\r\n"
        assert b"* 1 EXPUNGE\r\n" in lines
        assert (await ask(first, b"c SORT (SUBJECT) UTF-8 ALL"))[0] == b"* SORT 2 4 1 3\r\n"
        assert (await ask(first, b"t THREAD REFERENCES UTF-8 ALL"))[0] == b"* THREAD (2 4)(1 3)\r\n"
    finally:
        first.close()
        other.close()


async def test_keys_are_kept_and_go_with_their_message(env: ImapEnv) -> None:
    await env.store.stop_indexer()
    await env.deliver(data(0).replace(b"<1@x>", b"<6@x>"), date=T0)
    assert not newest_has_keys(env)  # nothing written at delivery
    sock = await asyncio.to_thread(imap_session, env)
    try:
        await ask(sock, b"a SORT (SUBJECT) UTF-8 ALL")
        assert key_rows(env) == 6  # derived by the first SORT that needed them, and kept
        await ask(sock, b"d STORE 2 +FLAGS.SILENT (\\Deleted)")
        await ask(sock, b"d EXPUNGE")
        assert key_rows(env) == 5  # gone with the message
        assert (await ask(sock, b"a SORT (SUBJECT) UTF-8 ALL"))[0] == b"* SORT 2 4 1 3 5\r\n"
    finally:
        sock.close()
    # the indexer derives the keys of what it indexes, before any SORT
    await env.deliver(data(2).replace(b"<3@x>", b"<7@x>"), date=T0)
    assert not newest_has_keys(env)
    await env.store.index_pending()
    assert newest_has_keys(env)
    assert key_rows(env) == 6


async def test_imapclient_sort_and_thread(env: ImapEnv) -> None:
    def run() -> tuple[list[int], tuple[tuple[int, ...], ...]]:
        with imapclient.IMAPClient(env.plain[0], port=env.plain[1], ssl=False, timeout=10) as client:
            client.login("alice@example.org", "PASSWORD")
            client.select_folder("INBOX", readonly=True)
            assert client.has_capability("SORT")
            sorted_uids = client.sort(["REVERSE", "DATE"], ["NOT", "SUBJECT", "agenda"])
            return sorted_uids, tuple(client.thread("REFERENCES"))

    sorted_uids, threads = await asyncio.to_thread(run)
    uids = await env.uids()
    assert sorted_uids == [uids[1], uids[0], uids[3]]
    assert threads == ((uids[2], uids[4]), (uids[0], uids[1], uids[3]))
