"""Differential test against Dovecot 2.3 of session-level extensions both servers have: the same
messages APPENDed with the same dates and flags, then one transcript sent to both; the untagged
SEARCH/ESEARCH answers and the tagged status and response code must agree.

- PARTIAL (RFC 9394 §3.1; Dovecot has it from CONTEXT=SEARCH, RFC 5267 §4.4): positive ranges,
  ranges past the end (NIL), with MIN/COUNT.
- WITHIN (RFC 5032): OLDER/YOUNGER around messages days old and new.
- COMPRESS=DEFLATE (RFC 4978, Dovecot's imap_zlib plugin): the OK, the refusal of a second COMPRESS
  (NO [COMPRESSIONACTIVE]: the text differs), the same answers through the compressed stream, and
  BAD for an unknown mechanism.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dovecot_env import DovecotServer, dovecot_peer
from imap_env import (
    ALICE,
    PASSWORD,
    DeflateSocket,
    SocketLike,
    exchange,
    imap_server,
    message,
    read_imap,
    read_line,
)

pytestmark = pytest.mark.interop

ZLIB = """\
mail_plugins = $mail_plugins zlib
protocol imap {
  mail_plugins = $mail_plugins imap_zlib
}
"""

NOW = datetime.now(UTC).replace(microsecond=0)
MESSAGES = [  # (days old, flags)
    (5, "\\Seen"), (4, ""), (3, "\\Flagged"), (2, ""), (1, "\\Seen"), (0, ""), (0, "\\Deleted"),
]  # fmt: skip

BEFORE = [
    b"a SEARCH RETURN (PARTIAL 1:3) UNSEEN",
    b"b UID SEARCH RETURN (PARTIAL 2:4) ALL",
    b"c SEARCH RETURN (PARTIAL 6:9) SEEN",
    b"d SEARCH RETURN (MIN COUNT PARTIAL 3:1) UNDELETED",
    b"e SEARCH RETURN (PARTIAL 100:200) ALL",
    b"f SEARCH YOUNGER %d" % (36 * 3600),
    b"g SEARCH OLDER %d" % (36 * 3600),
    b"h SEARCH UNSEEN OLDER %d NOT OLDER %d" % (2 * 86400 - 600, 4 * 86400 + 600),
    b"i COMPRESS LZW",
    b"j COMPRESS DEFLATE",
]
COMPRESSED = [
    b"k COMPRESS DEFLATE",
    b"l SEARCH RETURN (PARTIAL 2:3) ALL",
    b"m UID SEARCH YOUNGER 3600",
    b"n NOOP",
]


# Where pochta answers otherwise on purpose (docs/imap.md, "Differences from Dovecot"): ours, theirs.
DELIBERATE = {
    # RFC 4978 §3: "BAD Command unknown, invalid or unknown argument"; Dovecot says NO.
    b"i COMPRESS LZW": ([b"i BAD"], [b"i NO"]),
}


@pytest.fixture(scope="module")
def dovecot() -> Iterator[DovecotServer]:
    yield from dovecot_peer(("imap",), password=PASSWORD, extra=ZLIB)


def transcript(port: int) -> list[list[bytes]]:
    """The messages APPENDed (INBOX emptied first), then BEFORE in clear and COMPRESSED after COMPRESS."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    try:
        read_line(sock)
        assert exchange(sock, b"L LOGIN %s %s" % (ALICE.encode(), PASSWORD.encode()))[-1].startswith(b"L OK")
        for n, (days, flags) in enumerate(MESSAGES, 1):
            data = message(n)
            when = (NOW - timedelta(days=days)).strftime("%d-%b-%Y %H:%M:%S +0000").encode()
            sock.sendall(
                b'A APPEND INBOX (%s) "%s" {%d+}\r\n' % (flags.encode(), when, len(data)) + data + b"\r\n"
            )
            read_until_tagged(sock, b"A")
        assert exchange(sock, b"S SELECT INBOX")[-1].startswith(b"S OK")
        answers = [exchange(sock, line) for line in BEFORE]
        stream: SocketLike = DeflateSocket(sock) if answers[-1][-1].startswith(b"j OK") else sock
        answers += [exchange(stream, line) for line in COMPRESSED]
        return answers
    finally:
        sock.close()


def read_until_tagged(sock: socket.socket, tag: bytes) -> None:
    while not (line := read_line(sock)).startswith(tag + b" "):
        assert line, "connection closed"


def comparable(lines: list[bytes]) -> list[Any]:
    """SEARCH lines as sent, ESEARCH lines as their correlator and sorted return data (their order
    is free, RFC 4731 §3.1); the tagged line as its tag, status and response code."""
    kept: list[Any] = []
    for line in lines[:-1]:
        if line.startswith(b"* SEARCH"):
            kept.append(line)
        elif line.startswith(b"* ESEARCH "):
            items = read_imap(b"(" + line.removeprefix(b"* ESEARCH ").rstrip(b"\r\n") + b")")
            head = [items.pop(0)] if items and isinstance(items[0], list) else []
            uid = [items.pop(0)] if items and items[0] == "UID" else []
            pairs = sorted((str(items[i]), str(items[i + 1])) for i in range(0, len(items), 2))
            kept.append([*head, *uid, *pairs])
    tagged = lines[-1]
    head = tagged.split(b"] ", 1)[0] + b"]" if b" [" in tagged else b" ".join(tagged.split(b" ")[:2])
    return [*kept, head]


async def test_session_extensions_agree_with_dovecot(dovecot: DovecotServer, tmp_path: Path) -> None:
    async with imap_server(tmp_path) as env:
        ours = await asyncio.to_thread(transcript, env.plain[1])
    theirs = await asyncio.to_thread(transcript, dovecot.imap)
    assert len(ours) == len(theirs) == len(BEFORE) + len(COMPRESSED)
    for line, mine, dovecots in zip([*BEFORE, *COMPRESSED], ours, theirs, strict=True):
        if line in DELIBERATE:
            assert (comparable(mine), comparable(dovecots)) == DELIBERATE[line]
            continue
        assert comparable(mine) == comparable(dovecots), (line, mine, dovecots)
    # The answers say what they should (not merely the same thing twice).
    assert ours[0][0] == b'* ESEARCH (TAG "a") PARTIAL (1:3 2:4)\r\n'  # unseen: 2 3 4 6 7
    assert ours[2][0] == b'* ESEARCH (TAG "c") PARTIAL (6:9 NIL)\r\n'
    assert ours[5][0] == b"* SEARCH 5 6 7\r\n"
    assert ours[10][-1].startswith(b"k NO [COMPRESSIONACTIVE]")
