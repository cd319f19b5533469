"""Connection-level checks at the MX over real sockets, from 127.0.0.x outside trusted_networks:
a flood of unknown recipients gets 421 and blocks the address, an early talker is refused, bad HELO
names are refused, and the connection and message rates hold."""

from __future__ import annotations

import asyncio
import smtplib
import socket
from pathlib import Path

from smtp_env import ALICE, SmtpEnv, message, smtp_server, smtp_settings

STRANGER = "127.0.0.2"


def _raw(port: int, source: str, payload: bytes, wait_greeting: bool = True) -> bytes:
    """Sends ``payload`` (after the greeting, or at once) and returns all the server says."""
    with socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0)) as sock:
        data = b""
        if wait_greeting:
            while not data.endswith(b"\r\n"):
                data += sock.recv(4096)
        sock.sendall(payload)
        while chunk := sock.recv(4096):
            data += chunk
        return data


async def test_unknown_recipient_flood_gets_421_and_a_block(tmp_path: Path) -> None:
    settings = smtp_settings(connection_checks={"max_unknown_recipients": 3, "block_seconds": 30})
    async with smtp_server(tmp_path, settings) as env:
        port = env.port("smtp")
        rcpts = b"".join(f"RCPT TO:<nobody{n}@example.org>\r\n".encode() for n in range(5))
        payload = b"EHLO client.example.net\r\nMAIL FROM:<x@example.net>\r\n" + rcpts + b"QUIT\r\n"
        out = await asyncio.to_thread(_raw, port, STRANGER, payload)
        lines = out.decode().split("\r\n")
        assert [line[:3] for line in lines if line[:3] in ("550", "421")] == ["550", "550", "550", "421"]
        assert "421 4.7.0 mx.example.org Too many unknown recipients; try again later" in lines
        # The address is blocked: its next connection is refused at once ...
        again = await asyncio.to_thread(_raw, port, STRANGER, b"", False)
        assert (
            again == b"421 4.7.0 mx.example.org Client [127.0.0.2] temporarily blocked; try again later\r\n"
        )
        # ... another one is not.
        assert await asyncio.to_thread(_send, env, "127.0.0.3") == {}
        assert env.metrics.mx_refusals.labels(check="unknown_recipients")._value.get() == 1
        assert env.metrics.mx_refusals.labels(check="blocked")._value.get() == 1


def _after_ehlo(port: int, source: str, payload: bytes) -> bytes:
    """EHLO first, and ``payload`` once its reply came: the session's loop then waits, and what
    arrives is answered in the socket callback (the handler's fast reader)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0)) as sock:
        data = b""
        while not data.endswith(b"\r\n"):
            data += sock.recv(4096)
        sock.sendall(b"EHLO c.example.net\r\n")
        while b"\r\n250 " not in data:
            data += sock.recv(4096)
        sock.sendall(payload)
        while chunk := sock.recv(4096):
            data += chunk
        return data


async def test_unknown_recipients_in_the_fast_path_too(tmp_path: Path) -> None:
    # A recipient the process resolved before is answered in the socket callback: the limit holds
    # there too, and nothing pipelined after the 421 is answered.
    settings = smtp_settings(connection_checks={"max_unknown_recipients": 1})
    async with smtp_server(tmp_path, settings) as env:
        port = env.port("smtp")
        mail = b"MAIL FROM:<x@example.net>\r\n"
        await asyncio.to_thread(
            _after_ehlo, port, "127.0.0.4", mail + b"RCPT TO:<no@example.org>\r\nQUIT\r\n"
        )
        rcpts = b"RCPT TO:<no@example.org>\r\n" * 3
        out = await asyncio.to_thread(_after_ehlo, port, STRANGER, mail + rcpts + b"NOOP\r\n")
        codes = [line[:3] for line in out.decode().split("\r\n") if line]
        assert codes[-3:] == ["250", "550", "421"]


def _send(env: SmtpEnv, source: str, helo: str = "client.example.net") -> dict[str, tuple[int, bytes]]:
    with smtplib.SMTP("127.0.0.1", env.port("smtp"), timeout=10, source_address=(source, 0)) as client:
        client.ehlo(helo)
        return client.sendmail("carol@example.net", [ALICE], message("gate"))


async def test_an_early_talker_is_refused(tmp_path: Path) -> None:
    settings = smtp_settings(connection_checks={"greet_delay": 0.5})
    async with smtp_server(tmp_path, settings) as env:
        out = await asyncio.to_thread(_raw, env.port("smtp"), STRANGER, b"EHLO spam.example\r\n", False)
        assert out == b"554 5.5.1 mx.example.org Protocol error: client spoke before the greeting\r\n"
        # A client that waits for the greeting is served; a trusted one is not made to wait.
        assert await asyncio.to_thread(_send, env, "127.0.0.3") == {}
        assert await asyncio.to_thread(_send, env, "127.0.0.1") == {}
        assert env.metrics.mx_refusals.labels(check="early_talker")._value.get() == 1


async def test_invalid_helo_names_are_refused(tmp_path: Path) -> None:
    async with smtp_server(tmp_path) as env:
        port = env.port("smtp")
        for helo, reply in [
            ("127.0.0.2", b"501 5.5.2 Invalid HELO name: an address must be written in brackets"),
            ("mx.example.org", b"550 5.7.1 HELO name claims to be this server"),
            ("[127.0.0.1]", b"550 5.7.1 HELO name claims to be this server"),
            ("bad..name", b"501 5.5.2 Invalid HELO name: not a host name"),
        ]:
            out = await asyncio.to_thread(_raw, port, STRANGER, f"EHLO {helo}\r\nQUIT\r\n".encode())
            assert reply in out, (helo, out)
        assert await asyncio.to_thread(_send, env, STRANGER, "[127.0.0.2]") == {}
        assert await asyncio.to_thread(_send, env, "127.0.0.1", "mx.example.org") == {}  # trusted


async def test_helo_log_only(tmp_path: Path) -> None:
    async with smtp_server(tmp_path, smtp_settings(connection_checks={"helo": "log"})) as env:
        assert await asyncio.to_thread(_send, env, STRANGER, "mx.example.org") == {}


async def test_connection_and_message_rates(tmp_path: Path) -> None:
    settings = smtp_settings(connection_checks={"connection_rate": 2, "message_rate": 3, "rate_window": 60})
    async with smtp_server(tmp_path, settings) as env:
        port = env.port("smtp")
        mail = b"EHLO c.example.net\r\n" + b"MAIL FROM:<x@example.net>\r\nRSET\r\n" * 2 + b"QUIT\r\n"
        first = await asyncio.to_thread(_raw, port, STRANGER, mail)
        assert first.count(b"250 2.1.0") == 2
        second = await asyncio.to_thread(_raw, port, STRANGER, mail)
        assert b"451 4.7.1 Too many messages from [127.0.0.2]; try again later" in second
        third = await asyncio.to_thread(_raw, port, STRANGER, b"", False)
        assert third == b"421 4.7.0 mx.example.org Too many connections from [127.0.0.2]; try again later\r\n"
        assert await asyncio.to_thread(_send, env, "127.0.0.3") == {}
