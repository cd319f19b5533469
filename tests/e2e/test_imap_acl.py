"""ACL (RFC 4314) with the other users' namespace and LIST-MYRIGHTS (RFC 8440): alice shares
mailboxes with bob, line by line over raw sockets (two users, two sessions), and with imapclient."""

from __future__ import annotations

import asyncio
import socket

import imapclient

from imap_env import ALICE, BOB, PASSWORD, ImapEnv, ask, message, open_session

SHARED = b'"Other Users/alice@example.org/Projects"'
SECRET = b'"Other Users/alice@example.org/Secret"'


async def _setup(env: ImapEnv) -> tuple[socket.socket, socket.socket]:
    """alice (nothing selected) with Projects (two messages) and Secret (one); bob logged in."""
    await env.ops.create(env.alice.id, "Projects")
    await env.ops.create(env.alice.id, "Secret")
    await env.deliver(message(1), mailbox="Projects")
    await env.deliver(message(2), mailbox="Projects", flags=["\\Flagged"])
    await env.deliver(message(3), mailbox="Secret")
    alice = await open_session(env, select=b"")
    bob = await open_session(env, select=b"", user=BOB.encode())
    return alice, bob


async def test_capabilities_and_namespace(env: ImapEnv) -> None:
    sock = await open_session(env, select=b"")
    try:
        caps = (await ask(sock, b"c CAPABILITY"))[0].split()
        namespace = await ask(sock, b"n NAMESPACE")
    finally:
        sock.close()
    # RFC 4314 §5.1.1: RIGHTS= with t, e, x and k; RFC 8440 §8.1.
    for cap in (b"ACL", b"RIGHTS=kxte", b"LIST-MYRIGHTS"):
        assert cap in caps
    # RFC 2342 §5: personal "", the other users' namespace and the shared one (test_imap_shared).
    assert namespace[0] == b'* NAMESPACE (("" "/")) (("Other Users/" "/")) (("Shared/" "/"))\r\n'


async def test_owner_acl_commands(env: ImapEnv) -> None:
    alice, bob = await _setup(env)
    bob.close()
    try:
        first = await ask(alice, b"a GETACL Projects")
        setacl = await ask(alice, b"b SETACL Projects bob@example.org lrs")
        more = await ask(alice, b"c SETACL Projects Bob@Example.org +wd")
        anyone = await ask(alice, b"d SETACL Projects anyone l")
        listed = await ask(alice, b"e GETACL Projects")
        less = await ask(alice, b"f SETACL Projects bob@example.org -d")
        after = await ask(alice, b"g GETACL Projects")
        deleted = await ask(alice, b"h DELETEACL Projects anyone")
        final = await ask(alice, b"i GETACL Projects")
        my = await ask(alice, b"j MYRIGHTS Projects")
        rights_owner = await ask(alice, b"k LISTRIGHTS Projects alice@example.org")
        rights_bob = await ask(alice, b"l LISTRIGHTS Projects bob@example.org")
        bad_right = await ask(alice, b"m SETACL Projects bob@example.org lrz")
        owner = await ask(alice, b"n SETACL Projects alice@example.org l")
        nobody = await ask(alice, b"o SETACL Projects nobody@example.org l")
        missing = await ask(alice, b"p GETACL Nothing")
        emptied = await ask(alice, b"q SETACL Projects bob@example.org -lrswt")
        gone = await ask(alice, b"r GETACL Projects")
    finally:
        alice.close()
    full = b"lrswipkxteacd"
    assert first == [b"* ACL Projects alice@example.org " + full + b"\r\n", b"a OK GETACL completed\r\n"]
    assert setacl == [b"b OK SETACL completed\r\n"]
    assert more == [b"c OK SETACL completed\r\n"]
    assert anyone == [b"d OK SETACL completed\r\n"]
    # RFC 4314 §2.1.1: "d" came in as "et" and goes out after them.
    assert listed[0] == b"* ACL Projects alice@example.org " + full + b" anyone l bob@example.org lrswted\r\n"
    assert less == [b"f OK SETACL completed\r\n"]
    assert after[0] == b"* ACL Projects alice@example.org " + full + b" anyone l bob@example.org lrsw\r\n"
    assert deleted == [b"h OK DELETEACL completed\r\n"]
    assert final[0] == b"* ACL Projects alice@example.org " + full + b" bob@example.org lrsw\r\n"
    assert my == [b"* MYRIGHTS Projects " + full + b"\r\n", b"j OK MYRIGHTS completed\r\n"]
    assert rights_owner[0] == b"* LISTRIGHTS Projects alice@example.org " + full + b"\r\n"
    assert rights_bob[0] == b'* LISTRIGHTS Projects bob@example.org "" l r s w i p k x t e a c d\r\n'
    assert bad_right[0].startswith(b"m BAD Invalid rights")  # RFC 4314 §3.1
    assert owner[0].startswith(b"n NO [CANNOT]")
    assert nobody[0].startswith(b"o NO [CANNOT]")
    assert missing == [b"p NO [NONEXISTENT] No such mailbox\r\n"]
    assert emptied == [b"q OK SETACL completed\r\n"]
    assert gone[0] == b"* ACL Projects alice@example.org " + full + b"\r\n"  # no right left: no entry


