"""NOTIFY (RFC 5465) over real sockets: one session asks for notifications, another session (or
delivery, over LMTP or the store) makes the changes, and the first is told between commands, after
commands and during IDLE; the limits of ``imap.notify_*``. The same across two worker processes is
in tests/e2e/test_workers.py, the comparison with Dovecot in tests/interop/test_dovecot_notify.py."""

from __future__ import annotations

import asyncio
import smtplib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from imap_env import (
    ALICE,
    BOB,
    PASSWORD,
    ImapEnv,
    ask,
    exchange,
    imap_server,
    imap_settings,
    message,
    open_session,
    read_line,
    send_append,
)
from pochta.mime import parse_message
from pochta.store.model import Target


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ImapEnv]:
    settings = imap_settings(
        listeners={"lmtp": "127.0.0.1:0"}, imap={"notify_max_mailboxes": 3, "notify_max_pending": 5}
    )
    async with imap_server(tmp_path, settings) as running:
        yield running


async def lines(sock: socket.socket, count: int, seconds: float = 10.0) -> list[bytes]:
    """The next ``count`` lines the server sends unasked."""

    def read() -> list[bytes]:
        sock.settimeout(seconds)
        return [read_line(sock) for _ in range(count)]

    return await asyncio.to_thread(read)


async def nothing_more(sock: socket.socket) -> None:
    """No unsolicited line is waiting: a NOOP is answered at once by its tagged OK."""
    assert await ask(sock, b"Z NOOP") == [b"Z OK NOOP completed\r\n"]


async def status_line(env: ImapEnv, name: str) -> bytes:
    """The STATUS a NOTIFY session is told of a change of ``name``'s messages (RFC 5465 §5.2, §5.3:
    MESSAGES and UIDNEXT; UIDVALIDITY and UNSEEN as Dovecot sends them), from the store now."""
    info = await env.mailbox(name)
    return b"* STATUS %s (MESSAGES %d UIDNEXT %d UIDVALIDITY %d UNSEEN %d)\r\n" % (
        name.encode(),
        info.messages,
        info.uidnext,
        info.uidvalidity,
        info.unseen,
    )


async def create(env: ImapEnv, *names: str) -> None:
    for name in names:
        await env.store.create_mailbox(env.alice.id, name)


def lmtp_deliver(env: ImapEnv, count: int = 1) -> None:
    with smtplib.LMTP(*env.address("lmtp"), timeout=30) as client:
        for n in range(count):
            client.sendmail(BOB, [ALICE], message(100 + n))


async def test_delivery_and_append_elsewhere_are_status_between_commands(env: ImapEnv) -> None:
    await create(env, "Lists", "Lists/a", "Other")
    a = await open_session(env, select=b"Other")
    b = await open_session(env, select=b"")
    try:
        got = await ask(
            a, b"N NOTIFY SET STATUS (subtree Lists (MessageNew MessageExpunge)) (inboxes MessageNew)"
        )
        # RFC 5465 §3.1: a STATUS for every mailbox watched (INBOXES is every mailbox, as PERSONAL),
        # but Other, which is selected.
        infos = sorted(await env.store.mailboxes(env.alice.id), key=lambda i: i.name)
        assert got == [
            *(
                b"* STATUS %s (MESSAGES 0 UIDNEXT 1 UIDVALIDITY %d UNSEEN 0)\r\n"
                % (i.name.encode(), i.uidvalidity)
                for i in infos
                if i.name != "Other"
            ),
            b"N OK NOTIFY completed\r\n",
        ]
        # Delivery over LMTP, three messages at once: told while no command runs, at most one
        # STATUS per mailbox and change.
        await asyncio.to_thread(lmtp_deliver, env, 3)
        told = await lines(a, 1)
        assert told[0].startswith(b"* STATUS INBOX (MESSAGES ")
        while b"MESSAGES 3 " not in told[-1]:
            told += await lines(a, 1)
        assert b"(MESSAGES 3 UIDNEXT 4 " in told[-1]
        assert told[-1] == await status_line(env, "INBOX")  # RFC 5465 §5.2
        # APPEND by another session.
        appended = await asyncio.to_thread(send_append, b, b"A APPEND Lists/a", [(b"", message(1))])
        assert appended[-1].startswith(b"A OK")
        assert await lines(a, 1) == [await status_line(env, "Lists/a")]
        # An expunge there.
        assert (await ask(b, b"S SELECT Lists/a"))[-1].startswith(b"S OK")
        assert (await ask(b, b"F STORE 1 +FLAGS.SILENT (\\Deleted)"))[-1].startswith(b"F OK")
        await nothing_more(a)  # a flag change: FlagChange was not asked for
        assert (await ask(b, b"X EXPUNGE"))[-1].startswith(b"X OK")
        assert await lines(a, 1) == [await status_line(env, "Lists/a")]  # RFC 5465 §5.3
        # Mailboxes no filter names say nothing.
        await env.deliver(message(5), mailbox="Other")  # the selected one: no SELECTED filter
        await env.deliver(message(6), mailbox="Lists/a", account=env.alice)
        assert await lines(a, 1) == [await status_line(env, "Lists/a")]
        # ... and the selected mailbox is reported as without NOTIFY: with the next command.
        assert await ask(a, b"Z NOOP") == [b"* 1 EXISTS\r\n", b"* 1 RECENT\r\n", b"Z OK NOOP completed\r\n"]
        assert await ask(a, b"N NOTIFY NONE") == [b"N OK NOTIFY completed\r\n"]
        await env.deliver(message(7))
        await nothing_more(a)
    finally:
        a.close()
        b.close()


