"""IMAP mailbox commands end to end: CREATE, DELETE, RENAME, SUBSCRIBE, LIST (+ LIST-EXTENDED,
LIST-STATUS, SPECIAL-USE), LSUB, STATUS, and UTF-8 versus modified UTF-7 names."""

from __future__ import annotations

import asyncio
import re

import imapclient

from imap_env import ALICE, PASSWORD, ImapEnv, exchange, imap_session, message, open_session
from pochta.store.model import DEFAULT_MAILBOXES


async def unsubscribe_defaults(env: ImapEnv) -> None:
    """New accounts are subscribed to their default mailboxes; start from none."""
    for name, _use in DEFAULT_MAILBOXES:
        await env.ops.unsubscribe(env.alice.id, name)


def run_lines(env: ImapEnv, lines: list[bytes], *, enable: bytes = b"") -> list[list[bytes]]:
    sock = imap_session(env, select=b"", enable=enable)
    try:
        return [exchange(sock, line) for line in lines]
    finally:
        sock.close()


async def test_create_delete_rename_codes(env: ImapEnv) -> None:
    out = await asyncio.to_thread(
        run_lines,
        env,
        [
            b"a CREATE Work/Projects/2024",  # superiors are created too
            b"b CREATE Work",
            b"c CREATE inbox",
            b'd CREATE "Bad/*"',
            b"e CREATE Bad//Name",
            b"f CREATE Bad/../x",
            b"g DELETE Work",
            b"h DELETE Nope",
            b"i DELETE INBOX",
            b"j RENAME Work Job",
            b"k RENAME Nope Other",
            b"l RENAME Job Sent",
            b"m RENAME Job Job/Inner",
            b"n DELETE Job/Projects/2024",
            b'o LIST "" "Job*"',
            b"p CREATE Spam (USE (\\Junk))",
            b"q CREATE All (USE (\\All))",
            b"r CREATE Folder/",
        ],
    )
    codes = [replies[-1] for replies in out]
    # RFC 8474 §4.1: every successful CREATE names the new mailbox's MAILBOXID (test_imap_objects).
    assert re.fullmatch(rb"a OK \[MAILBOXID \(F[0-9]+\)\] CREATE completed\r\n", codes[0])
    assert codes[1] == b"b NO [ALREADYEXISTS] Mailbox already exists\r\n"
    assert codes[2] == b"c NO [ALREADYEXISTS] INBOX always exists\r\n"
    assert codes[3].startswith(b"d NO [CANNOT] ")
    assert codes[4].startswith(b"e NO [CANNOT] ")
    assert codes[5].startswith(b"f NO [CANNOT] ")
    assert codes[6].startswith(b"g NO [HASCHILDREN] ")
    assert codes[7] == b"h NO [NONEXISTENT] No such mailbox\r\n"
    assert codes[8] == b"i NO [CANNOT] INBOX cannot be deleted\r\n"
    assert codes[9] == b"j OK RENAME completed\r\n"
    assert codes[10] == b"k NO [NONEXISTENT] No such mailbox\r\n"
    assert codes[11] == b"l NO [ALREADYEXISTS] Mailbox already exists\r\n"
    assert codes[12].startswith(b"m NO [CANNOT] ")
    assert codes[13] == b"n OK DELETE completed\r\n"
    # Renaming a parent renamed its children.
    assert out[14] == [
        b'* LIST (\\HasChildren) "/" Job\r\n',
        b'* LIST (\\HasNoChildren) "/" Job/Projects\r\n',
        b"o OK LIST completed\r\n",
    ]
    assert codes[15] == b"p OK [MAILBOXID (F%d)] CREATE completed\r\n" % (await env.mailbox("Spam")).id
    assert codes[16].startswith(b"q NO [USEATTR] ")
    assert codes[17] == b"r OK [MAILBOXID (F%d)] CREATE completed\r\n" % (await env.mailbox("Folder")).id
    assert (await env.mailbox("Spam")).special_use == "\\Junk"
    assert (await env.mailbox("Folder")).name == "Folder"


