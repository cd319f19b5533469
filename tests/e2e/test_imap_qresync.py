"""QRESYNC (RFC 7162 §3.2) over a socket: SELECT (QRESYNC ...) with VANISHED (EARLIER), UID FETCH
(CHANGEDSINCE n VANISHED), VANISHED instead of EXPUNGE (own EXPUNGE/UID EXPUNGE/MOVE, other
sessions', IDLE), and the answers after expunge records were pruned."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from imap_env import ImapEnv, ask, exchange, imap_server, message, read_line

# Records made just now are older than a cutoff a minute ahead: pruning takes every one.
EVERYTHING = -60.0


@dataclass
class Synced:
    """What a client cached: the mailbox's UIDVALIDITY and HIGHESTMODSEQ at its last sync."""

    uidvalidity: int
    modseq: int


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ImapEnv]:
    async with imap_server(tmp_path) as running:
        for n in range(1, 7):
            await running.deliver(message(n))
        await running.seen_elsewhere()
        yield running


async def changed_elsewhere(env: ImapEnv) -> Synced:
    """The client syncs (6 messages), then another session flags UID 2 and expunges UIDs 3 and 5."""
    info = await env.mailbox()
    synced = Synced(info.uidvalidity, info.highestmodseq)
    other = await asyncio.to_thread(env.session)
    try:
        await ask(other, b"s SELECT INBOX")
        await ask(other, b"a STORE 2 +FLAGS.SILENT (\\Seen)")
        await ask(other, b"b STORE 3,5 +FLAGS.SILENT (\\Deleted)")
        assert (await ask(other, b"c EXPUNGE"))[-1] == b"c OK EXPUNGE completed\r\n"
    finally:
        other.close()
    return synced


def qresync(synced: Synced, rest: bytes = b"") -> bytes:
    return b"(QRESYNC (%d %d%s))" % (synced.uidvalidity, synced.modseq, rest)


async def test_qresync_needs_enable(env: ImapEnv) -> None:
    synced = await changed_elsewhere(env)
    sock = await asyncio.to_thread(env.session)
    try:
        refused = await ask(sock, b"a SELECT INBOX " + qresync(synced))
        vanished = await ask(sock, b"b EXAMINE INBOX")
        fetch = await ask(sock, b"c UID FETCH 1:* FLAGS (CHANGEDSINCE 1 VANISHED)")
    finally:
        sock.close()
    # RFC 7162 §3.2.5, §3.2.6: BAD without ENABLE QRESYNC.
    assert refused == [b"a BAD QRESYNC is not enabled (ENABLE QRESYNC first)\r\n"]
    assert vanished[-1] == b"b OK [READ-ONLY] EXAMINE completed\r\n"
    assert fetch == [b"c BAD QRESYNC is not enabled (ENABLE QRESYNC first)\r\n"]


async def test_select_qresync_after_flag_changes_and_expunges(env: ImapEnv) -> None:
    synced = await changed_elsewhere(env)
    info = await env.mailbox()
    modseqs = await env.modseqs()
    sock = await asyncio.to_thread(env.session, enable=b"QRESYNC")
    try:
        full = await ask(sock, b"a SELECT INBOX " + qresync(synced))
        known = await ask(sock, b"b EXAMINE INBOX " + qresync(synced, b" 1:4"))
        other_validity = await ask(sock, b"c SELECT INBOX " + qresync(Synced(synced.uidvalidity + 1, 1)))
        current = await ask(
            sock, b"d SELECT INBOX " + qresync(Synced(synced.uidvalidity, info.highestmodseq))
        )
    finally:
        sock.close()
    head = [
        b"* OK [CLOSED] Previous mailbox closed\r\n",
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n",
        b"* 4 EXISTS\r\n",
        b"* 0 RECENT\r\n",
        b"* OK [UNSEEN 1] Message 1 is first unseen\r\n",
        b"* OK [UIDVALIDITY %d] UIDs valid\r\n" % synced.uidvalidity,
        b"* OK [UIDNEXT 7] Predicted next UID\r\n",
    ]
    highest = b"* OK [HIGHESTMODSEQ %d] Highest mailbox mod-sequence\r\n" % info.highestmodseq
    # RFC 7162 §3.2.5.1: after the SELECT responses, VANISHED (EARLIER), then FETCH (UID FLAGS MODSEQ).
    mailboxid = b"* OK [MAILBOXID (F%d)] Mailbox ID\r\n" % info.id  # RFC 8474 §4.2, after PERMANENTFLAGS
    assert full[:6] == head[1:]
    assert full[7] == mailboxid
    assert full[8:] == [
        highest,
        b"* VANISHED (EARLIER) 3,5\r\n",
        b"* 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (%d))\r\n" % modseqs[2],
        b"a OK [READ-WRITE] SELECT completed\r\n",
    ]
    # Known UIDs 1:4: only what is among them.
    assert known[:7] == head
    assert known[8] == mailboxid
    assert known[9:] == [
        highest,
        b"* VANISHED (EARLIER) 3\r\n",
        b"* 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (%d))\r\n" % modseqs[2],
        b"b OK [READ-ONLY] EXAMINE completed\r\n",
    ]
    # RFC 7162 §3.2.5: another UIDVALIDITY ignores the rest; nothing changed since the current MODSEQ.
    assert other_validity[9:] == [highest, b"c OK [READ-WRITE] SELECT completed\r\n"]
    assert current[9:] == [highest, b"d OK [READ-WRITE] SELECT completed\r\n"]


