"""CONDSTORE (RFC 7162 §3.1) over a socket: enabling, HIGHESTMODSEQ, FETCH MODSEQ / CHANGEDSINCE,
STORE UNCHANGEDSINCE with MODIFIED, SEARCH MODSEQ, STATUS HIGHESTMODSEQ, what a second session is
told, and imapclient's helpers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import imapclient
import pytest

from imap_env import ALICE, PASSWORD, ImapEnv, ask, imap_server, message


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ImapEnv]:
    async with imap_server(tmp_path) as running:
        await running.deliver(message(1))
        await running.deliver(message(2), flags=["\\Seen"])
        await running.deliver(message(3))
        await running.seen_elsewhere()  # no \\Recent in the FETCH lines below
        yield running


async def test_capabilities_and_enable(env: ImapEnv) -> None:
    sock = await asyncio.to_thread(env.session)
    try:
        caps = await ask(sock, b"c CAPABILITY")
        both = await ask(sock, b"e ENABLE QRESYNC CONDSTORE")
        again = await ask(sock, b"f ENABLE CONDSTORE")
    finally:
        sock.close()
    assert {b"CONDSTORE", b"QRESYNC", b"ENABLE"} <= set(caps[0].split())
    assert both == [b"* ENABLED QRESYNC CONDSTORE\r\n", b"e OK ENABLE completed\r\n"]  # RFC 7162 §3.2.3
    assert again == [b"* ENABLED\r\n", b"f OK ENABLE completed\r\n"]  # RFC 5161 §3.1: already on


async def test_select_condstore_reports_highestmodseq(env: ImapEnv) -> None:
    info = await env.mailbox()
    sock = await asyncio.to_thread(env.session)
    try:
        plain = await ask(sock, b"a SELECT INBOX")
        condstore = await ask(sock, b"b SELECT INBOX (CONDSTORE)")
        later = await ask(sock, b"c EXAMINE INBOX")
    finally:
        sock.close()
    highest = b"* OK [HIGHESTMODSEQ %d] Highest mailbox mod-sequence\r\n" % info.highestmodseq
    assert not any(b"HIGHESTMODSEQ" in line for line in plain)  # not before an enabling command
    assert highest in condstore  # RFC 7162 §3.1.8 example 18
    assert condstore[0] == b"* OK [CLOSED] Previous mailbox closed\r\n"  # RFC 7162 §3.2.11
    assert highest in later  # RFC 7162 §3.1.2.1: every SELECT/EXAMINE once enabled
    assert later[-1] == b"c OK [READ-ONLY] EXAMINE completed\r\n"


async def test_first_enabling_command_with_a_mailbox_selected(env: ImapEnv) -> None:
    info = await env.mailbox()
    modseqs = await env.modseqs()
    sock = await asyncio.to_thread(env.session)
    other = await asyncio.to_thread(env.session)
    try:
        await ask(sock, b"s SELECT INBOX")
        first = await ask(sock, b"a FETCH 1 (MODSEQ)")
        second = await ask(sock, b"b FETCH 2 (UID MODSEQ FLAGS)")
        await ask(other, b"s SELECT INBOX")
        enabled = await ask(other, b"e ENABLE CONDSTORE")
    finally:
        sock.close()
        other.close()
    # RFC 7162 §3.1: the first CONDSTORE enabling command with a mailbox selected reports HIGHESTMODSEQ.
    assert first == [
        b"* OK [HIGHESTMODSEQ %d] Highest mailbox mod-sequence\r\n" % info.highestmodseq,
        b"* 1 FETCH (MODSEQ (%d))\r\n" % modseqs[1],  # §3.1.4.2 example 13
        b"a OK FETCH completed\r\n",
    ]
    assert second == [
        b"* 2 FETCH (UID 2 MODSEQ (%d) FLAGS (\\Seen))\r\n" % modseqs[2],
        b"b OK FETCH completed\r\n",
    ]
    assert enabled == [
        b"* OK [HIGHESTMODSEQ %d] Highest mailbox mod-sequence\r\n" % info.highestmodseq,
        b"* ENABLED CONDSTORE\r\n",
        b"e OK ENABLE completed\r\n",
    ]


async def test_fetch_changedsince(env: ImapEnv) -> None:
    sock = await asyncio.to_thread(env.session)
    try:
        await ask(sock, b"s SELECT INBOX")
        before = (await env.mailbox()).highestmodseq
        stored = await ask(sock, b"a STORE 3 +FLAGS.SILENT (\\Flagged)")
        modseqs = await env.modseqs()
        changed = await ask(sock, b"b UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % before)
        by_number = await ask(sock, b"c FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % modseqs[3])
        with_body = await ask(
            sock, b"d FETCH 1:3 (BODY.PEEK[HEADER.FIELDS (SUBJECT)]) (CHANGEDSINCE %d)" % before
        )
    finally:
        sock.close()
    assert stored == [b"a OK STORE completed\r\n"]  # .SILENT, CONDSTORE not enabled yet: nothing
    assert modseqs[3] > before
    # RFC 7162 §3.1.4.1 example 12: only messages changed since, with MODSEQ (and CONDSTORE is on now,
    # which puts UID in every FETCH, §3.2.4, but only unsolicited ones: a FETCH answers what it asked).
    assert changed == [
        b"* OK [HIGHESTMODSEQ %d] Highest mailbox mod-sequence\r\n" % modseqs[3],
        b"* 3 FETCH (UID 3 FLAGS (\\Flagged) MODSEQ (%d))\r\n" % modseqs[3],
        b"b OK UID FETCH completed\r\n",
    ]
    assert by_number == [b"c OK FETCH completed\r\n"]  # a MODSEQ equal to CHANGEDSINCE is not "bigger"
    assert with_body == [
        b"* 3 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {22}\r\n",
        b"Subject: message 3\r\n",
        b"\r\n",
        b" MODSEQ (%d))\r\n" % modseqs[3],
        b"d OK FETCH completed\r\n",
    ]


async def test_store_unchangedsince_and_modified(env: ImapEnv) -> None:
    # Message numbers differ from UIDs: UID 1 goes first. Then UIDs 2, 3, 4 are messages 1, 2, 3.
    await env.deliver(message(4))
    await env.seen_elsewhere()
    sock = await asyncio.to_thread(env.session)
    try:
        await ask(sock, b"s SELECT INBOX")
        await ask(sock, b"x UID STORE 1 +FLAGS.SILENT (\\Deleted)")
        await ask(sock, b"y EXPUNGE")
        await ask(sock, b"z UID STORE 3 +FLAGS.SILENT ($Seen3)")
        modseqs = await env.modseqs()
        pivot = modseqs[2]  # UID 2 unchanged since (MODSEQ == pivot passes), UID 3 changed after
        conditional = await ask(
            sock, b"a STORE 1:3 (UNCHANGEDSINCE %d) +FLAGS.SILENT (\\Answered)" % modseqs[4]
        )
        after = await env.modseqs()
        by_uid = await ask(sock, b"b UID STORE 2:4 (UNCHANGEDSINCE %d) FLAGS ($Done)" % pivot)
        final = await env.modseqs()
        zero = await ask(sock, b"c STORE 1 (UNCHANGEDSINCE 0) +FLAGS.SILENT ($MDNSent)")  # example 8
        plain = await ask(sock, b"d STORE 1 +FLAGS.SILENT (\\Flagged)")
        last = await env.modseqs()
    finally:
        sock.close()
    # RFC 7162 §3.1.3: UID 4 (message 3, MODSEQ == UNCHANGEDSINCE) and UID 2 pass; UID 3 (message 2)
    # was changed later: its number is in MODIFIED; .SILENT still answers FETCH (UID MODSEQ).
    assert conditional == [
        b"* OK [HIGHESTMODSEQ %d] Highest mailbox mod-sequence\r\n" % max(modseqs.values()),
        b"* 1 FETCH (UID 2 MODSEQ (%d))\r\n" % after[2],
        b"* 3 FETCH (UID 4 MODSEQ (%d))\r\n" % after[4],
        b"a OK [MODIFIED 2] Conditional STORE failed\r\n",
    ]
    assert after[3] == modseqs[3] < after[2] == after[4]
    # UID STORE: MODIFIED lists UIDs (every one changed after the pivot now).
    assert by_uid == [b"b OK [MODIFIED 2:4] Conditional STORE failed\r\n"]
    assert final == after
    assert zero == [b"c OK [MODIFIED 1] Conditional STORE failed\r\n"]
    assert plain == [b"* 1 FETCH (UID 2 MODSEQ (%d))\r\n" % last[2], b"d OK STORE completed\r\n"]


async def test_uid_store_unchangedsince_passes_with_equal_modseq(env: ImapEnv) -> None:
    modseqs = await env.modseqs()
    sock = await asyncio.to_thread(env.session, enable=b"CONDSTORE")
    try:
        await ask(sock, b"s SELECT INBOX")
        stored = await ask(sock, b"a UID STORE 3,1 (UNCHANGEDSINCE %d) FLAGS ($Done)" % modseqs[1])
        after = await env.modseqs()
    finally:
        sock.close()
    # RFC 7162 §3.1.3 example 3 (not .SILENT): FLAGS and MODSEQ; UID 3 (MODSEQ above) fails.
    assert stored[2:] == [
        b"* 1 FETCH (UID 1 FLAGS ($Done) MODSEQ (%d))\r\n" % after[1],
        b"a OK [MODIFIED 3] Conditional STORE failed\r\n",
    ]


async def test_second_session_is_told_modseq(env: ImapEnv) -> None:
    writer = await asyncio.to_thread(env.session)
    aware = await asyncio.to_thread(env.session, enable=b"CONDSTORE")
    unaware = await asyncio.to_thread(env.session)
    try:
        for sock in (writer, aware, unaware):
            await ask(sock, b"s SELECT INBOX")
        await ask(writer, b"w STORE 1 +FLAGS.SILENT (\\Deleted)")
        modseqs = await env.modseqs()
        told = await ask(aware, b"a NOOP")
        plain = await ask(unaware, b"b NOOP")
    finally:
        for sock in (writer, aware, unaware):
            sock.close()
    # RFC 7162 §3.1.4.2 example 14, with UID as §3.2.4 requires of a QRESYNC server.
    assert told == [
        b"* 1 FETCH (UID 1 FLAGS (\\Deleted) MODSEQ (%d))\r\n" % modseqs[1],
        b"a OK NOOP completed\r\n",
    ]
    assert plain == [b"* 1 FETCH (FLAGS (\\Deleted))\r\n", b"b OK NOOP completed\r\n"]


async def test_fetch_that_sets_seen_carries_uid_and_modseq(env: ImapEnv) -> None:
    sock = await asyncio.to_thread(env.session, enable=b"CONDSTORE")
    try:
        await ask(sock, b"s SELECT INBOX")
        got = await ask(sock, b"a FETCH 3 (BODY[HEADER.FIELDS (SUBJECT)])")
        modseqs = await env.modseqs()
    finally:
        sock.close()
    # RFC 7162 §3.2.4: a FETCH that implicitly set \\Seen includes UID and MODSEQ.
    assert got[0] == b"* 3 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {22}\r\n"
    assert got[3] == b" UID 3 FLAGS (\\Seen) MODSEQ (%d))\r\n" % modseqs[3]


async def test_search_modseq(env: ImapEnv) -> None:
    sock = await asyncio.to_thread(env.session)
    try:
        await ask(sock, b"s SELECT INBOX")
        await ask(sock, b"x STORE 1 +FLAGS (\\Draft)")
        modseqs = await env.modseqs()
        since = modseqs[2]
        found = await ask(sock, b'a SEARCH MODSEQ "/flags/\\\\draft" all %d' % since)
        none = await ask(sock, b"b SEARCH OR NOT MODSEQ 1 LARGER 50000")
        extended = await ask(sock, b"c SEARCH RETURN (ALL) MODSEQ %d" % since)
        minimum = await ask(sock, b"d UID SEARCH RETURN (MIN) MODSEQ %d" % since)
        count = await ask(sock, b"e SEARCH RETURN (COUNT) MODSEQ 1")
        nothing = await ask(sock, b"f SEARCH RETURN (ALL) MODSEQ %d" % (max(modseqs.values()) + 1))
    finally:
        sock.close()
    highest = max(modseqs.values())
    # RFC 7162 §3.1.5 example 15: the numbers, then the highest mod-sequence of those returned.
    assert found[0] == b"* OK [HIGHESTMODSEQ %d] Highest mailbox mod-sequence\r\n" % highest
    assert found[1:] == [b"* SEARCH 1 2 3 (MODSEQ %d)\r\n" % highest, b"a OK SEARCH completed\r\n"]
    assert none == [b"* SEARCH\r\n", b"b OK SEARCH completed\r\n"]  # example 16: no MODSEQ for nothing
    # RFC 7162 §3.1.10 example 19, RFC 4731 §3.2.
    assert extended == [b'* ESEARCH (TAG "c") ALL 1:3 MODSEQ %d\r\n' % highest, b"c OK SEARCH completed\r\n"]
    assert minimum == [
        b'* ESEARCH (TAG "d") UID MIN 1 MODSEQ %d\r\n' % modseqs[1],
        b"d OK UID SEARCH completed\r\n",
    ]
    assert count == [b'* ESEARCH (TAG "e") COUNT 3 MODSEQ %d\r\n' % highest, b"e OK SEARCH completed\r\n"]
    assert nothing == [b'* ESEARCH (TAG "f")\r\n', b"f OK SEARCH completed\r\n"]


async def test_status_highestmodseq(env: ImapEnv) -> None:
    info = await env.mailbox()
    sock = await asyncio.to_thread(env.session)
    try:
        status = await ask(sock, b"a STATUS INBOX (UIDNEXT MESSAGES HIGHESTMODSEQ)")
        selected = await ask(sock, b"b SELECT INBOX")
    finally:
        sock.close()
    assert status == [  # RFC 7162 §3.1.7 example 17
        b"* STATUS INBOX (UIDNEXT 4 MESSAGES 3 HIGHESTMODSEQ %d)\r\n" % info.highestmodseq,
        b"a OK STATUS completed\r\n",
    ]
    # STATUS (HIGHESTMODSEQ) was an enabling command (§3.1): SELECT reports HIGHESTMODSEQ now.
    assert b"* OK [HIGHESTMODSEQ %d] Highest mailbox mod-sequence\r\n" % info.highestmodseq in selected


async def test_bad_condstore_use(env: ImapEnv) -> None:
    sock = await asyncio.to_thread(env.session)
    try:
        await ask(sock, b"s SELECT INBOX")
        results = [
            await ask(sock, b"a FETCH 1 (FLAGS) (CHANGEDSINCE 0)"),
            await ask(sock, b"b FETCH 1 (FLAGS) (X-FOO 1)"),
            await ask(sock, b"c STORE 1 (X-FOO 1) +FLAGS (\\Seen)"),
            await ask(sock, b"d SELECT INBOX (X-FOO)"),
            await ask(sock, b"e NOOP"),
        ]
    finally:
        sock.close()
    assert [r[-1][:6] for r in results] == [b"a BAD ", b"b BAD ", b"c BAD ", b"d BAD ", b"e OK N"]
    assert results[3] == [b"d BAD Unsupported SELECT parameter X-FOO\r\n"]  # and INBOX stays selected


async def test_imapclient_condstore_helpers(env: ImapEnv) -> None:
    def run() -> tuple[dict[bytes, object], dict[int, dict[bytes, object]], list[int], dict[bytes, object]]:
        host, port = env.plain
        client = imapclient.IMAPClient(host, port=port, ssl=False, timeout=10)
        try:
            client.login(ALICE, PASSWORD)
            assert client.has_capability("CONDSTORE")
            assert client.enable("CONDSTORE") == [b"CONDSTORE"]
            selected = client.select_folder("INBOX")
            start = int(selected[b"HIGHESTMODSEQ"])  # type: ignore[call-overload]
            client.add_flags([2], [b"$Label"])
            changed = client.fetch([1, 2, 3], ["FLAGS"], modifiers=[f"CHANGEDSINCE {start}"])
            found = client.search(["MODSEQ", str(start + 1)])
            status = client.folder_status("INBOX", [b"HIGHESTMODSEQ"])
            return selected, changed, found, status
        finally:
            client.logout()

    selected, changed, found, status = await asyncio.to_thread(run)
    modseqs = await env.modseqs()
    assert selected[b"HIGHESTMODSEQ"] == modseqs[3]
    assert changed == {2: {b"FLAGS": (b"\\Seen", b"$Label"), b"MODSEQ": (modseqs[2],), b"SEQ": 2}}
    assert found == [2]
    assert status == {b"HIGHESTMODSEQ": modseqs[2]}


async def test_highestmodseq_stays_below_an_expunge_not_told(env: ImapEnv) -> None:
    before = (await env.mailbox()).highestmodseq
    sock = await asyncio.to_thread(env.session)
    other = await asyncio.to_thread(env.session)
    try:
        await ask(sock, b"s SELECT INBOX")
        await ask(other, b"s SELECT INBOX")
        await ask(other, b"a UID STORE 1 +FLAGS.SILENT (\\Deleted)")
        await ask(other, b"b UID EXPUNGE 1")
        held = await ask(sock, b"f FETCH 1 (UID)")  # learns of the expunge, may not tell it (by number)
        enabled = await ask(sock, b"g FETCH 2 (MODSEQ)")
        told = await ask(sock, b"n NOOP")
    finally:
        sock.close()
        other.close()
    assert held == [b"* 1 FETCH (UID 1)\r\n", b"f OK FETCH completed\r\n"]
    # RFC 7162 §3.2: the HIGHESTMODSEQ does not cover the EXPUNGE still held back (learnt in one read
    # with the \\Deleted change before it: the MODSEQ the session had before that read).
    assert enabled[0] == b"* OK [HIGHESTMODSEQ %d] Highest mailbox mod-sequence\r\n" % before
    assert told == [b"* 1 EXPUNGE\r\n", b"n OK NOOP completed\r\n"]
