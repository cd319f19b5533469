"""The shared namespace (RFC 2342 §5) of public mailboxes, with ACL (RFC 4314): the domain's
public mailbox ``Shared/support`` seen by bob (granted) and alice (not granted), line by line over
real IMAP sessions, and posted into over LMTP (``shared+support@example.org``, right "p")."""

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
    imap_server,
    imap_settings,
    message,
    open_session,
    read_line,
)
from pochta.auth.passwords import hash_password
from pochta.store.model import Account

SUPPORT = b'"Shared/support"'
FULL = b"lrswipkxteacd"
PROJECTS = b'"Other Users/alice@example.org/Projects"'


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ImapEnv]:
    async with imap_server(tmp_path, imap_settings(listeners={"lmtp": "127.0.0.1:0"})) as running:
        yield running


async def _public(env: ImapEnv, *names: str) -> Account:
    """The domain's hidden owner, with the public mailboxes ``names`` (no ACL entry yet)."""
    owner = await env.store.add_shared_owner("example.org")
    for name in names:
        await env.ops.create(owner.id, name)
    return owner


async def _setup(env: ImapEnv) -> tuple[Account, socket.socket, socket.socket]:
    """Shared/support (two messages) and Shared/internal (one); alice and bob logged in."""
    owner = await _public(env, "support", "internal")
    await env.deliver(message(1), mailbox="support", account=owner)
    await env.deliver(message(2), mailbox="support", account=owner, flags=["\\Flagged"])
    await env.deliver(message(3), mailbox="internal", account=owner)
    alice = await open_session(env, select=b"")
    bob = await open_session(env, select=b"", user=BOB.encode())
    return owner, alice, bob


async def _grant(env: ImapEnv, owner: Account, name: str, who: str, rights: str) -> None:
    info = await env.mailbox(name, owner)
    await env.store.set_mailbox_acl(info.id, who, rights)


async def test_namespace_answers_the_shared_slot(env: ImapEnv) -> None:
    sock = await open_session(env, select=b"")
    try:
        namespace = await ask(sock, b"n NAMESPACE")
    finally:
        sock.close()
    # RFC 2342 §5: personal, other users', shared.
    assert namespace[0] == b'* NAMESPACE (("" "/")) (("Other Users/" "/")) (("Shared/" "/"))\r\n'


async def test_shared_is_listed_only_with_a_visible_public_mailbox(env: ImapEnv) -> None:
    owner, alice, bob = await _setup(env)
    try:
        before = await ask(bob, b'a LIST "" *')
        await _grant(env, owner, "support", BOB, "lrs")
        await _grant(env, owner, "internal", BOB, "r")  # no "l": not listed (RFC 4314 §4)
        after = await ask(bob, b'b LIST "" *')
        top = await ask(bob, b'c LIST "" %')
        rights = await ask(bob, b'd LIST "" "Shared/*" RETURN (MYRIGHTS STATUS (MESSAGES UNSEEN))')
        lsub_empty = await ask(bob, b'e LSUB "" "Shared/*"')
        subscribed = await ask(bob, b"f SUBSCRIBE " + SUPPORT)
        lsub = await ask(bob, b'g LSUB "" "Shared/*"')
        by_sub = await ask(bob, b'h LIST (SUBSCRIBED) "" "Shared/*"')
        alice_list = await ask(alice, b'i LIST "" *')
    finally:
        alice.close()
        bob.close()
    assert not any(b"Shared" in line for line in before)
    assert b'* LIST (\\Noselect \\HasChildren) "/" Shared\r\n' in after
    assert b'* LIST (\\HasNoChildren) "/" Shared/support\r\n' in after
    assert not any(b"internal" in line for line in after)
    assert b'* LIST (\\Noselect \\HasChildren) "/" Shared\r\n' in top
    assert not any(b"Shared/" in line for line in top)
    assert rights == [
        b'* LIST (\\HasNoChildren) "/" Shared/support\r\n',
        b"* STATUS Shared/support (MESSAGES 2 UNSEEN 2)\r\n",  # RFC 5819 §2
        b"* MYRIGHTS Shared/support lrs\r\n",  # RFC 8440 §3
        b"d OK LIST completed\r\n",
    ]
    assert lsub_empty == [b"e OK LSUB completed\r\n"]
    assert subscribed == [b"f OK SUBSCRIBE completed\r\n"]
    assert lsub[0] == b'* LSUB () "/" Shared/support\r\n'
    assert b'* LIST (\\HasNoChildren \\Subscribed) "/" Shared/support\r\n' in by_sub
    assert not any(b"Shared" in line for line in alice_list)  # alice holds no right


