"""Differential test of IMAPSIEVE (RFC 6785) against Dovecot 2.3 with Pigeonhole's imap_sieve
plugin: the same script, named by the same /shared/imapsieve/script annotation, and the same APPEND,
COPY, MOVE, STORE and FETCH (setting \\Seen) on both servers must leave the same flags on the same
messages and the same copies filed into another mailbox (a fileinto without :copy marking the
original \\Deleted). Not compared: a fileinto without keep on a FLAG event, where Dovecot leaves the
message as it is and pochta marks it \\Deleted as RFC 6785 §3.3 says for every event."""

from __future__ import annotations

import asyncio
import base64
import re
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from dovecot_env import DovecotServer, dovecot_peer
from imap_env import ALICE, PASSWORD, ImapEnv, exchange, imap_server, login_socket, message, send_append
from managesieve_env import SieveClient, literal

pytestmark = pytest.mark.interop

CONF = """
mail_attribute_dict = file:%h/dovecot-attributes
protocol imap {
  imap_metadata = yes
  mail_plugins = $mail_plugins imap_sieve
}
plugin {
  sieve = file:~/sieve;active=~/.dovecot.sieve
  sieve_plugins = sieve_imapsieve
  imapsieve_url = sieve://localhost  # without it Dovecot runs no user script
}
"""

SCRIPT = (
    'require ["imapsieve", "environment", "imap4flags", "fileinto", "copy"];\r\n'
    'if environment :is "imap.cause" "APPEND" { addflag "$Appended"; }\r\n'
    'if environment :is "imap.cause" "COPY" { addflag "$Copied"; fileinto :copy "Filed"; }\r\n'
    'if allof (environment :is "imap.cause" "FLAG", hasflag "\\\\Flagged") { addflag "$Important"; }\r\n'
    'if allof (environment :is "imap.cause" "FLAG",\r\n'
    '          environment :contains "imap.changedflags" "\\\\Seen") { addflag "$Read"; }\r\n'
    'if allof (environment :is "imap.cause" "APPEND", environment :is "imap.mailbox" "Sorted") {\r\n'
    '  fileinto "Filed";\r\n}\r\n'
)

# The IMAP session run on both servers (INBOX has no script: its messages are the COPY sources).
SESSION = [
    b"c1 CREATE Projects",
    b"c2 CREATE Filed",
    b'm SETMETADATA Projects (/shared/imapsieve/script "events")',
    b"s SELECT INBOX",
    b"k1 COPY 1 Projects",
    b"k2 MOVE 2 Projects",
    b"s2 SELECT Projects",
    b"f UID STORE 1:* +FLAGS (\\Flagged)",
    b"r FETCH 1 BODY[TEXT]",
    b"c3 CREATE Sorted",
    b'm2 SETMETADATA Sorted (/shared/imapsieve/script "events")',
]
_FLAGS = re.compile(rb"\* \d+ FETCH \(.*FLAGS \(([^)]*)\)")


@pytest.fixture(scope="module")
def dovecot() -> Iterator[DovecotServer]:
    yield from dovecot_peer(("imap", "managesieve"), password=PASSWORD, extra=CONF)


@pytest.fixture
async def pochta(tmp_path: Path) -> AsyncIterator[ImapEnv]:
    async with imap_server(tmp_path) as env:
        yield env


def _put_script(port: int) -> None:
    client = SieveClient(socket.create_connection(("127.0.0.1", port), timeout=10))
    try:
        client.response()
        token = base64.b64encode(f"\0{ALICE}\0{PASSWORD}".encode())
        assert client.command(b'AUTHENTICATE "PLAIN" "' + token + b'"').startswith(b"OK")
        reply = client.command(b'PUTSCRIPT "events" ' + literal(SCRIPT.encode()))
        assert reply.startswith(b"OK"), reply
    finally:
        client.close()


def _flags(sock: socket.socket, mailbox: bytes) -> list[set[bytes]]:
    assert exchange(sock, b"x SELECT " + mailbox)[-1].startswith(b"x OK")
    lines = exchange(sock, b"y FETCH 1:* (FLAGS)")
    found = [match.group(1) for line in lines if (match := _FLAGS.match(line))]
    return [set(flags.split()) - {b"\\Recent"} for flags in found]


def _run(port: int) -> dict[str, list[set[bytes]]]:
    sock = login_socket(port)
    try:
        for n in (1, 2):
            assert send_append(sock, b"a APPEND INBOX", [(b"", message(n))])[-1].startswith(b"a OK")
        for line in SESSION:
            reply = exchange(sock, line)
            assert not reply[-1].startswith(line.split()[0] + b" BAD"), (line, reply)
        for box, n in ((b"Projects", 3), (b"Sorted", 4)):
            appended = send_append(sock, b"a APPEND " + box, [(b"", message(n))])
            assert appended[-1].startswith(b"a OK"), appended
        return {box.decode(): _flags(sock, box) for box in (b"INBOX", b"Projects", b"Filed", b"Sorted")}
    finally:
        sock.close()


async def test_imapsieve_effects_match_dovecot(dovecot: DovecotServer, pochta: ImapEnv) -> None:
    await asyncio.to_thread(_put_script, dovecot.managesieve)
    await pochta.store.put_sieve_script(pochta.alice.id, "events", SCRIPT, pochta.settings.sieve.quota())
    theirs = await asyncio.to_thread(_run, dovecot.imap)
    ours = await asyncio.to_thread(_run, pochta.plain[1])
    assert ours == theirs, dovecot.log_text()[-3000:]
