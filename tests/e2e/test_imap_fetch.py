"""FETCH, STORE and SEARCH over real sockets: exact lines where they matter, imapclient elsewhere,
the bytes checked against the stored blobs and Python's email package."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import imapclient
import pytest

from imap_env import (
    ALICE,
    PASSWORD,
    ImapEnv,
    ask,
    exchange,
    fetch_items,
    imap_server,
    imap_session,
    imap_settings,
    message,
    open_session,
)
from pochta.mime import parse_message
from pochta.mime.imapform import bodystructure_bytes, envelope_bytes
from pochta.store.sqlite.store import DB_FILE_NAME, SqliteStore
from shared_dir import corpus_messages
from store_env import sqlite_only


@pytest.fixture(params=["inline", "thread"])
async def reads_env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ImapEnv]:
    """Body sections read whole on the session's thread (small messages, the default) or in chunks
    by a worker thread (``imap.inline_read_max`` 0): the same octets either way."""
    inline_max = 64 * 1024 if request.param == "inline" else 0
    async with imap_server(tmp_path, imap_settings(imap={"inline_read_max": inline_max})) as running:
        yield running


MULTIPART = (
    b"From: Carol <carol@example.net>\r\nTo: alice@example.org\r\nSubject: parts\r\n"
    b"Date: Sun, 22 Nov 2026 10:00:00 +0100\r\nMessage-ID: <parts@example.net>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\npreamble\r\n--b1\r\n'
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"caf=C3=A9 au lait=\r\n and more\r\n--b1\r\n"
    b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"AAECAwQ=\r\n--b1--\r\n"
)


def joined(lines: list[bytes]) -> bytes:
    return b"".join(lines)


async def test_fetch_simple_items_and_uid_fetch(env: ImapEnv) -> None:
    when = datetime(2026, 11, 20, 8, 30, 5, tzinfo=timezone(timedelta(hours=2)))
    uid = await env.deliver(message(1), flags=["\\Seen", "$Label"], date=when)
    await env.seen_elsewhere()
    sock = await open_session(env)
    try:
        lines = await ask(sock, b"a FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE UID)")
        assert lines[0] == (
            b'* 1 FETCH (FLAGS (\\Seen $Label) INTERNALDATE "20-Nov-2026 08:30:05 +0200" '
            b"RFC822.SIZE %d UID %d)\r\n" % (len(message(1)), uid)
        )
        assert lines[-1] == b"a OK FETCH completed\r\n"
        lines = await ask(sock, b"b UID FETCH %d FLAGS" % uid)
        assert lines[0] == b"* 1 FETCH (UID %d FLAGS (\\Seen $Label))\r\n" % uid  # UID added (§6.4.9)
        assert (await ask(sock, b"c UID FETCH 999 FLAGS")) == [b"c OK UID FETCH completed\r\n"]
        assert (await ask(sock, b"d FETCH 2 FLAGS"))[-1].startswith(b"d BAD")  # beyond EXISTS
    finally:
        sock.close()


async def test_fetch_envelope_and_bodystructure_with_imapclient(env: ImapEnv) -> None:
    await env.deliver(MULTIPART)

    def run() -> dict[int, dict[bytes, object]]:
        with imapclient.IMAPClient(env.plain[0], port=env.plain[1], ssl=False, timeout=10) as client:
            client.login(ALICE, PASSWORD)
            client.select_folder("INBOX")
            return client.fetch("1", ["ENVELOPE", "BODYSTRUCTURE", "BODY"])  # type: ignore[no-any-return]

    data = (await asyncio.to_thread(run))[1]
    envelope = data[b"ENVELOPE"]
    assert envelope.subject == b"parts"  # type: ignore[attr-defined]
    assert envelope.from_[0].mailbox == b"carol"  # type: ignore[attr-defined]
    assert envelope.message_id == b"<parts@example.net>"  # type: ignore[attr-defined]
    structure = data[b"BODYSTRUCTURE"]
    assert structure.is_multipart  # type: ignore[attr-defined]
    assert [v.lower() for v in structure[0][0][:2]] == [b"text", b"plain"]  # type: ignore[index]
    assert [v.lower() for v in structure[0][1][:2]] == [b"application", b"octet-stream"]  # type: ignore[index]
    assert structure[1].lower() == b"mixed"  # type: ignore[index]


async def test_body_sections_partials_and_seen(reads_env: ImapEnv) -> None:
    env = reads_env
    await env.deliver(MULTIPART)
    await env.seen_elsewhere()
    sock = await open_session(env)
    try:
        header_end = MULTIPART.index(b"\r\n\r\n") + 4
        lines = joined(await ask(sock, b"a FETCH 1 (BODY.PEEK[HEADER])"))
        assert lines.startswith(b"* 1 FETCH (BODY[HEADER] {%d}\r\n" % header_end + MULTIPART[:header_end])
        lines = joined(await ask(sock, b"b FETCH 1 (BODY.PEEK[HEADER.FIELDS (subject FROM)])"))
        fields = b"From: Carol <carol@example.net>\r\nSubject: parts\r\n\r\n"
        assert b'BODY[HEADER.FIELDS ("subject" "FROM")] {%d}\r\n' % len(fields) in lines or (
            b"BODY[HEADER.FIELDS (subject FROM)] {%d}\r\n" % len(fields) in lines
        )
        assert fields in lines
        lines = joined(await ask(sock, b"c FETCH 1 (BODY.PEEK[1] BODY.PEEK[2.MIME] BODY.PEEK[]<0.4>)"))
        assert b"BODY[1] {29}\r\ncaf=C3=A9 au lait=\r\n and more BODY[2.MIME]" in lines
        mime = b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        assert b"BODY[2.MIME] {%d}\r\n" % len(mime) + mime in lines
        assert b"BODY[]<0> {4}\r\nFrom" in lines
        assert b"FLAGS" not in lines  # PEEK: nothing changed
        lines = joined(await ask(sock, b"d FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[2] BINARY.PEEK[2])"))
        assert "BINARY[1] {22}\r\ncafé au lait and more".encode() in lines
        assert b"BINARY.SIZE[2] 5" in lines
        assert b"BINARY[2] ~{5}\r\n\x00\x01\x02\x03\x04" in lines  # NUL: literal8 (RFC 3516 §4.2)
        assert b"BODY[9] NIL" in joined(await ask(sock, b"e FETCH 1 BODY.PEEK[9]"))
        # Without PEEK: \Seen is set and reported in the same response (RFC 9051 §6.4.5).
        lines = joined(await ask(sock, b"f FETCH 1 BODY[TEXT]<0.8>"))
        assert b"BODY[TEXT]<0> {8}\r\npreamble" in lines
        assert b"FLAGS (\\Seen)" in lines
        info = await env.mailbox()
        view = await env.store.open_view(info.id)
        assert view.flags[0] == frozenset({"\\Seen"})
    finally:
        sock.close()


async def test_rfc822_items_and_a_large_message_streamed(env: ImapEnv) -> None:
    big = message(7, body=b"".join(b"line %06d of a long message\r\n" % i for i in range(40_000)))
    await env.deliver(big)

    def run() -> dict[bytes, object]:
        with imapclient.IMAPClient(env.plain[0], port=env.plain[1], ssl=False, timeout=20) as client:
            client.login(ALICE, PASSWORD)
            client.select_folder("INBOX")
            return client.fetch("1", ["RFC822", "RFC822.HEADER", "RFC822.SIZE"])[1]  # type: ignore[no-any-return]

    data = await asyncio.to_thread(run)
    assert data[b"RFC822"] == big
    assert data[b"RFC822.HEADER"] == big[: big.index(b"\r\n\r\n") + 4]
    assert data[b"RFC822.SIZE"] == len(big)
    parsed = email.message_from_bytes(data[b"RFC822"], policy=email.policy.default)  # type: ignore[arg-type]
    assert parsed["Subject"] is not None


async def test_store_variants(env: ImapEnv) -> None:
    for n in range(3):
        await env.deliver(message(n))
    await env.seen_elsewhere()  # none \\Recent here: "\\Recent cannot be stored" below shows
    sock = await open_session(env)
    try:
        lines = await ask(sock, b"a STORE 1:2 +FLAGS (\\Flagged $Todo)")
        # $Todo is new to the mailbox: FLAGS and PERMANENTFLAGS (RFC 9051 §7.3.5) come first.
        assert lines[0] == b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Todo)\r\n"
        assert lines[1].startswith(b"* OK [PERMANENTFLAGS (")
        assert lines[2:4] == [
            b"* 1 FETCH (FLAGS (\\Flagged $Todo))\r\n",
            b"* 2 FETCH (FLAGS (\\Flagged $Todo))\r\n",
        ]
        assert lines[-1] == b"a OK STORE completed\r\n"
        lines = await ask(sock, b"b STORE 2 -FLAGS.SILENT ($Todo)")
        assert lines == [b"b OK STORE completed\r\n"]
        lines = await ask(sock, b"c UID STORE 3 FLAGS (\\Seen \\Recent)")
        assert lines[0] == b"* 3 FETCH (UID 3 FLAGS (\\Seen))\r\n"  # \Recent cannot be stored
        lines = await ask(sock, b"d FETCH 1:* FLAGS")
        assert lines[:3] == [
            b"* 1 FETCH (FLAGS (\\Flagged $Todo))\r\n",
            b"* 2 FETCH (FLAGS (\\Flagged))\r\n",
            b"* 3 FETCH (FLAGS (\\Seen))\r\n",
        ]
        assert (await ask(sock, b"e STORE 1 +FLAGS (\\Bogus)"))[-1].startswith(b"e ")
        await ask(sock, b"f EXAMINE INBOX")
        lines = await ask(sock, b"g STORE 1 +FLAGS (\\Seen)")
        assert lines[-1] == b"g NO [READ-ONLY] Mailbox is read-only (EXAMINE)\r\n"
    finally:
        sock.close()


async def test_flags_of_a_run_show_recent_where_this_session_has_it(env: ImapEnv) -> None:
    # RFC 3501 §2.3.2: the first SELECT after new mail takes \Recent; FETCH 1:* (UID FLAGS) answers
    # a run of the mailbox in bulk and must show it on exactly those messages, after their flags.
    await env.deliver(message(1), flags=["\\Seen"])
    await env.deliver(message(2))
    earlier = await open_session(env)  # takes \Recent of messages 1 and 2
    earlier.close()
    await env.deliver(message(3), flags=["\\Flagged"])
    await env.deliver(message(4), flags=["\\Seen"])
    sock = await open_session(env)
    try:
        bulk = await ask(sock, b"a FETCH 1:* (UID FLAGS)")
        reversed_items = await ask(sock, b"b UID FETCH 2:4 (FLAGS UID)")
        single = await ask(sock, b"c FETCH 1,3 (UID FLAGS)")  # not a run: per message
    finally:
        sock.close()
    assert bulk == [
        b"* 1 FETCH (UID 1 FLAGS (\\Seen))\r\n",
        b"* 2 FETCH (UID 2 FLAGS ())\r\n",
        b"* 3 FETCH (UID 3 FLAGS (\\Flagged \\Recent))\r\n",
        b"* 4 FETCH (UID 4 FLAGS (\\Seen \\Recent))\r\n",
        b"a OK FETCH completed\r\n",
    ]
    assert reversed_items[:3] == [
        b"* 2 FETCH (FLAGS () UID 2)\r\n",
        b"* 3 FETCH (FLAGS (\\Flagged \\Recent) UID 3)\r\n",
        b"* 4 FETCH (FLAGS (\\Seen \\Recent) UID 4)\r\n",
    ]
    assert single[:2] == [bulk[0], bulk[2]]


async def test_flag_change_seen_by_another_session(env: ImapEnv) -> None:
    await env.deliver(message(1))
    first = await open_session(env)
    second = await open_session(env)
    try:
        await ask(first, b"a STORE 1 +FLAGS (\\Answered)")
        lines = await ask(second, b"b NOOP")
        assert lines[0] == b"* 1 FETCH (FLAGS (\\Answered))\r\n"
        lines = await ask(first, b"c NOOP")
        assert lines == [b"c OK NOOP completed\r\n"]  # its own change is not reported again
    finally:
        first.close()
        second.close()


async def test_search_rev1_esearch_and_save(env: ImapEnv) -> None:
    await env.deliver(message(1, body=b"the quetzalcoatlus flew\r\n"), flags=["\\Seen"])
    await env.deliver(message(2, body=b"nothing here\r\n"))
    await env.deliver(message(3, body=b"another quetzalcoatlus\r\n"), flags=["\\Flagged"])
    sock = await open_session(env)
    try:
        assert (await ask(sock, b"a SEARCH BODY quetzalcoatlus"))[0] == b"* SEARCH 1 3\r\n"
        assert (await ask(sock, b"b UID SEARCH UNSEEN"))[0] == b"* SEARCH 2 3\r\n"
        assert (await ask(sock, b"c SEARCH OR SEEN FLAGGED NOT 2"))[0] == b"* SEARCH 1 3\r\n"
        lines = await ask(sock, b"d SEARCH RETURN (MIN MAX COUNT ALL) ALL")
        assert lines[0] == b'* ESEARCH (TAG "d") MIN 1 MAX 3 ALL 1:3 COUNT 3\r\n'
        lines = await ask(sock, b"e UID SEARCH RETURN (SAVE) UNSEEN")
        assert lines == [b"e OK UID SEARCH completed\r\n"]  # SAVE alone: no ESEARCH
        lines = await ask(sock, b"f FETCH $ (UID)")
        assert lines[:2] == [b"* 2 FETCH (UID 2)\r\n", b"* 3 FETCH (UID 3)\r\n"]
        lines = await ask(sock, b"g SEARCH CHARSET KOI8-R ALL")
        assert lines[-1] == b"g NO [BADCHARSET (US-ASCII UTF-8)] " + lines[-1].split(b"] ", 1)[1]
        assert (await ask(sock, b"h SEARCH RETURN () SUBJECT nothing"))[0] == b'* ESEARCH (TAG "h")\r\n'
    finally:
        sock.close()


async def test_search_within_older_younger(env: ImapEnv) -> None:
    """WITHIN (RFC 5032): intervals in seconds back from the server's clock, to the second."""
    now = datetime.now(UTC)
    await env.deliver(message(1), date=now - timedelta(days=4))
    await env.deliver(message(2), date=now - timedelta(hours=1))
    await env.deliver(message(3), date=now - timedelta(seconds=30))
    sock = await open_session(env)
    try:
        caps = await ask(sock, b"c CAPABILITY")
        day = b"%d" % (24 * 3600)
        younger = await ask(sock, b"a SEARCH YOUNGER " + day)  # RFC 5032 §4's example, a day
        older = await ask(sock, b"b UID SEARCH OLDER " + day)
        both = await ask(sock, b"d SEARCH RETURN (COUNT) YOUNGER 259200 OLDER 600")
        bad = await ask(sock, b"e SEARCH OLDER 0")  # nz-number (RFC 5032 §3)
    finally:
        sock.close()
    assert b" WITHIN" in caps[0]
    assert younger[0] == b"* SEARCH 2 3\r\n"
    assert older[0] == b"* SEARCH 1\r\n"
    assert both[0] == b'* ESEARCH (TAG "d") COUNT 1\r\n'
    assert bad[0].startswith(b"e BAD ")