async def test_selected_gets_exists_and_fetch_and_expunge_between_commands(env: ImapEnv) -> None:
    await env.deliver(message(1))
    await env.seen_elsewhere()
    a = await open_session(env, enable=b"IMAP4rev2")
    b = await open_session(env)
    try:
        got = await ask(a, b"N NOTIFY SET (selected (MessageNew (UID FLAGS) MessageExpunge FlagChange))")
        assert got == [b"N OK NOTIFY completed\r\n"]
        await env.deliver(message(2), flags=["\\Flagged"])
        assert await lines(a, 2) == [
            b"* 2 EXISTS\r\n",
            b"* 2 FETCH (UID 2 FLAGS (\\Flagged))\r\n",  # RFC 5465 §5.2
        ]
        assert (await ask(b, b"F STORE 1 +FLAGS.SILENT (\\Seen)"))[-1].startswith(b"F OK")
        assert await lines(a, 1) == [b"* 1 FETCH (FLAGS (\\Seen))\r\n"]  # RFC 5465 §5.1
        await ask(b, b"F STORE 1 +FLAGS.SILENT (\\Deleted)")
        assert await lines(a, 1) == [b"* 1 FETCH (FLAGS (\\Deleted \\Seen))\r\n"]
        assert (await ask(b, b"X EXPUNGE"))[-1].startswith(b"X OK")
        assert await lines(a, 1) == [b"* 1 EXPUNGE\r\n"]  # SELECTED: expunges at once (§5.3)
    finally:
        a.close()
        b.close()


async def test_selected_delayed_holds_expunges_until_a_command_allows_them(env: ImapEnv) -> None:
    for n in (1, 2):
        await env.deliver(message(n))
    await env.seen_elsewhere()
    a = await open_session(env, enable=b"IMAP4rev2")
    b = await open_session(env)
    try:
        assert await ask(a, b"N NOTIFY SET (selected-delayed (MessageNew MessageExpunge))") == [
            b"N OK NOTIFY completed\r\n"
        ]
        await ask(b, b"F STORE 1 +FLAGS.SILENT (\\Deleted)")
        await ask(b, b"F STORE 2 +FLAGS.SILENT (\\Flagged)")
        assert (await ask(b, b"X EXPUNGE"))[-1].startswith(b"X OK")
        await env.deliver(message(3))
        # New messages come at once; flag changes (no FlagChange asked) wait for a command.
        assert await lines(a, 1) == [b"* 3 EXISTS\r\n"]
        # RFC 5465 §6.1.2, RFC 9051 §7.5.1: no EXPUNGE during FETCH ...
        got = await ask(a, b"F FETCH 1 (UID)")
        assert got == [
            b"* 1 FETCH (UID 1)\r\n",
            b"* 2 FETCH (FLAGS (\\Flagged))\r\n",
            b"F OK FETCH completed\r\n",
        ]
        # ... until a command that allows it.
        assert await ask(a, b"Z NOOP") == [b"* 1 EXPUNGE\r\n", b"Z OK NOOP completed\r\n"]
    finally:
        a.close()
        b.close()


