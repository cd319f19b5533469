"""CATENATE (RFC 4469) over raw sockets: messages joined from TEXT literals and URL parts (whole
messages, sections, partials; absolute, absolute-path and relative URLs), BADURL for every URL that
cannot be resolved (syntax, URLAUTH, UIDVALIDITY, UID, part, another user's mailbox) with nothing
stored, TRYCREATE first, TOOBIG past the message size limit, MULTIAPPEND all or nothing, and TEXT
literals spooled to files when large."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from imap_env import ALICE, BOB, ImapEnv, exchange, imap_server, imap_session, imap_settings, read_line

MULTIPART = (
    b"From: Bob <bob@example.org>\r\n"
    b"Subject: parts\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n'
    b"\r\n"
    b"preamble\r\n"
    b"--b\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"first part\r\n"
    b"--b\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"second part\r\n"
    b"--b--\r\n"
)
SIMPLE = b"From: Carol <carol@example.org>\r\nSubject: simple\r\n\r\nSimple body.\r\n"
LIMIT = 4096


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ImapEnv]:
    # small literals are kept in memory, larger ones spooled (uploads): both paths are exercised
    settings = imap_settings(limits={"max_message_size": LIMIT}, imap={"max_literal_size": 1024})
    async with imap_server(tmp_path, settings) as running:
        await running.deliver(MULTIPART)
        await running.deliver(SIMPLE)
        await running.deliver(b"Subject: bob's\r\n\r\nsecret\r\n", account=running.bob)
        yield running


def text(data: bytes) -> tuple[bytes, bytes]:
    return b"TEXT ", data


def send(
    sock: socket.socket, head: bytes, parts: list[bytes | tuple[bytes, bytes]], tail: bytes = b")"
) -> list[bytes]:
    """``head`` then the parts (a URL text as is, a literal as (prefix, octets)), waiting for each
    ``+``; returns the lines up to the tagged reply."""
    tag = head.split(b" ", 1)[0]
    line = head
    lines: list[bytes] = []
    for part in parts:
        if isinstance(part, bytes):
            line += part + b" "
            continue
        prefix, data = part
        sock.sendall(line + prefix + b"{%d}\r\n" % len(data))
        got = read_line(sock)
        if not got.startswith(b"+"):
            return [got]
        sock.sendall(data)
        line = b" "
    sock.sendall(line.rstrip(b" ") + tail + b"\r\n")
    while not lines or not lines[-1].startswith(tag + b" "):
        lines.append(read_line(sock))
    return lines


def catenate(
    sock: socket.socket, parts: list[bytes | tuple[bytes, bytes]], mailbox: bytes = b"Drafts"
) -> list[bytes]:
    return send(sock, b"a APPEND " + mailbox + b" CATENATE (", parts)


def url(value: str) -> bytes:
    return b'URL "' + value.encode() + b'"'


async def stored(env: ImapEnv, mailbox: str = "Drafts") -> list[bytes]:
    info = await env.mailbox(mailbox)
    view = await env.store.open_view(info.id)
    return [env.store.read_blob(view.blob(index)) for index in range(len(view.uids))]


async def run(
    env: ImapEnv, calls: list[list[bytes | tuple[bytes, bytes]]], *, select: bytes = b""
) -> list[list[bytes]]:
    def go() -> list[list[bytes]]:
        sock = imap_session(env, select=select)
        try:
            return [catenate(sock, parts) for parts in calls]
        finally:
            sock.close()

    return await asyncio.to_thread(go)


async def test_text_and_url_parts(env: ImapEnv) -> None:
    inbox = await env.mailbox()
    replies = await run(
        env,
        [
            [
                text(b"From: me@example.org\r\nSubject: joined\r\n\r\n"),
                url("/INBOX/;UID=1/;SECTION=2"),
                text(b"-- \r\nme\r\n"),
            ],
            [url("/INBOX/;UID=2")],  # a whole message
            [url(f"/INBOX;UIDVALIDITY={inbox.uidvalidity}/;UID=1/;SECTION=HEADER"), text(b"new body\n")],
            [
                url("/INBOX/;UID=1/;SECTION=HEADER.FIELDS%20(Subject)"),
                url("/inbox/;uid=1/;section=1.MIME"),
                url("/INBOX/;UID=1/;SECTION=1"),
            ],
            [
                text(b"Subject: partial\r\n\r\n"),
                url("/INBOX/;UID=2/;SECTION=TEXT/;PARTIAL=7.4"),
                url("/INBOX/;UID=2/;PARTIAL=100000"),
            ],
            [url(f"imap://{ALICE.replace('@', '%40')}@{env.settings.hostname}/INBOX/;UID=2/;SECTION=TEXT")],
            [url("INBOX/;UID=2/;SECTION=HEADER")],
        ],
    )
    for reply in replies:
        assert re.match(rb"^a OK \[APPENDUID \d+ \d+\] APPEND completed\r\n$", reply[-1]), reply
    assert await stored(env) == [
        b"From: me@example.org\r\nSubject: joined\r\n\r\nsecond part-- \r\nme\r\n",
        SIMPLE,
        MULTIPART[: MULTIPART.index(b"preamble")] + b"new body\r\n",  # the bare LF made CRLF
        b"Subject: parts\r\n\r\nContent-Type: text/plain\r\n\r\nfirst part",
        b"Subject: partial\r\n\r\nbody",  # PARTIAL past the end: nothing (RFC 9051 §6.4.5)
        b"Simple body.\r\n",
        b"From: Carol <carol@example.org>\r\nSubject: simple\r\n\r\n",
    ]
    # RFC 4469 §3: no \Seen on the source
    assert all("\\Seen" not in flags for flags in (await env.store.open_view(inbox.id)).flag_sets())


async def test_relative_url_against_the_selected_mailbox(env: ImapEnv) -> None:
    replies = await run(env, [[url(";UID=2/;SECTION=TEXT")]], select=b"INBOX")
    assert replies[0][-1].startswith(b"a OK [APPENDUID ")
    assert await stored(env) == [b"Simple body.\r\n"]
    # not selected: no base mailbox
    refused = await run(env, [[url(";UID=2")]])
    assert refused[0] == [b"a NO [BADURL ;UID=2] Bad URL: a relative URL needs a selected mailbox\r\n"]


BAD_URLS = [
    "/INBOX/;UID=9",  # no such message
    "/INBOX;UIDVALIDITY=12345/;UID=1",
    "/INBOX/;UID=1/;SECTION=7",  # no such part
    "/INBOX/;UID=1/;SECTION=HEADER.FIELDS",  # bad section syntax
    "/Nope/;UID=1",
    "/INBOX",
    "/INBOX/;UID=1/;URLAUTH=anonymous:internal:91354a473744909de610943775f92038",
    f"imap://{BOB.replace('@', '%40')}@localhost/INBOX/;UID=1",  # another user's mailbox
    "imap://other.example.net/INBOX/;UID=1",  # another server
    "http://example.org/INBOX/;UID=1",
    "/IN]BOX/;UID=1",
]


async def test_bad_urls_give_badurl_and_store_nothing(env: ImapEnv) -> None:
    calls: list[list[bytes | tuple[bytes, bytes]]] = [
        [text(b"Subject: x\r\n\r\n"), url(bad), text(b"tail\r\n")] for bad in BAD_URLS
    ]
    # the first failing URL is the one named (RFC 4469 §4.1)
    calls.append([url("/INBOX/;UID=1"), url("/INBOX/;UID=8"), url("/INBOX/;UID=9")])
    replies = await run(env, calls)
    for bad, reply in zip([*BAD_URLS, "/INBOX/;UID=8"], replies, strict=True):
        shown = bad.replace("]", "%5D").encode()
        assert reply[-1].startswith(b"a NO [BADURL " + shown + b"] "), (bad, reply)
    assert await stored(env) == []
    assert env.spool_files() == []


async def test_another_users_mailbox_is_not_reachable(env: ImapEnv) -> None:
    # Bob's INBOX has UID 1 too; no URL form reaches it from Alice's session.
    forms = [
        f"imap://{BOB.replace('@', '%40')}@{env.settings.hostname}/INBOX/;UID=1",
        f"imap://bob@{env.settings.hostname}/INBOX/;UID=1",
    ]
    replies = await run(env, [[url(form)] for form in forms])
    assert all(b"[BADURL " in reply[-1] for reply in replies), replies
    assert await stored(env) == []


async def test_missing_mailbox_is_trycreate_before_badurl(env: ImapEnv) -> None:
    def go() -> list[bytes]:
        sock = imap_session(env, select=b"")
        try:
            return catenate(sock, [url("/INBOX;UIDVALIDITY=1/;UID=1")], mailbox=b"Nowhere")
        finally:
            sock.close()

    reply = await asyncio.to_thread(go)
    assert reply[-1].startswith(b"a NO [TRYCREATE] ")


async def test_too_big(env: ImapEnv) -> None:
    big = b"Subject: big\r\n\r\n" + b"x" * 3000 + b"\r\n"
    await env.deliver(big)  # UID 3
    replies = await run(
        env,
        [
            [url("/INBOX/;UID=3"), url("/INBOX/;UID=3")],  # two parts within the limit each
            [text(b"y" * 1500), url("/INBOX/;UID=3")],
            [text(b"y" * (LIMIT + 1))],  # refused by the receiver before the literal
            [url("/INBOX/;UID=3"), text(b"z" * 1200)],
        ],
    )
    for reply in replies:
        assert re.match(rb"^a NO \[TOOBIG\] ", reply[-1]), reply
    assert await stored(env) == []
    assert env.spool_files() == []


async def test_large_text_literals_are_spooled_and_joined(env: ImapEnv) -> None:
    body = b"".join(b"line %04d\n" % i for i in range(200))  # 2000 octets: past max_literal_size
    replies = await run(
        env, [[text(b"Subject: spooled\r\n\r\n"), text(body), url("/INBOX/;UID=2/;SECTION=TEXT")]]
    )
    assert replies[0][-1].startswith(b"a OK [APPENDUID ")
    assert await stored(env) == [
        b"Subject: spooled\r\n\r\n" + body.replace(b"\n", b"\r\n") + b"Simple body.\r\n"
    ]
    assert env.spool_files() == []


async def test_multiappend_is_all_or_nothing(env: ImapEnv) -> None:
    def go() -> tuple[list[bytes], list[bytes]]:
        sock = imap_session(env, select=b"")
        try:
            good = send(
                sock,
                b"a APPEND Drafts CATENATE (",
                [url("/INBOX/;UID=2/;SECTION=HEADER"), text(b"one\r\n")],
                b") (\\Flagged) {6}\r\nx: y\r\n CATENATE (" + url("/INBOX/;UID=2") + b")",
            )
            bad = send(
                sock,
                b"b APPEND Drafts CATENATE (",
                [url("/INBOX/;UID=2")],
                b") CATENATE (" + url("/INBOX/;UID=77") + b")",
            )
            return good, bad
        finally:
            sock.close()

    good, bad = await asyncio.to_thread(go)
    assert re.match(rb"^a OK \[APPENDUID \d+ 1:3\] ", good[-1]), good
    assert bad[-1].startswith(b"b NO [BADURL /INBOX/;UID=77] ")
    assert await stored(env) == [
        b"From: Carol <carol@example.org>\r\nSubject: simple\r\n\r\none\r\n",
        b"x: y\r\n",
        SIMPLE,
    ]


async def test_capability(env: ImapEnv) -> None:
    def go() -> list[bytes]:
        sock = imap_session(env, select=b"")
        try:
            return exchange(sock, b"c CAPABILITY")
        finally:
            sock.close()

    caps = (await asyncio.to_thread(go))[0].split()
    assert b"CATENATE" in caps
    assert b"MULTIAPPEND" in caps


async def test_replace_takes_catenate_too(env: ImapEnv) -> None:
    # RFC 8508 §3.4: extensions of APPEND apply to REPLACE; the URL may name the message replaced.
    def go() -> tuple[list[bytes], list[bytes]]:
        sock = imap_session(env, select=b"INBOX")
        try:
            bad = send(sock, b"b UID REPLACE 2 INBOX CATENATE (", [url(";UID=7")])
            good = send(
                sock,
                b"r UID REPLACE 2 INBOX CATENATE (",
                [url(";UID=2/;SECTION=HEADER"), text(b"edited\r\n")],
            )
            return bad, good
        finally:
            sock.close()

    bad, good = await asyncio.to_thread(go)
    assert bad[-1].startswith(b"b NO [BADURL ;UID=7] ")
    assert good[-1] == b"r OK UID REPLACE completed\r\n"
    assert await stored(env, "INBOX") == [
        MULTIPART,
        b"From: Carol <carol@example.org>\r\nSubject: simple\r\n\r\nedited\r\n",
    ]


async def test_a_failed_part_leaves_no_spool_file(env: ImapEnv) -> None:
    # the TEXT literal (past imap.max_literal_size) and the joined message both went to files
    replies = await run(env, [[text(b"Subject: big\r\n\r\n" + b"x" * 2500 + b"\r\n"), url("/INBOX/;UID=99")]])
    assert replies[0][-1].startswith(b"a NO [BADURL /INBOX/;UID=99] ")
    assert await stored(env) == []
    assert env.spool_files() == []