async def test_other_user_lists_selects_and_stores_with_partial_rights(env: ImapEnv) -> None:
    alice, bob = await _setup(env)
    try:
        await ask(alice, b"a SETACL Projects bob@example.org lrs")
        listing = await ask(bob, b'l LIST "" *')
        rights = await ask(bob, b'm LIST "" "Other Users/*" RETURN (MYRIGHTS)')
        status = await ask(bob, b"s STATUS " + SHARED + b" (MESSAGES UNSEEN)")
        my = await ask(bob, b"r MYRIGHTS " + SHARED)
        select = await ask(bob, b"x SELECT " + SHARED)
        seen = await ask(bob, b"b STORE 1 +FLAGS (\\Seen)")
        flagged = await ask(bob, b"c STORE 1 +FLAGS (\\Flagged)")
        mixed = await ask(bob, b"d STORE 2 +FLAGS (\\Seen \\Deleted)")
        replaced = await ask(bob, b"e STORE 2 FLAGS ()")
        expunge = await ask(bob, b"f EXPUNGE")
        move = await ask(bob, b"g MOVE 1 INBOX")
        copy = await ask(bob, b"h COPY 1 INBOX")
        admin = await ask(bob, b"i GETACL " + SHARED)
        append = await ask(bob, b"j APPEND " + SHARED + b" {3+}\r\nx\r\n")
        own = await ask(bob, b"k EXAMINE INBOX")
        in_inbox = await ask(bob, b"n FETCH 1 FLAGS")
    finally:
        alice.close()
        bob.close()
    assert listing[-1] == b"l OK LIST completed\r\n"
    assert b'* LIST (\\Noselect \\HasChildren) "/" "Other Users"\r\n' in listing
    assert b'* LIST (\\Noselect \\HasChildren) "/" "Other Users/alice@example.org"\r\n' in listing
    assert b'* LIST (\\HasNoChildren) "/" "Other Users/alice@example.org/Projects"\r\n' in listing
    assert not any(b"Secret" in line for line in listing)  # no right: not listed
    assert b'* MYRIGHTS "Other Users/alice@example.org/Projects" lrs\r\n' in rights  # RFC 8440 §3
    assert status[0] == b'* STATUS "Other Users/alice@example.org/Projects" (MESSAGES 2 UNSEEN 2)\r\n'
    assert my[0] == b'* MYRIGHTS "Other Users/alice@example.org/Projects" lrs\r\n'
    # RFC 4314 §5.2: "s" is a flag right, so READ-WRITE; PERMANENTFLAGS shows only \Seen.
    assert b"* OK [PERMANENTFLAGS (\\Seen)] Flags permitted\r\n" in select
    assert select[-1] == b"x OK [READ-WRITE] SELECT completed\r\n"
    assert seen == [b"* 1 FETCH (FLAGS (\\Seen \\Recent))\r\n", b"b OK STORE completed\r\n"]
    assert flagged == [b"c NO [NOPERM] Permission denied for these flags\r\n"]
    # RFC 4314 §4: the flags it may change are changed, the others left; no failure.
    assert mixed == [b"* 2 FETCH (FLAGS (\\Flagged \\Seen \\Recent))\r\n", b"d OK STORE completed\r\n"]
    assert replaced == [b"* 2 FETCH (FLAGS (\\Flagged \\Recent))\r\n", b"e OK STORE completed\r\n"]
    assert expunge == [b"f NO [NOPERM] Permission denied: EXPUNGE needs the 'e' right\r\n"]
    assert move == [b"g NO [NOPERM] Permission denied: MOVE needs the 'te' right\r\n"]
    assert copy[-1].startswith(b"h OK [COPYUID ")  # "r" on the source, "i" on one's own INBOX
    assert admin == [b"i NO [NOPERM] Permission denied: GETACL needs the 'a' right\r\n"]
    assert append == [b"j NO [NOPERM] Permission denied: APPEND needs the 'i' right\r\n"]
    assert own[-1] == b"k OK [READ-ONLY] EXAMINE completed\r\n"
    assert in_inbox[0] == b"* 1 FETCH (FLAGS (\\Seen \\Recent))\r\n"  # the copy kept \\Seen


