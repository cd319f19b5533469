"""COMPRESS=DEFLATE (RFC 4978) end to end: imaplib over DEFLATE (plain, after STARTTLS, on IMAPS),
raw transcripts of the errors, IDLE pushes and pipelining through the compressor, a decompression
bomb meeting the line and literal limits, broken input, and the switch that turns it off."""

from __future__ import annotations

import asyncio
import socket
import ssl
import zlib
from pathlib import Path

import pytest

from imap_env import (
    DeflateSocket,
    ImapEnv,
    exchange,
    imap_server,
    imap_session,
    imap_settings,
    message,
    read_line,
    read_until,
)


def compressed(env: ImapEnv) -> DeflateSocket:
    sock = imap_session(env, select=b"")
    assert exchange(sock, b"Z COMPRESS DEFLATE") == [b"Z OK DEFLATE active\r\n"]
    return DeflateSocket(sock)


@pytest.mark.parametrize("kind", ["plain", "starttls"])
async def test_imaplib_session_over_deflate(env: ImapEnv, kind: str) -> None:
    text = b"".join(b"Line %d of a long and very repetitive body.\r\n" % n for n in range(20000))
    await env.deliver(message(1, text))
    await env.deliver(message(2))
    await env.seen_elsewhere()

    def run() -> tuple[list[bytes], bytes, int, list[bytes]]:
        client = env.login_deflate(kind)
        typ, _ = client.select("INBOX")
        assert typ == "OK"
        typ, data = client.fetch("1:2", "(BODY.PEEK[])")
        assert typ == "OK", data
        bodies = [piece[1] for piece in data if isinstance(piece, tuple)]
        typ, data = client.append("INBOX", "(\\Seen)", None, message(3, b"appended over deflate\r\n"))
        assert typ == "OK", data
        # Past imap.max_literal_size: the literal is spooled to a file as it is inflated.
        typ, data = client.append("INBOX", None, None, message(4, text))
        assert typ == "OK", data
        typ, data = client.fetch("4", "(RFC822.SIZE)")
        assert typ == "OK", data
        assert b"RFC822.SIZE %d" % len(message(4, text)) in data[0]
        typ, data = client.fetch("3", "(FLAGS BODY.PEEK[TEXT])")
        assert typ == "OK", data
        assert client.deflate is not None
        wire = client.deflate.wire_in
        typ, caps = client.capability()
        client.logout()
        return bodies, data[0][1], wire, caps

    bodies, appended, wire, caps = await asyncio.to_thread(run)
    assert bodies == [message(1, text), message(2)]
    assert appended == b"appended over deflate\r\n"
    assert wire < len(text) // 10  # it did compress: this body goes to well under a tenth
    assert b"COMPRESS=DEFLATE" in caps[0].split()


async def test_compress_on_imaps(env: ImapEnv) -> None:
    await env.deliver(message(1))

    def run() -> list[list[bytes]]:
        host, port = env.tls
        plain = socket.create_connection((host, port), timeout=10)
        raw = env.client_context().wrap_socket(plain, server_hostname=host)
        assert isinstance(raw, ssl.SSLSocket)
        assert read_line(raw).startswith(b"* OK")
        exchange(raw, b"a LOGIN alice@example.org PASSWORD")
        assert exchange(raw, b"b COMPRESS DEFLATE") == [b"b OK DEFLATE active\r\n"]
        sock = DeflateSocket(raw)
        got = [
            exchange(sock, b"c EXAMINE INBOX"),
            exchange(sock, b"d FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])"),
        ]
        got.append(exchange(sock, b"e LOGOUT"))
        raw.close()
        return got

    examine, fetch, logout = await asyncio.to_thread(run)
    assert examine[-1].startswith(b"c OK [READ-ONLY]")
    assert fetch[-1] == b"d OK FETCH completed\r\n"
    assert b"Subject: message 1\r\n" in fetch
    assert logout == [b"* BYE Logging out\r\n", b"e OK LOGOUT completed\r\n"]


async def test_errors(env: ImapEnv) -> None:
    def run() -> list[list[bytes]]:
        sock = env.raw()
        got = [exchange(sock, b"a COMPRESS DEFLATE")]  # RFC 4978 §5: command-auth
        exchange(sock, b"b LOGIN alice@example.org PASSWORD")
        got.append(exchange(sock, b"c COMPRESS"))
        got.append(exchange(sock, b"d COMPRESS LZW"))  # RFC 4978 §3: unknown argument is BAD
        got.append(exchange(sock, b"e COMPRESS DEFLATE EXTRA"))
        got.append(exchange(sock, b"f NOOP"))  # nothing of the above turned compression on
        got.append(exchange(sock, b"g compress deflate"))  # case-insensitive (RFC 4978 §5)
        deflated = DeflateSocket(sock)
        got.append(exchange(deflated, b"h COMPRESS DEFLATE"))  # already active
        got.append(exchange(deflated, b"i NOOP"))
        sock.close()
        return got

    before_login, missing, unknown, extra, noop, ok, again, after = await asyncio.to_thread(run)
    assert before_login == [b"a BAD Log in first\r\n"]
    assert missing[0].startswith(b"c BAD ")
    assert unknown == [b"d BAD Unknown compression mechanism LZW\r\n"]
    assert extra[0].startswith(b"e BAD ")
    assert noop == [b"f OK NOOP completed\r\n"]
    assert ok == [b"g OK DEFLATE active\r\n"]
    assert again == [b"h NO [COMPRESSIONACTIVE] DEFLATE is already active\r\n"]
    assert after == [b"i OK NOOP completed\r\n"]


