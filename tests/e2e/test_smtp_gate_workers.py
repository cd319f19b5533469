"""The MX gate under ``pochta serve --workers 2``: an address blocked for too many unknown
recipients in one worker is refused by both (the block travels over the peer channel), and a
greylisted triplet deferred by one worker passes in whichever worker serves the retry (the
triplets are in the store)."""

from __future__ import annotations

import re
import smtplib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from serve_process import ServeProcess, init_data_dir

ALICE = "alice@example.org"
STRANGER = "127.0.0.2"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServeProcess]:
    data = tmp_path / "data"
    init_data_dir(
        data,
        listeners=("smtp",),
        accounts={ALICE: "correct horse battery"},
        config=(
            "[connection_checks]\nmax_unknown_recipients = 1\nblock_seconds = 120\n"
            "[greylisting]\nenabled = true\ndelay = 1\n"
            "[mailauth]\nspf_verify = false\ndmarc_verify = false\ndkim_verify = false\n"
        ),
    )
    process = ServeProcess(data, tmp_path / "serve.log", ["--workers=2"])
    process.wait_listening(("smtp",))
    yield process
    status = process.stop()
    assert status == 0, process.tail()


def _worker(server: ServeProcess, port: int) -> int:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for line in server.log_text().splitlines():
            if " connect " in line and f"peer={STRANGER}:{port} " in line + " ":
                match = re.search(r"worker=(\d+)", line)
                if match:
                    return int(match.group(1))
        time.sleep(0.05)
    raise AssertionError("no connect line")


def _greeting(server: ServeProcess, source: str = STRANGER) -> tuple[int, bytes]:
    with socket.create_connection(
        ("127.0.0.1", server.ports["smtp"]), timeout=10, source_address=(source, 0)
    ) as sock:
        port = sock.getsockname()[1]
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        sock.sendall(b"QUIT\r\n")
    return _worker(server, port), data


def test_a_block_holds_in_both_workers(server: ServeProcess) -> None:
    with smtplib.SMTP("127.0.0.1", server.ports["smtp"], timeout=10, source_address=(STRANGER, 0)) as client:
        client.ehlo("client.example.net")
        client.mail("x@example.net")
        assert client.rcpt("nobody@example.org")[0] == 550
        assert client.rcpt("nobody2@example.org")[0] == 421
    # Both workers accept on the listener the supervisor bound: whichever is waiting takes a
    # connection. A worker still starting under load takes none yet, so ask for a while; and the
    # block reaches the other worker by the peer channel a moment after it was made (on PostgreSQL
    # by NOTIFY, through the database), so a greeting that still says 220 is asked again.
    refused: dict[int, bytes] = {}
    last: dict[int, bytes] = {}
    deadline = time.monotonic() + 30
    while len(refused) < 2 and time.monotonic() < deadline:
        worker, greeting = _greeting(server)
        last[worker] = greeting
        if greeting.startswith(b"421 "):
            refused[worker] = greeting
        time.sleep(0.02)
    assert set(last) == {0, 1}, "the kernel never gave a connection to one of the workers"
    assert set(refused) == {0, 1}, f"not blocked on every worker within 30 s: {last}"
    for greeting in refused.values():
        assert greeting.startswith(b"421 4.7.0 "), greeting
        assert b"temporarily blocked" in greeting, greeting


def test_greylisting_holds_across_workers(server: ServeProcess) -> None:
    def rcpt() -> int:
        with smtplib.SMTP(
            "127.0.0.1", server.ports["smtp"], timeout=10, source_address=("127.0.0.3", 0)
        ) as c:
            c.ehlo("client.example.net")
            c.mail("carol@example.net")
            return c.rcpt(ALICE)[0]

    assert rcpt() == 451
    time.sleep(1.2)
    assert [rcpt() for _ in range(6)] == [250] * 6  # whichever worker answers
