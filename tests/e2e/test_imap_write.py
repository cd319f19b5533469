"""COPY, MOVE, EXPUNGE and APPEND (RFC 9051 §6.3.12, §6.4.3, §6.4.7, §6.4.9; RFC 6851; RFC 4315;
RFC 3502; RFC 7889) line by line over raw sockets, with a second session watching."""

from __future__ import annotations

import asyncio
import socket
import tracemalloc
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import imapclient
import pytest

from imap_env import (
    ALICE,
    PASSWORD,
    ImapEnv,
    ask,
    imap_server,
    imap_settings,
    message,
    open_session,
    read_line,
    send_append,
)
from pochta.config import MimeSettings
from pochta.mail.ops import binary_to_text
from pochta.mime import parse_message
from pochta.proto.imap.sections import decode_binary
from pochta.store.model import ChangeSet
from server_env import delivered_first, eventually
from store_env import sqlite_only

LIMIT = 4096  # limits.max_message_size in the small-limit server: APPENDLIMIT


async def append(sock: socket.socket, head: bytes, parts: list[tuple[bytes, bytes]]) -> list[bytes]:
    return await asyncio.to_thread(send_append, sock, head, parts)


# --- COPY / UID COPY (RFC 9051 §6.4.7, RFC 4315 §3) -------------------------------------------------


async def test_copy_and_uid_copy_answer_copyuid(env: ImapEnv) -> None:
    for n in range(1, 4):
        await env.deliver(message(n), flags=["\\Seen"] if n == 2 else [])
    archive = await env.mailbox("Archive")
    sock = await open_session(env)
    try:
        copied = await ask(sock, b"a COPY 1:2 Archive")
        uid_copied = await ask(sock, b"b UID COPY 3,1 Archive")
        nothing = await ask(sock, b"c UID COPY 50:60 Archive")
        bad = await ask(sock, b"d COPY 4 Archive")
    finally:
        sock.close()
    v = archive.uidvalidity
    assert copied == [b"a OK [COPYUID %d 1:2 1:2] COPY completed\r\n" % v]
    assert uid_copied == [b"b OK [COPYUID %d 1,3 3:4] UID COPY completed\r\n" % v]
    # RFC 4315 §3 has no empty UID set: a set naming no message answers OK without COPYUID.
    assert nothing == [b"c OK UID COPY completed, no messages\r\n"]
    assert bad == [b"d BAD Message number 4 is beyond the last message (3 EXISTS)\r\n"]
    view = await env.store.open_view(archive.id)
    assert list(view.uids) == [1, 2, 3, 4]
    assert [entry.flags for entry in view.messages] == [frozenset(), {"\\Seen"}, frozenset(), frozenset()]
    assert await env.uids() == [1, 2, 3]  # the source is untouched


async def test_copy_trycreate_nonexistent_and_overquota(env: ImapEnv) -> None:
    await env.deliver(message(1))
    sock = await open_session(env)
    try:
        trycreate = await ask(sock, b"a COPY 1 Later")
        never = await ask(sock, b'b COPY 1 "wild*card"')
        move_trycreate = await ask(sock, b"c MOVE 1 Later")
        usage = await env.store.quota_usage(env.alice.id)
        await env.store.update_account(ALICE, quota_bytes=usage + 10)
        overquota = await ask(sock, b"d COPY 1 Archive")
        # RFC 6851 §4.1: MOVE within the account does not grow usage; it works at the quota.
        moved = await ask(sock, b"e MOVE 1 Archive")
    finally:
        sock.close()
    # RFC 9051 §6.4.7: TRYCREATE when the destination does not exist but could be created.
    assert trycreate == [b"a NO [TRYCREATE] No such mailbox\r\n"]
    assert never == [b"b NO [NONEXISTENT] No such mailbox, and that name cannot be created\r\n"]
    assert move_trycreate == [b"c NO [TRYCREATE] No such mailbox\r\n"]
    assert overquota == [b"d NO [OVERQUOTA] Quota exceeded (STORAGE)\r\n"]
    assert moved[-1] == b"e OK MOVE completed\r\n"
    assert await env.store.get_mailbox(env.alice.id, "Later") is None  # never created implicitly


async def test_copy_into_the_selected_mailbox_announces_exists(env: ImapEnv) -> None:
    await env.deliver(message(1))
    await env.deliver(message(2))
    info = await env.mailbox()
    sock = await open_session(env)
    try:
        copied = await ask(sock, b"a COPY 1:2 INBOX")
        noop = await ask(sock, b"b NOOP")
    finally:
        sock.close()
    assert copied == [
        b"* 4 EXISTS\r\n",
        # IMAP4rev1 session: its SELECT took 1-2, the copies are new here (RFC 3501 §2.3.2, §7.3.2).
        b"* 4 RECENT\r\n",
        b"a OK [COPYUID %d 1:2 3:4] COPY completed\r\n" % info.uidvalidity,
    ]
    assert noop == [b"b OK NOOP completed\r\n"]  # the feed's echo is not reported twice