async def test_mailbox_name_and_subscription_changes_by_another_session(env: ImapEnv) -> None:
    await create(env, "Old", "Old/child")
    a = await open_session(env, select=b"")
    b = await open_session(env, select=b"")
    try:
        got = await ask(a, b"N NOTIFY SET (personal (MailboxName SubscriptionChange))")
        assert got == [b"N OK NOTIFY completed\r\n"]
        assert (await ask(b, b"C CREATE New"))[-1].startswith(b"C OK")
        assert await lines(a, 1) == [b'* LIST (\\HasNoChildren) "/" New\r\n']  # RFC 5465 §5.4
        assert (await ask(b, b"R RENAME Old Renamed"))[-1].startswith(b"R OK")
        # One LIST for the top of the subtree, with OLDNAME; none for its children.
        assert await lines(a, 1) == [b'* LIST (\\HasChildren) "/" Renamed ("OLDNAME" (Old))\r\n']
        assert (await ask(b, b"D DELETE New"))[-1].startswith(b"D OK")
        assert await lines(a, 1) == [b'* LIST (\\NonExistent) "/" New\r\n']
        assert (await ask(b, b"S SUBSCRIBE Renamed/child"))[-1].startswith(b"S OK")
        assert await lines(a, 1) == [b'* LIST (\\HasNoChildren \\Subscribed) "/" Renamed/child\r\n']  # §5.5
        assert (await ask(b, b"U UNSUBSCRIBE Renamed/child"))[-1].startswith(b"U OK")
        assert await lines(a, 1) == [b'* LIST (\\HasNoChildren) "/" Renamed/child\r\n']
        # The session's own changes are not told (RFC 5465 §5: SHOULD NOT).
        assert (await ask(a, b"C CREATE Mine"))[0].startswith(b"C OK [MAILBOXID (")
        assert await ask(a, b"S SUBSCRIBE Mine") == [b"S OK SUBSCRIBE completed\r\n"]
        await nothing_more(a)
    finally:
        a.close()
        b.close()


async def test_notifications_arrive_during_idle(env: ImapEnv) -> None:
    await create(env, "Other")
    a = await open_session(env)
    try:
        assert (await ask(a, b"N NOTIFY SET (mailboxes Other (MessageNew MessageExpunge))"))[-1].startswith(
            b"N OK"
        )
        await asyncio.to_thread(a.sendall, b"I IDLE\r\n")
        assert await lines(a, 1) == [b"+ idling\r\n"]
        await env.deliver(message(1), mailbox="Other")
        assert await lines(a, 1) == [await status_line(env, "Other")]
        # RFC 5465 §4: no SELECTED filter, so the selected mailbox is not told during IDLE ...
        await env.deliver(message(2))
        await env.deliver(message(3), mailbox="Other")
        assert await lines(a, 1) == [await status_line(env, "Other")]
        # ... but at the end of the command, as without NOTIFY.
        got = await asyncio.to_thread(exchange, a, b"DONE", b"I")
        assert got == [b"* 1 EXISTS\r\n", b"* 1 RECENT\r\n", b"I OK IDLE terminated\r\n"]
    finally:
        a.close()


async def test_flag_change_elsewhere_with_condstore(env: ImapEnv) -> None:
    await create(env, "Other")
    await env.deliver(message(1), mailbox="Other")
    a = await open_session(env, select=b"", enable=b"CONDSTORE")
    b = await open_session(env, select=b"Other")
    try:
        info = await env.mailbox("Other")
        got = await ask(a, b"N NOTIFY SET STATUS (mailboxes Other (FlagChange))")
        assert got == [
            b"* STATUS Other (MESSAGES 1 UIDNEXT 2 UIDVALIDITY %d UNSEEN 1 HIGHESTMODSEQ %d)\r\n"
            % (info.uidvalidity, info.highestmodseq),
            b"N OK NOTIFY completed\r\n",
        ]
        assert (await ask(b, b"F STORE 1 +FLAGS.SILENT (\\Seen)"))[-1].startswith(b"F OK")
        info = await env.mailbox("Other")
        assert await lines(a, 1) == [
            b"* STATUS Other (UIDVALIDITY %d UNSEEN 0 HIGHESTMODSEQ %d)\r\n"
            % (info.uidvalidity, info.highestmodseq)
        ]  # RFC 5465 §5.1
    finally:
        a.close()
        b.close()