async def test_no_right_is_no_mailbox(env: ImapEnv) -> None:
    # RFC 4314 §6: a mailbox of another user with no right answers exactly as one that does not exist.
    alice, bob = await _setup(env)
    try:
        answers = {}
        for name in (
            SECRET,
            b'"Other Users/alice@example.org/Nothing"',
            b'"Other Users/nobody@example.org/X"',
        ):
            answers[name] = [
                await ask(bob, b"a SELECT " + name),
                await ask(bob, b"b EXAMINE " + name),
                await ask(bob, b"c STATUS " + name + b" (MESSAGES)"),
                await ask(bob, b"d GETACL " + name),
                await ask(bob, b"e MYRIGHTS " + name),
                await ask(bob, b"f DELETE " + name),
                await ask(bob, b"g APPEND " + name + b" {3+}\r\nx\r\n"),
                await ask(bob, b"h SETACL " + name + b" anyone lr"),
                await ask(bob, b"i LISTRIGHTS " + name + b" anyone"),
                await ask(bob, b"j SUBSCRIBE " + name),
            ]
        listing = await ask(bob, b'l LIST "" *')
        # Rights without "l": the one granted works, a missing one still answers as no mailbox.
        await ask(alice, b"k SETACL Secret bob@example.org i")
        insert_only = await ask(bob, b"m APPEND " + SECRET + b" {3+}\r\nx\r\n")
        no_select = await ask(bob, b"n SELECT " + SECRET)
    finally:
        alice.close()
        bob.close()
    first, *others = answers.values()
    assert all(answer == first for answer in others)
    for lines in first:
        assert lines[-1].endswith(b" NO [NONEXISTENT] No such mailbox\r\n"), lines
    assert [line for line in listing if b"Other Users" in line] == []
    assert insert_only[-1].startswith(b"m OK [APPENDUID ")
    assert no_select == [b"n NO [NONEXISTENT] No such mailbox\r\n"]


