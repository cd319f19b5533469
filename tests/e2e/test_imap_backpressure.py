"""A client that pipelines commands and never reads: the server stops reading until its answers
are taken (backpressure), so neither side's memory grows without bound; then everything is answered.
"""

from __future__ import annotations

import asyncio
import time

from imap_env import ImapEnv, exchange, message

COMMAND = b"f FETCH 1 BODY.PEEK[]\r\n"


def _flood(env: ImapEnv) -> tuple[int, int]:
    """Send FETCHes without reading until sending has been blocked for a second; return the octets
    sent, then read 8 MB of answers and count the completed FETCHes among them."""
    sock = env.raw()
    assert exchange(sock, b"L LOGIN alice@example.org PASSWORD")[-1].startswith(b"L OK")
    assert exchange(sock, b"S SELECT INBOX")[-1].startswith(b"S OK")
    sock.setblocking(False)
    sent = 0
    blocked_since = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            sent += sock.send(COMMAND * 64)
            blocked_since = None
        except BlockingIOError:
            blocked_since = blocked_since or time.monotonic()
            if time.monotonic() - blocked_since > 1.0:
                break  # the server has not read anything for a second: it waits for us
            time.sleep(0.01)
    sock.setblocking(True)
    sock.settimeout(30)
    received = b""
    while len(received) < 8 * 1024 * 1024:
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        received += chunk
    sock.close()  # the session ends with its work undone; the server must shrug it off
    return sent, received.count(b"\r\nf OK FETCH completed\r\n")


async def test_a_client_that_never_reads_stops_the_server_reading(env: ImapEnv) -> None:
    body = b"".join(
        b"line %07d of a message that is fetched over and over again\r\n" % i for i in range(4_000)
    )
    await env.deliver(message(1, body=body))  # ~240 KB per answer
    sent, answered = await asyncio.to_thread(_flood, env)
    # Without backpressure the server would read every command and queue its answer: gigabytes.
    # With it, sending stalls once the socket buffers are full (a few MB on loopback).
    assert sent < 32 * 1024 * 1024, sent
    assert answered >= 20, answered  # reading resumes the answers, in order
    # The server is fine afterwards.
    sock = await asyncio.to_thread(env.raw)
    try:
        lines = await asyncio.to_thread(exchange, sock, b"n NOOP")
        assert lines == [b"n OK NOOP completed\r\n"]
    finally:
        sock.close()