async def test_no_right_answers_as_no_mailbox(env: ImapEnv) -> None:
    # RFC 4314 §6: a public mailbox with no right answers exactly as one that does not exist, and as
    # the hidden owner's mailboxes through the other users' namespace.
    owner, alice, bob = await _setup(env)
    await _grant(env, owner, "support", BOB, FULL.decode())
    try:
        answers = {}
        for name in (
            SUPPORT,
            b'"Shared/nothing"',
            b'"Shared"',
            b'"Other Users/(shared)@example.org/support"',
        ):
            answers[name] = [
                await ask(alice, b"a SELECT " + name),
                await ask(alice, b"b EXAMINE " + name),
                await ask(alice, b"c STATUS " + name + b" (MESSAGES)"),
                await ask(alice, b"d GETACL " + name),
                await ask(alice, b"e MYRIGHTS " + name),
                await ask(alice, b"f DELETE " + name),
                await ask(alice, b"g APPEND " + name + b" {3+}\r\nx\r\n"),
                await ask(alice, b"h SETACL " + name + b" anyone lr"),
                await ask(alice, b"i LISTRIGHTS " + name + b" anyone"),
                await ask(alice, b"j SUBSCRIBE " + name),
                await ask(alice, b"k GETMETADATA " + name + b" /shared/comment"),
                await ask(alice, b"l RENAME " + name + b' "Shared/other"'),
            ]
        # bob holds every right on Shared/support, yet the other users' name is no way there.
        hidden_owner = await ask(bob, b'm SELECT "Other Users/(shared)@example.org/support"')
        own_name = await ask(alice, b'n CREATE "Shared/mine"')  # no parent to hold "k"
    finally:
        alice.close()
        bob.close()
    first, *others = answers.values()
    assert all(answer == first for answer in others)
    for lines in first:
        assert lines[-1].endswith(b" NO [NONEXISTENT] No such mailbox\r\n"), lines
    assert hidden_owner == [b"m NO [NONEXISTENT] No such mailbox\r\n"]
    assert own_name[-1].startswith(b"n NO [CANNOT]")