async def test_partial_search_and_uid_fetch(env: ImapEnv) -> None:
    """PARTIAL (RFC 9394): slices of SEARCH results and of UID FETCH sets, and SAVE with it."""
    for n in range(1, 8):
        await env.deliver(message(n), flags=["\\Seen"] if n in (2, 5) else [])
    await env.seen_elsewhere()
    sock = await open_session(env)
    try:
        first = await ask(sock, b"a SEARCH RETURN (PARTIAL 1:3) UNSEEN")  # unseen: 1 3 4 6 7
        last = await ask(sock, b"b UID SEARCH RETURN (COUNT PARTIAL -1:-2) UNSEEN")
        beyond = await ask(sock, b"c SEARCH RETURN (PARTIAL 6:9) UNSEEN")
        saved = await ask(sock, b"d SEARCH RETURN (SAVE PARTIAL 2:3 MAX) UNSEEN")
        dollar = await ask(sock, b"e UID FETCH $ (FLAGS)")
        fetched = await ask(sock, b"f UID FETCH 2:* (FLAGS) (PARTIAL -1:-3)")
        forward = await ask(sock, b"g UID FETCH 1:* (UID) (PARTIAL 2:3)")
        plain = await ask(sock, b"h FETCH 1:* (FLAGS) (PARTIAL 1:2)")  # §3.3: UID FETCH only
        both = await ask(sock, b"i SEARCH RETURN (ALL PARTIAL 1:2) ALL")
        other = await ask(sock, b"j UID FETCH 1:* (FLAGS) (XPOCHTA 1)")
        caps = await ask(sock, b"k CAPABILITY")
    finally:
        sock.close()
    assert first[0] == b'* ESEARCH (TAG "a") PARTIAL (1:3 1,3:4)\r\n'
    assert last[0] == b'* ESEARCH (TAG "b") UID COUNT 5 PARTIAL (-1:-2 6:7)\r\n'
    assert beyond[0] == b'* ESEARCH (TAG "c") PARTIAL (6:9 NIL)\r\n'
    assert saved[0] == b'* ESEARCH (TAG "d") MAX 7 PARTIAL (2:3 3:4)\r\n'
    # RFC 9394 §3.2 Table 1: SAVE PARTIAL MAX keeps the partial results and the MAX.
    assert [line.split(b" FETCH")[0] for line in dollar[:-1]] == [b"* 3", b"* 4", b"* 7"]
    assert [line.split(b" FETCH")[0] for line in fetched[:-1]] == [b"* 5", b"* 6", b"* 7"]
    assert forward[:-1] == [b"* 2 FETCH (UID 2)\r\n", b"* 3 FETCH (UID 3)\r\n"]
    assert plain == [b"h BAD FETCH modifier PARTIAL is not supported\r\n"]
    assert both[0].startswith(b"i BAD ")
    assert other == [b"j BAD UID FETCH modifier XPOCHTA is not supported\r\n"]
    assert b" PARTIAL" in caps[0]