async def test_flag_change_elsewhere_without_condstore_is_told_by_unseen(env: ImapEnv) -> None:
    await create(env, "Other")
    await env.deliver(message(1), mailbox="Other")
    a = await open_session(env, select=b"")
    b = await open_session(env, select=b"Other")
    try:
        assert await ask(a, b"N NOTIFY SET (mailboxes Other (FlagChange))") == [b"N OK NOTIFY completed\r\n"]
        # RFC 5465 §5.1: without CONDSTORE only a change of the count of unseen messages is told.
        assert (await ask(b, b"F STORE 1 +FLAGS.SILENT (\\Flagged)"))[-1].startswith(b"F OK")
        await nothing_more(a)
        assert (await ask(b, b"F STORE 1 +FLAGS.SILENT (\\Seen)"))[-1].startswith(b"F OK")
        assert await lines(a, 1) == [b"* STATUS Other (UNSEEN 0)\r\n"]
    finally:
        a.close()
        b.close()


async def test_unsupported_events_and_limits(env: ImapEnv) -> None:
    a = await open_session(env, select=b"")
    try:
        supported = (
            b"(MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange"
            b" MailboxMetadataChange ServerMetadataChange)"
        )
        for event in (b"AnnotationChange", b"Unknown"):
            got = await ask(a, b"N NOTIFY SET (personal (MessageNew " + event + b"))")
            assert got == [b"N NO [BADEVENT " + supported + b"] Unsupported NOTIFY event\r\n"]  # §3.1
        # imap.notify_max_mailboxes = 3 names in the filters.
        got = await ask(a, b"N NOTIFY SET (mailboxes (a b) MessageNew) (subtree (c d) MessageNew)")
        assert got == [b"N NO [NOTIFICATIONOVERFLOW] At most 3 mailbox names in NOTIFY\r\n"]
        assert (await ask(a, b"N NOTIFY SET (mailboxes (a b) MessageNew) (subtree c MessageNew)"))[-1] == (
            b"N OK NOTIFY completed\r\n"
        )
        got = await ask(a, b"N NOTIFY SET (selected MailboxName)")
        assert got == [b"N BAD MailboxName cannot be used with the selected mailbox's filter\r\n"]
        got = await ask(a, b"N NOTIFY SET (selected MessageNew) (selected-delayed MessageNew)")
        assert got == [b"N BAD Only one of SELECTED and SELECTED-DELAYED may be given\r\n"]
    finally:
        a.close()


async def test_overflow_ends_notify(env: ImapEnv) -> None:
    names = [f"Box{n}" for n in range(6)]
    await create(env, *names)
    a = await open_session(env, select=b"")
    try:
        assert (await ask(a, b"N NOTIFY SET (personal (MessageNew MessageExpunge))"))[-1].startswith(b"N OK")
        # One commit into six mailboxes: six changes untold at once, past notify_max_pending = 5.
        infos = [await env.mailbox(name) for name in names]
        blob = await env.store.put_blob(message(1))
        parsed = parse_message(message(1), env.settings.mime)
        await env.store.deliver(blob, parsed, [Target(info.id) for info in infos])
        got = await lines(a, 1)
        assert got == [b"* OK [NOTIFICATIONOVERFLOW] Too many notifications, NOTIFY NONE\r\n"]  # §5.8
        await env.deliver(message(2), mailbox="Box0")
        await nothing_more(a)  # NOTIFY NONE is in force
        # Five changes at once are within the bound.
        assert (await ask(a, b"N NOTIFY SET (personal (MessageNew MessageExpunge))"))[-1].startswith(b"N OK")
        await env.store.deliver(blob, parsed, [Target(info.id) for info in infos[:5]])
        told = await lines(a, 5)
        assert told == [await status_line(env, name) for name in names[:5]]
        assert b"(MESSAGES 3 UIDNEXT 4 " in told[0]
    finally:
        a.close()


async def test_selected_with_qresync_gets_vanished_at_once(env: ImapEnv) -> None:
    for n in (1, 2):
        await env.deliver(message(n))
    a = await open_session(env, enable=b"QRESYNC")
    b = await open_session(env)
    try:
        assert (await ask(a, b"N NOTIFY SET (selected (MessageNew MessageExpunge))"))[-1].startswith(b"N OK")
        await ask(b, b"F STORE 2 +FLAGS.SILENT (\\Deleted)")
        assert (await ask(b, b"X EXPUNGE"))[-1].startswith(b"X OK")
        assert await lines(a, 1) == [b"* VANISHED 2\r\n"]  # RFC 5465 §5.3, RFC 7162 §3.2.10
        got = await ask(a, b"F FETCH 1:* (UID)")  # numbering as the client now knows it
        assert got == [
            b"* 1 FETCH (UID 1)\r\n",
            b"F OK FETCH completed\r\n",
        ]
    finally:
        a.close()
        b.close()