async def test_partial_rights_are_enforced_on_every_path(env: ImapEnv) -> None:
    owner, alice, bob = await _setup(env)
    await _grant(env, owner, "support", BOB, "lrs")
    alice.close()
    try:
        status = await ask(bob, b"a STATUS " + SUPPORT + b" (MESSAGES UNSEEN)")
        my = await ask(bob, b"b MYRIGHTS " + SUPPORT)
        select = await ask(bob, b"c SELECT " + SUPPORT)
        fetched = await ask(bob, b"d FETCH 1:2 (FLAGS)")
        seen = await ask(bob, b"e STORE 1 +FLAGS (\\Seen)")
        flagged = await ask(bob, b"f STORE 1 +FLAGS (\\Flagged)")
        expunge = await ask(bob, b"g EXPUNGE")
        move = await ask(bob, b"h MOVE 1 INBOX")
        copy = await ask(bob, b"i COPY 1 INBOX")
        admin = await ask(bob, b"j GETACL " + SUPPORT)
        append = await ask(bob, b"k APPEND " + SUPPORT + b" {3+}\r\nx\r\n")
        create = await ask(bob, b'l CREATE "Shared/support/tier2"')
        delete = await ask(bob, b"m DELETE " + SUPPORT)
        rename = await ask(bob, b'n RENAME "Shared/support" "Shared/help"')
        quota = await ask(bob, b"o GETQUOTAROOT " + SUPPORT)
    finally:
        bob.close()
    assert status[0] == b"* STATUS Shared/support (MESSAGES 2 UNSEEN 2)\r\n"
    assert my[0] == b"* MYRIGHTS Shared/support lrs\r\n"
    assert b"* OK [PERMANENTFLAGS (\\Seen)] Flags permitted\r\n" in select  # RFC 4314 §5.2
    assert select[-1] == b"c OK [READ-WRITE] SELECT completed\r\n"
    assert fetched[:2] == [b"* 1 FETCH (FLAGS (\\Recent))\r\n", b"* 2 FETCH (FLAGS (\\Flagged \\Recent))\r\n"]
    assert seen == [b"* 1 FETCH (FLAGS (\\Seen \\Recent))\r\n", b"e OK STORE completed\r\n"]
    assert flagged == [b"f NO [NOPERM] Permission denied for these flags\r\n"]
    assert expunge == [b"g NO [NOPERM] Permission denied: EXPUNGE needs the 'e' right\r\n"]
    assert move == [b"h NO [NOPERM] Permission denied: MOVE needs the 'te' right\r\n"]
    assert copy[-1].startswith(b"i OK [COPYUID ")
    assert admin == [b"j NO [NOPERM] Permission denied: GETACL needs the 'a' right\r\n"]
    assert append == [b"k NO [NOPERM] Permission denied: APPEND needs the 'i' right\r\n"]
    assert create == [b"l NO [NOPERM] Permission denied: CREATE needs the 'k' right\r\n"]
    assert delete == [b"m NO [NOPERM] Permission denied: DELETE needs the 'x' right\r\n"]
    assert rename == [b"n NO [NOPERM] Permission denied: RENAME needs the 'x' right\r\n"]
    assert quota[0] == b"* QUOTAROOT Shared/support\r\n"  # the hidden owner's root: no limit
    assert quota[-1] == b"o OK GETQUOTAROOT completed\r\n"
    # \Seen is the mailbox's, shared by every user of it (docs/imap.md "Shared mailboxes").
    support = await env.store.open_view((await env.mailbox("support", owner)).id)
    assert support.flags[0] == {"\\Seen"}
    assert await env.uids("INBOX", env.bob) == [1]


async def test_full_rights_manage_the_public_mailbox(env: ImapEnv) -> None:
    owner, alice, bob = await _setup(env)
    await _grant(env, owner, "support", BOB, FULL.decode())
    try:
        select = await ask(bob, b"a SELECT " + SUPPORT)
        await ask(bob, b"b STORE 1 +FLAGS.SILENT (\\Deleted)")
        expunged = await ask(bob, b"c EXPUNGE")
        appended = await ask(bob, b"d APPEND " + SUPPORT + b" (\\Flagged) {3+}\r\nx\r\n")
        created = await ask(bob, b'e CREATE "Shared/support/tier2"')
        renamed = await ask(bob, b'f RENAME "Shared/support/tier2" "Shared/support/level2"')
        out_of = await ask(bob, b'g RENAME "Shared/support/level2" "Mine"')
        getacl = await ask(bob, b"h GETACL " + SUPPORT)
        setacl = await ask(bob, b"i SETACL " + SUPPORT + b" alice@example.org lr")
        hidden = await ask(bob, b"j SETACL " + SUPPORT + b' "(shared)@example.org" lr')
        rights = await ask(bob, b"k LISTRIGHTS " + SUPPORT + b" alice@example.org")
        alice_sees = await ask(alice, b'l LIST "" "Shared/*"')
        alice_sub = await ask(alice, b'm MYRIGHTS "Shared/support/level2"')
        deleted = await ask(bob, b'n DELETE "Shared/support/level2"')
        top = await ask(bob, b'o CREATE "Shared/new"')
    finally:
        alice.close()
        bob.close()
    assert (
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted\r\n"
        in select
    )
    assert expunged == [b"* 1 EXPUNGE\r\n", b"c OK EXPUNGE completed\r\n"]
    assert appended[-1].startswith(b"d OK [APPENDUID ")
    assert created[-1].startswith(b"e OK [MAILBOXID ")  # "k" on the parent (RFC 4314 §4)
    assert renamed == [b"f OK RENAME completed\r\n"]
    assert out_of[-1].startswith(b"g NO [CANNOT]")  # not out of the hidden owner's mailboxes
    # No owner's entry: a public mailbox belongs to no user.
    assert getacl == [b"* ACL Shared/support bob@example.org " + FULL + b"\r\n", b"h OK GETACL completed\r\n"]
    assert setacl == [b"i OK SETACL completed\r\n"]
    assert hidden[-1].startswith(b"j NO [CANNOT]")  # the hidden owner is no identity
    assert rights[0] == b'* LISTRIGHTS Shared/support alice@example.org "" l r s w i p k x t e a c d\r\n'
    # RFC 4314 §4: the child inherited the parent's ACL as it was when created (bob's entry only),
    # so alice sees neither it nor that Shared/support has a child.
    assert alice_sees == [
        b'* LIST (\\HasNoChildren) "/" Shared/support\r\n',
        b"l OK LIST completed\r\n",
    ]
    assert alice_sub == [b"m NO [NONEXISTENT] No such mailbox\r\n"]
    assert deleted == [b"n OK DELETE completed\r\n"]
    assert top[-1].startswith(b"o NO [CANNOT]")  # a top-level public mailbox is the administrator's
    names = sorted(info.name for info in await env.store.mailboxes(owner.id))
    assert names == ["internal", "support"]