async def test_search_rev2_answers_esearch(env: ImapEnv) -> None:
    await env.deliver(message(1))
    sock = await open_session(env, enable=b"IMAP4rev2")
    try:
        lines = await ask(sock, b"a UID SEARCH ALL")
        assert re.fullmatch(rb'\* ESEARCH \(TAG "a"\) UID ALL 1\r\n', lines[0])
    finally:
        sock.close()


async def test_fetch_of_a_message_expunged_elsewhere(reads_env: ImapEnv) -> None:
    env = reads_env
    await env.deliver(message(1))
    await env.deliver(message(2))
    await env.seen_elsewhere()
    sock = await open_session(env)
    try:
        info = await env.mailbox()
        await env.store.expunge(info.id, [1])
        # FETCH by number: no EXPUNGE may be sent now (RFC 9051 §7.5.1); message 1 keeps its number,
        # and its content is served from its blob while blob collection keeps it (RFC 2180 §4.1.1).
        lines = await ask(sock, b"a FETCH 1:2 (FLAGS BODY.PEEK[HEADER.FIELDS (Subject)])")
        assert not any(line.endswith(b" EXPUNGE\r\n") for line in lines), lines
        assert any(line.startswith(b"* 1 FETCH") for line in lines)
        assert any(line.startswith(b"* 2 FETCH") for line in lines)
        assert lines[-1] == b"a OK FETCH completed\r\n"
        # Once the blob is collected, the content is gone: NO [EXPUNGEISSUED] (RFC 5530 §3).
        assert await env.store.collect_blobs(0.0)
        lines = await ask(sock, b"a1 FETCH 1:2 (FLAGS BODY.PEEK[HEADER.FIELDS (Subject)])")
        assert not any(line.startswith(b"* 1 FETCH") for line in lines)
        assert lines[-1].startswith(b"a1 NO [EXPUNGEISSUED]")
        assert any(line.startswith(b"* 2 FETCH") for line in lines)
        assert (await ask(sock, b"a2 FETCH 1 FLAGS"))[
            0
        ] == b"* 1 FETCH (FLAGS ())\r\n"  # known to the session
        lines = await ask(sock, b"b NOOP")
        assert lines[0] == b"* 1 EXPUNGE\r\n"
        started = datetime.now(UTC)
        assert (await ask(sock, b"c FETCH 1 FLAGS"))[-1] == b"c OK FETCH completed\r\n"
        assert datetime.now(UTC) - started < timedelta(seconds=5)
    finally:
        sock.close()


