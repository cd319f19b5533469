"""CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 §4): UPDATE contexts told of another session's APPEND,
STORE and EXPUNGE (during IDLE too), of the session's own changes, SORT positions, CANCELUPDATE,
tag reuse, NOUPDATE past imap.max_search_updates, PARTIAL in SORT, and message-number criteria
frozen when the command ran."""

from __future__ import annotations

import asyncio
import socket

from imap_env import ImapEnv, ask, exchange, imap_server, message, open_session, read_line, send_append


async def line(sock: socket.socket) -> bytes:
    return await asyncio.to_thread(read_line, sock)


async def fill(env: ImapEnv, count: int) -> list[int]:
    return [await env.deliver(message(n)) for n in range(1, count + 1)]


def subject(text: str) -> bytes:
    return f"From: b@example.org\r\nSubject: {text}\r\n\r\nbody\r\n".encode()


async def test_search_update_follows_another_sessions_changes(env: ImapEnv) -> None:
    await fill(env, 4)
    a = await open_session(env, enable=b"IMAP4rev2")
    b = await open_session(env, enable=b"IMAP4rev2")
    try:
        started = await ask(a, b"s SEARCH RETURN (UPDATE COUNT) UNSEEN")
        assert await ask(b, b"b1 STORE 2 +FLAGS.SILENT (\\Seen)") == [b"b1 OK STORE completed\r\n"]
        seen = await ask(a, b"n1 NOOP")
        await env.deliver(message(5))
        arrived = await ask(a, b"n2 NOOP")
        await ask(b, b"b2 NOOP")
        await ask(b, b"b3 STORE 3 +FLAGS.SILENT (\\Deleted)")
        await ask(b, b"b4 EXPUNGE")
        expunged = await ask(a, b"n3 NOOP")
        unseen = await ask(b, b"b5 STORE 1 -FLAGS.SILENT (\\Seen)")  # no change: still unseen
        quiet = await ask(a, b"n4 NOOP")
    finally:
        a.close()
        b.close()
    assert started == [b'* ESEARCH (TAG "s") COUNT 4\r\n', b"s OK SEARCH completed\r\n"]
    # RFC 5465 §5.1: the FETCH of the change precedes the ESEARCH; SEARCH contexts use position 0.
    assert seen == [
        b"* 2 FETCH (FLAGS (\\Seen))\r\n",
        b'* ESEARCH (TAG "s") REMOVEFROM (0 2)\r\n',
        b"n1 OK NOOP completed\r\n",
    ]
    # RFC 5267 §4.3.3: an ADDTO naming a new message's number follows its EXISTS.
    assert arrived == [b"* 5 EXISTS\r\n", b'* ESEARCH (TAG "s") ADDTO (0 5)\r\n', b"n2 OK NOOP completed\r\n"]
    # RFC 5267 §4.3.4: the REMOVEFROM comes before the EXPUNGE, while number 3 is valid.
    assert expunged == [
        b'* ESEARCH (TAG "s") REMOVEFROM (0 3)\r\n',
        b"* 3 EXPUNGE\r\n",
        b"n3 OK NOOP completed\r\n",
    ]
    assert unseen == [b"b5 OK STORE completed\r\n"]
    assert quiet == [b"n4 OK NOOP completed\r\n"]


