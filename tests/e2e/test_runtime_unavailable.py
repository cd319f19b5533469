"""The placeholder handlers over real sockets, driven by Python's own clients: each must make the
client raise its proper error (not hang, not a protocol violation)."""

from __future__ import annotations

import asyncio
import imaplib
import io
import poplib
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from pochta.config import LISTENER_KINDS, Settings
from pochta.log import configure_logging, reset_logging
from pochta.metrics import Metrics
from pochta.server.listeners import Server
from pochta.server.unavailable import default_handlers

WAIT = 5.0
ALL_TCP = {name: "127.0.0.1:0" for name in LISTENER_KINDS}


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def client_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture(autouse=True)
def quiet_log() -> Iterator[None]:
    configure_logging(stream=io.StringIO())
    yield
    reset_logging()


def make_settings(listeners: dict[str, str], **server: Any) -> Settings:
    return Settings.model_validate(
        {
            "hostname": "mx.example.org",
            "listeners": {name: "off" for name in LISTENER_KINDS} | listeners,
            "server": {"idle_timeout_unauthenticated": 5.0, "shutdown_grace": 1.0} | server,
            "limits": {"max_errors": 3},
        }
    )


async def make_server(config: Settings, tmp_path: Path, ca: trustme.CA) -> Server:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    server = Server(config, tmp_path, default_handlers(config), metrics=Metrics(), ssl_context=context)
    await server.start()
    return server


@pytest.fixture
async def server(tmp_path: Path, ca: trustme.CA) -> AsyncIterator[Server]:
    server = await make_server(make_settings(ALL_TCP), tmp_path, ca)
    yield server
    await server.stop()


def port(server: Server, name: str) -> int:
    address = server.bound_addresses()[name]
    assert isinstance(address, tuple)
    return address[1]


async def raw(server: Server, name: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port(server, name))


async def read_all(reader: asyncio.StreamReader) -> bytes:
    async with asyncio.timeout(WAIT):
        return await reader.read()


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    await writer.wait_closed()


# poplib leaves its socket open when the greeting is -ERR; close it so no ResourceWarning escapes.
class _POP3(poplib.POP3):
    def _getresp(self) -> bytes:
        try:
            return super()._getresp()
        except poplib.error_proto:
            self.close()
            raise


class _POP3_SSL(poplib.POP3_SSL):
    def _getresp(self) -> bytes:
        try:
            return super()._getresp()
        except poplib.error_proto:
            self.close()
            raise


# -- SMTP, submission, LMTP ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["smtp", "submission", "lmtp"])
async def test_smtplib_gets_554(server: Server, name: str) -> None:
    def connect() -> None:
        client = smtplib.LMTP if name == "lmtp" else smtplib.SMTP
        client("127.0.0.1", port(server, name), timeout=WAIT)

    with pytest.raises(smtplib.SMTPConnectError) as caught:
        await asyncio.to_thread(connect)
    assert caught.value.smtp_code == 554
    service = b"LMTP" if name == "lmtp" else b"SMTP"
    assert (
        caught.value.smtp_error
        == b"5.3.2 mx.example.org pochta: " + service + b" service not implemented yet"
    )


async def test_submissions_over_implicit_tls(server: Server, client_tls: ssl.SSLContext) -> None:
    def connect() -> None:
        smtplib.SMTP_SSL("localhost", port(server, "submissions"), context=client_tls, timeout=WAIT)

    with pytest.raises(smtplib.SMTPConnectError) as caught:
        await asyncio.to_thread(connect)
    assert caught.value.smtp_code == 554


async def test_smtp_waits_for_quit_and_answers_503_meanwhile(server: Server) -> None:
    """RFC 5321 §3.1: after a 554 greeting the server waits for QUIT, answering 503 until then."""
    reader, writer = await raw(server, "smtp")
    assert (await reader.readline()).startswith(b"554 5.3.2 ")
    writer.write(b"EHLO client.example\r\n")
    assert (
        await reader.readline() == b"503 5.5.1 Bad sequence of commands: service not available, send QUIT\r\n"
    )
    writer.write(b"QUIT\r\n")
    assert await read_all(reader) == b"221 2.0.0 mx.example.org closing connection\r\n"
    await close(writer)


async def test_smtp_gives_up_after_max_errors(server: Server) -> None:
    reader, writer = await raw(server, "smtp")
    await reader.readline()
    writer.write(b"HELO a\r\nHELO b\r\n" + b"x" * 600 + b"\r\nQUIT\r\n")
    replies = (await read_all(reader)).splitlines()
    assert replies == [
        b"503 5.5.1 Bad sequence of commands: service not available, send QUIT",
        b"503 5.5.1 Bad sequence of commands: service not available, send QUIT",
        b"500 5.5.6 Line too long",
        b"421 4.7.0 mx.example.org too many errors, closing connection",
    ]
    await close(writer)


