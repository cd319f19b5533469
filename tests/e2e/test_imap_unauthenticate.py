"""UNAUTHENTICATE (RFC 8437): back to the not-authenticated state with nothing of the first login
left (selected mailbox and its updates, ENABLE, ``$``, the account), a new login as another user,
pipelining with AUTHENTICATE, the end of COMPRESS, and the not-authenticated timers."""

from __future__ import annotations

import asyncio
import base64
import socket
from pathlib import Path

from imap_env import (
    BOB,
    PASSWORD,
    DeflateSocket,
    ImapEnv,
    exchange,
    imap_server,
    imap_session,
    imap_settings,
    message,
    open_session,
    read_line,
    read_until,
)


async def test_nothing_of_the_first_user_leaks(env: ImapEnv) -> None:
    await env.deliver(message(1), flags=["$AliceOnly"])
    await env.deliver(message(2))
    await env.deliver(message(3, b"bob's own\r\n"), account=env.bob)
    await env.seen_elsewhere()

    def first_part(sock: socket.socket) -> list[list[bytes]]:
        return [
            exchange(sock, b"e ENABLE UTF8=ACCEPT"),
            exchange(sock, b"s SELECT INBOX"),
            exchange(sock, b"r SEARCH RETURN (SAVE) ALL"),
            exchange(sock, b"u UNAUTHENTICATE"),
            exchange(sock, b"f FETCH 1 FLAGS"),  # no mailbox, no login: BAD
            exchange(sock, b'l LIST "" *'),
            exchange(sock, b"c CAPABILITY"),
        ]

    def second_part(sock: socket.socket) -> list[list[bytes]]:
        return [
            exchange(sock, b"b LOGIN bob@example.org PASSWORD"),
            exchange(sock, b"e2 ENABLE UTF8=ACCEPT"),  # enabled anew: it was reset
            exchange(sock, b"s2 SELECT INBOX"),
            exchange(sock, b"d FETCH $ (FLAGS)"),
            exchange(sock, b"n NOOP"),
        ]

    sock = await open_session(env, select=b"")
    try:
        enable, select, save, unauth, fetch, listing, caps = await asyncio.to_thread(first_part, sock)
        await env.deliver(message(4))  # to alice: bob's session must not hear of it
        login, enable2, select2, saved, noop = await asyncio.to_thread(second_part, sock)
    finally:
        sock.close()
    assert enable[0] == b"* ENABLED UTF8=ACCEPT\r\n"
    assert select[-1].startswith(b"s OK [READ-WRITE]")
    assert save == [b"r OK SEARCH completed\r\n"]
    assert unauth == [b"u OK UNAUTHENTICATE completed\r\n"]  # no EXPUNGE, no CLOSED
    assert fetch == [b"f BAD Log in first\r\n"]
    assert listing == [b"l BAD Log in first\r\n"]
    assert b"AUTH=PLAIN" in caps[0]
    assert b"UNAUTHENTICATE" in caps[0]
    assert login[-1].startswith(b"b OK [CAPABILITY ")
    assert enable2 == [b"* ENABLED UTF8=ACCEPT\r\n", b"e2 OK ENABLE completed\r\n"]
    assert b"* 1 EXISTS\r\n" in select2
    assert not any(b"$AliceOnly" in line for line in select2)  # alice's keywords are not bob's
    assert saved == [b"d OK FETCH completed\r\n"]  # RFC 8437 §4.1: $ is empty
    assert noop == [b"n OK NOOP completed\r\n"]  # alice's new message is not announced


async def test_pipelined_with_authenticate_and_idle_released(env: ImapEnv) -> None:
    """RFC 8437 §3: UNAUTHENTICATE may be pipelined with a SASL-IR AUTHENTICATE (one round trip)."""
    initial = base64.b64encode(b"\0" + BOB.encode() + b"\0" + PASSWORD.encode())

    def run() -> tuple[list[bytes], list[bytes], list[bytes]]:
        sock = imap_session(env, select=b"")
        try:
            exchange(sock, b"s SELECT INBOX")
            sock.sendall(b"u UNAUTHENTICATE\r\na AUTHENTICATE PLAIN " + initial + b"\r\n")
            unauth = read_until(sock, b"u")
            auth = read_until(sock, b"a")
            return unauth, auth, exchange(sock, b"x STATUS INBOX (MESSAGES)")
        finally:
            sock.close()

    await env.deliver(message(1), account=env.bob)
    unauth, auth, status = await asyncio.to_thread(run)
    assert unauth == [b"u OK UNAUTHENTICATE completed\r\n"]
    assert auth[-1].startswith(b"a OK [CAPABILITY ")
    assert status[0] == b"* STATUS INBOX (MESSAGES 1)\r\n"  # bob's INBOX