async def test_rename_inbox_moves_messages(env: ImapEnv) -> None:
    for n in range(3):
        await env.deliver(message(n))
    await env.ops.create(env.alice.id, "INBOX/Child")
    out = await asyncio.to_thread(
        run_lines, env, [b"a RENAME INBOX Old", b"b STATUS INBOX (MESSAGES)", b"c STATUS Old (MESSAGES)"]
    )
    assert out[0] == [b"a OK RENAME completed\r\n"]
    assert out[1][0] == b"* STATUS INBOX (MESSAGES 0)\r\n"
    assert out[2][0] == b"* STATUS Old (MESSAGES 3)\r\n"
    assert len(await env.uids("Old")) == 3
    assert (await env.mailbox("INBOX/Child")).name == "INBOX/Child"  # inferiors of INBOX stay


async def test_recursivematch_childinfo_rfc5258_example_9(env: ImapEnv) -> None:
    # RFC 5258 §5 example 9 (on top of the default mailboxes, which do not match "*2"), and
    # §3.5: CHILDINFO only where a descendant meeting the criteria is not listed itself.
    for name in ("foo2/bar1", "foo2/bar2", "baz2/bar2", "baz2/bar22", "baz2/bar222", "eps2/mamba"):
        await env.ops.create(env.alice.id, name)
    await env.ops.create(env.alice.id, "qux2/bar2")
    await unsubscribe_defaults(env)
    for name in ("foo2/bar1", "foo2/bar2", "baz2/bar2", "baz2/bar22", "baz2/bar222", "eps2"):
        await env.ops.subscribe(env.alice.id, name)
    await env.ops.subscribe(env.alice.id, "eps2/mamba")
    await env.ops.subscribe(env.alice.id, "qux2/bar2")
    out = await asyncio.to_thread(run_lines, env, [b'D03 LIST (RECURSIVEMATCH SUBSCRIBED) "" "*2"'])
    assert out[0] == [
        b'* LIST (\\HasNoChildren \\Subscribed) "/" baz2/bar2\r\n',
        b'* LIST (\\HasNoChildren \\Subscribed) "/" baz2/bar22\r\n',
        b'* LIST (\\HasNoChildren \\Subscribed) "/" baz2/bar222\r\n',
        b'* LIST (\\HasChildren \\Subscribed) "/" eps2 ("CHILDINFO" ("SUBSCRIBED"))\r\n',
        b'* LIST (\\HasChildren) "/" foo2 ("CHILDINFO" ("SUBSCRIBED"))\r\n',
        b'* LIST (\\HasNoChildren \\Subscribed) "/" foo2/bar2\r\n',
        b'* LIST (\\HasNoChildren \\Subscribed) "/" qux2/bar2\r\n',
        b"D03 OK LIST completed\r\n",
    ]