async def test_public_mailboxes_stay_in_their_domain(env: ImapEnv) -> None:
    owner = await _public(env, "support")
    await _grant(env, owner, "support", "anyone", "lr")
    await env.store.add_domain("example.net")
    await env.store.add_account("carol@example.net", hash_password(PASSWORD), None)
    carol = await open_session(env, select=b"", user=b"carol@example.net")
    bob = await open_session(env, select=b"", user=BOB.encode())
    try:
        carol_list = await ask(carol, b'a LIST "" *')
        carol_select = await ask(carol, b"b EXAMINE " + SUPPORT)
        bob_select = await ask(bob, b"c EXAMINE " + SUPPORT)
    finally:
        carol.close()
        bob.close()
    assert not any(b"Shared" in line for line in carol_list)  # "anyone" of example.org only
    assert carol_select == [b"b NO [NONEXISTENT] No such mailbox\r\n"]
    assert bob_select[-1] == b"c OK [READ-ONLY] EXAMINE completed\r\n"


async def test_the_hidden_owner_cannot_log_in(env: ImapEnv) -> None:
    await _public(env, "support")
    sock = await asyncio.to_thread(env.raw)
    try:
        login = await ask(sock, b'a LOGIN "(shared)@example.org" "!"')
        other = await ask(sock, b'b LOGIN "nobody@example.org" "!"')
    finally:
        sock.close()
    assert login == [b"a NO [AUTHENTICATIONFAILED] Authentication failed\r\n"]
    assert other == [b"b NO [AUTHENTICATIONFAILED] Authentication failed\r\n"]


def _lmtp(env: ImapEnv, recipients: list[str]) -> dict[str, tuple[int, bytes]]:
    """Each recipient's RCPT reply (code, text) and, when any was accepted, the message sent."""
    replies: dict[str, tuple[int, bytes]] = {}
    with smtplib.LMTP(*env.address("lmtp"), timeout=30) as client:
        client.ehlo()
        client.mail(BOB)
        for rcpt in recipients:
            replies[rcpt] = client.rcpt(rcpt)
        accepted = sum(1 for code, _ in replies.values() if code == 250)
        if accepted:
            client.data(message(9))
            for _more in range(accepted - 1):  # RFC 2033 §4.2: one reply per accepted recipient
                client.getreply()
    return replies


