"""A real ManageSieve server for tests: SQLite store in a temp dir, the managesieve listener
(STARTTLS) on an ephemeral port of 127.0.0.1, a trustme CA, domain example.org with alice and bob,
and a raw client that reads whole responses (literals included).

The client is blocking: run it with ``asyncio.to_thread`` while the server runs on the test's loop."""

from __future__ import annotations

import base64
import contextlib
import re
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme

from pochta.auth.authenticator import Authenticator
from pochta.auth.passwords import hash_password, make_scram_credentials
from pochta.config import LISTENER_KINDS, Settings
from pochta.metrics import Metrics
from pochta.server.listeners import Server
from pochta.server.managesieve import ManageSieveHandler
from pochta.store.api import Store
from pochta.store.model import Account
from server_env import ListenerEnv, loopback_ca
from store_env import open_test_store, store_settings

ALICE = "alice@example.org"
BOB = "bob@example.org"
PASSWORD = "PASSWORD"

_FINAL = re.compile(rb"^(OK|NO|BYE)\b")
_LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")


def managesieve_settings(**sections: Any) -> Settings:
    data: dict[str, Any] = {
        "listeners": {name: "off" for name in LISTENER_KINDS} | {"managesieve": "127.0.0.1:0"},
        "server": {"idle_timeout_unauthenticated": 10.0, "shutdown_grace": 2.0},
        "tls": {"handshake_timeout": 5.0},
        "login": {"failures_before_delay": 1000, "lockout_after": 10000},
    }
    for section, values in sections.items():
        data[section] = data.get(section, {}) | values
    return Settings.model_validate(data)


class SieveClient:
    """A raw ManageSieve client over a socket: ``command`` sends a line, ``response`` reads
    everything up to and including the OK/NO/BYE line."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError(f"closed; pending {self.buffer!r}")
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line + b"\r\n"

    def _exact(self, n: int) -> bytes:
        while len(self.buffer) < n:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed inside a literal")
            self.buffer += data
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def line(self) -> bytes:
        """One line, with the literal it announces (and the rest of its line) appended."""
        out = self._line()
        while (literal := _LITERAL.search(out)) is not None:
            out += self._exact(int(literal.group(1))) + self._line()
        return out

    def response(self) -> bytes:
        return b"".join(self.response_lines())

    def response_lines(self) -> list[bytes]:
        """The lines of one response (each with the literals it holds), the OK/NO/BYE line last."""
        out: list[bytes] = []
        while True:
            line = self.line()
            out.append(line)
            if _FINAL.match(line):
                return out

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def command(self, data: bytes) -> bytes:
        self.send(data + b"\r\n")
        return self.response()

    def starttls(self, context: ssl.SSLContext) -> bytes:
        """STARTTLS, the handshake, and the capabilities sent after it (RFC 5804 §2.2)."""
        assert self.command(b"STARTTLS").startswith(b"OK")
        self.sock = context.wrap_socket(self.sock, server_hostname="localhost")
        return self.response()

    def login(self, user: str = ALICE, password: str = PASSWORD) -> bytes:
        token = base64.b64encode(f"\0{user}\0{password}".encode())
        return self.command(b'AUTHENTICATE "PLAIN" "' + token + b'"')

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def literal(data: bytes) -> bytes:
    return b"{%d+}\r\n" % len(data) + data


@dataclass
class SieveEnv(ListenerEnv):
    data_dir: Path
    store: Store
    server: Server
    handler: ManageSieveHandler
    alice: Account
    bob: Account
    ca: trustme.CA
    settings: Settings
    clients: list[SieveClient] = field(default_factory=list)

    def connect(self) -> tuple[SieveClient, bytes]:
        """A raw client (closed when the server stops) and the greeting it read."""
        client = SieveClient(socket.create_connection(self.address("managesieve"), timeout=10))
        self.clients.append(client)
        return client, client.response()

    def session(self, user: str = ALICE) -> SieveClient:
        client, _ = self.connect()
        assert client.login(user).startswith(b"OK"), user
        return client


@contextlib.asynccontextmanager
async def managesieve_server(tmp_path: Path, settings: Settings | None = None) -> AsyncIterator[SieveEnv]:
    settings = store_settings(settings or managesieve_settings())
    data_dir = tmp_path / "data"
    data_dir.mkdir(exist_ok=True)
    ca, server_context = loopback_ca()
    store = await open_test_store(data_dir, settings)
    try:
        await store.add_domain("example.org")
        scram = make_scram_credentials(PASSWORD)
        alice = await store.add_account(ALICE, hash_password(PASSWORD), scram)
        bob = await store.add_account(BOB, hash_password(PASSWORD), scram)
        handler = ManageSieveHandler(
            store, settings, authenticator=Authenticator(store, settings.login), scram_secret=b"k" * 32
        )
        server = Server(
            settings, data_dir, {"managesieve": handler}, metrics=Metrics(), ssl_context=server_context
        )
        await server.start()
        env = SieveEnv(data_dir, store, server, handler, alice, bob, ca, settings)
        try:
            yield env
        finally:
            for client in env.clients:
                client.close()
            await server.stop()
    finally:
        await store.close()
