"""clamd virus scanning (issue 14, "Optional virus scanning through clamd"): Debian's clamd, started
by the test with its own configuration and a signature database holding only the EICAR test file
(tests/milter_daemons.py). The EICAR attachment is refused at the end of DATA naming the signature
and nothing is stored; a clean message passes; a dead clamd defers (or accepts, by config); a
message over max_size is not scanned."""

from __future__ import annotations

import asyncio
import base64
import smtplib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from milter_daemons import EICAR, clamd_daemon
from smtp_env import ALICE, PASSWORD, SmtpEnv, message, smtp_server, smtp_settings

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def clamd() -> Iterator[tuple[str, str]]:
    with clamd_daemon() as sockets:
        yield sockets


def _infected(sender: str = "carol@example.net") -> bytes:
    attachment = base64.b64encode(EICAR).decode()
    return (
        f"From: {sender}\r\nTo: alice@example.org\r\nSubject: invoice\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n"
        "--b1\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n"
        "--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
        f"Content-Disposition: attachment; filename=eicar.com\r\n\r\n{attachment}\r\n--b1--\r\n"
    ).encode()


def _deliver(env: SmtpEnv, data: bytes, *, submission: bool = False) -> tuple[int, bytes]:
    listener = "submission" if submission else "smtp"
    with smtplib.SMTP(*env.address(listener), timeout=60) as client:
        if submission:
            client.starttls(context=env.client_context())
        client.ehlo("client.example.net")
        if submission:
            client.login(ALICE, PASSWORD)
        client.mail(ALICE if submission else "carol@example.net")
        client.rcpt(ALICE)
        try:
            return client.data(data)
        except smtplib.SMTPDataError as exc:
            error = exc.smtp_error
            return exc.smtp_code, error if isinstance(error, bytes) else error.encode()


def _settings(socket: str, **clamav: Any) -> Any:
    return smtp_settings(
        clamav={"enabled": True, "socket": socket, "timeout": 60, "chunk_size": 1024} | clamav
    )


async def test_eicar_refused_naming_the_signature(tmp_path: Path, clamd: tuple[str, str]) -> None:
    unix, _ = clamd
    async with smtp_server(tmp_path, _settings(unix)) as env:
        code, text = await asyncio.to_thread(_deliver, env, _infected())
        assert code == 554
        assert text.startswith(b"5.7.1 Virus found: Eicar-Test-Signature"), text
        assert await env.messages() == []
        assert env.spool_files() == []
        # Submission scans too (both listeners by default).
        code, text = await asyncio.to_thread(_deliver, env, _infected(ALICE), submission=True)
        assert code == 554, text
        assert await env.messages() == []


async def test_clean_message_passes_over_tcp(tmp_path: Path, clamd: tuple[str, str]) -> None:
    _, inet = clamd
    async with smtp_server(tmp_path, _settings(inet)) as env:
        data = message("clean", body="Lunch at noon?\r\n" * 500)  # several INSTREAM chunks
        code, text = await asyncio.to_thread(_deliver, env, data)
        assert code == 250, text
        assert len(await env.messages()) == 1


async def test_listener_not_listed_is_not_scanned(tmp_path: Path, clamd: tuple[str, str]) -> None:
    unix, _ = clamd
    async with smtp_server(tmp_path, _settings(unix, listeners=["smtp"])) as env:
        code, text = await asyncio.to_thread(_deliver, env, _infected(ALICE), submission=True)
        assert code == 250, text


async def test_message_over_max_size_is_not_scanned(tmp_path: Path, clamd: tuple[str, str]) -> None:
    unix, _ = clamd
    async with smtp_server(tmp_path, _settings(unix, max_size=1024)) as env:
        code, text = await asyncio.to_thread(_deliver, env, _infected() + b"x" * 2000)
        assert code == 250, text


@pytest.mark.parametrize(("on_failure", "expected"), [("tempfail", 451), ("accept", 250)])
async def test_dead_clamd(tmp_path: Path, on_failure: str, expected: int) -> None:
    # Nothing listens on this socket: clamd is down.
    dead = f"unix:{tmp_path / 'no-clamd.sock'}"
    async with smtp_server(tmp_path, _settings(dead, on_failure=on_failure)) as env:
        code, text = await asyncio.to_thread(_deliver, env, message("while clamd is down"))
        assert code == expected, text
        if expected == 451:
            assert text == b"4.7.1 Virus scanner unavailable; try again later"
            assert await env.messages() == []
        else:
            assert len(await env.messages()) == 1