# --- MOVE / UID MOVE (RFC 6851) ---------------------------------------------------------------------


async def test_move_sends_copyuid_then_expunges_in_order(env: ImapEnv) -> None:
    for n in range(1, 6):
        await env.deliver(message(n), flags=["\\Flagged"] if n == 4 else [])
    archive = await env.mailbox("Archive")
    sock = await open_session(env)
    try:
        moved = await ask(sock, b"a MOVE 2,4 Archive")
        uid_moved = await ask(sock, b"b UID MOVE 5 Archive")
        nothing = await ask(sock, b"c UID MOVE 4 Archive")  # moved already: names no message now
        noop = await ask(sock, b"d NOOP")
    finally:
        sock.close()
    v = archive.uidvalidity
    # RFC 6851 §4.3: COPYUID in an untagged OK before the EXPUNGEs; messages 2 and 4 go out as 2, 3
    # (RFC 9051 §7.5.1: each EXPUNGE renumbers at once).
    assert moved == [
        b"* OK [COPYUID %d 2,4 1:2] Moved\r\n" % v,
        b"* 2 EXPUNGE\r\n",
        b"* 3 EXPUNGE\r\n",
        b"a OK MOVE completed\r\n",
    ]
    assert uid_moved == [
        b"* OK [COPYUID %d 5 3] Moved\r\n" % v,
        b"* 3 EXPUNGE\r\n",
        b"b OK UID MOVE completed\r\n",
    ]
    assert nothing == [b"c OK UID MOVE completed, no messages\r\n"]
    assert noop == [b"d NOOP completed\r\n".replace(b"d ", b"d OK ")]
    assert await env.uids() == [1, 3]
    view = await env.store.open_view(archive.id)
    assert list(view.uids) == [1, 2, 3]
    assert [entry.flags for entry in view.messages] == [frozenset(), {"\\Flagged"}, frozenset()]  # kept


async def test_move_into_the_selected_mailbox(env: ImapEnv) -> None:
    # RFC 6851 §3.3: allowed where COPY into it is; the message gets a new UID at the end.
    await env.deliver(message(1))
    await env.deliver(message(2))
    info = await env.mailbox()
    sock = await open_session(env)
    try:
        moved = await ask(sock, b"a UID MOVE 1 INBOX")
    finally:
        sock.close()
    assert moved == [
        b"* OK [COPYUID %d 1 3] Moved\r\n" % info.uidvalidity,
        b"* 1 EXPUNGE\r\n",
        b"* 2 EXISTS\r\n",
        b"* 2 RECENT\r\n",  # 2 (taken at SELECT) and 3 (the moved one, new here)
        b"a OK UID MOVE completed\r\n",
    ]
    assert await env.uids() == [2, 3]


async def test_examine_allows_copy_but_refuses_move_and_expunge(env: ImapEnv) -> None:
    uid = await env.deliver(message(1), flags=["\\Deleted"])
    archive = await env.mailbox("Archive")
    sock = await open_session(env, select=b"")
    try:
        await ask(sock, b"e EXAMINE INBOX")
        copied = await ask(sock, b"a COPY 1 Archive")
        moved = await ask(sock, b"b MOVE 1 Archive")
        uid_moved = await ask(sock, b"c UID MOVE 1 Archive")
        expunged = await ask(sock, b"d EXPUNGE")
        uid_expunged = await ask(sock, b"f UID EXPUNGE 1")
    finally:
        sock.close()
    assert copied == [b"a OK [COPYUID %d 1 1] COPY completed\r\n" % archive.uidvalidity]
    read_only = b"NO [READ-ONLY] Mailbox is read-only (EXAMINE)\r\n"
    assert moved == [b"b " + read_only]
    assert uid_moved == [b"c " + read_only]
    assert expunged == [b"d " + read_only]
    assert uid_expunged == [b"f " + read_only]
    assert await env.uids() == [uid]


async def test_copy_of_a_message_expunged_elsewhere_is_refused(env: ImapEnv) -> None:
    uids = [await env.deliver(message(n)) for n in range(1, 4)]
    info = await env.mailbox()
    a = await open_session(env)
    try:
        await env.store.expunge(info.id, uids[1:2])
        copied = await ask(a, b"a COPY 1:3 Archive")  # message 2 is gone; its EXPUNGE is held back
        uid_copied = await ask(a, b"b UID COPY 1:3 Archive")
        again = await ask(a, b"c UID COPY 1:3 Archive")
    finally:
        a.close()
    # RFC 5530 EXPUNGEISSUED; nothing is copied (COPY is all or nothing, RFC 9051 §6.4.7).
    assert copied == [b"a NO [EXPUNGEISSUED] Some of the messages were expunged meanwhile\r\n"]
    # UID COPY may carry EXPUNGE (RFC 9051 §7.5.1): the client learns why, and the retry works.
    assert uid_copied == [
        b"* 2 EXPUNGE\r\n",
        b"b NO [EXPUNGEISSUED] Some of the messages were expunged meanwhile\r\n",
    ]
    archive = await env.mailbox("Archive")
    assert again == [b"c OK [COPYUID %d 1,3 1:2] UID COPY completed\r\n" % archive.uidvalidity]


