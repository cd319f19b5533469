"""What the test environments of every protocol share (tests/smtp_env.py, pop3_env.py, imap_env.py):
a trustme CA with a server certificate for loopback, the addresses a started Server bound, slow
clients, waiting for server state, and a gate that holds the store's writer."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import trustme
from sqlalchemy import Connection

from pochta.config import MimeSettings, Settings
from pochta.mime import parse_message
from pochta.server.listeners import Server
from pochta.store.api import Store
from pochta.store.model import Target
from pochta.store.sqlite.store import SqliteStore
from pochta.store.sqlite.writer import Writer
from store_env import read_rows, write_rows


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


class WriterGate:
    """Holds a store's writer thread with a job of its own, so that the writes submitted meanwhile
    queue up and run, in the order they were submitted, in one batch once ``open`` is called (for
    tests that need two writes in a given order after both were decided). Opened at exit too."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self.started = threading.Event()
        self.release = threading.Event()
        self.future = writer.submit(self._hold)

    def _hold(self, conn: Connection) -> None:
        self.started.set()
        self.release.wait(30)

    async def __aenter__(self) -> WriterGate:
        assert await asyncio.to_thread(self.started.wait, 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.open()

    async def queued(self, jobs: int) -> None:
        """Wait until ``jobs`` writes wait behind the gate."""
        await eventually(lambda: self.writer.pending >= jobs + 1)

    def open(self) -> None:
        self.release.set()


@contextlib.asynccontextmanager
async def delivered_first(store: Store, mailbox_id: int, data: bytes) -> AsyncIterator[WriterGate]:
    """Hold the store's writer and queue a delivery of ``data`` into the mailbox behind it. The block
    starts a session whose write must come second (and waits for it: ``await gate.queued(2)``); at
    its end the writer runs both, this delivery first. So every check the session made before its
    write saw the mailbox's account without this message: races decided in the write transaction."""
    assert isinstance(store, SqliteStore)
    gate = WriterGate(store.writer)
    async with gate:
        blob = await store.put_blob(data)
        parsed = parse_message(data, MimeSettings())
        filling = asyncio.ensure_future(store.deliver(blob, parsed, [Target(mailbox_id)]))
        try:
            await gate.queued(1)
            yield gate
        finally:
            gate.open()
            await filling


# A message's bytes behind the store's back: a file under blobs/, or a row of inline_blobs in the
# database (store.inline_blob_max), as an operator's hands or a failing disk would find them.


def blob_file(data_dir: Path, sha256: str) -> Path:
    return data_dir / "blobs" / sha256[:2] / sha256[2:4] / sha256


def stored_blob_names(data_dir: Path, settings: Settings | None = None) -> set[str]:
    """The digest of every blob kept: files and rows of the database alike (``settings``: the
    server's, naming its database; None: SQLite's in the data directory)."""
    root = data_dir / "blobs"
    names = {p.name for p in root.glob("??/??/*") if p.is_file()}
    rows = read_rows(data_dir, settings or Settings(), "SELECT sha256 FROM inline_blobs")
    return names | {str(row[0]) for row in rows}


def stored_blob(data_dir: Path, sha256: str, settings: Settings | None = None) -> bytes | None:
    """A blob's bytes wherever they are kept (the file first), None if nowhere."""
    path = blob_file(data_dir, sha256)
    if path.is_file():
        return path.read_bytes()
    query = "SELECT data FROM inline_blobs WHERE sha256 = :sha256"
    rows = read_rows(data_dir, settings or Settings(), query, sha256=sha256)
    return None if not rows else bytes(rows[0][0])


def replace_blob(data_dir: Path, sha256: str, data: bytes | None, settings: Settings | None = None) -> None:
    """Damage a stored blob wherever it is kept: new bytes, or gone (None). Raises if it is nowhere
    (``settings``: the server's, naming its database; None: SQLite's in the data directory)."""
    path = blob_file(data_dir, sha256)
    if path.is_file():
        if data is None:
            path.unlink()
        else:
            path.chmod(0o600)
            path.write_bytes(data)
        return
    if data is None:
        sql, params = "DELETE FROM inline_blobs WHERE sha256 = :sha256", {"sha256": sha256}
    else:
        sql, params = (
            "UPDATE inline_blobs SET data = :data WHERE sha256 = :sha256",
            {"sha256": sha256, "data": data},
        )
    changed = write_rows(data_dir, settings or Settings(), sql, **params)
    assert changed == 1, f"blob {sha256} is stored nowhere"