async def test_unauthenticate_ends_notify(env: ImapEnv) -> None:
    await create(env, "Other")
    a = await open_session(env, select=b"")
    try:
        assert (await ask(a, b"N NOTIFY SET (personal (MessageNew MessageExpunge))"))[-1].startswith(b"N OK")
        assert (await ask(a, b"U UNAUTHENTICATE"))[-1].startswith(b"U OK")
        assert (await ask(a, b"L LOGIN %s %s" % (ALICE.encode(), PASSWORD.encode())))[-1].startswith(b"L OK")
        await env.deliver(message(1), mailbox="Other")
        await nothing_more(a)
    finally:
        a.close()


def append(sock: socket.socket, head: bytes, parts: list[tuple[bytes, bytes]]) -> list[bytes]:
    """``send_append``'s lines without its continuation requests."""
    return [line for line in send_append(sock, head, parts) if not line.startswith(b"+ ")]


async def test_own_append_copy_and_move_elsewhere_are_not_told(env: ImapEnv) -> None:
    """RFC 5465 §5: "The server SHOULD omit notifying the client if the event is caused by this
    client": no STATUS for this session's own APPEND, COPY, MOVE into a watched mailbox; another
    session's APPEND there right after is told."""
    await create(env, "Lists", "Other")
    a = await open_session(env, select=b"")
    b = await open_session(env, select=b"")
    try:
        got = await ask(a, b"N NOTIFY SET (personal (MessageNew MessageExpunge FlagChange))")
        assert got == [b"N OK NOTIFY completed\r\n"]
        appended = await asyncio.to_thread(append, a, b"A APPEND Lists", [(b"", message(1))])
        uidvalidity = (await env.mailbox("Lists")).uidvalidity
        assert appended == [b"A OK [APPENDUID %d 1] APPEND completed\r\n" % uidvalidity]
        multi = [(b"", message(2)), (b"", message(3))]
        appended = await asyncio.to_thread(append, a, b"A APPEND Lists", multi)  # MULTIAPPEND
        assert len(appended) == 1
        assert appended[0].startswith(b"A OK [APPENDUID ")
        await nothing_more(a)
        # COPY and MOVE from the selected INBOX into Other: no STATUS of Other (INBOX is selected:
        # its EXISTS and EXPUNGE are the commands' own responses).
        await env.deliver(message(4))
        await env.deliver(message(5))
        got = await ask(a, b"S SELECT INBOX")
        assert got[-1].startswith(b"S OK")
        assert (await ask(a, b"C COPY 1 Other"))[-1].startswith(b"C OK [COPYUID ")
        moved = await ask(a, b"M MOVE 2 Other")
        assert moved[-1] == b"M OK MOVE completed\r\n"
        assert b"* 2 EXPUNGE\r\n" in moved
        await nothing_more(a)
        # Another session's APPEND is told.
        appended = await asyncio.to_thread(append, b, b"A APPEND Lists", [(b"", message(6))])
        assert appended[-1].startswith(b"A OK")
        assert await lines(a, 1) == [await status_line(env, "Lists")]
        assert b"(MESSAGES 4 UIDNEXT 5 " in await status_line(env, "Lists")
    finally:
        a.close()
        b.close()


