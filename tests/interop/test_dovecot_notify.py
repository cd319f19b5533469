"""NOTIFY (RFC 5465) against Dovecot 2.3 (tests/dovecot_env.py, with "/" as its hierarchy separator):
one session asks for notifications, another creates, fills, renames, (un)subscribes and deletes
mailboxes and expunges in the selected one; everything the first session is told, in order, must be
the same on both servers modulo UIDVALIDITY.

The selected mailbox is watched without FlagChange: the STORE of \\Deleted is told to neither
before the EXPUNGE. Normalised before the comparison: UIDVALIDITY values (each server's own), the
tagged lines' text (Dovecot adds timings), RECENT responses (when Dovecot tells the count again),
and \\HasChildren / \\HasNoChildren, which pochta adds to the LIST of MailboxName (RFC 5465 §5.4:
SHOULD; Dovecot leaves them out, docs/imap.md). Timing is not compared: Dovecot holds the selected
mailbox's EXPUNGE until the next command even with SELECTED and tells a RENAME a moment later;
pochta tells both at once. Changes the watching session makes itself are not part of the
transcript (Dovecot tells a session of its own changes, pochta does not: §5 SHOULD NOT)."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from dovecot_env import DovecotServer, dovecot_peer
from imap_env import PASSWORD, ImapEnv, exchange, imap_server, login_socket, read_line

pytestmark = pytest.mark.interop

SLASH_NAMESPACE = "namespace inbox {\n  inbox = yes\n  separator = /\n}\n"
QUIET = 1.5  # seconds without a line: the watching session has been told everything so far


@pytest.fixture(scope="module")
def dovecot() -> Iterator[DovecotServer]:
    yield from dovecot_peer(("imap",), password=PASSWORD, extra=SLASH_NAMESPACE)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[ImapEnv]:
    async with imap_server(tmp_path) as running:
        yield running


def _told(sock: socket.socket) -> list[bytes]:
    """What the server sends unasked until it has been quiet for ``QUIET`` seconds."""
    sock.settimeout(QUIET)
    out = []
    try:
        while line := read_line(sock):
            out.append(line)
    except TimeoutError:
        pass
    sock.settimeout(10)
    return out


def _append(sock: socket.socket, mailbox: bytes, flags: bytes = b"") -> None:
    data = b"Subject: notify\r\n\r\nhello\r\n"
    flags = b" (" + flags + b")" if flags else b""
    sock.sendall(b"A APPEND %s%s {%d+}\r\n%s\r\n" % (mailbox, flags, len(data), data))
    assert read_line(sock).startswith(b"A OK")


def _normalised(lines: list[bytes]) -> list[bytes]:
    out = []
    for line in lines:
        if re.fullmatch(rb"\* \d+ RECENT\r\n", line):
            continue
        line = re.sub(rb"UIDVALIDITY \d+", b"UIDVALIDITY *", line)
        line = re.sub(rb"^([A-Z]\w*) (OK|NO|BAD)( \[[^]]*\])? .*\r\n", rb"\1 \2\3", line)
        if line.startswith(b"* LIST ("):
            line = re.sub(rb" ?\\Has(No)?Children", b"", line).replace(b"( ", b"(")
        out.append(line)
    return out


def _transcript(port: int) -> list[bytes]:
    watcher, changer = login_socket(port), login_socket(port)
    try:
        for name in (b"Lists", b"Lists/a"):
            assert exchange(changer, b"C CREATE " + name)[-1].startswith(b"C OK")
        assert exchange(watcher, b"S SELECT INBOX")[-1].startswith(b"S OK")
        told = exchange(
            watcher,
            b"N NOTIFY SET (selected (MessageNew (UID FLAGS) MessageExpunge))"
            b" (mailboxes Lists/a (MessageNew MessageExpunge))"
            b" (subtree Lists (MailboxName SubscriptionChange))",
        )
        _append(changer, b"Lists/a")  # STATUS (RFC 5465 §5.2)
        told += _told(watcher)
        _append(changer, b"INBOX", b"\\Flagged")  # EXISTS and FETCH (§5.2)
        told += _told(watcher)
        for line in (
            b"C CREATE Lists/b",  # MailboxName (§5.4)
            b"R RENAME Lists/b Lists/c",
            b"U SUBSCRIBE Lists/c",  # SubscriptionChange (§5.5)
            b"U UNSUBSCRIBE Lists/c",
            b"D DELETE Lists/c",
            b"S SELECT INBOX",
            b"F STORE 1 +FLAGS.SILENT (\\Deleted)",
            b"X EXPUNGE",  # EXPUNGE (§5.3)
        ):
            assert exchange(changer, line)[-1].split(b" ")[1] == b"OK", line
            told += _told(watcher)
        told += exchange(watcher, b"Z NOOP")
    finally:
        watcher.close()
        changer.close()
    # The initial STATUS (RFC 5465 §3.1), in a session of its own: Dovecot does not tell a session
    # that gave a second NOTIFY SET of renames at all, and would send STATUS for mailboxes watched
    # for mailbox events only, which §3.1 does not ask for (pochta does not).
    first = login_socket(port)
    try:
        told += exchange(
            first, b"T NOTIFY SET STATUS (mailboxes (Lists/a INBOX) (MessageNew MessageExpunge))"
        )
    finally:
        first.close()
    return _normalised(told)


async def test_notify_transcript_matches_dovecot(env: ImapEnv, dovecot: DovecotServer) -> None:
    ours = await asyncio.to_thread(_transcript, env.plain[1])
    theirs = await asyncio.to_thread(_transcript, dovecot.imap)
    assert ours == theirs
    assert ours == [
        b"N OK",
        b"* STATUS Lists/a (MESSAGES 1 UIDNEXT 2 UIDVALIDITY * UNSEEN 1)\r\n",
        b"* 1 EXISTS\r\n",
        b"* 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent))\r\n",
        b'* LIST () "/" Lists/b\r\n',
        b'* LIST () "/" Lists/c ("OLDNAME" (Lists/b))\r\n',
        b'* LIST (\\Subscribed) "/" Lists/c\r\n',
        b'* LIST () "/" Lists/c\r\n',
        b'* LIST (\\NonExistent) "/" Lists/c\r\n',
        b"* 1 EXPUNGE\r\n",
        b"Z OK",
        b"* STATUS INBOX (MESSAGES 0 UIDNEXT 2 UIDVALIDITY * UNSEEN 0)\r\n",
        b"* STATUS Lists/a (MESSAGES 1 UIDNEXT 2 UIDVALIDITY * UNSEEN 1)\r\n",
        b"T OK",
    ]