async def test_envelope_and_search_see_the_recovered_address_parts(env: ImapEnv) -> None:
    # An address without a domain, words without an address, stray text after an address.
    data = (
        b"From: Moderator-Address <moderator>\r\nTo: Someone Else, foo@bar.example@baz.example\r\n"
        b"Cc: Alice <alice@example.org> bob@example.org\r\nSubject: recovered\r\n\r\nbody\r\n"
    )
    await env.deliver(message(1))
    await env.deliver(data)

    def fetch() -> tuple[object, dict[str, list[bytes]]]:
        with env.login() as client:
            client.select("INBOX")
            envelope = fetch_items(client, 2, "ENVELOPE")["ENVELOPE"]
            found = {}
            for key in ('FROM "moderator"', 'FROM "Moderator-Address"', 'TO "Someone Else"',
                        'TO "bar.example"', 'CC "alice@example.org"', 'FROM "nobody-here"'):  # fmt: skip
                typ, numbers = client.search(None, key)
                assert typ == "OK"
                found[key] = numbers[0].split()
            return envelope, found

    envelope, found = await asyncio.to_thread(fetch)
    assert isinstance(envelope, list)
    assert envelope[2] == [["Moderator-Address", None, "moderator", "MISSING_DOMAIN"]]
    assert envelope[5] == [
        ["Someone Else", None, "MISSING_MAILBOX", "MISSING_DOMAIN"],
        [None, None, "foo", "bar.example"],
    ]
    assert envelope[6] == [["Alice", None, "alice", "example.org"]]
    # SEARCH matches the field as written: every part ENVELOPE recovered is found
    assert found == {
        'FROM "moderator"': [b"2"],
        'FROM "Moderator-Address"': [b"2"],
        'TO "Someone Else"': [b"2"],
        'TO "bar.example"': [b"2"],
        'CC "alice@example.org"': [b"2"],
        'FROM "nobody-here"': [],
    }