async def test_idle_push_and_pipelining_are_flushed(env: ImapEnv) -> None:
    """Z_SYNC_FLUSH after each burst: an IDLE update reaches the client at once, and pipelined
    commands in one compressed write each get their reply."""
    await env.deliver(message(1))
    await env.seen_elsewhere()
    sock = await asyncio.to_thread(compressed, env)
    try:
        lines = await asyncio.to_thread(exchange, sock, b"s SELECT INBOX")
        assert lines[-1].startswith(b"s OK [READ-WRITE]")
        await asyncio.to_thread(sock.sendall, b"i IDLE\r\n")
        assert await asyncio.to_thread(read_line, sock) == b"+ idling\r\n"
        reader = asyncio.ensure_future(asyncio.to_thread(read_line, sock))
        await asyncio.sleep(0.05)
        await env.deliver(message(2))
        assert await asyncio.wait_for(reader, 5) == b"* 2 EXISTS\r\n"
        done = await asyncio.to_thread(exchange, sock, b"DONE", b"i")
        assert done[-1] == b"i OK IDLE terminated\r\n"

        def pipelined() -> list[bytes]:
            sock.sendall(b"p1 NOOP\r\np2 FETCH 2 (FLAGS)\r\np3 UID SEARCH ALL\r\n")
            return read_until(sock, b"p1") + read_until(sock, b"p2") + read_until(sock, b"p3")

        got = await asyncio.to_thread(pipelined)
    finally:
        sock.close()
    assert b"p1 OK NOOP completed\r\n" in got
    assert b"p2 OK FETCH completed\r\n" in got
    assert b"* SEARCH 1 2\r\n" in got
    assert got[-1] == b"p3 OK UID SEARCH completed\r\n"


async def test_decompression_bomb_meets_the_line_and_literal_limits(tmp_path: Path) -> None:
    settings = imap_settings(limits={"max_line_length": 4096}, imap={"compress_max_inflate": 4096})
    async with imap_server(tmp_path, settings) as env:

        def run() -> tuple[list[bytes], list[bytes], bytes, int]:
            sock = compressed(env)
            try:
                # A literal over imap.max_literal_size (64 KiB) in a command other than APPEND: read,
                # dropped, TOOBIG, and the session goes on.
                literal = exchange(sock, b"c SELECT {200000+}\r\n" + b"y" * 200000, b"c")
                after = exchange(sock, b"d NOOP")
                # 4 MiB of one octet on one line: about 4 KiB compressed, sent in one piece.
                bomb = sock.compressed(b"a NOOP " + b"x" * (4 * 1024 * 1024) + b"\r\n")
                sock.raw.sendall(bomb)
                rest = b""
                while chunk := sock.recv(4096):
                    rest += chunk
                return literal, after, rest, len(bomb)
            finally:
                sock.close()

        literal, after_literal, rest, size = await asyncio.to_thread(run)
    assert b"[TOOBIG]" in literal[-1]
    assert after_literal == [b"d OK NOOP completed\r\n"]
    assert size < 8192
    assert rest == b"* BYE [TOOBIG] Command line too long\r\n"


async def test_broken_stream_ends_the_session(env: ImapEnv) -> None:
    def run() -> bytes:
        sock = compressed(env)
        try:
            sock.raw.sendall(b"\xff" * 32)  # a reserved DEFLATE block type
            rest = b""
            while chunk := sock.recv(4096):
                rest += chunk
            return rest
        finally:
            sock.close()

    assert await asyncio.to_thread(run) == b"* BYE Invalid compressed data\r\n"


async def test_plaintext_sent_before_the_ok_is_dropped(env: ImapEnv) -> None:
    def run() -> tuple[list[bytes], list[bytes]]:
        sock = imap_session(env, select=b"")
        sock.sendall(b"z COMPRESS DEFLATE\r\nevil DELETE INBOX.x\r\n")  # pipelined in clear: illegal
        ok = read_until(sock, b"z")
        deflated = DeflateSocket(sock)
        try:
            return ok, exchange(deflated, b"n NOOP")
        finally:
            sock.close()

    ok, after = await asyncio.to_thread(run)
    assert ok == [b"z OK DEFLATE active\r\n"]
    assert after == [b"n OK NOOP completed\r\n"]


async def test_turned_off_by_config(tmp_path: Path) -> None:
    async with imap_server(tmp_path, imap_settings(imap={"compress": False})) as env:

        def run() -> tuple[list[bytes], list[bytes]]:
            sock = imap_session(env, select=b"")
            try:
                return exchange(sock, b"c CAPABILITY"), exchange(sock, b"z COMPRESS DEFLATE")
            finally:
                sock.close()

        caps, refused = await asyncio.to_thread(run)
    assert b"COMPRESS=DEFLATE" not in caps[0]
    assert refused == [b"z NO [CANNOT] COMPRESS is turned off here\r\n"]


def test_deflate_socket_round_trip() -> None:
    """The test client's own DEFLATE: what it sends inflates back (so a failure above is the server's)."""
    a, b = socket.socketpair()
    try:
        sender, receiver = DeflateSocket(a), DeflateSocket(b)
        sender.sendall(b"hello\r\n" * 100)
        got = b""
        while len(got) < 700:
            got += receiver.recv(1000)
        assert got == b"hello\r\n" * 100
        assert zlib.decompressobj(-zlib.MAX_WBITS).decompress(sender.compressed(b"x")) == b"x"
    finally:
        a.close()
        b.close()