async def test_full_rights_write_and_changes_reach_the_other_session(env: ImapEnv) -> None:
    alice, bob = await _setup(env)
    try:
        await ask(alice, b"a SETACL Projects bob@example.org lrswitek")
        select = await ask(bob, b"b SELECT " + SHARED)
        await ask(alice, b"c SELECT Projects")
        stored = await ask(bob, b"d STORE 1 +FLAGS.SILENT (\\Deleted $Done)")
        told = await ask(alice, b"e NOOP")
        expunged = await ask(bob, b"f EXPUNGE")
        told_expunge = await ask(alice, b"g NOOP")
        created = await ask(bob, b'h CREATE "Other Users/alice@example.org/Projects/Sub"')
        # Rights change under bob's selected mailbox: PERMANENTFLAGS again, then "r" gone: BYE.
        await ask(alice, b"i SETACL Projects bob@example.org lr")
        fewer = await ask(bob, b"j NOOP")
        await ask(alice, b"k DELETEACL Projects bob@example.org")
        revoked = await ask(bob, b"l NOOP")
        alice_sub = await ask(alice, b'm GETACL "Projects/Sub"')
    finally:
        alice.close()
        bob.close()
    assert (
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted\r\n"
        in select
    )
    assert stored[-1] == b"d OK STORE completed\r\n"  # after FLAGS for the new keyword
    assert b"* 1 FETCH (FLAGS (\\Deleted $Done))\r\n" in told
    assert expunged == [b"* 1 EXPUNGE\r\n", b"f OK EXPUNGE completed\r\n"]
    assert told_expunge[0] == b"* 1 EXPUNGE\r\n"
    assert created[-1].startswith(b"h OK [MAILBOXID ")  # "k" on the parent (RFC 4314 §4)
    assert b"* OK [PERMANENTFLAGS ()] Flags permitted\r\n" in fewer
    assert revoked == [b"* BYE [NOPERM] Access to the selected mailbox was revoked\r\n"]
    # RFC 4314 §4: a new mailbox inherits its parent's ACL (bob's entry as it was then).
    assert alice_sub[0].endswith(b" bob@example.org lrswiktecd\r\n")


def _imapclient(env: ImapEnv, user: str) -> imapclient.IMAPClient:
    host, port = env.plain
    client = imapclient.IMAPClient(host, port=port, ssl=False, timeout=10)
    client.login(user, PASSWORD)
    return client


async def test_imapclient_setacl_getacl(env: ImapEnv) -> None:
    await env.ops.create(env.alice.id, "Team")

    def run() -> tuple[object, object, object]:
        alice = _imapclient(env, ALICE)
        try:
            alice.setacl("Team", BOB, "lr")
            acl = alice.getacl("Team")
        finally:
            alice.logout()
        bob = _imapclient(env, BOB)
        try:
            folders = [name for _flags, _sep, name in bob.list_folders()]
            selected = bob.select_folder("Other Users/alice@example.org/Team", readonly=True)
        finally:
            bob.logout()
        return acl, folders, selected

    acl, folders, selected = await asyncio.to_thread(run)
    assert acl == [(ALICE.encode(), b"lrswipkxteacd"), (BOB.encode(), b"lr")]
    assert "Other Users/alice@example.org/Team" in folders
    assert selected[b"READ-ONLY"] == [b""]