async def test_compress_ends_with_it(env: ImapEnv) -> None:
    """RFC 8437 §4.1: COMPRESS ends after the OK; the next login (and a new COMPRESS) work."""

    def run() -> tuple[list[bytes], bytes, list[bytes], list[bytes]]:
        sock = imap_session(env, select=b"")
        try:
            assert exchange(sock, b"z COMPRESS DEFLATE") == [b"z OK DEFLATE active\r\n"]
            deflated = DeflateSocket(sock)
            unauth = exchange(deflated, b"u UNAUTHENTICATE")
            # The server finished its DEFLATE stream after the OK: nothing more comes through it.
            assert deflated.read_to_end() == b""
            login = exchange(sock, b"b LOGIN bob@example.org PASSWORD")  # plain again
            again = exchange(sock, b"z2 COMPRESS DEFLATE")
            return unauth, login[-1], again, exchange(DeflateSocket(sock), b"n NOOP")
        finally:
            sock.close()

    unauth, login, again, noop = await asyncio.to_thread(run)
    assert unauth == [b"u OK UNAUTHENTICATE completed\r\n"]
    assert login.startswith(b"b OK [CAPABILITY ")
    assert again == [b"z2 OK DEFLATE active\r\n"]
    assert noop == [b"n OK NOOP completed\r\n"]


async def test_errors_and_the_login_deadline(tmp_path: Path) -> None:
    settings = imap_settings(server={"login_timeout": 1.0, "idle_timeout_unauthenticated": 10.0})
    async with imap_server(tmp_path, settings) as env:

        def run() -> tuple[list[bytes], list[bytes], list[bytes], bytes]:
            sock = env.raw()
            try:
                before = exchange(sock, b"a UNAUTHENTICATE")  # not authenticated yet: BAD (§3)
                exchange(sock, b"L LOGIN alice@example.org PASSWORD")
                extra = exchange(sock, b"b UNAUTHENTICATE now")
                ok = exchange(sock, b"c UNAUTHENTICATE")
                return before, extra, ok, read_line(sock)  # then the login deadline runs again
            finally:
                sock.close()

        before, extra, ok, bye = await asyncio.to_thread(run)
    assert before == [b"a BAD Log in first\r\n"]
    assert extra[0].startswith(b"b BAD ")
    assert ok == [b"c OK UNAUTHENTICATE completed\r\n"]
    assert bye == b"* BYE Autologout; not logged in within 1 second\r\n"


async def test_client_finishing_its_stream_may_pipeline_the_next_login(env: ImapEnv) -> None:
    """The client ends its DEFLATE stream after UNAUTHENTICATE (RFC 8437 §4.1) and sends LOGIN in
    clear in the same write: what follows the end of the stream is read as plain input."""

    def run() -> tuple[list[bytes], list[bytes]]:
        sock = imap_session(env, select=b"")
        try:
            assert exchange(sock, b"z COMPRESS DEFLATE") == [b"z OK DEFLATE active\r\n"]
            deflated = DeflateSocket(sock)
            end = deflated.finished(b"u UNAUTHENTICATE\r\n")
            sock.sendall(end + b"b LOGIN bob@example.org PASSWORD\r\n")
            unauth = read_until(deflated, b"u")
            assert deflated.read_to_end() == b""
            return unauth, read_until(sock, b"b")
        finally:
            sock.close()

    unauth, login = await asyncio.to_thread(run)
    assert unauth == [b"u OK UNAUTHENTICATE completed\r\n"]
    assert login[-1].startswith(b"b OK [CAPABILITY ")
