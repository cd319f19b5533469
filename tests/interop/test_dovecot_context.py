"""Differential test against Dovecot 2.3 of CONTEXT=SEARCH (RFC 5267 §4; Dovecot advertises it, not
CONTEXT=SORT): two sessions on each server, the first with UPDATE contexts, the second changing the
mailbox (STORE, APPEND, EXPUNGE); the ESEARCH updates the first session is told at each NOOP, and
the tagged status of every command, must agree.

ESEARCH lines are compared as their correlator and return data items (a server may send ADDTO and
REMOVEFROM in one response or in two, RFC 5267 §4.3.2); the other untagged responses (EXISTS,
EXPUNGE, FETCH) belong to the base protocol's differential test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dovecot_env import DovecotServer, dovecot_peer
from imap_env import PASSWORD, exchange, imap_server, login_socket, message, read_imap

pytestmark = pytest.mark.interop

FLAGS = ["\\Seen", "", "\\Flagged", "", "\\Seen \\Flagged", ""]
NEW = message(99)
# (session, command): "a" keeps the contexts, "b" changes the mailbox.
STEPS = [
    ("a", b"s1 SEARCH RETURN (UPDATE) SEEN"),
    ("a", b"s2 UID SEARCH RETURN (UPDATE COUNT) UNSEEN"),
    ("a", b"s3 SEARCH RETURN (CONTEXT COUNT) ALL"),
    ("a", b"s4 SEARCH RETURN (UPDATE MIN) FLAGGED UNSEEN"),
    ("a", b"s5 UID SEARCH RETURN (UPDATE ALL) OR SEEN FLAGGED"),
    ("a", b"s6 SEARCH RETURN (UPDATE PARTIAL 1:2) UNDELETED"),
    ("b", b"b1 STORE 2 +FLAGS.SILENT (\\Seen)"),
    ("a", b"n1 NOOP"),
    ("b", b"b2 APPEND INBOX (\\Flagged) {%d+}\r\n" % len(NEW) + NEW),
    ("a", b"n2 NOOP"),
    ("b", b"b3 STORE 1,4 +FLAGS.SILENT (\\Deleted)"),
    ("b", b"b4 EXPUNGE"),
    ("a", b"n3 NOOP"),
    ("a", b'c1 CANCELUPDATE "s1"'),
    ("b", b"b5 STORE 1:* -FLAGS.SILENT (\\Seen)"),
    ("a", b"n4 NOOP"),
    ("a", b"t1 UID STORE 1:* +FLAGS.SILENT (\\Seen)"),
    ("a", b"n5 NOOP"),
    ("a", b"s2 SEARCH RETURN (UPDATE) ALL"),  # RFC 5267 §4.3: tag reuse is BAD
    ("a", b'c2 CANCELUPDATE "s1" "s2"'),  # s1 was cancelled: NO
    ("a", b'c3 CANCELUPDATE "s2"'),
    ("a", b"c4 CANCELUPDATE s2"),  # RFC 5267 §5: quoted
    ("a", b"s7 SEARCH RETURN (CONTEXT) SEEN"),  # a hint: RETURN () is ALL
    ("a", b"s8 SORT RETURN (COUNT CONTEXT) (ARRIVAL) UTF-8 SEEN"),
]


@pytest.fixture(scope="module")
def dovecot() -> Iterator[DovecotServer]:
    yield from dovecot_peer(("imap",), password=PASSWORD)


def transcript(port: int) -> list[list[bytes]]:
    a, b = login_socket(port), login_socket(port)
    try:
        for n, flags in enumerate(FLAGS, 1):
            data = message(n)
            head = b"A APPEND INBOX (%s) {%d+}\r\n" % (flags.encode(), len(data))
            assert exchange(b, head + data, b"A")[-1].startswith(b"A OK")
        assert exchange(a, b"S SELECT INBOX")[-1].startswith(b"S OK")
        assert exchange(b, b"S SELECT INBOX")[-1].startswith(b"S OK")
        return [exchange(a if who == "a" else b, line, line.split(b" ", 1)[0]) for who, line in STEPS]
    finally:
        a.close()
        b.close()


def comparable(lines: list[bytes]) -> list[Any]:
    """The ESEARCH data items (correlator, UID or not, item, value) sorted, and the tagged status."""
    items: list[Any] = []
    for line in lines[:-1]:
        if line.startswith(b"* ESEARCH "):
            parsed = read_imap(b"(" + line.removeprefix(b"* ESEARCH ").rstrip(b"\r\n") + b")")
            head = str(parsed.pop(0)) if parsed and isinstance(parsed[0], list) else ""
            uid = bool(parsed) and parsed[0] == "UID"
            if uid:
                parsed.pop(0)
            items += [(head, uid, str(parsed[i]), str(parsed[i + 1])) for i in range(0, len(parsed), 2)]
            if not parsed:
                items.append((head, uid))
    return [*sorted(items, key=repr), lines[-1].split(b" ")[1]]


async def test_context_search_updates_agree_with_dovecot(dovecot: DovecotServer, tmp_path: Path) -> None:
    async with imap_server(tmp_path) as env:
        ours = await asyncio.to_thread(transcript, env.plain[1])
    theirs = await asyncio.to_thread(transcript, dovecot.imap)
    for (_, line), mine, dovecots in zip(STEPS, ours, theirs, strict=True):
        assert comparable(mine) == comparable(dovecots), (line, mine, dovecots)
    # The answers say something (not merely the same nothing twice): seen 1 5 2; new 7 flagged.
    n1 = ours[STEPS.index(("a", b"n1 NOOP"))]
    assert b'* ESEARCH (TAG "s1") ADDTO (0 2)\r\n' in n1
    n3 = ours[STEPS.index(("a", b"n3 NOOP"))]
    assert any(line.startswith(b'* ESEARCH (TAG "s5") UID REMOVEFROM') for line in n3)