async def test_copy_into_a_shared_mailbox_keeps_only_the_flags_granted(env: ImapEnv) -> None:
    # RFC 4314 §4's COPY example: with "rwis" on the target, \Deleted is dropped; with "rsti", the
    # flags that need "w" are.
    alice, bob = await _setup(env)
    await env.deliver(message(4), account=env.bob, flags=["\\Draft", "\\Deleted"])
    await env.deliver(message(5), account=env.bob, flags=["\\Answered"])
    await env.deliver(message(6), account=env.bob, flags=["$Forwarded", "\\Seen"])
    try:
        await ask(alice, b"a SETACL Projects bob@example.org lrwis")
        await ask(alice, b"b SETACL Secret bob@example.org lrsti")
        await ask(bob, b"c SELECT INBOX")
        first = await ask(bob, b"d COPY 1:3 " + SHARED)
        second = await ask(bob, b"e COPY 1:3 " + SECRET)
        subscribed = await ask(bob, b"f SUBSCRIBE " + SHARED)
        listed = await ask(bob, b'g LIST (SUBSCRIBED) "" "Other Users/*"')
        await ask(bob, b"h SELECT " + SECRET)
        await ask(bob, b"i STORE 1 +FLAGS.SILENT (\\Deleted)")
        closed = await ask(bob, b"j CLOSE")  # no "e": closed, nothing expunged (RFC 4314 §4)
        renamed = await ask(
            bob, b'k RENAME "Other Users/alice@example.org/Secret" "Other Users/alice@example.org/Box"'
        )
        deleted = await ask(bob, b"l DELETE " + SECRET)
    finally:
        alice.close()
        bob.close()
    assert first[-1].startswith(b"d OK [COPYUID ")
    assert second[-1].startswith(b"e OK [COPYUID ")
    projects = await env.store.open_view((await env.mailbox("Projects")).id)
    secret = await env.store.open_view((await env.mailbox("Secret")).id)
    assert list(projects.flags)[2:] == [
        frozenset({"\\Draft"}),
        frozenset({"\\Answered"}),
        frozenset({"$Forwarded", "\\Seen"}),
    ]
    assert list(secret.flags)[1:] == [frozenset({"\\Deleted"}), frozenset(), frozenset({"\\Seen"})]
    assert subscribed == [b"f OK SUBSCRIBE completed\r\n"]
    assert b'* LIST (\\HasNoChildren \\Subscribed) "/" "Other Users/alice@example.org/Projects"\r\n' in listed
    assert closed == [b"j OK CLOSE completed\r\n"]
    assert secret.flags[0] == {"\\Deleted"}  # stored with "t", and CLOSE without "e" left it there
    assert renamed == [b"k NO [NOPERM] Permission denied: RENAME needs the 'x' right\r\n"]
    assert deleted == [b"l NO [NOPERM] Permission denied: DELETE needs the 'x' right\r\n"]


async def test_metadata_of_a_shared_mailbox_follows_the_rights(env: ImapEnv) -> None:
    # RFC 5464 §3.3 with ACL: "l" and one of "r s w i p" to read and set; no right: as if absent.
    alice, bob = await _setup(env)
    try:
        shared = await ask(alice, b'a SETMETADATA Projects (/shared/comment "team work")')
        await ask(alice, b"b SETACL Projects bob@example.org lr")
        await ask(alice, b"c SETACL Secret bob@example.org l")
        read = await ask(bob, b"d GETMETADATA " + SHARED + b" /shared/comment")
        own_private = await ask(bob, b"e SETMETADATA " + SHARED + b' (/private/comment "mine")')
        private = await ask(bob, b"f GETMETADATA " + SHARED + b" /private/comment")
        alice_private = await ask(alice, b"g GETMETADATA Projects /private/comment")
        list_only = await ask(bob, b"h GETMETADATA " + SECRET + b" /shared/comment")
        await ask(alice, b"i DELETEACL Secret bob@example.org")
        hidden = await ask(bob, b"j GETMETADATA " + SECRET + b" /shared/comment")
    finally:
        alice.close()
        bob.close()
    assert shared == [b"a OK SETMETADATA completed\r\n"]
    assert read[0] == b"* METADATA " + SHARED + b' (/shared/comment "team work")\r\n'
    assert own_private == [b"e OK SETMETADATA completed\r\n"]
    assert private[0] == b"* METADATA " + SHARED + b' (/private/comment "mine")\r\n'
    assert alice_private[-1] == b"g OK GETMETADATA completed\r\n"
    assert not any(b"mine" in line for line in alice_private)  # bob's private entry is his
    assert list_only[-1].startswith(b"h NO [NOPERM]")
    assert hidden[-1].startswith(b"j NO [NONEXISTENT]")