async def test_list_variants(env: ImapEnv) -> None:
    await env.ops.create(env.alice.id, "Lists/pochta")
    await env.ops.create(env.alice.id, "Lists/python")
    await unsubscribe_defaults(env)
    await env.ops.subscribe(env.alice.id, "Lists/python")
    await env.ops.subscribe(env.alice.id, "Gone/Away")  # subscribed, no such mailbox
    await env.ops.subscribe(env.alice.id, "Sent")
    await env.deliver(message(1), mailbox="Sent", flags=["\\Seen"])
    out = await asyncio.to_thread(
        run_lines,
        env,
        [
            b'a LIST "" ""',
            b'b LIST "" %',
            b"c LIST Lists/ %",
            b'd LIST "" "inbox"',
            b'e LIST (SUBSCRIBED) "" *',
            b'f LIST (SUBSCRIBED RECURSIVEMATCH) "" %',
            b'g LIST (SPECIAL-USE) "" * RETURN (STATUS (MESSAGES UNSEEN SIZE))',
            b'h LIST "" (Lists/* Trash) RETURN (SUBSCRIBED CHILDREN)',
            b'i LIST (REMOTE) "" Lists',
            b'j LIST "" * RETURN (STATUS (HIGHESTMODSEQ))',
            b'k LIST (BOGUS) "" *',
            b'l LSUB "" *',
            b'm LSUB "" %',
        ],
    )
    assert out[0] == [b'* LIST (\\Noselect) "/" ""\r\n', b"a OK LIST completed\r\n"]
    assert out[1] == [
        b'* LIST (\\HasNoChildren) "/" INBOX\r\n',
        b'* LIST (\\HasNoChildren \\Archive) "/" Archive\r\n',
        b'* LIST (\\HasNoChildren \\Drafts) "/" Drafts\r\n',
        b'* LIST (\\HasNoChildren \\Junk) "/" Junk\r\n',
        b'* LIST (\\HasChildren) "/" Lists\r\n',
        b'* LIST (\\HasNoChildren \\Sent) "/" Sent\r\n',
        b'* LIST (\\HasNoChildren \\Trash) "/" Trash\r\n',
        b"b OK LIST completed\r\n",
    ]
    assert out[2] == [
        b'* LIST (\\HasNoChildren) "/" Lists/pochta\r\n',
        b'* LIST (\\HasNoChildren) "/" Lists/python\r\n',
        b"c OK LIST completed\r\n",
    ]
    assert out[3] == [b'* LIST (\\HasNoChildren) "/" INBOX\r\n', b"d OK LIST completed\r\n"]
    assert out[4] == [
        b'* LIST (\\NonExistent \\HasNoChildren \\Subscribed) "/" Gone/Away\r\n',
        b'* LIST (\\HasNoChildren \\Subscribed) "/" Lists/python\r\n',
        b'* LIST (\\HasNoChildren \\Sent \\Subscribed) "/" Sent\r\n',
        b"e OK LIST completed\r\n",
    ]
    assert out[5] == [
        b'* LIST (\\NonExistent \\HasNoChildren) "/" Gone ("CHILDINFO" ("SUBSCRIBED"))\r\n',
        b'* LIST (\\HasChildren) "/" Lists ("CHILDINFO" ("SUBSCRIBED"))\r\n',
        b'* LIST (\\HasNoChildren \\Sent \\Subscribed) "/" Sent\r\n',
        b"f OK LIST completed\r\n",
    ]
    size = (await env.mailbox("Sent")).size
    assert out[6][6:8] == [
        b'* LIST (\\HasNoChildren \\Sent) "/" Sent\r\n',
        b"* STATUS Sent (MESSAGES 1 UNSEEN 0 SIZE %d)\r\n" % size,
    ]
    assert len(out[6]) == 11  # five special-use mailboxes, each with its STATUS
    assert out[7] == [
        b'* LIST (\\HasNoChildren) "/" Lists/pochta\r\n',
        b'* LIST (\\HasNoChildren \\Subscribed) "/" Lists/python\r\n',
        b'* LIST (\\HasNoChildren \\Trash) "/" Trash\r\n',
        b"h OK LIST completed\r\n",
    ]
    assert out[8] == [b'* LIST (\\HasChildren) "/" Lists\r\n', b"i OK LIST completed\r\n"]
    # RFC 7162 §3.1.7 HIGHESTMODSEQ, in LIST-STATUS (RFC 5819) too.
    assert b"* STATUS INBOX (HIGHESTMODSEQ 1)\r\n" in out[9]
    assert out[9][-1] == b"j OK LIST completed\r\n"
    assert out[10][-1].startswith(b"k BAD ")
    assert out[11] == [
        b'* LSUB () "/" Gone/Away\r\n',
        b'* LSUB () "/" Lists/python\r\n',
        b'* LSUB () "/" Sent\r\n',
        b"l OK LSUB completed\r\n",
    ]
    assert out[12] == [
        b'* LSUB (\\Noselect) "/" Gone\r\n',
        b'* LSUB (\\Noselect) "/" Lists\r\n',
        b'* LSUB () "/" Sent\r\n',
        b"m OK LSUB completed\r\n",
    ]


async def test_subscribe_unsubscribe(env: ImapEnv) -> None:
    await unsubscribe_defaults(env)
    out = await asyncio.to_thread(
        run_lines,
        env,
        [b"a SUBSCRIBE Drafts", b"b SUBSCRIBE Not/Yet", b'c LSUB "" *', b"d UNSUBSCRIBE Not/Yet",
         b"e UNSUBSCRIBE Never", b'f LSUB "" *', b'g SUBSCRIBE "Bad/%"'],
    )  # fmt: skip
    assert out[0] == [b"a OK SUBSCRIBE completed\r\n"]
    assert out[1] == [b"b OK SUBSCRIBE completed\r\n"]
    assert out[2] == [b'* LSUB () "/" Drafts\r\n', b'* LSUB () "/" Not/Yet\r\n', b"c OK LSUB completed\r\n"]
    assert out[3] == [b"d OK UNSUBSCRIBE completed\r\n"]
    assert out[4] == [b"e OK UNSUBSCRIBE completed\r\n"]
    assert out[5] == [b'* LSUB () "/" Drafts\r\n', b"f OK LSUB completed\r\n"]
    assert out[6][-1].startswith(b"g NO [CANNOT] ")


