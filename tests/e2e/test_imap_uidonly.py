"""UIDONLY (RFC 9586) over raw sockets: every command with message numbers refused with BAD
[UIDREQUIRED] (and nothing done), UID commands answered with UIDFETCH (the UID item only when asked
for), expunges told as VANISHED (own and another session's), flag changes of another session as
UIDFETCH, and the interplay with CONDSTORE/QRESYNC."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from imap_env import ImapEnv, ask, exchange, imap_server, imap_session, message, open_session, read_line

UIDREQUIRED = re.compile(rb"^(\w+) BAD \[UIDREQUIRED\] ")


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ImapEnv]:
    async with imap_server(tmp_path) as running:
        for n in range(1, 5):
            await running.deliver(message(n), flags=["\\Seen"] if n == 2 else [])
        await running.mailbox("INBOX")
        await running.seen_elsewhere()
        yield running


async def test_capability_and_enable(env: ImapEnv) -> None:
    sock = await open_session(env, select=b"")
    try:
        caps = await ask(sock, b"c CAPABILITY")
        enabled = await ask(sock, b"e ENABLE UIDONLY")
        again = await ask(sock, b"f ENABLE UIDONLY")
    finally:
        sock.close()
    assert b" UIDONLY" in caps[0]
    assert enabled == [b"* ENABLED UIDONLY\r\n", b"e OK ENABLE completed\r\n"]
    assert again == [b"* ENABLED\r\n", b"f OK ENABLE completed\r\n"]  # RFC 5161 §3.1: already on


SEQUENCE_COMMANDS = [
    b"FETCH 1 (FLAGS)",
    b"FETCH 1:* (UID)",
    b"STORE 1 +FLAGS (\\Deleted)",
    b"SEARCH ALL",
    b"COPY 1 INBOX",
    b"MOVE 1 Trash",
    b"SORT (DATE) UTF-8 ALL",
    b"THREAD REFERENCES UTF-8 ALL",
    b"UID SEARCH 1:2",  # a search program with a message-number set
    b"UID SEARCH UID 1:* NOT 3",
    b"UID SORT (DATE) UTF-8 2",
    b"UID THREAD ORDEREDSUBJECT UTF-8 OR 1 UID 2",
    b"ESEARCH IN (SELECTED) 1:3",
]


async def test_every_sequence_number_command_is_refused(env: ImapEnv) -> None:
    def run() -> tuple[list[list[bytes]], list[bytes], list[bytes]]:
        sock = imap_session(env, enable=b"UIDONLY")
        try:
            answers = [exchange(sock, b"t%d %s" % (i, line)) for i, line in enumerate(SEQUENCE_COMMANDS)]
            # REPLACE's literal is read, then the command refused (RFC 8508 with a message number).
            sock.sendall(b"r REPLACE 1 INBOX {5}\r\n")
            assert read_line(sock).startswith(b"+ ")
            sock.sendall(b"hello\r\n")
            answers.append(exchange(sock, b"n NOOP")[-2:])
            flags = exchange(sock, b"u UID FETCH 1:* (FLAGS)")
            return answers, flags, exchange(sock, b"s UID SEARCH ALL")
        finally:
            sock.close()

    answers, flags, search = await asyncio.to_thread(run)
    for line, answer in zip([*SEQUENCE_COMMANDS, b"REPLACE"], answers, strict=True):
        refused = [reply for reply in answer if UIDREQUIRED.match(reply)]
        assert len(refused) == 1, (line, answer)
    # nothing was done: no \Deleted, nothing copied, moved or replaced
    assert flags == [
        b"* 1 UIDFETCH (FLAGS ())\r\n",
        b"* 2 UIDFETCH (FLAGS (\\Seen))\r\n",
        b"* 3 UIDFETCH (FLAGS ())\r\n",
        b"* 4 UIDFETCH (FLAGS ())\r\n",
        b"u OK UID FETCH completed\r\n",
    ]
    assert search == [b"* SEARCH 1 2 3 4\r\n", b"s OK UID SEARCH completed\r\n"]
    assert await env.uids("Trash") == []


async def test_uid_commands_answer_with_uidfetch(env: ImapEnv) -> None:
    def run() -> dict[str, list[bytes]]:
        sock = imap_session(env, enable=b"UIDONLY")
        try:
            return {
                "flags": exchange(sock, b"a UID FETCH 2:3 (FLAGS)"),
                "asked_uid": exchange(sock, b"b UID FETCH 3 (UID FLAGS)"),
                "stored": exchange(sock, b"c UID FETCH 4 (RFC822.SIZE ENVELOPE)"),
                "body": exchange(sock, b"d UID FETCH 1 (BODY[HEADER.FIELDS (SUBJECT)])"),
                "store": exchange(sock, b"e UID STORE 3 +FLAGS (\\Flagged)"),
                "silent": exchange(sock, b"f UID STORE 4 +FLAGS.SILENT (\\Flagged)"),
                "copy": exchange(sock, b"g UID COPY 4 Trash"),
                "search": exchange(sock, b"h UID SEARCH FLAGGED"),
                "esearch": exchange(sock, b"i UID SEARCH RETURN (ALL) UID 1:*"),
                "saved": exchange(sock, b"j UID FETCH $ (FLAGS)"),
            }
        finally:
            sock.close()

    got = await asyncio.to_thread(run)
    assert got["flags"] == [
        b"* 2 UIDFETCH (FLAGS (\\Seen))\r\n",
        b"* 3 UIDFETCH (FLAGS ())\r\n",
        b"a OK UID FETCH completed\r\n",
    ]
    assert got["asked_uid"][0] == b"* 3 UIDFETCH (UID 3 FLAGS ())\r\n"  # RFC 9586 §3.3: when asked for
    assert re.match(rb"^\* 4 UIDFETCH \(RFC822\.SIZE \d+ ENVELOPE \(", got["stored"][0]), got["stored"]
    # the \Seen set by BODY[] is told with FLAGS, still without UID
    assert got["body"][0].startswith(b"* 1 UIDFETCH (BODY[HEADER.FIELDS (SUBJECT)] {")
    assert got["body"][-2].endswith(b" FLAGS (\\Seen))\r\n"), got["body"]
    assert b" UID " not in b"".join(got["body"][:-1])
    assert got["store"] == [b"* 3 UIDFETCH (FLAGS (\\Flagged))\r\n", b"e OK UID STORE completed\r\n"]
    assert got["silent"] == [b"f OK UID STORE completed\r\n"]
    assert got["copy"][-1].startswith(b"g OK [COPYUID ")
    assert got["search"] == [b"* SEARCH 3 4\r\n", b"h OK UID SEARCH completed\r\n"]
    assert got["esearch"][0] == b'* ESEARCH (TAG "i") UID ALL 1:4\r\n'
    assert got["saved"][-1].startswith(b"j ")  # $ is empty here (no SAVE): no message numbers either


async def test_changes_of_another_session_come_as_uidfetch_and_vanished(env: ImapEnv) -> None:
    watcher = await open_session(env, enable=b"UIDONLY")
    other = await open_session(env)
    try:
        await ask(other, b"a STORE 2 +FLAGS.SILENT (\\Flagged)")
        await ask(other, b"b STORE 3 +FLAGS.SILENT (\\Deleted)")
        assert (await ask(other, b"c EXPUNGE"))[-1] == b"c OK EXPUNGE completed\r\n"
        await env.deliver(message(5))
        told = await ask(watcher, b"n NOOP")
        # own expunge: VANISHED, never EXPUNGE, even without QRESYNC
        await ask(watcher, b"d UID STORE 1 +FLAGS.SILENT (\\Deleted)")
        expunged = await ask(watcher, b"e EXPUNGE")
        await ask(watcher, b"f UID STORE 4 +FLAGS.SILENT (\\Deleted)")
        uid_expunged = await ask(watcher, b"g UID EXPUNGE 4")
        seen_by_other = await ask(other, b"h NOOP")
    finally:
        watcher.close()
        other.close()
    assert told == [
        b"* VANISHED 3\r\n",
        b"* 4 EXISTS\r\n",
        b"* 1 RECENT\r\n",
        b"* 2 UIDFETCH (FLAGS (\\Flagged \\Seen))\r\n",
        b"n OK NOOP completed\r\n",
    ]
    assert expunged == [b"* VANISHED 1\r\n", b"e OK EXPUNGE completed\r\n"]
    assert uid_expunged == [b"* VANISHED 4\r\n", b"g OK UID EXPUNGE completed\r\n"]
    # the session without UIDONLY is told by number as before
    assert b"* 1 EXPUNGE\r\n" in seen_by_other
    assert b"* 2 EXPUNGE\r\n" in seen_by_other


async def test_enabled_while_selected_switches_at_once(env: ImapEnv) -> None:
    def run() -> tuple[list[bytes], list[bytes], list[bytes]]:
        sock = imap_session(env)
        try:
            before = exchange(sock, b"a FETCH 2 (FLAGS)")
            exchange(sock, b"e ENABLE UIDONLY")
            return before, exchange(sock, b"b FETCH 2 (FLAGS)"), exchange(sock, b"c UID FETCH 2 (FLAGS)")
        finally:
            sock.close()

    before, after, uid = await asyncio.to_thread(run)
    assert before[0] == b"* 2 FETCH (FLAGS (\\Seen))\r\n"
    assert UIDREQUIRED.match(after[-1])
    assert uid[0] == b"* 2 UIDFETCH (FLAGS (\\Seen))\r\n"


async def test_condstore_and_qresync(env: ImapEnv) -> None:
    info = await env.mailbox()
    modseqs = await env.modseqs()

    def run() -> tuple[list[bytes], list[bytes], list[bytes], list[bytes]]:
        sock = imap_session(env, select=b"", enable=b"UIDONLY QRESYNC")
        try:
            qresync = b"(QRESYNC (%d %d 1:4 (1,3 1,3)))" % (info.uidvalidity, info.highestmodseq)
            refused = exchange(sock, b"a SELECT INBOX " + qresync)
            since = modseqs[1]
            selected = exchange(sock, b"b SELECT INBOX (QRESYNC (%d %d))" % (info.uidvalidity, since))
            stored = exchange(sock, b"c UID STORE 1 +FLAGS (\\Answered)")
            changed = exchange(sock, b"d UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % since)
            return refused, selected, stored, changed
        finally:
            sock.close()

    refused, selected, stored, changed = await asyncio.to_thread(run)
    assert UIDREQUIRED.match(refused[-1])  # RFC 9586 §3: sequence match data holds message numbers
    assert selected[-1].startswith(b"b OK [READ-WRITE]")
    assert all(b" FETCH " not in line and b" UNSEEN " not in line for line in selected)
    later = [uid for uid, modseq in modseqs.items() if modseq > modseqs[1]]
    resynced = [line for line in selected if b"UIDFETCH" in line]
    assert [int(line.split()[1]) for line in resynced] == later
    assert re.match(rb"^\* 1 UIDFETCH \(FLAGS \(\\Answered\) MODSEQ \(\d+\)\)\r\n$", stored[0]), stored
    shape = re.compile(rb"^\* \d UIDFETCH \(FLAGS \(.*\) MODSEQ \(\d+\)\)\r\n$")
    assert all(shape.match(line) for line in changed[:-1])
    assert changed[0].startswith(b"* 1 UIDFETCH")
