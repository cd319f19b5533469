"""CATENATE (RFC 4469) against Dovecot 2.3 (tests/dovecot_env.py): the same messages and the same
CATENATE APPENDs on both servers must store byte-identical messages (FETCH BODY[] of each), and the
refused ones must be refused alike (status and response code: BADURL, TRYCREATE)."""

from __future__ import annotations

import asyncio
import imaplib
import re
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from dovecot_env import DovecotServer, dovecot_peer
from imap_env import ALICE, PASSWORD, ImapEnv, exchange, imap_server, read_line

pytestmark = pytest.mark.interop

MULTIPART = (
    b"From: Bob <bob@example.org>\r\n"
    b"Subject: parts\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n'
    b"\r\n"
    b"--b\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"first part\r\n"
    b"--b\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"Subject: inner\r\n"
    b"X-Inner: 1\r\n"
    b"\r\n"
    b"inner body\r\n"
    b"--b--\r\n"
)
SIMPLE = b"From: Carol <carol@example.org>\r\nSubject: simple\r\nX-Tag: a\r\n\r\nSimple body.\r\n"

Part = bytes | tuple[bytes]  # a URL, or (TEXT literal octets,)

APPENDS: list[list[Part]] = [
    [
        (b"From: me@example.org\r\nSubject: joined\r\n\r\n",),
        b"/INBOX/;UID=1/;SECTION=1",
        (b"\r\n-- \r\nme\r\n",),
    ],
    [b"/INBOX/;UID=2"],
    [b"/INBOX/;UID=1/;SECTION=HEADER", (b"new body\r\n",)],
    [b"/INBOX/;UID=2/;SECTION=HEADER.FIELDS%20(Subject%20X-Tag)", (b"body\r\n",)],
    [b"/INBOX/;UID=1/;SECTION=2.HEADER", b"/INBOX/;UID=1/;SECTION=2.TEXT"],
    [b"/INBOX/;UID=1/;SECTION=1.MIME", b"/INBOX/;UID=1/;SECTION=2"],
    [
        (b"Subject: partial\r\n\r\n",),
        b"/INBOX/;UID=2/;SECTION=TEXT/;PARTIAL=7.4",
        b"/INBOX/;UID=2/;PARTIAL=100000.1",
    ],
    [(b"Subject: lf\n\nbare\nline ends\n",)],
    [b"/INBOX/;UID=2/;SECTION=TEXT", (b"X",), b"/INBOX/;UID=2/;SECTION=TEXT"],
    # refused: no such UID or mailbox, another UIDVALIDITY
    [(b"Subject: x\r\n\r\n",), b"/INBOX/;UID=9"],
    [b"/Nope/;UID=1"],
    [b"/INBOX;UIDVALIDITY=1/;UID=1"],
]
# Where pochta answers otherwise, by choice (docs/imap.md "CATENATE"): a part that does not exist is
# BADURL (RFC 4469 §4.1 "invalid body part"; Dovecot appends nothing for it and says OK), and so is
# a section that does not parse (§4.1 "bad URL syntax"; Dovecot: NO without a code or [SERVERBUG]).
DIFFERENT: list[list[Part]] = [[b"/INBOX/;UID=1/;SECTION=5"], [b"/INBOX/;UID=1/;SECTION=1.X"]]


@pytest.fixture(scope="module")
def dovecot() -> Iterator[DovecotServer]:
    yield from dovecot_peer(("imap",), password=PASSWORD)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ImapEnv]:
    async with imap_server(tmp_path) as running:
        yield running


def _catenate(sock: socket.socket, tag: bytes, parts: list[Part]) -> bytes:
    """One CATENATE APPEND to Cat (synchronising literals); the tagged reply."""
    line = tag + b" APPEND Cat CATENATE ("
    for part in parts:
        if isinstance(part, bytes):
            line += b'URL "' + part + b'" '
            continue
        (data,) = part
        sock.sendall(line + b"TEXT {%d}\r\n" % len(data))
        assert read_line(sock).startswith(b"+")
        sock.sendall(data)
        line = b" "
    reply = exchange(sock, line.rstrip(b" ") + b")", tag)
    return reply[-1]


def _outcome(reply: bytes) -> str:
    """OK, or NO with its response code's atom (the texts are each server's own)."""
    match = re.match(rb"^\w+ (OK|NO|BAD) (?:\[([\w-]+))?", reply)
    assert match is not None, reply
    return (
        match.group(1).decode()
        if match.group(1) == b"OK"
        else f"{match.group(1).decode()} {match.group(2)!r}"
    )


def _run(port: int) -> tuple[list[str], list[bytes], list[str]]:
    client = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    client.login(ALICE, PASSWORD)
    for data in (MULTIPART, SIMPLE):
        assert client.append("INBOX", None, None, data)[0] == "OK"  # type: ignore[arg-type]
    assert client.create("Cat")[0] == "OK"
    client.logout()
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        read_line(sock)
        assert exchange(sock, b"L LOGIN %s %s" % (ALICE.encode(), PASSWORD.encode()))[-1].startswith(b"L OK")
        outcomes = [_outcome(_catenate(sock, b"a%d" % i, parts)) for i, parts in enumerate(APPENDS)]
        outcomes.append(_outcome(exchange(sock, b'm APPEND Missing CATENATE (URL "/INBOX/;UID=1")')[-1]))
    finally:
        sock.close()
    client = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    client.login(ALICE, PASSWORD)
    client.select("Cat", readonly=True)
    typ, data = client.uid("FETCH", "1:*", "(BODY.PEEK[])")
    client.logout()
    assert typ == "OK", data
    bodies = [item[1] for item in data if isinstance(item, tuple)]
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        read_line(sock)
        assert exchange(sock, b"L LOGIN %s %s" % (ALICE.encode(), PASSWORD.encode()))[-1].startswith(b"L OK")
        different = [_outcome(_catenate(sock, b"d%d" % i, parts)) for i, parts in enumerate(DIFFERENT)]
    finally:
        sock.close()
    return outcomes, bodies, different


async def test_catenate_stores_what_dovecot_stores(env: ImapEnv, dovecot: DovecotServer) -> None:
    ours = await asyncio.to_thread(_run, env.plain[1])
    theirs = await asyncio.to_thread(_run, dovecot.imap)
    assert ours[0] == theirs[0]
    assert ours[1] == theirs[1]
    assert ours[0].count("OK") == 9
    assert ours[2] == ["NO b'BADURL'", "NO b'BADURL'"]
    assert theirs[2][0] == "OK"
    assert theirs[2][1].startswith("NO")  # without a code, or SERVERBUG: not BADURL
    assert ours[0][-1] == "NO b'TRYCREATE'"
    assert ours[1][0] == b"From: me@example.org\r\nSubject: joined\r\n\r\nfirst part\r\n-- \r\nme\r\n"