# --- EXPUNGE / UID EXPUNGE (RFC 9051 §6.4.3, RFC 4315 §2.1) -----------------------------------------


async def test_expunge_reports_each_removed_message(env: ImapEnv) -> None:
    for n in range(1, 12):
        await env.deliver(message(n), flags=["\\Deleted"] if n in (3, 4, 7, 11) else [])
    sock = await open_session(env)
    try:
        expunged = await ask(sock, b"a EXPUNGE")
        again = await ask(sock, b"b EXPUNGE")
    finally:
        sock.close()
    # RFC 9051 §6.4.3 example: messages 3, 4, 7 and 11 are reported as 3, 3, 5, 8.
    assert expunged == [
        b"* 3 EXPUNGE\r\n",
        b"* 3 EXPUNGE\r\n",
        b"* 5 EXPUNGE\r\n",
        b"* 8 EXPUNGE\r\n",
        b"a OK EXPUNGE completed\r\n",
    ]
    assert again == [b"b OK EXPUNGE completed\r\n"]
    assert await env.uids() == [1, 2, 5, 6, 8, 9, 10]


async def test_uid_expunge_removes_only_given_deleted_uids(env: ImapEnv) -> None:
    for n in range(1, 6):
        await env.deliver(message(n), flags=["\\Deleted"] if n != 2 else [])
    sock = await open_session(env)
    try:
        expunged = await ask(sock, b"a UID EXPUNGE 2:4,9")
        none = await ask(sock, b"b UID EXPUNGE 20:*")  # "*" is UID 5 here: \Deleted, so it goes
    finally:
        sock.close()
    # RFC 4315 §2.1: 2 is not \Deleted and stays; 9 does not exist.
    assert expunged == [b"* 3 EXPUNGE\r\n", b"* 3 EXPUNGE\r\n", b"a OK UID EXPUNGE completed\r\n"]
    assert none == [b"* 3 EXPUNGE\r\n", b"b OK UID EXPUNGE completed\r\n"]
    assert await env.uids() == [1, 2]


async def test_other_sessions_learn_of_expunge_move_and_append_at_the_right_time(env: ImapEnv) -> None:
    for n in range(1, 5):
        await env.deliver(message(n), flags=["\\Deleted"] if n == 2 else [])
    a = await open_session(env)
    b = await open_session(env)
    try:
        b_expunge = await ask(b, b"b1 EXPUNGE")
        # RFC 9051 §7.5.1: no EXPUNGE while a command with message numbers runs (SEARCH here).
        a_search = await ask(a, b"a1 SEARCH ALL")
        a_noop = await ask(a, b"a2 NOOP")
        b_move = await ask(b, b"b2 UID MOVE 3 Archive")
        a_uid = await ask(a, b"a3 UID SEARCH ALL")  # UID commands may carry it
        b_append = await append(b, b"b3 APPEND INBOX", [(b"", message(9))])
        a_noop2 = await ask(a, b"a4 NOOP")
    finally:
        a.close()
        b.close()
    assert b_expunge == [b"* 2 EXPUNGE\r\n", b"b1 OK EXPUNGE completed\r\n"]
    assert b"* 2 EXPUNGE\r\n" not in a_search
    assert a_search[-1].startswith(b"a1 OK")
    assert a_noop == [b"* 2 EXPUNGE\r\n", b"a2 OK NOOP completed\r\n"]
    assert b_move[1:] == [b"* 2 EXPUNGE\r\n", b"b2 OK UID MOVE completed\r\n"]
    assert a_uid == [b"* SEARCH 1 3 4\r\n", b"* 2 EXPUNGE\r\n", b"a3 OK UID SEARCH completed\r\n"]
    # \\Recent (RFC 3501 §2.3.2): A selected first and holds 1 and 4; B was told of 9 first.
    assert b_append[-3:-1] == [b"* 3 EXISTS\r\n", b"* 1 RECENT\r\n"]
    assert a_noop2 == [b"* 3 EXISTS\r\n", b"* 2 RECENT\r\n", b"a4 OK NOOP completed\r\n"]


# --- APPEND (RFC 9051 §6.3.12, RFC 3502, RFC 4315 §3, RFC 7889) -------------------------------------