async def test_lmtp_posts_into_a_public_mailbox_with_anyones_p_right(env: ImapEnv) -> None:
    owner = await _public(env, "support", "internal")
    await _grant(env, owner, "internal", "anyone", "lr")  # readable, but no "p": no posting
    before = await asyncio.to_thread(
        _lmtp, env, ["shared+support@example.org", "shared+internal@example.org", "shared+none@example.org"]
    )
    unknown = await asyncio.to_thread(_lmtp, env, ["nobody@example.org", '"(shared)"@example.org'])
    await _grant(env, owner, "support", "anyone", "p")  # RFC 4314 §2.1: post
    after = await asyncio.to_thread(_lmtp, env, ["shared+support@example.org", ALICE])
    # Without "p" the recipient is refused exactly as an unknown user (no leak).
    refusals = {reply for reply in before.values()} | {reply for reply in unknown.values()}
    assert len(refusals) == 1
    ((code, _text),) = refusals
    assert code == 550
    assert after["shared+support@example.org"][0] == 250
    assert await env.uids("support", owner) == [1]
    assert await env.uids("internal", owner) == []
    assert await env.uids("INBOX") == [1]


async def test_two_users_of_a_public_mailbox_see_each_others_changes(env: ImapEnv) -> None:
    owner, alice, bob = await _setup(env)
    await _grant(env, owner, "support", "anyone", "lrswite")
    try:
        await ask(alice, b"a SELECT " + SUPPORT)
        await ask(bob, b"b SELECT " + SUPPORT)
        appended = await ask(bob, b"c APPEND " + SUPPORT + b" {3+}\r\nx\r\n")
        told_new = await ask(alice, b"d NOOP")
        await ask(alice, b"e STORE 1 +FLAGS.SILENT (\\Seen)")
        told_seen = await ask(bob, b"f NOOP")
        # Rights read again before each command: "r" gone, the session is closed (RFC 4314 §5.1.1).
        await _grant(env, owner, "support", "anyone", "")
        revoked = await ask(bob, b"g NOOP")
    finally:
        alice.close()
        bob.close()
    assert appended[-1].startswith(b"c OK [APPENDUID ")
    assert b"* 3 EXISTS\r\n" in told_new
    assert b"* 1 FETCH (FLAGS (\\Seen))\r\n" in told_seen  # \Seen is the mailbox's, not per user
    assert revoked == [b"* BYE [NOPERM] Access to the selected mailbox was revoked\r\n"]


async def test_quota_root_of_the_public_mailboxes(env: ImapEnv) -> None:
    # RFC 9208: the public mailboxes are under the hidden owner's root, named "Shared".
    owner, alice, bob = await _setup(env)
    await env.store.update_account(ALICE, admin=True)
    await _grant(env, owner, "support", BOB, "lrsi")
    await _grant(env, owner, "internal", BOB, "l")
    try:
        no_right = await ask(alice, b"a GETQUOTAROOT " + SUPPORT)
        set_quota = await ask(alice, b'b SETQUOTA "Shared" (STORAGE 1 MESSAGE 3)')
        root = await ask(bob, b"c GETQUOTAROOT " + SUPPORT)
        no_read = await ask(bob, b'd GETQUOTAROOT "Shared/internal"')
        not_admin = await ask(bob, b'e GETQUOTA "Shared"')
        appended = await ask(bob, b"f APPEND " + SUPPORT + b" {3+}\r\nx\r\n")
        over = await ask(bob, b"g APPEND " + SUPPORT + b" {3+}\r\ny\r\n")
        own = await ask(bob, b"h GETQUOTAROOT INBOX")
    finally:
        alice.close()
        bob.close()
    assert no_right == [b"a NO [NONEXISTENT] No such mailbox\r\n"]
    assert set_quota[0].startswith(b"* QUOTA Shared (STORAGE ")
    assert set_quota[-1] == b"b OK SETQUOTA completed\r\n"
    assert root[0] == b"* QUOTAROOT Shared/support Shared\r\n"
    assert root[1:] == [b"* QUOTA Shared (STORAGE 1 1 MESSAGE 3 3)\r\n", b"c OK GETQUOTAROOT completed\r\n"]
    assert b"* QUOTA Shared (STORAGE "
    assert no_read == [b"d NO [NOPERM] Permission denied: GETQUOTAROOT needs the 'r' right\r\n"]
    assert not_admin == [b"e NO [NONEXISTENT] No such quota root\r\n"]
    assert appended[-1].startswith(b"f NO [OVERQUOTA]")  # three messages stored already
    assert over[-1].startswith(b"g NO [OVERQUOTA]")
    assert own == [b"* QUOTAROOT INBOX\r\n", b"h OK GETQUOTAROOT completed\r\n"]  # bob's own: no limit


