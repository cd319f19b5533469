"""SIGKILL of a real ``pochta serve`` process around an SMTP delivery.

During DATA: the half-received message must leave nothing behind (no message, no blob).
Right after the 250: the acknowledged message must be there, whole, after a restart.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from pochta.config import load_settings
from pochta.store.sqlite.store import open_sqlite_store
from serve_process import ServeProcess, init_data_dir

LISTENERS = ("smtp", "submission", "submissions", "lmtp")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    init_data_dir(path, listeners=LISTENERS, accounts={"alice@example.org": "pw pw pw pw"})
    return path


class Served(ServeProcess):
    def __init__(self, data: Path) -> None:
        super().__init__(data, data.parent / "serve.log")
        self.port = self.wait_listening(["smtp"], timeout=30)["smtp"]


@pytest.fixture
def served(data: Path) -> Iterator[Served]:
    server = Served(data)
    try:
        yield server
    finally:
        server.kill()


def _expect(sock: socket.socket, code: bytes) -> bytes:
    buffer = b""
    while not re.search(rb"(^|\r\n)\d{3} [^\r\n]*\r\n$", buffer):
        chunk = sock.recv(4096)
        assert chunk, buffer
        buffer += chunk
    assert re.search(rb"(^|\r\n)" + code + rb" ", buffer), buffer
    return buffer


def _start_data(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    _expect(sock, b"220")
    for command, code in (
        (b"EHLO crash.example", b"250"),
        (b"MAIL FROM:<carol@example.net>", b"250"),
        (b"RCPT TO:<alice@example.org>", b"250"),
        (b"DATA", b"354"),
    ):
        sock.sendall(command + b"\r\n")
        _expect(sock, code)
    return sock


async def _inbox(data: Path) -> list[bytes]:
    settings = load_settings(data / "pochta.toml")
    store = await open_sqlite_store(data, settings)
    try:
        account = await store.get_account("alice@example.org")
        assert account is not None
        info = await store.get_mailbox(account.id, "INBOX")
        assert info is not None
        view = await store.open_view(info.id)
        result = []
        for index in range(len(view)):
            with store.open_blob(view.blob(index)) as blob:
                result.append(blob.read())
        report = await store.verify()
        assert not report.damaged, report
        return result
    finally:
        await store.close()


async def test_sigkill_during_data_leaves_no_message(data: Path, served: Served) -> None:
    sock = _start_data(served.port)
    try:
        sock.sendall(b"Subject: half\r\n\r\n" + b"half of a message\r\n" * 2000)
        spool = data / "blobs" / "tmp"
        for _ in range(1000):
            if any(spool.glob("smtp-*")):
                break
            await asyncio.sleep(0.01)
        assert any(spool.glob("smtp-*")), "the message was not being spooled"
        served.kill()
    finally:
        sock.close()
    assert await _inbox(data) == []


async def test_sigkill_right_after_250_loses_nothing(data: Path, served: Served) -> None:
    body = b"Subject: acknowledged\r\n\r\n" + b"every line counts\r\n" * 500
    sock = _start_data(served.port)
    try:
        sock.sendall(body + b".\r\n")
        reply = _expect(sock, b"250")
        served.kill()  # at once: nothing may still be in flight
    finally:
        sock.close()
    assert b"2.0.0 Delivered" in reply
    stored = await _inbox(data)
    assert len(stored) == 1
    assert stored[0].endswith(body)
    assert stored[0].startswith(b"Received: ")


async def _with_script(data: Path, source: str) -> None:
    settings = load_settings(data / "pochta.toml")
    store = await open_sqlite_store(data, settings)
    try:
        account = await store.get_account("alice@example.org")
        assert account is not None
        await store.put_sieve_script(account.id, "main", source, settings.sieve.quota())
        await store.activate_sieve_script(account.id, "main")
    finally:
        await store.close()


async def _stored(data: Path, mailbox: str) -> tuple[list[bytes], int]:
    """The messages of alice's ``mailbox`` and the outbound queue's length, after a restart."""
    settings = load_settings(data / "pochta.toml")
    store = await open_sqlite_store(data, settings)
    try:
        account = await store.get_account("alice@example.org")
        assert account is not None
        info = await store.get_mailbox(account.id, mailbox)
        assert info is not None
        view = await store.open_view(info.id)
        found = []
        for index in range(len(view)):
            with store.open_blob(view.blob(index)) as blob:
                found.append(blob.read())
        return found, len(await store.queue_entries())
    finally:
        await store.close()


async def test_sigkill_right_after_250_with_a_sieve_script_loses_nothing(data: Path) -> None:
    # The script files the message and sends a vacation reply: both are done before the 250.
    await _with_script(
        data,
        'require ["fileinto", "vacation", "mailbox"]; vacation "Away."; fileinto :create "Filtered";',
    )
    served = Served(data)
    try:
        body = b"To: alice@example.org\r\nSubject: filtered\r\n\r\n" + b"every line counts\r\n" * 500
        sock = _start_data(served.port)
        try:
            sock.sendall(body + b".\r\n")
            reply = _expect(sock, b"250")
            served.kill()
        finally:
            sock.close()
    finally:
        served.kill()
    assert b"2.0.0" in reply
    filed, queued = await _stored(data, "Filtered")
    assert len(filed) == 1
    assert filed[0].endswith(body)
    assert queued == 1  # the vacation reply