async def test_uid_fetch_vanished(env: ImapEnv) -> None:
    synced = await changed_elsewhere(env)
    modseqs = await env.modseqs()
    sock = await asyncio.to_thread(env.session, enable=b"QRESYNC")
    try:
        await ask(sock, b"s SELECT INBOX")
        got = await ask(sock, b"a UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % synced.modseq)
        some = await ask(sock, b"b UID FETCH 4:6 (FLAGS) (CHANGEDSINCE %d VANISHED)" % synced.modseq)
        by_number = await ask(sock, b"c FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
    finally:
        sock.close()
    # RFC 7162 §3.2.6 example 1: VANISHED (EARLIER) before the FETCH responses.
    assert got == [
        b"* VANISHED (EARLIER) 3,5\r\n",
        b"* 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (%d))\r\n" % modseqs[2],
        b"a OK UID FETCH completed\r\n",
    ]
    assert some == [b"* VANISHED (EARLIER) 5\r\n", b"b OK UID FETCH completed\r\n"]
    assert by_number == [b"c BAD VANISHED is allowed in UID FETCH only\r\n"]  # RFC 7162 §3.2.6


async def test_vanished_replaces_expunge(env: ImapEnv) -> None:
    await env.mailbox("Trash")
    sock = await asyncio.to_thread(env.session, enable=b"QRESYNC")
    other = await asyncio.to_thread(env.session)
    try:
        await ask(sock, b"s SELECT INBOX")
        await ask(other, b"s SELECT INBOX")
        await ask(sock, b"a STORE 2,4 +FLAGS.SILENT (\\Deleted)")
        own = await ask(sock, b"b EXPUNGE")
        highest = (await env.mailbox()).highestmodseq
        await ask(sock, b"c UID STORE 6 +FLAGS.SILENT (\\Deleted)")
        by_uid = await ask(sock, b"d UID EXPUNGE 5:6")
        moved = await ask(sock, b"e MOVE 1 Trash")
        await ask(other, b"x UID STORE 3 +FLAGS.SILENT (\\Deleted)")
        await ask(other, b"y UID EXPUNGE 3")
        told = await ask(sock, b"f NOOP")
        plain = await ask(other, b"z NOOP")
    finally:
        sock.close()
        other.close()
    # RFC 7162 §3.2.10.2 example, §3.2.7: one VANISHED, and the new HIGHESTMODSEQ in the tagged OK.
    assert own[-2:] == [b"* VANISHED 2,4\r\n", b"b OK [HIGHESTMODSEQ %d] EXPUNGE completed\r\n" % highest]
    assert by_uid[0] == b"* VANISHED 6\r\n"  # §3.2.9
    assert by_uid[-1].startswith(b"d OK [HIGHESTMODSEQ ")
    assert moved[0].startswith(b"* OK [COPYUID ")  # RFC 6851 §4.3
    assert moved[1:] == [b"* VANISHED 1\r\n", b"e OK MOVE completed\r\n"]
    # Another session's expunge (UID 3, message 1 in this session by now): VANISHED too.
    assert told[0] == b"* VANISHED 3\r\n"
    assert told[-1] == b"f OK NOOP completed\r\n"
    assert all(line.endswith(b" EXPUNGE\r\n") for line in plain[:-1])  # no QRESYNC there


async def test_idle_pushes_vanished(env: ImapEnv) -> None:
    sock = await asyncio.to_thread(env.session, enable=b"QRESYNC")
    other = await asyncio.to_thread(env.session)
    try:
        await ask(sock, b"s SELECT INBOX")
        await ask(other, b"s SELECT INBOX")
        await asyncio.to_thread(sock.sendall, b"i IDLE\r\n")
        assert await asyncio.to_thread(read_line, sock) == b"+ idling\r\n"
        await ask(other, b"a UID STORE 4 +FLAGS.SILENT (\\Deleted)")
        flags = await asyncio.to_thread(read_line, sock)
        await ask(other, b"b UID EXPUNGE 4")
        pushed = await asyncio.to_thread(read_line, sock)
        ended = await asyncio.to_thread(exchange, sock, b"DONE", b"i")
    finally:
        sock.close()
        other.close()
    modseqs = await env.modseqs()
    assert flags.startswith(b"* 4 FETCH (UID 4 FLAGS (\\Deleted) MODSEQ (")  # §3.2.4
    assert pushed == b"* VANISHED 4\r\n"
    assert 4 not in modseqs
    assert ended[-1] == b"i OK IDLE terminated\r\n"


async def test_answers_after_the_records_were_pruned(env: ImapEnv) -> None:
    synced = await changed_elsewhere(env)  # UIDs 3 and 5 gone, UID 2 flagged
    stale = await asyncio.to_thread(env.session, enable=b"QRESYNC")
    try:
        await ask(stale, b"s SELECT INBOX " + qresync(synced))  # learns of 3 and 5 here
        other = await asyncio.to_thread(env.session)
        try:
            await ask(other, b"s SELECT INBOX")
            await ask(other, b"a UID STORE 6 +FLAGS.SILENT (\\Deleted)")
            await ask(other, b"b UID EXPUNGE 6")
        finally:
            other.close()
        assert await env.store.prune_expunged(EVERYTHING) == 3
        # A session that was selected before the records went still learns of UID 6 (by comparing
        # what it numbers with what the mailbox holds).
        told = await ask(stale, b"c NOOP")
        sock = await asyncio.to_thread(env.session, enable=b"QRESYNC")
        try:
            selected = await ask(sock, b"a SELECT INBOX " + qresync(synced))
            known = await ask(sock, b"b SELECT INBOX " + qresync(synced, b" 1:4"))
            # §3.2.5.2: message 1 is UID 1, message 2 is UID 2: the client knows of any expunge up to 2.
            matched = await ask(sock, b"c SELECT INBOX " + qresync(synced, b" 1:6 (1:2 1:2)"))
            fetched = await ask(sock, b"d UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % synced.modseq)
        finally:
            sock.close()
    finally:
        stale.close()
    assert told == [b"* VANISHED 6\r\n", b"c OK NOOP completed\r\n"]
    # RFC 7162 §3.2.6: a MODSEQ older than the records kept: every known UID that is not there.
    assert b"* 3 EXISTS\r\n" in selected
    assert [line for line in selected if line.startswith(b"* VANISHED")] == [
        b"* VANISHED (EARLIER) 3,5:6\r\n"
    ]
    assert [line for line in known if line.startswith(b"* VANISHED")] == [b"* VANISHED (EARLIER) 3\r\n"]
    assert [line for line in matched if line.startswith(b"* VANISHED")] == [b"* VANISHED (EARLIER) 3,5:6\r\n"]
    assert fetched[0] == b"* VANISHED (EARLIER) 3,5:6\r\n"
    assert fetched[1].startswith(b"* 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (")


async def test_seq_match_data_narrows_the_pruned_answer(env: ImapEnv) -> None:
    synced = await changed_elsewhere(env)  # UIDs 1, 2, 4, 6 remain: message 3 is UID 4
    assert await env.store.prune_expunged(EVERYTHING) == 2
    sock = await asyncio.to_thread(env.session, enable=b"QRESYNC")
    try:
        # §3.2.5.2: (3 -> 4) matches, so every expunge up to UID 4 is known; (4 -> 7) does not.
        matched = await ask(sock, b"a EXAMINE INBOX " + qresync(synced, b" 1:6 (1,3,4 1,4,7)"))
    finally:
        sock.close()
    assert [line for line in matched if line.startswith(b"* VANISHED")] == [b"* VANISHED (EARLIER) 5\r\n"]


async def test_enable_qresync_with_a_mailbox_selected(env: ImapEnv) -> None:
    info = await env.mailbox()
    sock = await asyncio.to_thread(env.session)
    other = await asyncio.to_thread(env.session)
    try:
        await ask(sock, b"s SELECT INBOX")
        # RFC 5161 asks clients to ENABLE before selecting; pochta accepts it after, and it applies
        # from then on: HIGHESTMODSEQ at once (RFC 7162 §3.1), VANISHED for later expunges (§3.2.10).
        enabled = await ask(sock, b"e ENABLE QRESYNC")
        await ask(other, b"s SELECT INBOX")
        await ask(other, b"a UID STORE 2 +FLAGS.SILENT (\\Deleted)")
        await ask(other, b"b UID EXPUNGE 2")
        told = await ask(sock, b"n NOOP")
        closed = await ask(sock, b"c CLOSE")
    finally:
        sock.close()
        other.close()
    assert enabled == [
        b"* OK [HIGHESTMODSEQ %d] Highest mailbox mod-sequence\r\n" % info.highestmodseq,
        b"* ENABLED QRESYNC\r\n",
        b"e OK ENABLE completed\r\n",
    ]
    assert told == [b"* VANISHED 2\r\n", b"n OK NOOP completed\r\n"]  # its flag change is moot
    assert closed == [b"c OK CLOSE completed\r\n"]  # §3.2.8: no VANISHED, no HIGHESTMODSEQ
