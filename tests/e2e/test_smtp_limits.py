"""Every limit of the SMTP listeners over a real socket, each with its own reply code."""

from __future__ import annotations

import asyncio
from pathlib import Path

from server_env import drip
from smtp_env import SmtpEnv, converse, smtp_server, smtp_settings

HEAD = b"EHLO client.example\r\nMAIL FROM:<carol@example.net>\r\n"


def _codes(text: str) -> list[str]:
    return [line[:9] for line in text.split("\r\n") if line and line[3:4] == " "]


async def _messages(env: SmtpEnv) -> int:
    return len(await env.messages())


async def test_too_many_recipients_452_4_5_3(tmp_path: Path) -> None:
    async with smtp_server(tmp_path, smtp_settings(limits={"max_recipients": 2})) as env:
        rcpts = b"RCPT TO:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\nRCPT TO:<alice@example.org>\r\n"
        text = await converse(env.address("smtp"), HEAD + rcpts + b"QUIT\r\n")
        assert _codes(text)[5] == "452 4.5.3"


async def test_declared_size_over_limit_552_5_3_4(tmp_path: Path) -> None:
    async with smtp_server(tmp_path, smtp_settings(limits={"max_message_size": 2048})) as env:
        text = await converse(
            env.address("smtp"), b"EHLO c\r\nMAIL FROM:<c@example.net> SIZE=4096\r\nQUIT\r\n"
        )
        assert _codes(text)[2] == "552 5.3.4"


async def test_actual_size_over_limit_552_5_3_4(tmp_path: Path) -> None:
    async with smtp_server(tmp_path, smtp_settings(limits={"max_message_size": 2048})) as env:
        body = b"Subject: big\r\n\r\n" + b"x" * 70 + b"\r\n"
        payload = HEAD + b"RCPT TO:<alice@example.org>\r\nDATA\r\n" + body * 60 + b".\r\nQUIT\r\n"
        text = await converse(env.address("smtp"), payload)
        assert "552 5.3.4" in _codes(text)
        assert await _messages(env) == 0
        assert env.spool_files() == []


async def test_line_too_long_500_5_5_2(tmp_path: Path) -> None:
    async with smtp_server(tmp_path) as env:
        text = await converse(env.address("smtp"), b"EHLO c\r\nNOOP " + b"x" * 1000 + b"\r\nQUIT\r\n")
        assert _codes(text)[2] == "500 5.5.2"


async def test_mail_loop_554_5_4_6(tmp_path: Path) -> None:
    async with smtp_server(tmp_path) as env:
        received = b"".join(
            b"Received: from hop%d.example by hop.example; Sun, 1 Jan 2026\r\n" % i for i in range(51)
        )
        payload = (
            HEAD
            + b"RCPT TO:<alice@example.org>\r\nDATA\r\n"
            + received
            + b"Subject: loop\r\n\r\nx\r\n.\r\nQUIT\r\n"
        )
        text = await converse(env.address("smtp"), payload)
        assert "554 5.4.6" in _codes(text)
        assert await _messages(env) == 0


async def test_fifty_received_is_still_fine(tmp_path: Path) -> None:
    async with smtp_server(tmp_path) as env:
        received = b"".join(
            b"Received: from hop%d.example by hop.example; Sun, 1 Jan 2026\r\n" % i for i in range(50)
        )
        payload = (
            HEAD
            + b"RCPT TO:<alice@example.org>\r\nDATA\r\n"
            + received
            + b"Subject: ok\r\n\r\nx\r\n.\r\nQUIT\r\n"
        )
        await converse(env.address("smtp"), payload)
        assert await _messages(env) == 1


async def test_too_many_header_fields_552(tmp_path: Path) -> None:
    async with smtp_server(tmp_path, smtp_settings(smtp={"max_header_count": 20})) as env:
        fields = b"".join(b"X-F%d: v\r\n" % i for i in range(30))
        payload = HEAD + b"RCPT TO:<alice@example.org>\r\nDATA\r\n" + fields + b"\r\nx\r\n.\r\nQUIT\r\n"
        text = await converse(env.address("smtp"), payload)
        assert "552 5.3.4" in _codes(text)
        assert await _messages(env) == 0


async def test_messages_per_connection_421(tmp_path: Path) -> None:
    async with smtp_server(tmp_path, smtp_settings(smtp={"max_messages_per_connection": 1})) as env:
        one = b"MAIL FROM:<c@example.net>\r\nRCPT TO:<alice@example.org>\r\n"
        one += b"DATA\r\nSubject: m\r\n\r\nx\r\n.\r\n"
        text = await converse(env.address("smtp"), b"EHLO c\r\n" + one + one + b"QUIT\r\n")
        assert _codes(text)[-1] == "421 4.7.0"
        assert await _messages(env) == 1


async def test_error_budget_421(tmp_path: Path) -> None:
    async with smtp_server(tmp_path, smtp_settings(limits={"max_errors": 3})) as env:
        text = await converse(env.address("smtp"), b"EHLO c\r\n" + b"BOGUS\r\n" * 10)
        codes = _codes(text)
        assert codes[-1] == "421 4.7.0"
        assert codes.count("500 5.5.1") == 3


async def test_low_disk_452_4_3_1(tmp_path: Path) -> None:
    settings = smtp_settings(server={"min_free_disk": 10**18})
    async with smtp_server(tmp_path, settings) as env:
        text = await converse(env.address("smtp"), HEAD + b"QUIT\r\n")
        assert _codes(text)[2] == "452 4.3.1"


async def test_command_timeout_421_4_4_2(tmp_path: Path) -> None:
    async with smtp_server(tmp_path, smtp_settings(smtp={"command_timeout": 0.3})) as env:
        text = await converse(env.address("smtp"), b"EHLO c\r\n")
        assert _codes(text)[-1] == "421 4.4.2"


async def test_data_timeout_drops_the_message(tmp_path: Path) -> None:
    async with smtp_server(tmp_path, smtp_settings(smtp={"data_timeout": 0.3})) as env:
        payload = HEAD + b"RCPT TO:<alice@example.org>\r\nDATA\r\nSubject: half\r\n\r\nhalf a mess"
        text = await converse(env.address("smtp"), payload)
        assert _codes(text)[-1] == "421 4.4.2"
        assert await _messages(env) == 0
        assert env.spool_files() == []


async def test_deadlines(tmp_path: Path) -> None:
    # One command line must be complete within server.line_timeout on every listener; the login
    # deadline applies to submission only: the MX and LMTP never log in.
    settings = smtp_settings(server={"line_timeout": 1.0, "login_timeout": 2.0})
    async with smtp_server(tmp_path, settings) as env:
        results = await asyncio.gather(
            asyncio.to_thread(drip, env.address("smtp"), b"EHLO client.example\r\n"),
            asyncio.to_thread(drip, env.address("lmtp"), b"LHLO client.example\r\n"),
            asyncio.to_thread(drip, env.address("submission"), b"NOOP\r\n", octets=6),
            asyncio.to_thread(drip, env.address("smtp"), b"NOOP\r\n", octets=6, seconds=3.5),
        )
    for said, seconds in results[:3]:
        assert said.decode().splitlines()[-1].startswith("421 4.4.2 "), said
        assert 0.9 < seconds < 3
    assert results[2][1] > 1.9  # submission: whole lines, but no login within 2 s
    said, seconds = results[3]
    assert b"421" not in said  # the MX: whole lines keep the session
    assert said.count(b"250 2.0.0") > 5
    assert seconds >= 3.5
