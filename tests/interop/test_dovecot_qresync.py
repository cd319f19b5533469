"""QRESYNC against Dovecot 2.3 (tests/dovecot_env.py): the same mailbox history on both servers, then
a resynchronising client's SELECT (QRESYNC ...), UID FETCH (CHANGEDSINCE n VANISHED) and a
VANISHED-era EXPUNGE must tell it the same things (RFC 7162 §3.2.5, §3.2.6, §3.2.10).

Mod-sequence values are each server's own: compared are which messages are reported, with which
UIDs and flags, that each FETCH carries a MODSEQ above the client's, and the VANISHED sets."""

from __future__ import annotations

import asyncio
import imaplib
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from dovecot_env import DovecotServer, dovecot_peer
from imap_env import ALICE, PASSWORD, ImapEnv, exchange, imap_server, login_socket, message

pytestmark = pytest.mark.interop

_MODSEQ = re.compile(rb"\[HIGHESTMODSEQ (\d+)\]")
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_FETCH = re.compile(rb"\* \d+ FETCH \((.*)\)\r\n")


@pytest.fixture(scope="module")
def dovecot() -> Iterator[DovecotServer]:
    yield from dovecot_peer(("imap",), password=PASSWORD)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ImapEnv]:
    async with imap_server(tmp_path) as running:
        yield running


def _fetches(lines: list[bytes], since: int) -> dict[int, frozenset[str]]:
    """UID -> FLAGS of the FETCH responses, each checked to carry a MODSEQ above ``since``."""
    found: dict[int, frozenset[str]] = {}
    for line in lines:
        match = _FETCH.fullmatch(line)
        if match is None:
            continue
        items = match.group(1).decode()
        uid = re.search(r"UID (\d+)", items)
        flags = re.search(r"FLAGS \(([^)]*)\)", items)
        modseq = re.search(r"MODSEQ \((\d+)\)", items)
        assert uid is not None, line
        assert flags is not None, line
        assert modseq is not None, line
        assert int(modseq.group(1)) > since, line
        found[int(uid.group(1))] = frozenset(f for f in flags.group(1).split() if f != "\\Recent")
    return found


def _vanished(lines: list[bytes]) -> list[bytes]:
    return [line for line in lines if line.startswith(b"* VANISHED")]


def _history(port: int) -> dict[str, Any]:
    """Six messages; a client syncs; another session flags and expunges; the client comes back."""
    client = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    client.login(ALICE, PASSWORD)
    for n in range(1, 7):
        client.append("INBOX", None, None, message(n))  # type: ignore[arg-type]
    client.logout()
    first = login_socket(port)
    try:
        exchange(first, b"e ENABLE QRESYNC")
        selected = exchange(first, b"s SELECT INBOX")
    finally:
        first.close()
    [modseq] = [int(m.group(1)) for line in selected if (m := _MODSEQ.search(line))]
    [validity] = [int(m.group(1)) for line in selected if (m := _UIDVALIDITY.search(line))]
    other = login_socket(port)
    try:
        exchange(other, b"s SELECT INBOX")
        exchange(other, b"a STORE 2 +FLAGS.SILENT (\\Seen)")
        exchange(other, b"b STORE 3,5 +FLAGS.SILENT (\\Deleted)")
        exchange(other, b"c EXPUNGE")
        exchange(other, b"d UID STORE 6 +FLAGS.SILENT ($Label)")
    finally:
        other.close()
    back = login_socket(port)
    try:
        exchange(back, b"e ENABLE QRESYNC")
        resync = exchange(back, b"s SELECT INBOX (QRESYNC (%d %d))" % (validity, modseq))
        known = exchange(back, b"k SELECT INBOX (QRESYNC (%d %d 1:4))" % (validity, modseq))
        fetched = exchange(back, b"f UID FETCH 1:6 (FLAGS) (CHANGEDSINCE %d VANISHED)" % modseq)
        exchange(back, b"d UID STORE 1,4 +FLAGS.SILENT (\\Deleted)")
        expunged = exchange(back, b"x EXPUNGE")
    finally:
        back.close()
    return {
        "resync vanished": _vanished(resync),
        "resync fetch": _fetches(resync, modseq),
        "known-uids vanished": _vanished(known),
        "known-uids fetch": _fetches(known, modseq),
        "uid fetch vanished": _vanished(fetched),
        "uid fetch": _fetches(fetched, modseq),
        "expunge": [line for line in expunged if not line.startswith(b"x OK")],
        "expunge code": bool(_MODSEQ.search(expunged[-1])),
    }


async def test_qresync_answers_match_dovecot(env: ImapEnv, dovecot: DovecotServer) -> None:
    ours = await asyncio.to_thread(_history, env.plain[1])
    theirs = await asyncio.to_thread(_history, dovecot.imap)
    assert ours == theirs
    assert ours["resync vanished"] == [b"* VANISHED (EARLIER) 3,5\r\n"]
    assert ours["resync fetch"] == {2: frozenset({"\\Seen"}), 6: frozenset({"$Label"})}
    assert ours["expunge"] == [b"* VANISHED 1,4\r\n"]
