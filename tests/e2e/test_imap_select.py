"""SELECT/EXAMINE responses line by line, CLOSE, UNSELECT, and the untagged updates NOOP reports."""

from __future__ import annotations

import asyncio

import imapclient

from imap_env import ALICE, PASSWORD, ImapEnv, ask, message, open_session, read_line


async def test_select_and_examine_rev1(env: ImapEnv) -> None:
    await env.deliver(message(1), flags=["\\Seen"])
    await env.deliver(message(2), flags=["$Important"])
    await env.deliver(message(3), flags=["\\Seen"])
    info = await env.mailbox()
    sock = await open_session(env, select=b"")
    try:
        # RFC 3501 §2.3.2: EXAMINE shows \\Recent and takes nothing; the first SELECT takes them.
        first_look = await ask(sock, b"x EXAMINE INBOX")
        selected = await ask(sock, b"a SELECT inbox")
        examined = await ask(sock, b"b EXAMINE INBOX")
    finally:
        sock.close()
    assert b"* 3 RECENT\r\n" in first_look
    uidvalidity = b"* OK [UIDVALIDITY %d] UIDs valid\r\n" % info.uidvalidity
    mailboxid = b"* OK [MAILBOXID (F%d)] Mailbox ID\r\n" % info.id
    # RFC 7162 §3.2.11: CLOSED when a SELECT replaces a selected mailbox, for every session of a
    # server advertising CONDSTORE/QRESYNC (RFC 9051 §7.1 has it for rev2 anyway).
    closed = b"* OK [CLOSED] Previous mailbox closed\r\n"
    assert selected == [
        closed,
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Important)\r\n",
        b"* 3 EXISTS\r\n",
        b"* 3 RECENT\r\n",
        b"* OK [UNSEEN 2] Message 2 is first unseen\r\n",
        uidvalidity,
        b"* OK [UIDNEXT 4] Predicted next UID\r\n",
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Important \\*)]"
        b" Flags permitted\r\n",
        mailboxid,
        b"a OK [READ-WRITE] SELECT completed\r\n",
    ]
    assert examined == [
        closed,
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Important)\r\n",
        b"* 3 EXISTS\r\n",
        b"* 0 RECENT\r\n",
        b"* OK [UNSEEN 2] Message 2 is first unseen\r\n",
        uidvalidity,
        b"* OK [UIDNEXT 4] Predicted next UID\r\n",
        b"* OK [PERMANENTFLAGS ()] Flags permitted\r\n",
        mailboxid,  # RFC 8474 §4.2: on every SELECT and EXAMINE
        b"b OK [READ-ONLY] EXAMINE completed\r\n",
    ]


async def test_recent_belongs_to_one_session(env: ImapEnv) -> None:
    # RFC 3501 §2.3.2: "subsequent sessions will not see \\Recent set for this message"; new mail
    # goes to the first read-write session told of it; IMAP4rev2 sessions take nothing.
    await env.deliver(message(1))
    await env.deliver(message(2))
    first, second, modern = [await open_session(env, select=b"") for _ in range(3)]
    await ask(modern, b"E ENABLE IMAP4rev2")
    try:
        status = await ask(second, b"s STATUS INBOX (RECENT)")
        await ask(modern, b"m SELECT INBOX")
        status_after_rev2 = await ask(second, b"t STATUS INBOX (RECENT)")
        taken = await ask(first, b"a SELECT INBOX")
        late = await ask(second, b"b SELECT INBOX")
        status_after = await ask(second, b"u STATUS INBOX (RECENT)")
        new = await env.deliver(message(3))
        told_first = await ask(first, b"c NOOP")
        told_second = await ask(second, b"d NOOP")
        search = await ask(first, b"e SEARCH RECENT")
        fetched = await ask(second, b"f UID FETCH %d (FLAGS)" % new)
    finally:
        for sock in (first, second, modern):
            sock.close()
    assert status[0] == b"* STATUS INBOX (RECENT 2)\r\n"
    assert status_after_rev2[0] == b"* STATUS INBOX (RECENT 2)\r\n"
    assert b"* 2 RECENT\r\n" in taken
    assert b"* 0 RECENT\r\n" in late
    assert status_after[0] == b"* STATUS INBOX (RECENT 0)\r\n"
    assert told_first == [b"* 3 EXISTS\r\n", b"* 3 RECENT\r\n", b"c OK NOOP completed\r\n"]
    assert told_second == [b"* 3 EXISTS\r\n", b"* 0 RECENT\r\n", b"d OK NOOP completed\r\n"]
    assert search[0] == b"* SEARCH 1 2 3\r\n"
    assert fetched[0] == b"* 3 FETCH (UID %d FLAGS ())\r\n" % new