# What clients fetch with the envelope (Thunderbird, mutt), and the syncing forms.
STORED_FETCHES = (
    b"f1 FETCH 1:* (ENVELOPE BODY BODYSTRUCTURE)",
    b"f2 UID FETCH 1:* (UID RFC822.SIZE FLAGS INTERNALDATE ENVELOPE)",
    b"f3 FETCH 1:* (FLAGS ENVELOPE)",
    b"f4 FETCH 1:* ALL",
    b"f5 FETCH 1:* FULL",
    # Beside body sections (imaptest's default mix asks so): the stored forms, not the parse tree.
    b"f6 FETCH 1:* (BODYSTRUCTURE ENVELOPE BODY.PEEK[HEADER.FIELDS (Subject From)])",
    b"f7 FETCH 1:* (UID BODY BODY.PEEK[1] RFC822.SIZE)",
)


async def test_stored_forms_beside_body_sections_are_the_forms_alone(env: ImapEnv) -> None:
    # With a body section in the same FETCH, ENVELOPE/BODY/BODYSTRUCTURE are still sent as stored
    # (not computed from a decoded parse tree): each the same octets as when fetched alone.
    await env.deliver(MULTIPART)
    await env.deliver(message(2))
    sock = await open_session(env)
    try:
        mixed = {
            n: await ask(sock, b"m FETCH %d (BODYSTRUCTURE BODY.PEEK[1] ENVELOPE BODY UID)" % n)
            for n in (1, 2)
        }
        alone = {
            n: [
                await ask(sock, b"a FETCH %d (%s)" % (n, item))
                for item in (b"BODYSTRUCTURE", b"ENVELOPE", b"BODY")
            ]
            for n in (1, 2)
        }
    finally:
        sock.close()
    for n in (1, 2):
        forms = [answer[0].split(b" FETCH (", 1)[1].removesuffix(b")\r\n") for answer in alone[n]]
        answer = joined(mixed[n])
        assert answer.startswith(b"* %d FETCH (%s BODY[1] {" % (n, forms[0])), answer
        assert answer.endswith(b" %s %s UID %d)\r\nm OK FETCH completed\r\n" % (forms[1], forms[2], n)), (
            answer
        )