async def test_updates_are_pushed_during_idle(env: ImapEnv) -> None:
    uids = (await fill(env, 4))[1:]
    b = await open_session(env, enable=b"IMAP4rev2")
    await ask(b, b"b0 STORE 1 +FLAGS.SILENT (\\Deleted)")
    await ask(b, b"b0 EXPUNGE")  # UIDs 2, 3, 4 are messages 1, 2, 3: UIDs and numbers differ
    a = await open_session(env, enable=b"IMAP4rev2")
    try:
        started = await ask(a, b"s UID SEARCH RETURN (UPDATE) UNFLAGGED")
        await asyncio.to_thread(a.sendall, b"i IDLE\r\n")
        assert await line(a) == b"+ idling\r\n"
        await ask(b, b"b1 STORE 1 +FLAGS.SILENT (\\Flagged)")
        pushed = [await line(a), await line(a)]
        appended = await asyncio.to_thread(send_append, b, b"b2 APPEND INBOX", [(b"", message(9))])
        pushed += [await line(a), await line(a)]
        await ask(b, b"b3 STORE 2 +FLAGS.SILENT (\\Deleted)")
        # Read before the expunge: a session woken only after both commits would rightly tell the
        # expunge alone (no FETCH for a message already gone), which is not what this test is about.
        pushed += [await line(a)]
        await ask(b, b"b4 EXPUNGE")
        pushed += [await line(a), await line(a)]
        ended = await asyncio.to_thread(exchange, a, b"DONE", b"i")
    finally:
        a.close()
        b.close()
    assert started == [b'* ESEARCH (TAG "s") UID\r\n', b"s OK UID SEARCH completed\r\n"]
    assert appended[-1].startswith(b"b2 OK [APPENDUID ")
    new = int(appended[-1].split()[4].rstrip(b"]"))
    assert pushed == [
        b"* 1 FETCH (FLAGS (\\Flagged))\r\n",
        b'* ESEARCH (TAG "s") UID REMOVEFROM (0 %d)\r\n' % uids[0],
        b"* 4 EXISTS\r\n",
        b'* ESEARCH (TAG "s") UID ADDTO (0 %d)\r\n' % new,
        b"* 2 FETCH (FLAGS (\\Deleted))\r\n",  # the flag change, then the expunge of the same
        b'* ESEARCH (TAG "s") UID REMOVEFROM (0 %d)\r\n' % uids[1],
        b"* 2 EXPUNGE\r\n",
    ]
    assert ended == [b"i OK IDLE terminated\r\n"]


async def test_own_changes_and_cancelupdate(env: ImapEnv) -> None:
    await fill(env, 3)
    a = await open_session(env, enable=b"IMAP4rev2")
    try:
        started = await ask(a, b"s SEARCH RETURN (UPDATE ALL) FLAGGED")
        flagged = await ask(a, b"t1 STORE 1,3 +FLAGS (\\Flagged)")
        unflagged = await ask(a, b"t2 STORE 1 -FLAGS.SILENT (\\Flagged)")
        reuse = await ask(a, b"s SORT RETURN (UPDATE) (ARRIVAL) UTF-8 ALL")
        deleted = await ask(a, b"t3 STORE 3 +FLAGS.SILENT (\\Deleted)")
        expunged = await ask(a, b"t4 EXPUNGE")
        cancelled = await ask(a, b'c CANCELUPDATE "s"')
        silent = await ask(a, b"t5 STORE 1 +FLAGS.SILENT (\\Flagged)")
        again = await ask(a, b'c2 CANCELUPDATE "s"')
        reused = await ask(a, b"s SEARCH RETURN (UPDATE COUNT) FLAGGED")
        bad = await ask(a, b"c3 CANCELUPDATE s")
    finally:
        a.close()
    assert started == [b'* ESEARCH (TAG "s")\r\n', b"s OK SEARCH completed\r\n"]  # no ALL: none match
    assert flagged == [
        b"* 1 FETCH (FLAGS (\\Flagged))\r\n",
        b"* 3 FETCH (FLAGS (\\Flagged))\r\n",
        b'* ESEARCH (TAG "s") ADDTO (0 1,3)\r\n',
        b"t1 OK STORE completed\r\n",
    ]
    assert unflagged == [b'* ESEARCH (TAG "s") REMOVEFROM (0 1)\r\n', b"t2 OK STORE completed\r\n"]
    assert reuse == [b"s BAD Tag reuse: an UPDATE context has this tag (CANCELUPDATE it)\r\n"]  # §4.3
    assert deleted == [b"t3 OK STORE completed\r\n"]  # \Deleted does not change FLAGGED
    assert expunged == [
        b'* ESEARCH (TAG "s") REMOVEFROM (0 3)\r\n',
        b"* 3 EXPUNGE\r\n",
        b"t4 OK EXPUNGE completed\r\n",
    ]
    assert cancelled == [b"c OK CANCELUPDATE completed, no further updates\r\n"]
    assert silent == [b"t5 OK STORE completed\r\n"]  # no ESEARCH after CANCELUPDATE
    assert again == [b"c2 NO No UPDATE context has the tag s\r\n"]
    assert reused == [b'* ESEARCH (TAG "s") COUNT 1\r\n', b"s OK SEARCH completed\r\n"]  # free again
    assert bad[-1].startswith(b"c3 BAD ")  # RFC 5267 §5: quoted tags only


