"""The HTTP listener's streaming both ways, with real sockets against a running listener serving a
small Starlette application (tests/http_stream_env.py): event streams read as they come, chunked
and close-delimited framing octet by octet, a client leaving ending the application's generator, a
graceful stop ending an event stream at once, a 100 MB download in bounded memory, request bodies
over the global limit on the route that allows them (and 413 elsewhere), chunked request bodies and
slow bodies cut by the timeout."""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from http_stream_env import UPLOAD_LIMIT, StreamEnv, start_stream_server, stream_settings
from server_env import drip


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamEnv]:
    yield from start_stream_server(tmp_path_factory.mktemp("streaming"), stream_settings())


@pytest.fixture
def stopping_env(tmp_path: Path) -> Iterator[StreamEnv]:
    """A server of its own, for a test that stops it."""
    yield from start_stream_server(tmp_path, stream_settings())


def connect(env: StreamEnv, timeout: float = 10.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", env.port), timeout=timeout)


def read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """The response head (without its blank line) and what came after it in the same reads."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def header(head: bytes, name: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        field, _, value = line.partition(b":")
        if field.strip().lower() == name:
            return value.strip()
    return None


def wait_for(event: object, seconds: float = 10.0) -> None:
    assert hasattr(event, "wait")
    assert event.wait(seconds), "the application's generator did not end"


# -- streaming responses -------------------------------------------------------------------------


def test_events_arrive_before_the_stream_ends(env: StreamEnv) -> None:
    with connect(env) as sock:
        sock.sendall(b"GET /events?name=live&count=4&interval=0.5 HTTP/1.1\r\nHost: x\r\n\r\n")
        head, received = read_head(sock)
        assert head.startswith(b"HTTP/1.1 200 ")
        assert header(head, b"content-type") == b"text/event-stream; charset=utf-8"
        assert header(head, b"transfer-encoding") == b"chunked"
        assert header(head, b"content-length") is None
        while b"data: event 0\n\n" not in received:
            received += sock.recv(65536)
        # The first event is here while the generator is still running (it sleeps between events).
        assert not env.probe.event("ended", "live").is_set()
        while not received.endswith(b"0\r\n\r\n"):
            received += sock.recv(65536)
    assert all(f"data: event {n}\n\n".encode() in received for n in range(4))


def test_chunked_framing_octet_by_octet(env: StreamEnv) -> None:
    with connect(env) as sock:
        sock.sendall(b"GET /pieces HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        response = read_until_closed(sock)
    head, _, body = response.partition(b"\r\n\r\n")
    assert head == (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close"
    )
    # RFC 9112 section 7.1: each piece the application sent is one chunk, then the last chunk.
    assert body == b"5\r\nhello\r\n2\r\n, \r\n5\r\nworld\r\n14\r\n" + b"!" * 20 + b"\r\n0\r\n\r\n"


def test_http10_client_gets_a_close_delimited_body(env: StreamEnv) -> None:
    with connect(env) as sock:
        sock.sendall(b"GET /pieces HTTP/1.0\r\n\r\n")
        response = read_until_closed(sock)
    head, _, body = response.partition(b"\r\n\r\n")
    assert header(head, b"transfer-encoding") is None
    assert header(head, b"content-length") is None
    assert body == b"hello, world" + b"!" * 20


def test_complete_response_keeps_content_length_and_keep_alive(env: StreamEnv) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", env.port, timeout=10)
    try:
        for _ in range(2):
            conn.request("GET", "/hello")
            response = conn.getresponse()
            assert response.getheader("Content-Length") == "6"
            assert response.getheader("Transfer-Encoding") is None
            assert response.read() == b"hello\n"
    finally:
        conn.close()


def test_head_of_an_endless_stream_is_its_head_alone(env: StreamEnv) -> None:
    with connect(env) as sock:
        sock.sendall(b"HEAD /events?name=head HTTP/1.1\r\nHost: x\r\n\r\n")
        head, rest = read_head(sock)
        assert head.startswith(b"HTTP/1.1 200 ")
        assert rest == b""
        wait_for(env.probe.event("ended", "head"))  # the stream is not run for nothing
        # The connection serves the next request: the HEAD response was complete.
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert read_until_closed(sock).endswith(b"\r\n\r\nhello\n")


def test_client_leaving_ends_the_generator(env: StreamEnv) -> None:
    with connect(env) as sock:
        sock.sendall(b"GET /events?name=leaving&interval=0.2 HTTP/1.1\r\nHost: x\r\n\r\n")
        _head, received = read_head(sock)
        while b"data: event 0" not in received:
            received += sock.recv(65536)
    wait_for(env.probe.event("ended", "leaving"))


def test_client_reset_ends_a_download(env: StreamEnv) -> None:
    size = 1024 * 1024 * 1024  # far more than the socket buffers: the writer waits on the client
    with connect(env) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(f"GET /download?name=reset&size={size} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        read_head(sock)
        wait_for(env.probe.event("started", "reset"))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    # The generator stops being asked for more (Starlette leaves one suspended at its yield to the
    # garbage collector, so its end is seen in what it produced, not in its finally).
    produced = -1
    deadline = time.monotonic() + 10
    while produced != env.probe.produced["reset"]:
        assert time.monotonic() < deadline
        produced = env.probe.produced["reset"]
        time.sleep(0.5)
    assert produced < size // 10


def test_client_reading_nothing_is_dropped_after_send_timeout(env: StreamEnv) -> None:
    size = 1024 * 1024 * 1024
    with connect(env, timeout=20) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(f"GET /download?name=unread&size={size} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert env.probe.event("started", "unread").wait(10)
        time.sleep(5)  # send_timeout is 2 s: the server gives up on us meanwhile
        produced = env.probe.produced["unread"]
        time.sleep(1)
        assert env.probe.produced["unread"] == produced  # the application is no longer asked
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    assert produced < size // 10


def test_graceful_stop_ends_an_event_stream_at_once(stopping_env: StreamEnv) -> None:
    env = stopping_env
    with connect(env) as sock:
        sock.sendall(b"GET /events?name=stopped&interval=0.2 HTTP/1.1\r\nHost: x\r\n\r\n")
        _head, received = read_head(sock)
        while b"data: event 1" not in received:
            received += sock.recv(65536)
        started = time.monotonic()
        stopped = env.stop_server()
        received += read_until_closed(sock)
        stopped.result(10)
        seconds = time.monotonic() - started
    assert seconds < 3  # not the 10 s of server.shutdown_grace
    # Cut short: no last chunk, so the client can tell (an EventSource reconnects).
    assert not received.endswith(b"0\r\n\r\n")
    wait_for(env.probe.event("ended", "stopped"))


def test_graceful_stop_lets_a_download_of_known_length_finish(stopping_env: StreamEnv) -> None:
    env = stopping_env
    size = 8 * 1024 * 1024
    with connect(env) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        sock.sendall(f"GET /download?name=finish&size={size} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        _head, received = read_head(sock)
        stopped = env.stop_server()
        time.sleep(0.5)  # the stop is under way while the client still reads
        total = len(received) + len(read_until_closed(sock))
        stopped.result(15)
    assert total == size


def test_hundred_megabyte_download_in_bounded_memory(env: StreamEnv) -> None:
    size = 100 * 1024 * 1024
    tracemalloc.start()
    try:
        with connect(env, timeout=60) as sock:
            sock.sendall(
                f"GET /download?size={size} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
            )
            head, rest = read_head(sock)
            assert header(head, b"content-length") == str(size).encode()
            total = len(rest)
            while chunk := sock.recv(1024 * 1024):
                total += len(chunk)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == size
    assert peak < 16 * 1024 * 1024, f"peak {peak} octets traced while streaming {size}"


def test_chunked_download_without_length(env: StreamEnv) -> None:
    size = 3 * 1024 * 1024 + 17
    conn = http.client.HTTPConnection("127.0.0.1", env.port, timeout=30)
    try:
        conn.request("GET", f"/download?size={size}&length=no")
        response = conn.getresponse()
        assert response.getheader("Transfer-Encoding") == "chunked"
        body = response.read()
    finally:
        conn.close()
    assert len(body) == size
    assert body[:256] == bytes(range(256))


def test_file_download_whole_and_by_range(env: StreamEnv) -> None:
    """Starlette's FileResponse (what a blob download uses): its Content-Length, pieces and ranges."""
    content = bytes(range(256)) * (5 * 1024 * 1024 // 256)
    (env.files / "blob.bin").write_bytes(content)
    conn = http.client.HTTPConnection("127.0.0.1", env.port, timeout=30)
    try:
        conn.request("GET", "/blob/blob.bin")
        response = conn.getresponse()
        assert response.getheader("Content-Length") == str(len(content))
        assert response.read() == content
        conn.request("GET", "/blob/blob.bin", headers={"Range": "bytes=1000-1999"})
        response = conn.getresponse()
        assert response.status == 206
        assert response.read() == content[1000:2000]
        conn.request("HEAD", "/blob/blob.bin")
        response = conn.getresponse()
        assert response.getheader("Content-Length") == str(len(content))
        assert response.read() == b""
    finally:
        conn.close()


# -- request bodies ------------------------------------------------------------------------------


def post(env: StreamEnv, path: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", env.port, timeout=60)
    try:
        conn.request("POST", path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_upload_over_the_global_limit_on_the_route_that_allows_it(env: StreamEnv) -> None:
    body = bytes(range(256)) * (20 * 1024 * 1024 // 256)  # 20 MB, max_body_size is 64 KiB
    tracemalloc.start()
    try:
        status, answer = post(env, "/upload/big", body)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 200
    assert json.loads(answer) == {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    # The client's own copy of the body is not traced (made before tracing); the server never held
    # it whole.
    assert peak < 8 * 1024 * 1024, peak


def test_same_upload_elsewhere_is_413(env: StreamEnv) -> None:
    status, _ = post(env, "/small", b"x" * (1024 * 1024))
    assert status == 413


def test_content_length_over_the_route_limit_is_413_before_reading(env: StreamEnv) -> None:
    with connect(env) as sock:
        sock.sendall(
            f"POST /upload/huge HTTP/1.1\r\nHost: x\r\nContent-Length: {UPLOAD_LIMIT + 1}\r\n\r\n".encode()
        )
        head, _ = read_head(sock)
    assert head.startswith(b"HTTP/1.1 413 ")


def test_chunked_request_body(env: StreamEnv) -> None:
    pieces = [b"a" * 100_000, b"b" * 70_000, b"c" * 5]
    body = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"
    with connect(env) as sock:
        sock.sendall(
            b"POST /upload/chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n" + body
        )
        response = read_until_closed(sock)
    head, _, answer = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    whole = b"".join(pieces)
    assert json.loads(answer) == {"size": len(whole), "sha256": hashlib.sha256(whole).hexdigest()}


def test_chunked_body_past_the_route_limit_is_413(env: StreamEnv) -> None:
    with connect(env) as sock:
        sock.sendall(b"POST /small HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            for _ in range(8):
                sock.sendall(b"%x\r\n%s\r\n" % (16384, b"z" * 16384))
        except OSError:
            pass  # answered and closed while we were sending
        head, _ = read_head(sock)
    assert head.startswith(b"HTTP/1.1 413 ")


def test_expect_100_continue_on_a_large_upload(env: StreamEnv) -> None:
    body = b"q" * 300_000
    with connect(env) as sock:
        sock.sendall(
            f"POST /upload/continue HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
            "Expect: 100-continue\r\nConnection: close\r\n\r\n".encode()
        )
        assert sock.recv(100).startswith(b"HTTP/1.1 100 ")
        sock.sendall(body)
        response = read_until_closed(sock)
    assert json.loads(response.partition(b"\r\n\r\n")[2])["size"] == len(body)


def test_slow_large_body_hits_the_timeout(env: StreamEnv) -> None:
    """A dribble: the body's time grows by a second per body_min_rate octets, which a client sending
    a few octets at a time never earns (body_timeout 2 s)."""
    start = b"POST /upload/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"
    received, seconds = drip(
        ("127.0.0.1", env.port), b"s" * 1000, start=start, interval=0.1, octets=50, seconds=20
    )
    assert received.startswith(b"HTTP/1.1 408 ")
    assert seconds < 6


def test_stalled_large_body_hits_the_timeout(env: StreamEnv) -> None:
    with connect(env, timeout=20) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /upload/stalled HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
        sock.sendall(b"s" * 1_000_000)  # a good start, which buys time, then nothing
        head, _ = read_head(sock)
        seconds = time.monotonic() - started
    assert head.startswith(b"HTTP/1.1 408 ")
    assert seconds < 8  # body_timeout (2 s) without an octet, whatever the allowance earned