async def test_own_append_to_the_selected_mailbox_gets_exists_without_notify_fetch(env: ImapEnv) -> None:
    """RFC 5465 §5.2: "A FETCH response SHOULD NOT be generated for a new message created by the
    client on this particular connection, for instance, as the result of an APPEND or COPY command
    to the selected mailbox"; the EXISTS is sent (RFC 9051 §7.4.1). Another's message gets both."""
    a = await open_session(env)
    b = await open_session(env, select=b"")
    try:
        got = await ask(a, b"N NOTIFY SET (selected (MessageNew (UID FLAGS) MessageExpunge))")
        assert got == [b"N OK NOTIFY completed\r\n"]
        appended = await asyncio.to_thread(append, a, b"A APPEND INBOX", [(b"", message(1))])
        assert appended[:-1] == [b"* 1 EXISTS\r\n", b"* 1 RECENT\r\n"]
        assert appended[-1].startswith(b"A OK [APPENDUID ")
        assert (await ask(a, b"C UID COPY 1 INBOX"))[:-1] == [b"* 2 EXISTS\r\n", b"* 2 RECENT\r\n"]
        await nothing_more(a)
        appended = await asyncio.to_thread(append, b, b"A APPEND INBOX", [(b"", message(2))])
        assert appended[-1].startswith(b"A OK")
        told = [b"* 3 EXISTS\r\n", b"* 3 RECENT\r\n", b"* 3 FETCH (UID 3 FLAGS (\\Recent))\r\n"]
        assert await lines(a, 3) == told
    finally:
        a.close()
        b.close()


async def test_metadata_changes_by_another_session_are_told_by_name(env: ImapEnv) -> None:
    """RFC 5465 §5.6, §5.7: MailboxMetadataChange and ServerMetadataChange as unsolicited METADATA
    with the names of the entries set or removed (RFC 5464 §4.4.2: no values), coalesced per
    mailbox; /private/ entries only the user's own; the session's own SETMETADATA is not told (§5)."""
    await create(env, "Work", "Quiet")
    await env.store.update_account(BOB, admin=True)
    a = await open_session(env, select=b"")
    a2 = await open_session(env, select=b"")
    b = await open_session(env, select=b"", user=BOB.encode())
    try:
        got = await ask(
            a,
            b"N NOTIFY SET (mailboxes (Work INBOX) (MailboxMetadataChange)) (personal ServerMetadataChange)",
        )
        assert got == [b"N OK NOTIFY completed\r\n"]
        assert (await ask(a2, b'M SETMETADATA Work (/shared/comment "x" /private/Note "y")'))[-1] == (
            b"M OK SETMETADATA completed\r\n"
        )
        assert await lines(a, 1) == [b"* METADATA Work /private/note /shared/comment\r\n"]
        # A removal is told (§5.6: "it MUST always be included"); removing what is not there is no change.
        assert (await ask(a2, b"M SETMETADATA Work (/shared/comment NIL /shared/none NIL)"))[-1].startswith(
            b"M OK"
        )
        assert await lines(a, 1) == [b"* METADATA Work /shared/comment\r\n"]
        # A mailbox no filter names with MailboxMetadataChange: nothing.
        assert (await ask(a2, b'M SETMETADATA Quiet (/shared/comment "x")'))[-1].startswith(b"M OK")
        await nothing_more(a)
        # The server's entries: /shared/ set by bob (an administrator) is told to alice; bob's
        # /private/ server entry is not, nor is alice's own /private/ one from this session.
        assert (await ask(b, b'M SETMETADATA "" (/private/mine "b")'))[-1].startswith(b"M OK")
        assert (await ask(a, b'M SETMETADATA "" (/private/mine "a")'))[-1].startswith(b"M OK")
        assert (await ask(b, b'M SETMETADATA "" (/shared/comment "hello")'))[-1].startswith(b"M OK")
        assert await lines(a, 1) == [b'* METADATA "" /shared/comment\r\n']
        # Her own changes from the other session are told; from this one they are not (§5).
        assert (await ask(a2, b'M SETMETADATA "" (/private/mine "a2")'))[-1].startswith(b"M OK")
        assert await lines(a, 1) == [b'* METADATA "" /private/mine\r\n']
        assert (await ask(a, b'M SETMETADATA INBOX (/shared/comment "own" /private/x "own")'))[-1] == (
            b"M OK SETMETADATA completed\r\n"
        )
        await nothing_more(a)
        # During IDLE too (RFC 5465 §4).
        await asyncio.to_thread(a.sendall, b"I IDLE\r\n")
        assert await lines(a, 1) == [b"+ idling\r\n"]
        assert (await ask(a2, b'M SETMETADATA INBOX (/shared/a "1" /shared/b "2")'))[-1].startswith(b"M OK")
        assert await lines(a, 1) == [b"* METADATA INBOX /shared/a /shared/b\r\n"]
        assert await asyncio.to_thread(exchange, a, b"DONE", b"I") == [b"I OK IDLE terminated\r\n"]
        # NOTIFY NONE: nothing more.
        assert await ask(a, b"N NOTIFY NONE") == [b"N OK NOTIFY completed\r\n"]
        assert (await ask(a2, b'M SETMETADATA Work (/shared/comment "z")'))[-1].startswith(b"M OK")
        await nothing_more(a)
    finally:
        for sock in (a, a2, b):
            sock.close()