async def test_sort_update_positions(env: ImapEnv) -> None:
    uids = [await env.deliver(subject(s)) for s in ("delta", "alpha", "charlie", "echo")]
    a = await open_session(env, enable=b"IMAP4rev2")
    b = await open_session(env, enable=b"IMAP4rev2")
    try:
        started = await ask(a, b"s UID SORT RETURN (UPDATE ALL) (SUBJECT) UTF-8 UNSEEN")
        await ask(b, b"b1 STORE 3 +FLAGS.SILENT (\\Seen)")  # charlie, position 2
        removed = await ask(a, b"n1 NOOP")
        bravo = await env.deliver(subject("bravo"))
        added = await ask(a, b"n2 NOOP")
        await ask(b, b"b2 NOOP")
        await ask(b, b"b3 STORE 1:3 -FLAGS.SILENT (\\Seen)")
        back = await ask(a, b"n3 NOOP")
        numbers = await ask(a, b"r SORT RETURN (UPDATE) (REVERSE SUBJECT) UTF-8 ALL")
        await ask(b, b"b4 STORE 1 +FLAGS.SILENT (\\Deleted)")
        await ask(b, b"b5 EXPUNGE")
        expunged = await ask(a, b"n4 NOOP")
    finally:
        a.close()
        b.close()
    delta, _, charlie, _ = uids
    assert uids == [1, 2, 3, 4]
    assert started == [
        b'* ESEARCH (TAG "s") UID ALL 2:3,1,4\r\n',  # alpha charlie delta echo (RFC 5267 §3.2)
        b"s OK UID SORT completed\r\n",
    ]
    assert removed[-2:] == [
        b'* ESEARCH (TAG "s") UID REMOVEFROM (2 %d)\r\n' % charlie,
        b"n1 OK NOOP completed\r\n",
    ]
    # alpha bravo delta echo: bravo is inserted at position 2 (RFC 5267 §4.3.3).
    assert added == [
        b"* 5 EXISTS\r\n",
        b'* ESEARCH (TAG "s") UID ADDTO (2 %d)\r\n' % bravo,
        b"n2 OK NOOP completed\r\n",
    ]
    assert back[-2:] == [b'* ESEARCH (TAG "s") UID ADDTO (3 %d)\r\n' % charlie, b"n3 OK NOOP completed\r\n"]
    assert numbers == [b'* ESEARCH (TAG "r")\r\n', b"r OK SORT completed\r\n"]
    # r (reverse subject, numbers): echo delta charlie bravo alpha = 4 1 3 5 2; delta (number 1,
    # position 2) goes, before its EXPUNGE. s: delta was at position 4 of alpha bravo charlie delta echo.
    assert expunged == [
        b'* ESEARCH (TAG "s") UID REMOVEFROM (4 %d)\r\n' % delta,
        b'* ESEARCH (TAG "r") REMOVEFROM (2 1)\r\n',
        b"* 1 EXPUNGE\r\n",
        b"n4 OK NOOP completed\r\n",
    ]


async def test_sort_partial_and_context_hint(env: ImapEnv) -> None:
    for s in ("delta", "alpha", "charlie", "echo"):
        await env.deliver(subject(s))
    a = await open_session(env)
    try:
        partial = await ask(a, b"p SORT RETURN (PARTIAL 2:3) (SUBJECT) UTF-8 ALL")
        reverse = await ask(a, b"q SORT RETURN (CONTEXT PARTIAL -1:-2 COUNT) (REVERSE SUBJECT) UTF-8 ALL")
        nothing = await ask(a, b"r SORT RETURN (PARTIAL 5:9) (SUBJECT) UTF-8 ALL")
        both = await ask(a, b"x SORT RETURN (PARTIAL 1:2 ALL) (SUBJECT) UTF-8 ALL")
        star = await ask(a, b"y SORT RETURN (PARTIAL 1:*) (SUBJECT) UTF-8 ALL")
        hint = await ask(a, b"z SEARCH RETURN (CONTEXT COUNT) ALL")
    finally:
        a.close()
    assert partial == [b'* ESEARCH (TAG "p") PARTIAL (2:3 3,1)\r\n', b"p OK SORT completed\r\n"]
    assert reverse == [b'* ESEARCH (TAG "q") COUNT 4 PARTIAL (-1:-2 3,2)\r\n', b"q OK SORT completed\r\n"]
    assert nothing == [b'* ESEARCH (TAG "r") PARTIAL (5:9 NIL)\r\n', b"r OK SORT completed\r\n"]
    assert both[-1].startswith(b"x BAD ")
    assert star[-1].startswith(b"y BAD ")
    assert hint == [b'* ESEARCH (TAG "z") COUNT 4\r\n', b"z OK SEARCH completed\r\n"]


