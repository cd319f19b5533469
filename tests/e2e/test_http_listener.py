"""The HTTP listener itself on a real ``pochta serve --workers 2`` (tests/web_env.py): keep-alive,
HEAD, the limits of ``[http]`` (body size 413, header size 431, slow clients 408, idle keep-alive
connections closed), bad requests 400, TLS with the server's certificate, and a fuzz of the request
head that must never get a 500 or leave a traceback in the log (checked when the fixture stops)."""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server_env import drip
from web_env import DOMAIN, WebEnv, start_web_server

CONFIG = """
[http]
header_timeout = 1.5
body_timeout = 1.5
keepalive_timeout = 2.0
lingering_close = 1.0
max_requests_per_connection = 3
"""
POLICY_PATH = "/.well-known/mta-sts.txt"
POLICY_HOST = f"mta-sts.{DOMAIN}"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebEnv]:
    yield from start_web_server(tmp_path_factory.mktemp("listener"), CONFIG)


def raw_exchange(env: WebEnv, payload: bytes, *, close_write: bool = True, timeout: float = 10.0) -> bytes:
    """Send ``payload`` on a new connection (then end our side), read until the server closes."""
    with socket.create_connection(("127.0.0.1", env.port("http")), timeout=timeout) as sock:
        sock.sendall(payload)
        if close_write:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def status_of(response: bytes) -> int:
    assert response.startswith(b"HTTP/1.1 "), response[:200]
    return int(response[9:12])


def test_keep_alive_serves_several_requests_then_closes(env: WebEnv) -> None:
    conn = env.connection()
    try:
        for number in range(3):  # max_requests_per_connection = 3
            conn.request("GET", POLICY_PATH, headers={"Host": POLICY_HOST})
            response = conn.getresponse()
            assert response.status == 200
            assert response.read().startswith(b"version: STSv1")
            closing = response.headers.get("Connection") == "close"
            assert closing == (number == 2)
    finally:
        conn.close()


def test_head_has_headers_and_no_body(env: WebEnv) -> None:
    request = f"HEAD {POLICY_PATH} HTTP/1.1\r\nHost: {POLICY_HOST}\r\nConnection: close\r\n\r\n".encode()
    response = raw_exchange(env, request)
    assert status_of(response) == 200
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"content-length: " in head.lower()
    assert body == b""


def test_body_over_the_limit_is_413_before_it_is_read(env: WebEnv) -> None:
    request = b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\n\r\n"
    assert status_of(raw_exchange(env, request)) == 413


def test_ten_megabyte_body_gets_413_not_a_reset(env: WebEnv) -> None:
    conn = env.connection()
    try:
        conn.request("POST", "/autodiscover/autodiscover.xml", body=b"<" * (10 * 1024 * 1024))
        response = conn.getresponse()
        assert response.status == 413
    finally:
        conn.close()


def test_chunked_body_over_the_limit_is_413(env: WebEnv) -> None:
    chunk = b"%x\r\n%s\r\n" % (32768, b"a" * 32768)
    request = b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 3 + b"0\r\n\r\n"
    assert status_of(raw_exchange(env, request)) == 413


@pytest.mark.parametrize(
    "head",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",  # whole in one read
        b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Flood: y\r\n" * 3000 + b"\r\n",
    ],
)
def test_header_flood_is_431(env: WebEnv, head: bytes) -> None:
    assert status_of(raw_exchange(env, head)) == 431


def test_header_flood_trickled_without_end_is_431(env: WebEnv) -> None:
    """The head grows past max_header_size before it is complete: refused without waiting."""
    with socket.create_connection(("127.0.0.1", env.port("http")), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        try:
            for _ in range(100):
                sock.sendall(b"X-Flood: " + b"y" * 1000 + b"\r\n")
        except OSError:
            pass  # the server answered and closed while we were still sending
        response = sock.recv(65536)
    assert status_of(response) == 431


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",  # HTTP/1.1 without Host (RFC 9112 section 3.2)
        b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nshort",  # body cut by EOF
    ],
)
def test_bad_requests_are_400(env: WebEnv, request_bytes: bytes) -> None:
    status = status_of(raw_exchange(env, request_bytes))
    assert status in (400, 505)


def test_slow_head_is_cut_by_header_timeout(env: WebEnv) -> None:
    payload = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: y\r\n" * 100
    received, seconds = drip(("127.0.0.1", env.port("http")), payload, interval=0.2, octets=2, seconds=15)
    assert status_of(received) == 408
    assert seconds < 6  # header_timeout 1.5 s from the first octet, whatever trickles in


def test_slow_body_is_cut_by_body_timeout(env: WebEnv) -> None:
    start = b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
    received, seconds = drip(
        ("127.0.0.1", env.port("http")), b"a" * 1000, start=start, interval=0.2, seconds=15
    )
    assert status_of(received) == 408
    assert seconds < 6


def test_silent_connection_is_closed(env: WebEnv) -> None:
    with socket.create_connection(("127.0.0.1", env.port("http")), timeout=15) as sock:
        started = time.monotonic()
        assert sock.recv(100) == b""
        assert time.monotonic() - started < 8


def test_tls_listener_verifies_with_the_server_certificate(env: WebEnv) -> None:
    response = env.get(POLICY_PATH, host=POLICY_HOST, tls=True)
    assert response.status == 200
    context = ssl.create_default_context()  # without the test CA: the certificate is not trusted
    conn = http.client.HTTPSConnection("localhost", env.port("https"), context=context, timeout=10)
    with pytest.raises(ssl.SSLCertVerificationError):
        conn.request("GET", POLICY_PATH)
    conn.close()


def test_parallel_clients(env: WebEnv) -> None:
    results: list[int] = []

    def client() -> None:
        for _ in range(10):
            results.append(env.get(POLICY_PATH, host=POLICY_HOST).status)

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * 80


_TOKEN = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20)
_BYTES = st.binary(max_size=60)
_LINE = st.one_of(
    st.builds(
        lambda m, t, v: f"{m} {t} {v}".encode(),
        _TOKEN,
        _TOKEN,
        st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/2", "x"]),
    ),
    _BYTES,
)
_HEADER = st.one_of(st.builds(lambda n, v: n.encode() + b": " + v, _TOKEN, _BYTES), _BYTES)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    line=_LINE,
    headers=st.lists(_HEADER, max_size=8),
    separator=st.sampled_from([b"\r\n", b"\n", b"\r"]),
    body=_BYTES,
)
def test_fuzzed_request_heads_never_get_a_500(
    env: WebEnv, line: bytes, headers: list[bytes], separator: bytes, body: bytes
) -> None:
    payload = separator.join([line, b"Host: x", *headers]) + separator + separator + body
    response = raw_exchange(env, payload)
    if response:  # an unparseable fragment may also just be closed
        assert response.startswith(b"HTTP/1.1 "), response[:100]
        assert status_of(response) < 500
    assert env.server.failures() == []


def test_expect_100_continue_gets_the_go_ahead(env: WebEnv) -> None:
    body = b"<Autodiscover/>"
    head = (
        f"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", env.port("http")), timeout=10) as sock:
        sock.sendall(head)
        assert sock.recv(100).startswith(b"HTTP/1.1 100 ")
        sock.sendall(body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert status_of(answer) == 400  # a POX request without EMailAddress