async def _unasked(sock: socket.socket, count: int) -> list[bytes]:
    """The next ``count`` lines the server sends without a command."""

    def read() -> list[bytes]:
        sock.settimeout(10)
        return [read_line(sock) for _ in range(count)]

    return await asyncio.to_thread(read)


async def test_notify_watches_public_and_other_users_mailboxes_it_names(env: ImapEnv) -> None:
    # RFC 5465 §6.5, §6.6: "mailboxes" and "subtree" filters naming Shared/ and Other Users/ names.
    owner, alice, bob = await _setup(env)
    await _grant(env, owner, "support", BOB, "lrs")
    await _grant(env, owner, "internal", BOB, "l")  # no "r": ignored (§5: events need "l" and "r")
    await env.ops.create(env.alice.id, "Projects")
    projects = await env.mailbox("Projects")
    await env.store.set_mailbox_acl(projects.id, BOB, "lr")
    at_set = await env.mailbox("support", owner)
    try:
        status = await ask(
            bob,
            b'a NOTIFY SET STATUS (subtree "Shared" (MessageNew MessageExpunge FlagChange)) '
            b"(mailboxes " + PROJECTS + b" (MessageNew MessageExpunge))",
        )
        await env.deliver(message(7), mailbox="support", account=owner)
        new = await _unasked(bob, 1)
        await env.deliver(message(8), mailbox="Projects")
        other = await _unasked(bob, 1)
        await env.deliver(message(9), mailbox="internal", account=owner)
        quiet = await ask(bob, b"b NOOP")
        own = await ask(bob, b"c APPEND " + SUPPORT + b" {3+}\r\nx\r\n")  # no "i": refused anyway
        # §5.9: access lost, nothing told; the ACL back, told again.
        await _grant(env, owner, "support", BOB, "l")
        await env.deliver(message(10), mailbox="support", account=owner)
        lost = await ask(bob, b"d NOOP")
        await _grant(env, owner, "support", BOB, "lr")
        await env.deliver(message(11), mailbox="support", account=owner)
        back = await _unasked(bob, 1)
    finally:
        alice.close()
        bob.close()
    support = await env.mailbox("support", owner)
    assert status == [
        b"* STATUS "
        + PROJECTS
        + b" (MESSAGES 0 UIDNEXT 1 UIDVALIDITY %d UNSEEN 0)\r\n" % projects.uidvalidity,
        # §3.1: HIGHESTMODSEQ for FlagChange.
        b"* STATUS Shared/support (MESSAGES 2 UIDNEXT 3 UIDVALIDITY %d UNSEEN 2 HIGHESTMODSEQ %d)\r\n"
        % (support.uidvalidity, at_set.highestmodseq),
        b"a OK NOTIFY completed\r\n",
    ]
    assert new == [
        b"* STATUS Shared/support (MESSAGES 3 UIDNEXT 4 UIDVALIDITY %d UNSEEN 3)\r\n" % support.uidvalidity
    ]
    assert other == [
        b"* STATUS "
        + PROJECTS
        + b" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY %d UNSEEN 1)\r\n" % projects.uidvalidity
    ]
    assert quiet == [b"b OK NOOP completed\r\n"]  # Shared/internal: no "r", not watched
    assert own[-1].startswith(b"c NO [NOPERM]")
    assert lost == [b"d OK NOOP completed\r\n"]
    assert back == [
        b"* STATUS Shared/support (MESSAGES 5 UIDNEXT 6 UIDVALIDITY %d UNSEEN 5)\r\n" % support.uidvalidity
    ]