async def test_append_with_flags_and_date_answers_appenduid(env: ImapEnv) -> None:
    sent = await env.mailbox("Sent")
    sock = await open_session(env, select=b"")
    try:
        appended = await append(
            sock, b"a APPEND Sent", [(b'(\\Seen $Forwarded) "05-Mar-2024 14:07:30 +0200" ', message(1))]
        )
        plain = await append(sock, b"b APPEND Sent", [(b"", message(2))])
    finally:
        sock.close()
    v = sent.uidvalidity
    assert appended == [b"+ Ready for literal data\r\n", b"a OK [APPENDUID %d 1] APPEND completed\r\n" % v]
    assert plain[-1] == b"b OK [APPENDUID %d 2] APPEND completed\r\n" % v
    view = await env.store.open_view(sent.id)
    first, second = view.messages
    assert first.flags == {"\\Seen", "$Forwarded"}
    assert first.internal_date == datetime(2024, 3, 5, 14, 7, 30, tzinfo=timezone(timedelta(hours=2)))
    assert second.flags == frozenset()
    assert abs(second.internal_date - datetime.now(UTC)) < timedelta(minutes=1)  # no date: now
    with env.store.open_blob(first.blob) as f:
        assert f.read() == message(1)


async def test_multiappend_with_imapclient_and_capabilities(env: ImapEnv) -> None:
    def run() -> tuple[tuple[bytes, ...], object]:
        client = imapclient.IMAPClient(*env.plain, ssl=False, timeout=10)
        try:
            client.login(ALICE, PASSWORD)
            caps = client.capabilities()
            result = client.multiappend("Drafts", [message(1), {"msg": message(2), "flags": ["\\Draft"]}])
            return caps, result
        finally:
            client.logout()

    caps, result = await asyncio.to_thread(run)
    drafts = await env.mailbox("Drafts")
    for cap in (
        b"MULTIAPPEND",
        b"UIDPLUS",
        b"MOVE",
        b"IDLE",
        b"APPENDLIMIT=%d" % env.settings.limits.max_message_size,
    ):
        assert cap in caps
    assert result == ("OK", [b"[APPENDUID %d 1:2] APPEND completed" % drafts.uidvalidity])
    view = await env.store.open_view(drafts.id)
    assert [entry.flags for entry in view.messages] == [frozenset(), {"\\Draft"}]


async def test_append_errors(env: ImapEnv) -> None:
    sock = await open_session(env, select=b"")
    try:
        trycreate = await append(sock, b"a APPEND Later", [(b"", message(1))])
        bad_flag = await append(sock, b"b APPEND INBOX", [(b"", message(1)), (b"(\\Bogus) ", message(2))])
        empty = await append(sock, b"c APPEND INBOX", [(b"", b"")])
        await env.store.update_account(ALICE, quota_bytes=len(message(1)) + 10)
        overquota = await append(sock, b"d APPEND INBOX", [(b"", message(1)), (b"", message(2))])
        fits = await append(sock, b"e APPEND INBOX", [(b"", message(1))])
    finally:
        sock.close()
    assert trycreate[-1] == b"a NO [TRYCREATE] No such mailbox\r\n"  # RFC 9051 §6.3.12
    assert bad_flag[-1].startswith(b"b NO [CLIENTBUG]")
    assert empty[-1] == b"c NO [CANNOT] Cannot store an empty message\r\n"
    assert overquota[-1] == b"d NO [OVERQUOTA] Quota exceeded (STORAGE)\r\n"  # RFC 3502 §3: neither is stored
    assert fits[-1].startswith(b"e OK [APPENDUID ")
    assert await env.uids() == [1]