async def test_utf8_and_modified_utf7_names(env: ImapEnv) -> None:
    utf8 = "Привет".encode()
    out = await asyncio.to_thread(
        run_lines,
        env,
        [
            b'a CREATE "' + utf8 + b'"',
            b'b CREATE "Tom & Jerry"',
            b'c LIST "" *',
            b'd STATUS "' + utf8 + b'" (MESSAGES)',
        ],
        enable=b"UTF8=ACCEPT",
    )
    assert out[0] == [b"a OK [MAILBOXID (F%d)] CREATE completed\r\n" % (await env.mailbox("Привет")).id]
    assert b'* LIST (\\HasNoChildren) "/" "' + utf8 + b'"\r\n' in out[2]
    assert b'* LIST (\\HasNoChildren) "/" "Tom & Jerry"\r\n' in out[2]
    assert out[3][0] == b'* STATUS "' + utf8 + b'" (MESSAGES 0)\r\n'
    # An IMAP4rev1 session sees (and uses) the modified UTF-7 form (RFC 3501 §5.1.3).
    rev1 = await asyncio.to_thread(
        run_lines,
        env,
        [b'a LIST "" *', b"b STATUS &BB8EQAQ4BDIENQRC- (MESSAGES)", b'c CREATE "&Jjo-"', b"d CREATE &bad"],
    )
    assert b'* LIST (\\HasNoChildren) "/" &BB8EQAQ4BDIENQRC-\r\n' in rev1[0]
    assert b'* LIST (\\HasNoChildren) "/" "Tom &- Jerry"\r\n' in rev1[0]
    assert rev1[1][0] == b"* STATUS &BB8EQAQ4BDIENQRC- (MESSAGES 0)\r\n"
    assert rev1[2] == [b"c OK [MAILBOXID (F%d)] CREATE completed\r\n" % (await env.mailbox("☺")).id]
    assert (await env.mailbox("☺")).name == "☺"
    assert rev1[3] == [b"d NO [CANNOT] Mailbox name is not valid modified UTF-7\r\n"]


async def test_status_items(env: ImapEnv) -> None:
    await env.deliver(message(1), flags=["\\Seen"])
    await env.deliver(message(2), flags=["\\Deleted"])
    await env.deliver(message(3))
    info = await env.mailbox()
    out = await asyncio.to_thread(
        run_lines,
        env,
        [
            b"a STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT)",
            b"b STATUS Nope (MESSAGES)",
            b"c STATUS INBOX (APPENDLIMIT)",
            b"d SELECT INBOX",
            b"e STATUS INBOX (MESSAGES RECENT)",  # of the selected mailbox: allowed
        ],
    )
    # RECENT: none taken yet (RFC 3501 §2.3.2); once this session selected them, they are its own.
    assert out[0] == [
        b"* STATUS INBOX (MESSAGES 3 UIDNEXT 4 UIDVALIDITY %d UNSEEN 2 DELETED 1 SIZE %d RECENT 3)\r\n"
        % (info.uidvalidity, info.size),
        b"a OK STATUS completed\r\n",
    ]
    assert out[1] == [b"b NO [NONEXISTENT] No such mailbox\r\n"]
    assert out[2] == [b"c BAD STATUS item APPENDLIMIT is not supported\r\n"]
    assert out[4] == [b"* STATUS INBOX (MESSAGES 3 RECENT 0)\r\n", b"e OK STATUS completed\r\n"]


async def test_imapclient_folders(env: ImapEnv) -> None:
    def run() -> tuple[object, object, object, object]:
        client = imapclient.IMAPClient(env.plain[0], port=env.plain[1], ssl=False, timeout=10)
        client.login(ALICE, PASSWORD)
        client.create_folder("Reports/2025")
        client.rename_folder("Reports", "Old Reports")
        folders = client.list_folders()
        special = client.find_special_folder(imapclient.imapclient.SENT)
        status = client.folder_status("Old Reports/2025", ["MESSAGES", "UIDNEXT"])
        client.delete_folder("Old Reports/2025")
        exists = client.folder_exists("Old Reports/2025")
        client.logout()
        return folders, special, status, exists

    folders, special, status, exists = await asyncio.to_thread(run)
    names = [name for _flags, _delim, name in folders]  # type: ignore[attr-defined]
    assert {"Old Reports", "Old Reports/2025"} <= set(names)
    assert "Reports" not in names
    assert special == "Sent"
    assert status == {b"MESSAGES": 0, b"UIDNEXT": 1}
    assert exists is False