async def test_select_rev2_and_failed_select(env: ImapEnv) -> None:
    await env.deliver(message(1))
    info = await env.mailbox("Sent")
    sock = await open_session(env, select=b"", enable=b"IMAP4rev2")
    try:
        first = await ask(sock, b"a SELECT INBOX")
        second = await ask(sock, b"b SELECT Sent")
        failed = await ask(sock, b"c SELECT Nope")
        after = await ask(sock, b"d CLOSE")
    finally:
        sock.close()
    assert b"* 0 RECENT\r\n" not in first
    assert first[-2:] == [b'* LIST () "/" INBOX\r\n', b"a OK [READ-WRITE] SELECT completed\r\n"]
    assert second == [
        b"* OK [CLOSED] Previous mailbox closed\r\n",
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n",
        b"* 0 EXISTS\r\n",
        b"* OK [UIDVALIDITY %d] UIDs valid\r\n" % info.uidvalidity,
        b"* OK [UIDNEXT 1] Predicted next UID\r\n",
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted\r\n",
        b"* OK [MAILBOXID (F%d)] Mailbox ID\r\n" % info.id,
        b'* LIST () "/" Sent\r\n',
        b"b OK [READ-WRITE] SELECT completed\r\n",
    ]
    assert failed == [b"* OK [CLOSED] Previous mailbox closed\r\n", b"c NO [NONEXISTENT] No such mailbox\r\n"]
    assert after == [b"d BAD No mailbox selected\r\n"]  # RFC 9051 §6.3.2: nothing is selected now


async def test_close_expunges_deleted_silently_unselect_does_not(env: ImapEnv) -> None:
    uids = [await env.deliver(message(n)) for n in range(4)]
    info = await env.mailbox()
    await env.store.set_flags(info.id, uids[:2], "add", ["\\Deleted"])
    sock = await open_session(env, select=b"")
    try:
        await ask(sock, b"a EXAMINE INBOX")
        close_ro = await ask(sock, b"b CLOSE")  # read-only: nothing is expunged
        after_ro = await env.uids()
        await ask(sock, b"c SELECT INBOX")
        unselect = await ask(sock, b"d UNSELECT")
        after_unselect = await env.uids()
        await ask(sock, b"e SELECT INBOX")
        close = await ask(sock, b"f CLOSE")
        after_close = await env.uids()
        noop = await ask(sock, b"g NOOP")
    finally:
        sock.close()
    assert close_ro == [b"b OK CLOSE completed\r\n"]
    assert after_ro == uids
    assert unselect == [b"d OK UNSELECT completed\r\n"]
    assert after_unselect == uids
    assert close == [b"f OK CLOSE completed\r\n"]  # no untagged EXPUNGE (RFC 9051 §6.4.1)
    assert after_close == uids[2:]
    assert noop == [b"g OK NOOP completed\r\n"]