async def test_metadata_of_a_shared_mailbox_by_another_user(env: ImapEnv) -> None:
    """ACL (RFC 4314) and METADATA's access rule (RFC 5464 §3.3): bob, with rights on alice's Work,
    sets its /shared/ entries: alice, its owner, is told; bob's /private/ entries there are his own
    and never named to alice. With "l" alone bob may not set any, and alice hears nothing."""
    await create(env, "Work", "Seen")
    a = await open_session(env, select=b"")
    b = await open_session(env, select=b"", user=BOB.encode())
    try:
        assert (await ask(a, b"A SETACL Work bob@example.org lr"))[-1].startswith(b"A OK")
        assert (await ask(a, b"A SETACL Seen bob@example.org l"))[-1].startswith(b"A OK")
        got = await ask(a, b"N NOTIFY SET (personal (MailboxMetadataChange MailboxName))")
        assert got == [b"N OK NOTIFY completed\r\n"]
        # bob watches his own mailboxes and names alice's: NOTIFY covers the personal namespace.
        got = await ask(
            b,
            b"N NOTIFY SET (personal MailboxMetadataChange)"
            b' (mailboxes "Other Users/alice@example.org/Work" MailboxMetadataChange)',
        )
        assert got == [b"N OK NOTIFY completed\r\n"]
        work = b'"Other Users/alice@example.org/Work"'
        got = await ask(b, b"M SETMETADATA " + work + b' (/private/bobs "secret" /shared/comment "from bob")')
        assert got == [b"M OK SETMETADATA completed\r\n"]
        assert await lines(a, 1) == [b"* METADATA Work /shared/comment\r\n"]
        got = await ask(b, b"M SETMETADATA " + work + b' (/private/bobs NIL /private/other "x")')
        assert got == [b"M OK SETMETADATA completed\r\n"]
        await nothing_more(a)  # bob's private entries: not alice's to know of
        got = await ask(b, b'M SETMETADATA "Other Users/alice@example.org/Seen" (/shared/comment "x")')
        assert got[-1].startswith(b"M NO [NOPERM]")  # RFC 5464 §3.3: "l" alone is not enough
        await nothing_more(a)
        # alice changes Work's entries: bob is told nothing of a mailbox not his (nor of her private).
        assert (await ask(a, b'M SETMETADATA Work (/shared/comment "mine" /private/p "p")'))[-1].startswith(
            b"M OK"
        )
        await nothing_more(b)
        # A second bob session's change of his private entry on alice's mailbox: alice hears nothing.
        b2 = await open_session(env, select=b"", user=BOB.encode())
        try:
            got = await ask(b2, b"M SETMETADATA " + work + b" (/private/other NIL)")
            assert got == [b"M OK SETMETADATA completed\r\n"]
        finally:
            b2.close()
        await nothing_more(a)
        await nothing_more(b)
    finally:
        a.close()
        b.close()


async def test_many_metadata_names_count_towards_the_overflow_bound(env: ImapEnv) -> None:
    """Entry names waiting to be told count one each against imap.notify_max_pending (5 here):
    one SETMETADATA of six entries is past it (RFC 5465 §5.8); five are one response."""
    a = await open_session(env, select=b"")
    a2 = await open_session(env, select=b"")
    try:
        assert (await ask(a, b"N NOTIFY SET (personal MailboxMetadataChange)"))[-1].startswith(b"N OK")
        five = b" ".join(b'/shared/e%d "v"' % n for n in range(5))
        assert (await ask(a2, b"M SETMETADATA INBOX (" + five + b")"))[-1].startswith(b"M OK")
        assert await lines(a, 1) == [
            b"* METADATA INBOX " + b" ".join(b"/shared/e%d" % n for n in range(5)) + b"\r\n"
        ]
        six = b" ".join(b'/private/e%d "v"' % n for n in range(6))
        assert (await ask(a2, b"M SETMETADATA INBOX (" + six + b")"))[-1].startswith(b"M OK")
        got = await lines(a, 1)
        assert got == [b"* OK [NOTIFICATIONOVERFLOW] Too many notifications, NOTIFY NONE\r\n"]
    finally:
        a.close()
        a2.close()
