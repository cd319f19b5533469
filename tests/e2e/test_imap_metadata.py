"""METADATA and METADATA-SERVER (RFC 5464): SETMETADATA and GETMETADATA line by line over raw sockets
(private and shared entries, DEPTH, MAXSIZE, the limits, server entries, the mailbox's life), a second
session reading what the first set. imapclient (3.0) has no metadata calls: raw sockets it is."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from imap_env import BOB, ImapEnv, ask, imap_server, imap_settings, open_session

LIMITS = {
    "metadata_max_entry_size": 1024,
    "metadata_max_entries_per_mailbox": 10,
    "metadata_max_entries_per_account": 15,
    "metadata_max_account_bytes": 4096,
    "metadata_admin": "mailto:admin@example.org",
}


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ImapEnv]:
    async with imap_server(tmp_path, imap_settings(imap=LIMITS)) as running:
        yield running


async def test_capabilities_advertise_metadata(env: ImapEnv) -> None:
    sock = await open_session(env, select=b"")
    try:
        caps = (await ask(sock, b"c CAPABILITY"))[0].split()
    finally:
        sock.close()
    assert b"METADATA" in caps
    assert b"METADATA-SERVER" in caps


async def test_set_and_get_private_and_shared_entries(env: ImapEnv) -> None:
    sock = await open_session(env, select=b"")
    try:
        missing = await ask(sock, b"a GETMETADATA INBOX /private/comment")
        set_both = await ask(sock, b'b SETMETADATA INBOX (/private/Comment "mine" /shared/comment "for all")')
        both = await ask(sock, b"c GETMETADATA INBOX (/shared/comment /PRIVATE/comment)")
        multi_line = await ask(sock, b"d SETMETADATA INBOX (/private/comment {12+}\r\nline1\r\nline2)")
        read_multi = await ask(sock, b"e GETMETADATA INBOX /private/comment")
        removed = await ask(sock, b"f SETMETADATA INBOX (/private/comment NIL /shared/nothing NIL)")
        after = await ask(sock, b"g GETMETADATA INBOX (/private/comment /shared/comment)")
    finally:
        sock.close()
    # Dovecot's answer too: an entry asked for at depth 0 without a value is NIL.
    assert missing == [b"* METADATA INBOX (/private/comment NIL)\r\n", b"a OK GETMETADATA completed\r\n"]
    # RFC 5464 §4.3: no METADATA response for SETMETADATA; §3.2: names are case-insensitive.
    assert set_both == [b"b OK SETMETADATA completed\r\n"]
    assert both == [
        b'* METADATA INBOX (/shared/comment "for all" /private/comment "mine")\r\n',
        b"c OK GETMETADATA completed\r\n",
    ]
    assert multi_line == [b"d OK SETMETADATA completed\r\n"]
    assert read_multi == [
        b"* METADATA INBOX (/private/comment {12}\r\n",
        b"line1\r\n",
        b"line2)\r\n",
        b"e OK GETMETADATA completed\r\n",
    ]
    assert removed == [b"f OK SETMETADATA completed\r\n"]
    assert after == [
        b'* METADATA INBOX (/private/comment NIL /shared/comment "for all")\r\n',
        b"g OK GETMETADATA completed\r\n",
    ]


async def test_binary_values_go_as_literal8(env: ImapEnv) -> None:
    sock = await open_session(env, select=b"")
    try:
        binary = await ask(sock, b"a SETMETADATA INBOX (/private/blob ~{4+}\r\n\x00\x01\xff\x00)")
        read = await ask(sock, b"b GETMETADATA INBOX /private/blob")
        nul_in_plain_literal = await ask(sock, b"c SETMETADATA INBOX (/private/blob {2+}\r\n\x00a)")
    finally:
        sock.close()
    assert binary == [b"a OK SETMETADATA completed\r\n"]
    # RFC 5464 §5: value = nstring / literal8; a value with NUL can only go back as a literal8.
    assert read == [
        b"* METADATA INBOX (/private/blob ~{4}\r\n",
        b"\x00\x01\xff\x00)\r\n",
        b"b OK GETMETADATA completed\r\n",
    ]
    assert nul_in_plain_literal[-1].startswith(b"c BAD")


async def test_depth_and_maxsize(env: ImapEnv) -> None:
    sock = await open_session(env, select=b"")
    try:
        assert (
            await ask(
                sock,
                b'a SETMETADATA INBOX (/private/filters/values/small "SMALLER 5000" '
                b'/private/filters/values/boss "FROM \\"boss@example.com\\"" '
                b'/private/filters/values/boss/deep "x" /private/filtersx "not below")',
            )
        )[-1] == b"a OK SETMETADATA completed\r\n"
        depth0 = await ask(sock, b"b GETMETADATA (DEPTH 0) INBOX /private/filters/values")
        depth1 = await ask(sock, b"c GETMETADATA (DEPTH 1) INBOX /private/filters/values")
        infinity = await ask(sock, b"d GETMETADATA (DEPTH infinity) INBOX /private/filters")
        maxsize = await ask(sock, b"e GETMETADATA (MAXSIZE 5 DEPTH infinity) INBOX /private")
        none_long = await ask(sock, b"f GETMETADATA (MAXSIZE 100) INBOX /private/filtersx")
    finally:
        sock.close()
    # RFC 5464 §4.2.2: depth 0 is the entry only (no value here: NIL), 1 its children, infinity all.
    assert depth0 == [
        b"* METADATA INBOX (/private/filters/values NIL)\r\n",
        b"b OK GETMETADATA completed\r\n",
    ]
    assert depth1 == [
        b'* METADATA INBOX (/private/filters/values/boss "FROM \\"boss@example.com\\"" '
        b'/private/filters/values/small "SMALLER 5000")\r\n',
        b"c OK GETMETADATA completed\r\n",
    ]
    assert infinity == [
        b'* METADATA INBOX (/private/filters/values/boss "FROM \\"boss@example.com\\"" '
        b'/private/filters/values/boss/deep "x" /private/filters/values/small "SMALLER 5000")\r\n',
        b"d OK GETMETADATA completed\r\n",
    ]
    # RFC 5464 §4.2.1: only values up to MAXSIZE; LONGENTRIES is the biggest size left out.
    assert maxsize == [
        b'* METADATA INBOX (/private/filters/values/boss/deep "x")\r\n',
        b"e OK [METADATA LONGENTRIES 23] GETMETADATA completed\r\n",
    ]
    assert none_long == [
        b'* METADATA INBOX (/private/filtersx "not below")\r\n',
        b"f OK GETMETADATA completed\r\n",
    ]


async def test_entry_name_and_syntax_errors_are_precise_bad(env: ImapEnv) -> None:
    sock = await open_session(env, select=b"")
    try:
        replies = {
            line: (await ask(sock, line))[-1]
            for line in (
                b'a SETMETADATA INBOX (/foo/bar "x")',
                b'b SETMETADATA INBOX (/private/a//b "x")',
                b'c SETMETADATA INBOX (/private/a/ "x")',
                b'd SETMETADATA INBOX (/private/a* "x")',
                b"e GETMETADATA INBOX /private/%",
                b"n NOOP",  # ten BADs in a row would end the session (imap error budget)
                b'f SETMETADATA INBOX (/private "x")',
                b'g SETMETADATA INBOX (/shared/vendor/acme "x")',
                b'h SETMETADATA INBOX (/private/x "1" /private/X "2")',
                b"i GETMETADATA (DEPTH 2) INBOX /private",
                b"j GETMETADATA (FOO 1) INBOX /private",
                b"k GETMETADATA INBOX ()",
                b"l SETMETADATA INBOX (/private/x word)",
            )
        }
        unchanged = await ask(sock, b"m GETMETADATA (DEPTH infinity) INBOX /private")
    finally:
        sock.close()
    texts = {line[:1]: reply for line, reply in replies.items() if line != b"n NOOP"}
    assert texts[b"a"] == b"a BAD Entry name must begin with /private or /shared\r\n"
    assert texts[b"b"] == b"b BAD Entry name can't contain consecutive '/'\r\n"
    assert texts[b"c"] == b"c BAD Entry name can't end with '/'\r\n"
    assert texts[b"d"] == b"d BAD Entry name can't contain '*' or '%'\r\n"
    assert texts[b"e"] == b"e BAD Entry name can't contain '*' or '%'\r\n"
    assert texts[b"f"] == b"f BAD Entry name needs a component after the scope\r\n"
    assert texts[b"g"].startswith(b"g BAD Vendor entry names need")
    assert texts[b"h"] == b"h BAD Entry /private/x given twice\r\n"
    assert texts[b"i"] == b"i BAD DEPTH must be 0, 1 or infinity\r\n"
    assert texts[b"j"] == b"j BAD Unknown GETMETADATA option FOO\r\n"
    assert texts[b"k"].startswith(b"k BAD")
    assert texts[b"l"].startswith(b"l BAD Expected a value")
    assert unchanged == [b"m OK GETMETADATA completed\r\n"]  # nothing was set by the BADs


async def test_maxsize_and_toomany_limits_change_nothing(env: ImapEnv) -> None:
    big = b"v" * 1025
    sock = await open_session(env, select=b"")
    try:
        too_big = await ask(
            sock, b'a SETMETADATA INBOX (/private/ok "fits" /private/big {1025+}\r\n' + big + b")"
        )
        at_limit = await ask(sock, b"b SETMETADATA INBOX (/private/big {1024+}\r\n" + big[:1024] + b")")
        nine = b" ".join(b'/shared/e%d "v"' % n for n in range(9))
        fill = await ask(sock, b"c SETMETADATA INBOX (" + nine + b")")
        two_more = await ask(sock, b'd SETMETADATA INBOX (/private/one "1" /private/two "2")')
        replace = await ask(sock, b'e SETMETADATA INBOX (/shared/e0 "new" /private/big NIL /private/one "1")')
        listing = await ask(sock, b"f GETMETADATA (DEPTH 1) INBOX (/private /shared)")
    finally:
        sock.close()
    # RFC 5464 §4.3: MAXSIZE names the largest value accepted; nothing of the command is set.
    assert too_big == [b"a NO [METADATA MAXSIZE 1024] Value of /private/big is too large\r\n"]
    assert at_limit == [b"b OK SETMETADATA completed\r\n"]
    assert fill == [b"c OK SETMETADATA completed\r\n"]  # 10 entries on INBOX: the limit
    assert two_more == [b"d NO [METADATA TOOMANY] Too many entries on this mailbox\r\n"]
    assert replace == [b"e OK SETMETADATA completed\r\n"]  # removing one makes room for one
    assert listing == [
        b'* METADATA INBOX (/private/one "1" /shared/e0 "new" /shared/e1 "v" /shared/e2 "v" '
        b'/shared/e3 "v" /shared/e4 "v" /shared/e5 "v" /shared/e6 "v" /shared/e7 "v" /shared/e8 "v")\r\n',
        b"f OK GETMETADATA completed\r\n",
    ]


async def test_account_limits_count_every_mailbox(env: ImapEnv) -> None:
    sock = await open_session(env, select=b"")
    try:
        eight = b" ".join(b'/private/e%d "v"' % n for n in range(8))
        first = await ask(sock, b"a SETMETADATA INBOX (" + eight + b")")
        second = await ask(sock, b"b SETMETADATA Archive (" + eight + b")")  # 16 > 15 per account
        seven = b" ".join(b'/private/e%d "v"' % n for n in range(7))
        fits = await ask(sock, b"c SETMETADATA Archive (" + seven + b")")
        values = b" ".join(b"/private/e%d {1000+}\r\n" % n + b"x" * 1000 for n in range(5))
        bytes_over = await ask(sock, b"d SETMETADATA Archive (" + values + b")")
        archive = await ask(sock, b"e GETMETADATA Archive /private/e0")
    finally:
        sock.close()
    assert first == [b"a OK SETMETADATA completed\r\n"]
    assert second == [b"b NO [METADATA TOOMANY] Too many entries for this account\r\n"]
    assert fits == [b"c OK SETMETADATA completed\r\n"]
    # 5000 octets here and 10 of 1 octet: over imap.metadata_max_account_bytes (4096), nothing set.
    assert bytes_over == [b"d NO [METADATA TOOMANY] Entries of this account take too much space\r\n"]
    assert archive == [b'* METADATA Archive (/private/e0 "v")\r\n', b"e OK GETMETADATA completed\r\n"]


async def test_server_entries_admin_only_for_shared(env: ImapEnv) -> None:
    await env.store.update_account(BOB, admin=True)
    alice = await open_session(env, select=b"")
    bob = await open_session(env, select=b"", user=BOB.encode())
    try:
        admin = await ask(alice, b'a GETMETADATA "" (/shared/admin /shared/comment)')
        refused = await ask(alice, b'b SETMETADATA "" (/shared/comment "hello")')
        own_private = await ask(alice, b'c SETMETADATA "" (/private/comment "alice only")')
        by_admin = await ask(bob, b'd SETMETADATA "" (/shared/comment "hello")')
        read_only = await ask(bob, b'e SETMETADATA "" (/shared/admin "mailto:x@example.org")')
        seen_by_alice = await ask(alice, b'f GETMETADATA (DEPTH infinity) "" (/shared /private)')
        seen_by_bob = await ask(bob, b'g GETMETADATA (DEPTH infinity) "" (/shared /private)')
    finally:
        alice.close()
        bob.close()
    assert admin == [
        b'* METADATA "" (/shared/admin "mailto:admin@example.org" /shared/comment NIL)\r\n',
        b"a OK GETMETADATA completed\r\n",
    ]
    # RFC 5464 §3.3: a server MAY restrict the creation of server annotations (NO).
    assert refused == [b"b NO [NOPERM] Only administrators set the server's shared entries\r\n"]
    assert own_private == [b"c OK SETMETADATA completed\r\n"]
    assert by_admin == [b"d OK SETMETADATA completed\r\n"]
    # RFC 5464 §3.2.1.1: /shared/admin is always read-only.
    assert read_only == [b"e NO [CANNOT] The /shared/admin entry cannot be changed\r\n"]
    assert seen_by_alice == [
        b'* METADATA "" (/shared/admin "mailto:admin@example.org" /shared/comment "hello" '
        b'/private/comment "alice only")\r\n',
        b"f OK GETMETADATA completed\r\n",
    ]
    assert seen_by_bob == [
        b'* METADATA "" (/shared/admin "mailto:admin@example.org" /shared/comment "hello")\r\n',
        b"g OK GETMETADATA completed\r\n",
    ]


async def test_specialuse_is_read_only(env: ImapEnv) -> None:
    sock = await open_session(env, select=b"")
    try:
        sent = await ask(sock, b"a GETMETADATA Sent /private/specialuse")
        inbox = await ask(sock, b"b GETMETADATA INBOX /private/specialuse")
        refused = await ask(sock, b'c SETMETADATA INBOX (/private/specialuse "\\\\Sent")')
        created = await ask(sock, b"d CREATE Later (USE (\\Archive))")
        later = await ask(sock, b"e GETMETADATA (DEPTH 1) Later /private")
    finally:
        sock.close()
    # RFC 6154 §4: the special use as LIST shows it, NIL without one.
    assert sent == [
        b'* METADATA Sent (/private/specialuse "\\\\Sent")\r\n',
        b"a OK GETMETADATA completed\r\n",
    ]
    assert inbox == [b"* METADATA INBOX (/private/specialuse NIL)\r\n", b"b OK GETMETADATA completed\r\n"]
    assert refused == [b"c NO [CANNOT] The /private/specialuse entry cannot be changed\r\n"]
    assert created[-1].startswith(b"d OK")
    assert later == [
        b'* METADATA Later (/private/specialuse "\\\\Archive")\r\n',
        b"e OK GETMETADATA completed\r\n",
    ]


async def test_entries_follow_rename_and_go_with_delete(env: ImapEnv) -> None:
    sock = await open_session(env, select=b"")
    try:
        await ask(sock, b"a CREATE Work/Old")
        await ask(sock, b'b SETMETADATA Work/Old (/shared/comment "kept" /private/comment "mine")')
        await ask(sock, b"c RENAME Work Projects")
        renamed = await ask(sock, b"d GETMETADATA Projects/Old (/shared/comment /private/comment)")
        old_name = await ask(sock, b"e GETMETADATA Work/Old /shared/comment")
        await ask(sock, b"f DELETE Projects/Old")
        await ask(sock, b"g CREATE Projects/Old")
        recreated = await ask(sock, b"h GETMETADATA Projects/Old (/shared/comment /private/comment)")
        missing = await ask(sock, b'i SETMETADATA Nowhere (/shared/comment "x")')
        await ask(sock, b'j SETMETADATA INBOX (/shared/comment "inbox")')
        assert (await ask(sock, b"k RENAME INBOX Before"))[-1] == b"k OK RENAME completed\r\n"
        both = [await ask(sock, b"l GETMETADATA %s /shared/comment" % name) for name in (b"INBOX", b"Before")]
    finally:
        sock.close()
    # RFC 5464 §4.1: annotations follow a renamed mailbox, and go when it is deleted.
    assert renamed == [
        b'* METADATA Projects/Old (/shared/comment "kept" /private/comment "mine")\r\n',
        b"d OK GETMETADATA completed\r\n",
    ]
    assert old_name == [b"e NO [NONEXISTENT] No such mailbox\r\n"]
    assert recreated == [
        b"* METADATA Projects/Old (/shared/comment NIL /private/comment NIL)\r\n",
        b"h OK GETMETADATA completed\r\n",
    ]
    assert missing == [b"i NO [NONEXISTENT] No such mailbox\r\n"]
    # RFC 5464 §4.1: a renamed INBOX keeps its annotations, and the new mailbox gets copies.
    assert both == [
        [b'* METADATA INBOX (/shared/comment "inbox")\r\n', b"l OK GETMETADATA completed\r\n"],
        [b'* METADATA Before (/shared/comment "inbox")\r\n', b"l OK GETMETADATA completed\r\n"],
    ]


async def test_second_session_sees_the_value_and_private_stays_private(env: ImapEnv) -> None:
    first = await open_session(env, select=b"INBOX")
    second = await open_session(env, select=b"INBOX")
    bob = await open_session(env, select=b"", user=BOB.encode())
    try:
        await ask(first, b'a SETMETADATA INBOX (/shared/comment "from one" /private/comment "p")')
        noop = await ask(second, b"b NOOP")
        seen = await ask(second, b"c GETMETADATA INBOX (/shared/comment /private/comment)")
        bobs_inbox = await ask(bob, b"d GETMETADATA INBOX (/shared/comment /private/comment)")
    finally:
        first.close()
        second.close()
        bob.close()
    assert noop == [b"b OK NOOP completed\r\n"]  # no unsolicited METADATA (not enabled: RFC 5464 §4.1)
    assert seen == [
        b'* METADATA INBOX (/shared/comment "from one" /private/comment "p")\r\n',
        b"c OK GETMETADATA completed\r\n",
    ]
    # Bob's INBOX is another mailbox: alice's entries are not on it.
    assert bobs_inbox == [
        b"* METADATA INBOX (/shared/comment NIL /private/comment NIL)\r\n",
        b"d OK GETMETADATA completed\r\n",
    ]