async def test_concurrent_appends_store_exactly_what_the_quota_holds(env: ImapEnv) -> None:
    # Eight sessions APPEND at once with room for three: each session's check before the write
    # may pass, the store's check in the write transaction lets exactly three through.
    messages = [message(n) for n in range(10, 18)]  # one size
    size = len(messages[0])
    await env.store.update_account(ALICE, quota_bytes=3 * size + size // 2)

    async def appending(data: bytes) -> bytes:
        # asyncio streams, not threads: eight blocked client threads would take the default
        # executor that the in-process server needs for its own to_thread calls.
        reader, writer = await asyncio.open_connection(*env.plain)
        try:
            await reader.readline()  # greeting
            writer.write(b"L LOGIN alice@example.org PASSWORD\r\n")
            assert (await reader.readline()).startswith(b"L OK")
            writer.write(b"a APPEND Archive {%d}\r\n" % len(data))
            assert (await reader.readline()).startswith(b"+")
            writer.write(data + b"\r\n")
            while not (line := await reader.readline()).startswith(b"a "):
                pass
            return line
        finally:
            writer.close()

    async with asyncio.timeout(30):
        last = sorted(await asyncio.gather(*map(appending, messages)))
    assert last[:5] == [b"a NO [OVERQUOTA] Quota exceeded (STORAGE)\r\n"] * 5, last
    assert [line[:16] for line in last[5:]] == [b"a OK [APPENDUID "] * 3, last
    assert len(await env.uids("Archive")) == 3
    assert await env.store.quota_usage(env.alice.id) == 3 * size


@sqlite_only("holds SQLite's one writer so that another delivery commits first")
async def test_append_and_copy_refused_when_the_quota_filled_before_their_write(env: ImapEnv) -> None:
    # Another delivery lands between the session's quota check and its write: the store refuses
    # the write in its transaction, and the client gets NO [OVERQUOTA] (RFC 9208 §4.1, §4.3).
    first = message(11)
    await env.deliver(first)
    await env.store.update_account(ALICE, quota_bytes=2 * len(first) + len(first) // 2)  # one more
    sock = await open_session(env)
    inbox = await env.mailbox()
    try:
        async with delivered_first(env.store, inbox.id, message(12)) as gate:
            appending = asyncio.ensure_future(append(sock, b"a APPEND Archive", [(b"", message(13))]))
            await gate.queued(2)
        appended = await appending
        # Now full: a COPY of one more is refused by the check before the write...
        refused = await ask(sock, b"b COPY 1 Archive")
        await env.store.update_account(ALICE, quota_bytes=3 * len(first) + len(first) // 2)
        # ...and with room for one more, by the store when another delivery takes it first.
        async with delivered_first(env.store, inbox.id, message(14)) as gate:
            copying = asyncio.ensure_future(ask(sock, b"c COPY 1 Archive"))
            await gate.queued(2)
        copied = await copying
    finally:
        sock.close()
    assert appended[-1] == b"a NO [OVERQUOTA] Quota exceeded (STORAGE)\r\n"
    assert refused[-1] == b"b NO [OVERQUOTA] Quota exceeded (STORAGE)\r\n"
    assert copied[-1] == b"c NO [OVERQUOTA] Quota exceeded (STORAGE)\r\n"
    assert await env.uids("Archive") == []
    assert await env.store.quota_usage(env.alice.id) == 3 * len(first)


async def test_append_stores_bare_lf_as_crlf(env: ImapEnv) -> None:
    sock = await open_session(env, select=b"")
    try:
        done = await append(sock, b"a APPEND INBOX", [(b"", b"Subject: lf\n\nline\nend\n")])
    finally:
        sock.close()
    assert done[-1].startswith(b"a OK [APPENDUID")
    [entry] = (await env.store.open_view((await env.mailbox()).id)).messages
    with env.store.open_blob(entry.blob) as f:
        assert f.read() == b"Subject: lf\r\n\r\nline\r\nend\r\n"


async def test_append_to_the_selected_mailbox_announces_exists(env: ImapEnv) -> None:
    await env.deliver(message(1))
    info = await env.mailbox()
    sock = await open_session(env)
    try:
        appended = await append(sock, b"a APPEND INBOX", [(b"", message(2))])
    finally:
        sock.close()
    # RFC 9051 §6.3.12: "the server SHOULD notify the client immediately via an untagged EXISTS".
    assert appended[1:] == [
        b"* 2 EXISTS\r\n",
        b"* 2 RECENT\r\n",  # 1 taken at SELECT, 2 when announced (RFC 3501 §2.3.2)
        b"a OK [APPENDUID %d 2] APPEND completed\r\n" % info.uidvalidity,
    ]


async def test_own_appends_copies_and_moves_are_announced_without_a_read_back(
    env: ImapEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The write's result carries the new messages (Placed.entry, CopyResult.added/removed): when
    # nothing else was committed to the mailbox in between, the session takes them from there.
    await env.deliver(message(1))
    info = await env.mailbox()
    await env.seen_elsewhere()  # what was delivered before is not \\Recent here
    sock = await open_session(env)
    reads: list[int] = []
    changes_since = env.store.changes_since

    async def counted(mailbox_id: int, modseq: int) -> ChangeSet:
        reads.append(modseq)
        return await changes_since(mailbox_id, modseq)

    monkeypatch.setattr(env.store, "changes_since", counted)
    try:
        appended = await append(sock, b"a APPEND INBOX", [(b"(\\Flagged) ", message(2))])
        copied = await ask(sock, b"b COPY 1 INBOX")
        moved = await ask(sock, b"c UID MOVE 2 INBOX")
        fetched = await ask(sock, b"d FETCH 1:* (UID FLAGS)")
        unread = list(reads)
        noop = await ask(sock, b"e NOOP")  # NOOP always reads (RFC 9051 §6.1.2): nothing new
    finally:
        sock.close()
    v = info.uidvalidity
    assert appended[1:] == [
        b"* 2 EXISTS\r\n",
        b"* 1 RECENT\r\n",
        b"a OK [APPENDUID %d 2] APPEND completed\r\n" % v,
    ]
    assert copied == [b"* 3 EXISTS\r\n", b"* 2 RECENT\r\n", b"b OK [COPYUID %d 1 3] COPY completed\r\n" % v]
    assert moved == [
        b"* OK [COPYUID %d 2 4] Moved\r\n" % v,
        b"* 2 EXPUNGE\r\n",
        b"* 3 EXISTS\r\n",
        b"* 2 RECENT\r\n",
        b"c OK UID MOVE completed\r\n",
    ]
    assert fetched == [
        b"* 1 FETCH (UID 1 FLAGS ())\r\n",
        b"* 2 FETCH (UID 3 FLAGS (\\Recent))\r\n",
        b"* 3 FETCH (UID 4 FLAGS (\\Flagged \\Recent))\r\n",
        b"d OK FETCH completed\r\n",
    ]
    assert unread == []
    assert noop == [b"e OK NOOP completed\r\n"]
    assert await env.uids() == [1, 3, 4]


async def test_keywords_the_session_knows_need_no_read_of_the_mailbox(
    env: ImapEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    # STORE and APPEND into the selected mailbox spell a keyword as the mailbox does; when the
    # session's own keywords of it (FLAGS) spell them all, the mailbox's view is not read for them.
    await env.deliver(message(1), flags=["$Label1"])
    await env.seen_elsewhere()  # what was delivered before is not \\Recent here
    sock = await open_session(env)
    reads: list[str] = []
    for name in ("open_view", "open_named_view"):
        method = getattr(env.store, name)

        async def counted(*args: object, _method: Any = method, _name: str = name) -> object:
            reads.append(_name)
            return await _method(*args)

        monkeypatch.setattr(env.store, name, counted)
    try:
        seen = await ask(sock, b"a STORE 1 +FLAGS (\\Seen)")  # a write: this process's view is stale now
        stored = await ask(sock, b"b STORE 1 +FLAGS ($label1 \\Flagged)")
        appended = await append(sock, b"c APPEND INBOX", [(b"($LABEL1) ", message(2))])
        unknown = await ask(sock, b"d STORE 1 +FLAGS ($New)")  # not known: read, then stored as given
    finally:
        sock.close()
    assert seen[-1] == b"a OK STORE completed\r\n"
    assert stored == [b"* 1 FETCH (FLAGS (\\Flagged \\Seen $Label1))\r\n", b"b OK STORE completed\r\n"]
    assert appended[-1].startswith(b"c OK [APPENDUID")
    assert unknown[-1] == b"d OK STORE completed\r\n"
    assert reads == ["open_view"]  # for $New only
    view = await env.store.open_view((await env.mailbox()).id)
    assert [set(entry.flags) for entry in view.messages] == [
        {"\\Flagged", "\\Seen", "$Label1", "$New"},
        {"$Label1"},
    ]


async def test_own_append_after_an_unseen_delivery_keeps_uid_order(env: ImapEnv) -> None:
    # Another commit fell between what the session knew and its own APPEND: the session reads the
    # changes, so the delivered message (a lower UID) is announced too, before its own, not lost.
    await env.deliver(message(1))
    info = await env.mailbox()
    await env.seen_elsewhere()  # what was delivered before is not \\Recent here
    sock = await open_session(env)
    try:
        await env.deliver(message(2))  # UID 2, not yet told to the session
        appended = await append(sock, b"a APPEND INBOX", [(b"", message(3))])
        fetched = await ask(sock, b"b FETCH 1:* (UID)")
    finally:
        sock.close()
    assert appended[1:] == [
        b"* 3 EXISTS\r\n",
        b"* 2 RECENT\r\n",
        b"a OK [APPENDUID %d 3] APPEND completed\r\n" % info.uidvalidity,
    ]
    assert fetched == [
        b"* 1 FETCH (UID 1)\r\n",
        b"* 2 FETCH (UID 2)\r\n",
        b"* 3 FETCH (UID 3)\r\n",
        b"b OK FETCH completed\r\n",
    ]


@pytest.fixture
async def small(tmp_path: Path) -> AsyncIterator[ImapEnv]:
    async with imap_server(tmp_path, imap_settings(limits={"max_message_size": LIMIT})) as running:
        yield running


async def test_toobig_and_multiappend_all_or_nothing(small: ImapEnv) -> None:
    env = small
    big = message(2, body=b"x" * LIMIT)
    sock = await open_session(env, select=b"")
    try:
        toobig = await append(sock, b"a APPEND INBOX", [(b"", big)])
        multi = await append(sock, b"b APPEND INBOX", [(b"", message(1)), (b"", big)])
        after = await ask(sock, b"c NOOP")
        exact = await append(
            sock, b"d APPEND INBOX", [(b"", message(3, body=b"y" * (LIMIT - len(message(3)))))]
        )
    finally:
        sock.close()
    # RFC 7889 §4 / RFC 4469 §4.2: refused before the continuation; the client sends no octets.
    assert toobig == [b"a NO [TOOBIG] Literal too big\r\n"]
    # RFC 3502 §3: the second message is over the limit: the first is not appended either.
    assert multi == [b"+ Ready for literal data\r\n", b"b NO [TOOBIG] Literal too big\r\n"]
    assert after == [b"c OK NOOP completed\r\n"]  # the connection is still in sync
    assert exact[-1].startswith(b"d OK [APPENDUID")
    assert await env.uids() == [1]


# --- APPEND literals written to spool files as they arrive (server/imap/uploads.py) ----------------


def text_message(n: int, size: int, *, eol: bytes = b"\r\n") -> bytes:
    """A message of about ``size`` octets of text lines (over imap.max_literal_size: spooled)."""
    lines = b"".join(b"line %d of message %d%s" % (i, n, eol) for i in range(size // 24))
    return message(n).replace(b"\r\n", eol) + lines


def stored_blobs(env: ImapEnv) -> list[Path]:
    return [p for p in (env.data_dir / "blobs").glob("??/??/*") if p.is_file()]


async def test_spooled_append_is_stored_byte_for_byte(env: ImapEnv) -> None:
    crlf = text_message(1, 300_000)
    bare_lf = text_message(2, 300_000, eol=b"\n")
    binary = b"Subject: bin\r\n\r\n" + bytes(range(256)).replace(b"\n", b"\r\n") * 1000  # literal8: NUL...
    sock = await open_session(env, select=b"")
    try:
        done = await append(sock, b"a APPEND INBOX", [(b"", crlf), (b"(\\Seen) ", bare_lf)])
        done += await append(sock, b"b APPEND INBOX", [(b"~", binary)])
        fetched = await ask(sock, b"s SELECT INBOX")
    finally:
        sock.close()
    assert done[-3].startswith(b"a OK [APPENDUID ")
    assert done[-1].startswith(b"b OK [APPENDUID ")
    assert fetched[-1].startswith(b"s OK")
    view = await env.store.open_view((await env.mailbox()).id)
    stored = []
    for entry in view.messages:
        with env.store.open_blob(entry.blob) as f:
            stored.append(f.read())
    # The literal8's NUL-holding text goes to base64 (RFC 3516 §4.4), and BINARY gives it back.
    assert stored[:2] == [crlf, bare_lf.replace(b"\n", b"\r\n")]
    assert stored[2] == binary_to_text(binary, MimeSettings())
    assert stored[2].startswith(b"Subject: bin\r\nContent-Transfer-Encoding: base64\r\n\r\n")
    assert binary_body(stored[2]) == binary.split(b"\r\n\r\n", 1)[1]
    assert [entry.flags for entry in view.messages] == [frozenset(), {"\\Seen"}, frozenset()]
    assert env.spool_files() == []  # adopted by the blob store (renamed), none left over


def binary_body(stored: bytes) -> bytes:
    """BINARY[1] of a single-part message as stored: its body decoded of its encoding."""
    root = parse_message(stored, MimeSettings()).root
    return decode_binary(stored[root.body_start : root.body_end], root.encoding)


async def test_small_literal8_append_keeps_every_octet(env: ImapEnv) -> None:
    # imaptest's append-binary: CTE binary with NUL, 8-bit and bare LF, kept in memory (small).
    head = b"From: user@domain.org\r\nContent-Type: application/octet-stream\r\n"
    body = b"\x00-\xe4\n\r\n\n"
    sock = await open_session(env, select=b"")
    try:
        done = await append(
            sock, b"a APPEND INBOX", [(b"~", head + b"Content-Transfer-Encoding: binary\r\n\r\n" + body)]
        )
        text = await append(
            sock, b"b APPEND INBOX", [(b"~", b"Subject: t\nContent-Type: text/plain\n\nbare\nLF\n")]
        )
    finally:
        sock.close()
    assert done[-1].startswith(b"a OK [APPENDUID ")
    assert text[-1].startswith(b"b OK [APPENDUID ")
    view = await env.store.open_view((await env.mailbox()).id)
    stored = [env.store.read_blob(entry.blob) for entry in view.messages]
    assert b"Content-Transfer-Encoding: base64\r\n" in stored[0]
    assert b"binary" not in stored[0]
    assert binary_body(stored[0]) == body  # BINARY.SIZE[1] 7, the octets as sent
    # Text with bare LF (and no NUL) keeps the line-end rule, as any APPEND.
    assert stored[1] == b"Subject: t\r\nContent-Type: text/plain\r\n\r\nbare\r\nLF\r\n"


async def test_failed_spooled_multiappend_stores_nothing_and_leaves_no_file(env: ImapEnv) -> None:
    first, second = text_message(1, 200_000), text_message(2, 200_000)
    sock = await open_session(env, select=b"")
    try:
        bad_flag = await append(sock, b"a APPEND INBOX", [(b"", first), (b"(\\Bogus) ", second)])
        trycreate = await append(sock, b"b APPEND Later", [(b"", first), (b"", second)])
        nul = await append(sock, b"c APPEND INBOX", [(b"", first), (b"", second[:-10] + b"\x00" * 10)])
        await env.store.update_account(ALICE, quota_bytes=len(first) + 10)
        overquota = await append(sock, b"d APPEND INBOX", [(b"", first), (b"", second)])
        after = await ask(sock, b"e NOOP")
    finally:
        sock.close()
    assert bad_flag[-1].startswith(b"a NO [CLIENTBUG]")
    assert trycreate[-1] == b"b NO [TRYCREATE] No such mailbox\r\n"
    assert nul[-1] == b"c BAD NUL in literal; use literal8\r\n"
    assert overquota[-1] == b"d NO [OVERQUOTA] Quota exceeded (STORAGE)\r\n"
    assert after == [b"e OK NOOP completed\r\n"]
    assert await env.uids() == []  # RFC 3502 §3: none of the messages
    assert stored_blobs(env) == []
    assert env.spool_files() == []


async def test_spool_file_of_an_append_cut_off_is_removed(env: ImapEnv) -> None:
    sock = await open_session(env, select=b"")
    try:
        sock.sendall(b"a APPEND INBOX {1000000}\r\n")
        assert await asyncio.to_thread(read_line, sock) == b"+ Ready for literal data\r\n"
        await asyncio.to_thread(sock.sendall, b"x" * 300_000)
        await eventually(lambda: sum(p.stat().st_size for p in env.spool_files()) > 250_000)
    finally:
        sock.close()  # the client goes away in the middle of the literal
    await eventually(lambda: env.spool_files() == [])
    assert await env.uids() == []


async def test_unfinished_large_appends_keep_memory_flat(env: ImapEnv) -> None:
    # 10 connections with unfinished 50 MB APPENDs took the server from 164 MB to 624 MB when each
    # literal was kept in memory. Here: 5 x 20 MB literals, 19 MB of each sent, none finished.
    size, sent, clients = 20 << 20, 19 << 20, 5
    block = b"y" * (1 << 20)
    socks = [await open_session(env, select=b"") for _ in range(clients)]

    def start_append(sock: socket.socket) -> None:
        sock.sendall(b"a APPEND INBOX {%d}\r\n" % size)
        assert read_line(sock) == b"+ Ready for literal data\r\n"
        sock.sendall(b"Subject: big\r\n\r\n")
        for _ in range(sent >> 20):
            sock.sendall(block)

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]

        def received() -> bool:
            # Spooled: the files hold what was sent; kept in memory: the memory has grown instead.
            on_disk = sum(p.stat().st_size for p in env.spool_files())
            held = tracemalloc.get_traced_memory()[0] - before
            return on_disk >= clients * (sent - (1 << 20)) or held >= clients * sent * 0.9

        await asyncio.gather(*(asyncio.to_thread(start_append, sock) for sock in socks))
        await eventually(received, seconds=60)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        for sock in socks:
            sock.close()
    assert grown < 20 << 20, f"memory grew by {grown >> 20} MB for {clients} unfinished APPENDs"
    await eventually(lambda: env.spool_files() == [])


# --- FLAGS when a keyword is new to the mailbox (RFC 9051 §7.3.5, RFC 3501 §7.2.6) ----------------


async def test_a_new_keyword_is_announced_in_flags_before_any_fetch_shows_it(env: ImapEnv) -> None:
    await env.deliver(message(1))
    a = await open_session(env)
    b = await open_session(env)
    # The session that adds the keyword: FLAGS (and PERMANENTFLAGS) come before its STORE's FETCH.
    lines = await ask(a, b"A STORE 1 +FLAGS ($Project)")
    flags = next(i for i, line in enumerate(lines) if line.startswith(b"* FLAGS"))
    fetch = next(i for i, line in enumerate(lines) if line.startswith(b"* 1 FETCH"))
    assert flags < fetch
    assert b"$Project" in lines[flags]
    assert any(b"PERMANENTFLAGS" in line and b"$Project" in line for line in lines[flags:fetch])
    # The other session is told at its next command, FLAGS again first.
    lines = await ask(b, b"N NOOP")
    flags = next(i for i, line in enumerate(lines) if line.startswith(b"* FLAGS"))
    fetch = next(i for i, line in enumerate(lines) if b"FETCH" in line)
    assert flags < fetch
    assert b"$Project" in lines[flags]
    # A keyword already announced brings no second FLAGS.
    lines = await ask(a, b"A2 STORE 1 -FLAGS ($Project)")
    lines += await ask(a, b"A3 STORE 1 +FLAGS ($Project)")
    assert not any(line.startswith(b"* FLAGS") for line in lines)
    a.close()
    b.close()
