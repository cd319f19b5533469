"""A mailbox's keyword list against Dovecot 2.3 (tests/dovecot_env.py): FLAGS and PERMANENTFLAGS at
SELECT list every keyword ever stored in the mailbox (docs/imap.md "Keywords in FLAGS"), also once
no message carries it (-FLAGS, EXPUNGE), and a COPY brings the copied messages' keywords only. The
keyword sets must match; the order is each server's own (pochta sorts, Dovecot keeps creation order)."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from dovecot_env import DovecotServer, dovecot_peer
from imap_env import ALICE, PASSWORD, ImapEnv, exchange, imap_server, read_line, send_append

pytestmark = pytest.mark.interop

MESSAGE = b"From: Bob <bob@example.org>\r\nSubject: kw %d\r\n\r\nBody.\r\n"


@pytest.fixture(scope="module")
def dovecot() -> Iterator[DovecotServer]:
    yield from dovecot_peer(("imap",), password=PASSWORD)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ImapEnv]:
    async with imap_server(tmp_path) as running:
        yield running


def _login(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    read_line(sock)
    assert exchange(sock, b"L LOGIN %s %s" % (ALICE.encode(), PASSWORD.encode()))[-1].startswith(b"L OK")
    return sock


def _flags(lines: list[bytes]) -> tuple[frozenset[str], frozenset[str]]:
    """The FLAGS and the PERMANENTFLAGS of a SELECT's answer, as sets."""
    text = b"".join(lines).decode()
    flags = re.search(r"\* FLAGS \(([^)]*)\)", text)
    permanent = re.search(r"\[PERMANENTFLAGS \(([^)]*)\)\]", text)
    assert flags is not None, text
    assert permanent is not None, text
    return frozenset(flags.group(1).split()), frozenset(permanent.group(1).split())


def _run(port: int) -> list[tuple[frozenset[str], frozenset[str]]]:
    setup = _login(port)
    older = _login(port)
    try:
        for tag in (b"c1", b"c2"):
            exchange(setup, tag + b" CREATE Kw" + (b"2" if tag == b"c2" else b""))
        for n, flags in enumerate((b"($One \\Seen) ", b"($Two) ")):
            assert send_append(setup, b"a%d APPEND Kw" % n, [(flags, MESSAGE % n)])[-1].startswith(
                b"a%d OK" % n
            )
        seen = [_flags(exchange(older, b"s0 SELECT Kw"))]
        exchange(setup, b"s1 SELECT Kw")
        for line in (
            b"t1 STORE 1 +FLAGS ($Three)",
            b"t2 STORE 2 -FLAGS ($Two)",
            b"t3 STORE 1 +FLAGS (\\Deleted)",
        ):
            assert exchange(setup, line)[-1].split(b" ")[1] == b"OK", line
        assert exchange(setup, b"e EXPUNGE")[-1].startswith(b"e OK")
        exchange(older, b"n NOOP")
        assert exchange(setup, b"k COPY 1 Kw2")[-1].startswith(b"k OK")
        later = _login(port)
        try:
            seen.append(_flags(exchange(later, b"s2 SELECT Kw")))
            seen.append(_flags(exchange(later, b"s3 EXAMINE Kw")))
            seen.append(_flags(exchange(later, b"s4 SELECT Kw2")))
        finally:
            later.close()
    finally:
        setup.close()
        older.close()
    return seen


async def test_flags_list_every_keyword_the_mailbox_had_as_dovecot(
    env: ImapEnv, dovecot: DovecotServer
) -> None:
    ours = await asyncio.to_thread(_run, env.plain[1])
    theirs = await asyncio.to_thread(_run, dovecot.imap)
    assert ours == theirs
    system = {"\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"}
    # $Two is on no message, $One and $Three were on the expunged one: all still listed.
    assert ours[1] == (
        frozenset({*system, "$One", "$Two", "$Three"}),
        frozenset({*system, "$One", "$Two", "$Three", "\\*"}),
    )
    assert ours[3] == (frozenset(system), frozenset({*system, "\\*"}))  # the copy had no keyword
