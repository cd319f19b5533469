"""SMTP smuggling (CVE-2023-51764 class) and STARTTLS command injection (CVE-2011-0411 class) over
real sockets: only <CRLF>.<CRLF> ends DATA, and plaintext behind STARTTLS is never executed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from smtp_env import SmtpEnv, converse, smtp_server


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[SmtpEnv]:
    async with smtp_server(tmp_path) as env:
        yield env


SMUGGLED = (
    b"MAIL FROM:<admin@example.org>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\nFrom: admin\r\n\r\nsmuggled\r\n"
)


@pytest.mark.parametrize(
    "fake_end",
    [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n"],
    ids=["LF.LF", "CR.CR", "LF.CRLF", "CRLF.LF"],
)
async def test_smuggling_never_two_messages(env: SmtpEnv, fake_end: bytes) -> None:
    payload = (
        b"EHLO attacker.example\r\nMAIL FROM:<carol@example.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n"
        + b"From: carol@example.net\r\nSubject: first\r\n\r\nfirst body"
        + fake_end
        + SMUGGLED
        + b".\r\nQUIT\r\n"
    )
    text = await converse(env.address("smtp"), payload)
    assert "550 5.6.0" in text  # the one message, with its bare CR/LF, is refused after its real end
    assert text.count("354") == 1
    assert await env.messages() == []
    assert env.blob_count() == 0
    assert env.spool_files() == []


async def test_proper_message_after_refused_one_still_works(env: SmtpEnv) -> None:
    payload = (
        b"EHLO a\r\nMAIL FROM:<c@example.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\nbad\nline\r\n.\r\n"
        b"MAIL FROM:<c@example.net>\r\nRCPT TO:<alice@example.org>\r\n"
        b"DATA\r\nSubject: ok\r\n\r\ngood\r\n.\r\nQUIT\r\n"
    )
    text = await converse(env.address("smtp"), payload)
    assert "550 5.6.0" in text
    assert "250 2.0.0 Delivered" in text
    stored = await env.messages()
    assert len(stored) == 1
    assert stored[0].endswith(b"Subject: ok\r\n\r\ngood\r\n")


async def test_starttls_pipelined_plaintext_is_never_executed(env: SmtpEnv) -> None:
    host, port = env.address("smtp")
    reader, writer = await asyncio.open_connection(host, port)
    try:
        await reader.readline()
        # A man in the middle appends a command behind STARTTLS in the same packet.
        writer.write(
            b"EHLO x\r\nSTARTTLS\r\nMAIL FROM:<evil@remote.example>\r\nRCPT TO:<alice@example.org>\r\n"
        )
        await writer.drain()
        lines = []
        while not (line := await reader.readline()).startswith(b"220"):
            lines.append(line)
        assert line.startswith(b"220 2.0.0")
        await writer.start_tls(env.client_context(), server_hostname="localhost")
        writer.write(b"NOOP\r\nMAIL FROM:<carol@example.net>\r\nQUIT\r\n")
        await writer.drain()
        after = (await reader.read()).decode()
    finally:
        writer.close()
    replies = [line for line in after.split("\r\n") if line]
    assert replies[0] == "250 2.0.0 Ok"  # the NOOP: nothing answered the injected MAIL
    assert replies[1].startswith("503")  # RFC 3207 §4.2: after TLS the client must EHLO again
    assert replies[2].startswith("221")
    assert await env.messages() == []


async def test_implicit_tls_submission_smuggling(env: SmtpEnv) -> None:
    text = await converse(
        env.address("submissions"),
        b"EHLO a\r\nMAIL FROM:<alice@example.org>\r\nQUIT\r\n",
        context=env.client_context(),
    )
    assert "530 5.7.0" in text  # no AUTH: no MAIL
