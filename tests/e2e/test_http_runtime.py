"""The HTTP listeners inside the server's runtime (tests/web_env.py, ``--workers 2``): the
connection limit answers 503, and a graceful stop closes idle keep-alive connections and lets the
server exit 0 at once (no HTTP goodbye to wait for)."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from web_env import DOMAIN, WebEnv, start_web_server

# A keep-alive far longer than the waits below: a stop that waited for it would fail them.
CONFIG = "[server]\nmax_connections = 2\n\n[http]\nkeepalive_timeout = 300\n"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[WebEnv]:
    yield from start_web_server(tmp_path, CONFIG)


def test_over_the_connection_limit_is_503(env: WebEnv) -> None:
    # Two workers with two connections each: of six silent connections, two or more are refused.
    socks = [socket.create_connection(("127.0.0.1", env.port("http")), timeout=1) for _ in range(6)]
    refused = 0
    try:
        for sock in socks:
            try:
                data = sock.recv(4096)
            except TimeoutError:
                continue  # served: waiting for our request
            if data.startswith(b"HTTP/1.1 503 "):
                assert b"Retry-After: 5" in data
                refused += 1
    finally:
        for sock in socks:
            sock.close()
    assert refused >= 2


def test_graceful_stop_closes_keep_alive_connections(env: WebEnv) -> None:
    with socket.create_connection(("127.0.0.1", env.port("http")), timeout=10) as sock:
        sock.sendall(f"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.{DOMAIN}\r\n\r\n".encode())
        first = sock.recv(4096)
        assert first.startswith(b"HTTP/1.1 200 ")
        head, _, body = first.partition(b"\r\n\r\n")
        length = int(
            next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))[15:]
        )
        while len(body) < length:  # the whole response, however it was cut into segments
            body += sock.recv(4096)
        sock.settimeout(120)
        env.server.process.send_signal(signal.SIGTERM)
        assert sock.recv(4096) == b""  # closed between requests, without a word
        # Well before the keep-alive's 300 s (no time is asserted: a loaded machine is slow).
        assert env.server.process.wait(120) == 0


def test_https_takes_a_new_certificate_on_sighup(env: WebEnv, tmp_path: Path) -> None:
    def served_certificate() -> bytes:
        context = env.client_context()
        with (
            socket.create_connection(("127.0.0.1", env.port("https")), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            der = tls.getpeercert(binary_form=True)
            assert der is not None
            return der

    before = served_certificate()
    renewed = env.ca.issue_cert("localhost", "127.0.0.1")
    # The configured files are replaced in place, as an ACME client or certbot does.
    renewed.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    renewed.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    env.server.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 20
    while served_certificate() == before:
        assert time.monotonic() < deadline, env.server.tail()
        time.sleep(0.1)
    for _ in range(10):  # every worker reloaded
        assert served_certificate() != before
