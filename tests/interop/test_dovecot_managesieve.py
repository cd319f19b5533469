"""Differential ManageSieve: the same commands against Dovecot's managesieve (Pigeonhole) and
pochta; where RFC 5804 fixes the answer (status, response code, data lines) the two must agree.
Human texts differ and are not compared."""

from __future__ import annotations

import asyncio
import base64
import re
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from dovecot_env import DovecotServer, dovecot_peer
from managesieve_env import ALICE, PASSWORD, SieveClient, literal, managesieve_server

pytestmark = pytest.mark.interop

_SIEVE_PLUGIN = """\
plugin {
  sieve = file:~/sieve;active=~/.dovecot.sieve
}
"""
_FINAL = re.compile(rb'^(OK|NO|BYE)(?: \(([^ )]+)(?: ("[^"]*"))?\))?')

# Commands whose answers RFC 5804 fixes, in an order that exercises each response code.
SESSION: list[bytes] = [
    b'NOOP "probe"',
    b"LISTSCRIPTS",
    b'PUTSCRIPT "one" ' + literal(b'require "fileinto";\r\nfileinto "INBOX";\r\n'),
    b'PUTSCRIPT "two" "keep;"',
    b'PUTSCRIPT "bad" "fileinto \\"x\\";"',
    b'CHECKSCRIPT "keep;"',
    b'CHECKSCRIPT "if true {"',
    b'HAVESPACE "three" 100',
    b'SETACTIVE "one"',
    b"LISTSCRIPTS",
    b'GETSCRIPT "two"',
    b'GETSCRIPT "nothing"',
    b'DELETESCRIPT "one"',
    b'DELETESCRIPT "nothing"',
    b'RENAMESCRIPT "nothing" "x"',
    b'RENAMESCRIPT "one" "two"',
    b'RENAMESCRIPT "one" "first"',
    b"LISTSCRIPTS",
    b'SETACTIVE "nothing"',
    b'SETACTIVE ""',
    b"LISTSCRIPTS",
    b'DELETESCRIPT "first"',
    b'DELETESCRIPT "two"',
    b"LISTSCRIPTS",
    b"LOGOUT",
]


@pytest.fixture
def dovecot() -> Iterator[DovecotServer]:
    yield from dovecot_peer(["managesieve"], password=PASSWORD, extra=_SIEVE_PLUGIN)


def shape(lines: list[bytes]) -> tuple[list[bytes], bytes, bytes | None, bytes | None]:
    """Data lines verbatim, then the final line's status, response code and code argument."""
    *data, final = lines
    match = _FINAL.match(final)
    assert match is not None, lines
    return data, match.group(1), match.group(2), match.group(3)


def transcript(port: int) -> list[tuple[list[bytes], bytes, bytes | None, bytes | None]]:
    client = SieveClient(socket.create_connection(("127.0.0.1", port), timeout=10))
    try:
        client.response()
        token = base64.b64encode(f"\0{ALICE}\0{PASSWORD}".encode())
        login = client.command(b'AUTHENTICATE "PLAIN" "' + token + b'"')
        assert login.startswith(b"OK"), login
        shapes = []
        for command in SESSION:
            client.send(command + b"\r\n")
            shapes.append(shape(client.response_lines()))
        return shapes
    finally:
        client.close()


@pytest.fixture
async def pochta(tmp_path: Path) -> AsyncIterator[int]:
    async with managesieve_server(tmp_path) as env:
        yield env.port("managesieve")


async def test_answers_match_dovecot(dovecot: DovecotServer, pochta: int) -> None:
    theirs = await asyncio.to_thread(transcript, dovecot.managesieve)
    ours = await asyncio.to_thread(transcript, pochta)
    for command, their, our in zip(SESSION, theirs, ours, strict=True):
        if command == b"LISTSCRIPTS":  # RFC 5804 §2.7 sets no order
            their[0].sort()
            our[0].sort()
        assert our == their, command


async def test_capability_names_match_dovecot(dovecot: DovecotServer, pochta: int) -> None:
    def names(port: int) -> set[bytes]:
        client = SieveClient(socket.create_connection(("127.0.0.1", port), timeout=10))
        try:
            greeting = client.response()
        finally:
            client.close()
        return {line.split(b'"')[1] for line in greeting.split(b"\r\n") if line.startswith(b'"')}

    theirs = await asyncio.to_thread(names, dovecot.managesieve)
    ours = await asyncio.to_thread(names, pochta)
    # Dovecot's test peer runs without TLS (no STARTTLS) and has no UNAUTHENTICATE; pochta offers
    # both. Every capability Dovecot names, pochta names too.
    assert theirs - ours == set()
    assert ours - theirs <= {b"STARTTLS", b"UNAUTHENTICATE", b"MAXREDIRECTS"}