async def test_wildcard_patterns_do_not_stall_the_server(env: ImapEnv) -> None:
    # 50 "%" before a literal took 13.7 s with a backtracking matcher, and every other client waited.
    long_name = "a" * 200
    await env.ops.create(env.alice.id, long_name)
    at_limit = b"%a" * 50  # 50 wildcards: the default limit, matched in linear time
    sock = await open_session(env, select=b"")
    loop = asyncio.get_running_loop()
    try:
        started = loop.time()
        listed = await asyncio.gather(
            asyncio.to_thread(exchange, sock, b'x LIST "" "' + b"%" * 50 + b'Z"'),  # the reported attack
            asyncio.to_thread(run_lines, env, [b"n NOOP"]),  # another client, meanwhile
        )
        assert loop.time() - started < 5
        assert listed == [[b"x OK LIST completed\r\n"], [[b"n OK NOOP completed\r\n"]]]
        out = await asyncio.to_thread(
            lambda: [
                exchange(sock, b'a LIST "" "' + at_limit + b'Z"'),
                exchange(sock, b'b LIST "" "' + at_limit + b'"'),
                # One more wildcard than allowed (reference and pattern count together): NO [LIMIT].
                exchange(sock, b'c LIST "%" "' + at_limit + b'"'),
                exchange(sock, b'd LSUB "" "' + b"*" * 51 + b'"'),
                exchange(sock, b'e LIST (SUBSCRIBED) "" ("*" "' + b"%" * 51 + b'")'),
            ]
        )
    finally:
        sock.close()
    assert loop.time() - started < 10
    assert out[0] == [b"a OK LIST completed\r\n"]
    listed_name = b'* LIST (\\HasNoChildren) "/" ' + long_name.encode() + b"\r\n"
    assert out[1] == [listed_name, b"b OK LIST completed\r\n"]
    limit = [b"NO [LIMIT] At most 50 wildcards in a pattern\r\n"]
    assert out[2:] == [[b"c " + limit[0]], [b"d " + limit[0]], [b"e " + limit[0]]]


async def test_important_mailbox_and_keyword(env: ImapEnv) -> None:
    """RFC 8457: \\Important on CREATE (CREATE-SPECIAL-USE) and in LIST; $Important is a keyword
    like any other (stored, fetched, searched)."""
    await env.deliver(message(1))
    await env.deliver(message(2), flags=["\\Deleted"])
    out = await asyncio.to_thread(
        run_lines,
        env,
        [
            b'a CREATE "Important Messages" (USE (\\Important))',  # RFC 8457 §3.2.2
            b'b LIST "" "Imp*"',
            b'c LIST (SPECIAL-USE) "" "*"',
            b"d SELECT INBOX",
            b"e STORE 1 +FLAGS ($Important)",
            b"f SEARCH KEYWORD $important",
            b"g STATUS INBOX (DELETED)",  # RFC 9051 §6.3.11, in this IMAP4rev2 session
        ],
        enable=b"IMAP4rev2",
    )
    assert out[0] == [
        b"a OK [MAILBOXID (F%d)] CREATE completed\r\n" % (await env.mailbox("Important Messages")).id
    ]
    assert out[1] == [
        b'* LIST (\\HasNoChildren \\Important) "/" "Important Messages"\r\n',
        b"b OK LIST completed\r\n",
    ]
    assert b'* LIST (\\HasNoChildren \\Important) "/" "Important Messages"\r\n' in out[2]
    assert out[3][-1].startswith(b"d OK [READ-WRITE]")
    assert any(line.startswith(b"* FLAGS (") and b"$Important" in line for line in out[4])  # a new keyword
    assert out[4][-2:] == [b"* 1 FETCH (FLAGS ($Important))\r\n", b"e OK STORE completed\r\n"]
    assert out[5][0] == b'* ESEARCH (TAG "f") ALL 1\r\n'
    assert out[6][0] == b"* STATUS INBOX (DELETED 1)\r\n"