async def test_noop_reports_changes_of_other_sessions(env: ImapEnv) -> None:
    first = await env.deliver(message(1))
    info = await env.mailbox()
    sock = await open_session(env, select=b"")
    try:
        await ask(sock, b"a SELECT INBOX")
        assert await ask(sock, b"b NOOP") == [b"b OK NOOP completed\r\n"]
        second = await env.deliver(message(2))
        exists = await ask(sock, b"c NOOP")
        await env.store.set_flags(info.id, [first], "add", ["\\Flagged", "$Work"])
        flags = await ask(sock, b"d CHECK")
        await env.store.expunge(info.id, [first])
        expunged = await ask(sock, b"e NOOP")
        status = await ask(sock, b"f STATUS INBOX (MESSAGES)")
    finally:
        sock.close()
    # Both messages are \\Recent here: the first taken at SELECT, the second when announced.
    assert exists == [b"* 2 EXISTS\r\n", b"* 2 RECENT\r\n", b"c OK NOOP completed\r\n"]
    # $Work is new to the mailbox: FLAGS and PERMANENTFLAGS list it before the FETCH shows it.
    assert flags == [
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work)\r\n",
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work \\*)] "
        b"Flags permitted\r\n",
        b"* 1 FETCH (FLAGS (\\Flagged $Work \\Recent))\r\n",
        b"d OK CHECK completed\r\n",
    ]
    assert expunged == [b"* 1 EXPUNGE\r\n", b"e OK NOOP completed\r\n"]
    assert status == [b"* STATUS INBOX (MESSAGES 1)\r\n", b"f OK STATUS completed\r\n"]
    assert await env.uids() == [second]


async def test_updates_with_imapclient(env: ImapEnv) -> None:
    await env.deliver(message(1))

    def select() -> tuple[imapclient.IMAPClient, dict[bytes, object]]:
        client = imapclient.IMAPClient(env.plain[0], port=env.plain[1], ssl=False, timeout=10)
        client.login(ALICE, PASSWORD)
        return client, client.select_folder("INBOX")

    client, selected = await asyncio.to_thread(select)
    try:
        assert selected[b"EXISTS"] == 1
        assert selected[b"READ-WRITE"] is True
        await env.deliver(message(2))
        responses = await asyncio.to_thread(client.noop)
    finally:
        await asyncio.to_thread(client.logout)
    assert (2, b"EXISTS") in responses[1]


async def test_deleting_the_selected_mailbox(env: ImapEnv) -> None:
    await env.ops.create(env.alice.id, "Doomed")
    await env.ops.create(env.alice.id, "Elsewhere")
    sock = await open_session(env, select=b"")
    other = await open_session(env, select=b"")
    try:
        await ask(sock, b"a SELECT Doomed")
        deleted = await ask(sock, b"b DELETE Doomed")
        after = await ask(sock, b"c NOOP")
        await ask(other, b"d SELECT Elsewhere")
        await env.ops.delete(env.alice.id, "Elsewhere")
        bye = await ask(other, b"e NOOP")
        eof = await asyncio.to_thread(read_line, other)
    finally:
        sock.close()
        other.close()
    assert deleted == [b"* OK [CLOSED] Selected mailbox deleted\r\n", b"b OK DELETE completed\r\n"]
    assert after == [b"c OK NOOP completed\r\n"]
    assert bye == [
        b"* BYE [NONEXISTENT] Selected mailbox was deleted, have to disconnect\r\n",
        b"e OK NOOP completed\r\n",
    ]
    assert eof == b""


async def test_a_keyword_no_message_has_stays_in_the_flags_of_later_sessions(env: ImapEnv) -> None:
    """imaptest's checkpoint=N found it ("Checkpoint: client N: Missing keyword $Label3"): every
    session of a mailbox is told the same keywords (RFC 9051 §7.3.5 FLAGS: the flags "defined in the
    mailbox"). Dovecot 2.3.19 keeps each keyword ever used in the mailbox's index, so its FLAGS never
    shrink; so does pochta (``mailboxes.keywords``): once the last message with $Gone is expunged, a
    new session is still told of $Gone, as the older one was, in FLAGS and PERMANENTFLAGS."""
    await env.deliver(message(1), flags=["$Gone"])
    first = await open_session(env, select=b"")
    second = await open_session(env, select=b"")
    try:
        told_first = await ask(first, b"a SELECT INBOX")
        assert b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Gone)\r\n" in told_first
        await ask(first, b"b STORE 1 +FLAGS.SILENT (\\Deleted)")
        assert (await ask(first, b"c EXPUNGE"))[-1].startswith(b"c OK")
        told_second = await ask(second, b"d SELECT INBOX")
    finally:
        first.close()
        second.close()
    assert b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Gone)\r\n" in told_second
    assert b"* 0 EXISTS\r\n" in told_second
    permanent = b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Gone \\*)]"
    assert any(line.startswith(permanent) for line in told_second)
