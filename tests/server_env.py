"""What the test environments of every protocol share (tests/smtp_env.py, pop3_env.py, imap_env.py):
a trustme CA with a server certificate for loopback, and the addresses a started Server bound."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import trustme

from pochta.server.listeners import Server


def loopback_ca(*names: str, common_name: str | None = "localhost") -> tuple[trustme.CA, ssl.SSLContext]:
    """A CA and a server context with a certificate for ``names`` (default localhost, 127.0.0.1);
    fetchmail wants a subject CN beside the SANs."""
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(*(names or ("localhost", "127.0.0.1")), common_name=common_name).configure_cert(context)
    return ca, context


class ListenerEnv:
    """Mixed into each protocol's environment dataclass, which has these attributes."""

    server: Server
    ca: trustme.CA
    data_dir: Path

    def address(self, listener: str) -> tuple[str, int]:
        address = self.server.bound_addresses()[listener]
        assert isinstance(address, tuple)
        return address

    def port(self, listener: str) -> int:
        return self.address(listener)[1]

    def client_context(self) -> ssl.SSLContext:
        """Trusts the test CA only."""
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    def ca_file(self) -> Path:
        """The CA as a PEM file, for external clients."""
        path = self.data_dir / "test-ca.pem"
        if not path.exists():
            self.ca.cert_pem.write_to_path(str(path))
        return path


def drip(
    address: tuple[str, int],
    payload: bytes,
    *,
    start: bytes = b"",
    interval: float = 0.3,
    octets: int = 1,
    seconds: float = 30.0,
) -> tuple[bytes, float]:
    """A slow client (blocking: run it in a thread): connects, sends ``start`` at once, then
    ``octets`` of ``payload`` every ``interval`` seconds (from its beginning again at its end), until
    the server closes the connection or ``seconds`` pass. Returns everything the server sent, and
    the seconds from the connect to the close (or to giving up)."""
    received = bytearray()
    started = time.monotonic()
    with socket.create_connection(address, timeout=interval) as sock:
        sock.sendall(start)
        position = 0
        while time.monotonic() - started < seconds:
            try:
                chunk: bytes | None = sock.recv(65536)
            except TimeoutError:
                chunk = None
            except ConnectionError:
                break
            if chunk == b"":
                break
            if chunk:
                received += chunk
                continue
            try:
                sock.sendall(payload[position : position + octets])
            except ConnectionError:
                break
            position = (position + octets) % len(payload)
    return bytes(received), time.monotonic() - started


async def eventually(predicate: Callable[[], bool], seconds: float = 15.0) -> None:
    """Wait until ``predicate()`` holds (polled); fails after ``seconds``, which only a hang reaches."""
    async with asyncio.timeout(seconds):
        while not predicate():  # noqa: ASYNC110 - server state observed from outside, no event to wait on
            await asyncio.sleep(0.02)