@pytest.fixture(params=[32, 0], ids=["wire-cache", "no-wire-cache"])
async def cache_env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ImapEnv]:
    """Kept wire forms held by the process after a first read (``store.wire_cache_mb``), or read
    from the database by every FETCH: the same octets either way."""
    async with imap_server(tmp_path, imap_settings(store={"wire_cache_mb": request.param})) as running:
        yield running


@sqlite_only("the per-process cache of wire forms, emptied in the database file")
async def test_wire_forms_kept_at_delivery_are_what_the_parse_record_gives(cache_env: ImapEnv) -> None:
    env = cache_env
    messages = corpus_messages()
    assert len(messages) >= 50  # the shared corpus is there
    for _, data in messages:
        await env.deliver(data, flags=["\\Seen"] if len(data) % 2 else [])
    info = await env.mailbox()
    view = await env.store.open_view(info.id)
    # Stored at delivery = computed from the parse, in both variants (RFC 6855: UTF-8 sessions differ).
    for utf8 in (False, True):
        kept = await env.store.wire_forms(view.message_ids, ["ENVELOPE", "BODY", "BODYSTRUCTURE"], utf8)
        by_id = {row[0]: row for row in kept}
        stored = [by_id[message_id] for message_id in view.message_ids]
        for (name, data), row in zip(messages, stored, strict=True):
            root = parse_message(data, env.settings.mime).root
            computed = (
                envelope_bytes(root.envelope, utf8=utf8),
                bodystructure_bytes(root, False, utf8=utf8),
                bodystructure_bytes(root, True, utf8=utf8),
            )
            assert row[1:] == computed, name

    def answers(enable: bytes) -> list[bytes]:
        sock = imap_session(env, enable=enable)
        try:
            return [joined(exchange(sock, line)) for line in STORED_FETCHES]
        finally:
            sock.close()

    async def both() -> dict[bytes, list[bytes]]:
        return {enable: await asyncio.to_thread(answers, enable) for enable in (b"", b"UTF8=ACCEPT")}

    await env.seen_elsewhere()  # the same answers in every session below (no \\Recent)
    served = await both()
    assert all(answer.endswith(b" OK FETCH completed\r\n") or b"OK UID FETCH" in answer
               for answer in served[b""])  # fmt: skip
    assert served[b""][0].count(b" FETCH (ENVELOPE (") == len(messages)
    assert served[b""] != served[b"UTF8=ACCEPT"]  # 8-bit headers: literals without UTF-8
    # Again: from the process's cache of forms when it has one, the same octets.
    assert isinstance(env.store, SqliteStore)  # the server's own (in this process)
    cache = env.store.wire_cache
    assert (len(cache) > 0) == (env.settings.store.wire_cache_mb > 0)
    assert await both() == served
    # A store from before the forms were kept: the same octets, computed from the parse records.
    conn = sqlite3.connect(env.data_dir / DB_FILE_NAME, isolation_level=None)
    try:
        # One row per stored message (single instance: the corpus holds one message twice).
        assert conn.execute("DELETE FROM message_wire").rowcount == len({data for _, data in messages})
    finally:
        conn.close()
    cache.clear()  # and what the process holds: as a process started on that store
    assert await env.store.wire_forms(view.message_ids[:1], ["ENVELOPE"], False) == []
    assert await both() == served