async def test_noupdate_over_the_limit(tmp_path: object) -> None:
    from pathlib import Path

    from imap_env import imap_settings

    assert isinstance(tmp_path, Path)
    async with imap_server(tmp_path, imap_settings(imap={"max_search_updates": 1})) as env:
        await fill(env, 2)
        a = await open_session(env, enable=b"IMAP4rev2")
        try:
            first = await ask(a, b"s1 SEARCH RETURN (UPDATE COUNT) SEEN")
            second = await ask(a, b"s2 UID SORT RETURN (UPDATE COUNT) (ARRIVAL) UTF-8 SEEN")
            stored = await ask(a, b"t STORE 2 +FLAGS.SILENT (\\Seen)")
            await ask(a, b'c CANCELUPDATE "s1"')
            third = await ask(a, b"s3 SEARCH RETURN (UPDATE) SEEN")
        finally:
            a.close()
    assert first == [b'* ESEARCH (TAG "s1") COUNT 0\r\n', b"s1 OK SEARCH completed\r\n"]
    # RFC 5267 §4.3.1: the other return options are honoured, then NO [NOUPDATE "tag"].
    assert second == [
        b'* ESEARCH (TAG "s2") UID COUNT 0\r\n',
        b'* NO [NOUPDATE "s2"] At most 1 UPDATE contexts per session\r\n',
        b"s2 OK UID SORT completed\r\n",
    ]
    assert stored == [b'* ESEARCH (TAG "s1") ADDTO (0 2)\r\n', b"t OK STORE completed\r\n"]  # s1 only
    assert third == [b'* ESEARCH (TAG "s3")\r\n', b"s3 OK SEARCH completed\r\n"]


async def test_message_numbers_are_frozen_when_the_command_runs(env: ImapEnv) -> None:
    await fill(env, 4)
    a = await open_session(env, enable=b"IMAP4rev2")
    b = await open_session(env, enable=b"IMAP4rev2")
    try:
        started = await ask(a, b"s SEARCH RETURN (UPDATE ALL) 3:4 UNSEEN")
        await ask(b, b"b1 STORE 1 +FLAGS.SILENT (\\Deleted)")
        await ask(b, b"b2 EXPUNGE")
        await env.deliver(message(5))
        renumbered = await ask(a, b"n1 NOOP")  # 3:4 now names messages 4 and 5 of old: no update
        await ask(b, b"b3 STORE 2 +FLAGS.SILENT (\\Seen)")  # old message 3
        seen = await ask(a, b"n2 NOOP")
    finally:
        a.close()
        b.close()
    assert started == [b'* ESEARCH (TAG "s") ALL 3:4\r\n', b"s OK SEARCH completed\r\n"]
    assert renumbered == [b"* 1 EXPUNGE\r\n", b"* 4 EXISTS\r\n", b"n1 OK NOOP completed\r\n"]
    assert seen == [
        b"* 2 FETCH (FLAGS (\\Seen))\r\n",
        b'* ESEARCH (TAG "s") REMOVEFROM (0 2)\r\n',
        b"n2 OK NOOP completed\r\n",
    ]


async def test_modseq_criterion_with_condstore(env: ImapEnv) -> None:
    await fill(env, 2)
    highest = (await env.mailbox()).highestmodseq
    a = await open_session(env, enable=b"IMAP4rev2 CONDSTORE")
    b = await open_session(env)
    try:
        started = await ask(a, b"s SEARCH RETURN (UPDATE COUNT) MODSEQ %d" % (highest + 1))
        await ask(b, b"b1 STORE 2 +FLAGS.SILENT (\\Seen)")
        told = await ask(a, b"n NOOP")
    finally:
        a.close()
        b.close()
    assert started == [b'* ESEARCH (TAG "s") COUNT 0\r\n', b"s OK SEARCH completed\r\n"]  # no MODSEQ: none
    # RFC 7162 §3.2.4: the FETCH carries the new MODSEQ; the message now matches MODSEQ n (the
    # update itself carries no MODSEQ: RFC 7162 §3.1.10 defines it for the command's own result).
    assert told == [
        b"* 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ (%d))\r\n" % (highest + 1),
        b'* ESEARCH (TAG "s") ADDTO (0 2)\r\n',
        b"n OK NOOP completed\r\n",
    ]