async def test_lmtp_over_unix_socket(tmp_path: Path, ca: trustme.CA) -> None:
    path = tmp_path / "lmtp.sock"
    server = await make_server(make_settings({"lmtp": str(path)}), tmp_path, ca)
    try:
        with pytest.raises(smtplib.SMTPConnectError) as caught:
            await asyncio.to_thread(smtplib.LMTP, str(path), timeout=WAIT)
        assert caught.value.smtp_code == 554
    finally:
        await server.stop()


async def test_smtp_busy_is_421(tmp_path: Path, ca: trustme.CA) -> None:
    server = await make_server(make_settings({"smtp": "127.0.0.1:0"}, max_connections=1), tmp_path, ca)
    try:
        reader, writer = await raw(server, "smtp")
        await reader.readline()
        with pytest.raises(smtplib.SMTPConnectError) as caught:
            await asyncio.to_thread(smtplib.SMTP, "127.0.0.1", port(server, "smtp"), timeout=WAIT)
        assert caught.value.smtp_code == 421
        assert caught.value.smtp_error.startswith(b"4.3.2 mx.example.org too many connections")
        await close(writer)
    finally:
        await server.stop()


async def test_smtp_goodbye_on_shutdown(tmp_path: Path, ca: trustme.CA) -> None:
    server = await make_server(make_settings({"smtp": "127.0.0.1:0"}), tmp_path, ca)
    reader, writer = await raw(server, "smtp")
    await reader.readline()
    await server.stop()
    assert await read_all(reader) == b"421 4.3.2 mx.example.org service shutting down, closing connection\r\n"
    await close(writer)


# -- IMAP, POP3, ManageSieve, HTTP ---------------------------------------------------------------


async def test_imaplib_gets_bye(server: Server) -> None:
    with pytest.raises(imaplib.IMAP4.error, match=r"BYE \[UNAVAILABLE\] IMAP not implemented yet"):
        await asyncio.to_thread(imaplib.IMAP4, "127.0.0.1", port(server, "imap"), timeout=WAIT)


async def test_imaps_gets_bye(server: Server, client_tls: ssl.SSLContext) -> None:
    with pytest.raises(imaplib.IMAP4.error, match=r"UNAVAILABLE"):
        await asyncio.to_thread(
            imaplib.IMAP4_SSL, "localhost", port(server, "imaps"), ssl_context=client_tls, timeout=WAIT
        )


async def test_poplib_gets_err(server: Server) -> None:
    with pytest.raises(poplib.error_proto, match=r"-ERR \[SYS/PERM\] POP3 not implemented yet"):
        await asyncio.to_thread(_POP3, "127.0.0.1", port(server, "pop3"), timeout=WAIT)


async def test_pop3s_gets_err(server: Server, client_tls: ssl.SSLContext) -> None:
    with pytest.raises(poplib.error_proto, match=r"SYS/PERM"):
        await asyncio.to_thread(
            _POP3_SSL, "localhost", port(server, "pop3s"), context=client_tls, timeout=WAIT
        )


async def test_managesieve_gets_bye(server: Server) -> None:
    reader, writer = await raw(server, "managesieve")
    assert await read_all(reader) == b'BYE "ManageSieve not implemented yet"\r\n'
    await close(writer)


async def test_http_gets_503(server: Server) -> None:
    url = f"http://127.0.0.1:{port(server, 'http')}/"

    def fetch() -> None:
        with urllib.request.urlopen(url, timeout=WAIT):
            pass

    with pytest.raises(urllib.error.HTTPError) as caught:
        await asyncio.to_thread(fetch)
    assert caught.value.code == 503
    assert caught.value.read() == b"pochta: HTTP service not implemented yet\n"
    caught.value.close()


async def test_smtp_overlong_line_is_one_error_then_quit_works(server: Server) -> None:
    reader, writer = await raw(server, "smtp")
    await reader.readline()
    writer.write(b"y" * 3000)  # no line end yet: dropped as it arrives
    await writer.drain()
    writer.write(b"y" * 3000 + b"\r\nQUIT\r\n")
    assert (await read_all(reader)).splitlines() == [
        b"500 5.5.6 Line too long",
        b"221 2.0.0 mx.example.org closing connection",
    ]
    await close(writer)


async def test_http_head_gets_503_without_body(server: Server) -> None:
    reader, writer = await raw(server, "http")
    writer.write(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
    response = await read_all(reader)
    assert response.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert response.endswith(b"\r\n\r\n")
    await close(writer)
