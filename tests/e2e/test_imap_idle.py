"""IDLE (RFC 2177, RFC 9051 §6.3.13): pushes of deliveries, flag changes and expunges by others, DONE,
garbage instead of DONE, pipelining after DONE, and a server shutdown while idling."""

from __future__ import annotations

import asyncio
import socket
import time

import imapclient

from imap_env import ALICE, PASSWORD, ImapEnv, ask, exchange, message, open_session, read_line


async def line(sock: socket.socket) -> bytes:
    return await asyncio.to_thread(read_line, sock)


async def start_idle(sock: socket.socket, tag: bytes = b"i") -> None:
    await asyncio.to_thread(sock.sendall, tag + b" IDLE\r\n")
    assert await line(sock) == b"+ idling\r\n"  # RFC 2177 §3


async def done(sock: socket.socket, tag: bytes = b"i") -> list[bytes]:
    return await asyncio.to_thread(exchange, sock, b"DONE", tag)


def timed_line(sock: socket.socket) -> tuple[bytes, float]:
    got = read_line(sock)
    return got, time.monotonic()


async def test_delivery_is_pushed_at_once(env: ImapEnv) -> None:
    await env.deliver(message(1))
    a = await open_session(env)
    try:
        await start_idle(a)
        reader = asyncio.ensure_future(asyncio.to_thread(timed_line, a))
        await asyncio.sleep(0.05)  # the session is waiting in IDLE
        await env.deliver(message(2))
        delivered = time.monotonic()
        pushed, received = await reader
        latency = received - delivered
        print(f"IDLE push latency after store.deliver: {latency * 1000:.1f} ms")
        recent = await line(a)
        ended = await done(a)
    finally:
        a.close()
    assert pushed == b"* 2 EXISTS\r\n"
    assert recent == b"* 2 RECENT\r\n"  # IMAP4rev1 session (RFC 3501 §7.3.2): both are its own
    assert latency < 1.0  # typically a few milliseconds; generous against a loaded machine
    assert ended == [b"i OK IDLE terminated\r\n"]


async def test_flag_change_and_expunge_by_another_session_are_pushed(env: ImapEnv) -> None:
    await env.deliver(message(1))
    await env.deliver(message(2), flags=["\\Deleted"])
    await env.seen_elsewhere()  # no \\Recent in the FETCH pushed below
    a = await open_session(env)
    b = await open_session(env)
    try:
        await start_idle(a)
        stored = await ask(b, b"b1 STORE 1 +FLAGS.SILENT (\\Flagged)")
        flags = await line(a)
        expunged = await ask(b, b"b2 EXPUNGE")
        expunge = await line(a)
        ended = await done(a)
        after = await ask(a, b"a NOOP")
    finally:
        a.close()
        b.close()
    assert stored == [b"b1 OK STORE completed\r\n"]
    assert flags == b"* 1 FETCH (FLAGS (\\Flagged))\r\n"  # RFC 9051 §7.5.2
    assert expunged == [b"* 2 EXPUNGE\r\n", b"b2 OK EXPUNGE completed\r\n"]
    assert expunge == b"* 2 EXPUNGE\r\n"  # EXPUNGE may be sent during IDLE (RFC 9051 §7.5.1)
    assert ended == [b"i OK IDLE terminated\r\n"]
    assert after == [b"a OK NOOP completed\r\n"]  # nothing reported twice


async def test_garbage_instead_of_done_is_bad_and_ends_idle(env: ImapEnv) -> None:
    a = await open_session(env)
    try:
        await start_idle(a)
        bad = await asyncio.to_thread(exchange, a, b"x NOOP", b"i")
        after = await ask(a, b"y NOOP")
    finally:
        a.close()
    # RFC 9051 §6.3.13: only DONE ends IDLE; the line is not run as a command.
    assert bad == [b"i BAD Expected DONE\r\n"]
    assert after == [b"y OK NOOP completed\r\n"]


async def test_done_pipelined_with_the_next_command_and_idle_unselected(env: ImapEnv) -> None:
    a = await open_session(env, select=b"")
    try:
        await asyncio.to_thread(a.sendall, b"i IDLE\r\ndone\r\nn NOOP\r\n")
        lines = await asyncio.to_thread(exchange, a, b"m NOOP")
    finally:
        a.close()
    # IDLE is legal in the authenticated state (RFC 2177 §3); DONE in any case (RFC 9051 §9 idle).
    assert lines == [
        b"+ idling\r\n",
        b"i OK IDLE terminated\r\n",
        b"n OK NOOP completed\r\n",
        b"m OK NOOP completed\r\n",
    ]


async def test_shutdown_during_idle_says_bye_at_once(env: ImapEnv) -> None:
    a = await open_session(env)
    try:
        await start_idle(a)
        started = time.monotonic()
        stopping = asyncio.ensure_future(env.server.stop())
        bye = await line(a)
        took = time.monotonic() - started
        await stopping
    finally:
        a.close()
    assert bye == b"* BYE [UNAVAILABLE] Server shutting down\r\n"
    assert took < env.settings.server.shutdown_grace  # not held back as a running command


async def test_imapclient_idle(env: ImapEnv) -> None:
    def run() -> list[object]:
        client = imapclient.IMAPClient(*env.plain, ssl=False, timeout=10)
        try:
            client.login(ALICE, PASSWORD)
            client.select_folder("INBOX")
            client.idle()
            future = asyncio.run_coroutine_threadsafe(env.deliver(message(1)), loop)
            future.result(timeout=10)
            responses: list[object] = list(client.idle_check(timeout=5))
            client.idle_done()
            return responses
        finally:
            client.logout()

    loop = asyncio.get_running_loop()
    responses = await asyncio.to_thread(run)
    assert (1, b"EXISTS") in responses
