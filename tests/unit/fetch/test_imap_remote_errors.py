"""The asyncio IMAP client (pochta.fetch.imap_remote) against scripted servers on 127.0.0.1 that
misbehave: each failure is a RemoteError that says what happened, never a hang or a traceback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from pochta.fetch.imap_remote import AuthFailed, ImapRemote, RemoteError, RemoteServer, TlsMode

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Script], Awaitable[int]]]:
    servers: list[asyncio.Server] = []

    async def start(script: Script) -> int:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await script(reader, writer)
            finally:
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def _plain(port: int, **options: float) -> RemoteServer:
    return RemoteServer("127.0.0.1", port, TlsMode.NONE, **options)  # type: ignore[arg-type]


async def test_silent_server_times_out(serve: Callable[[Script], Awaitable[int]]) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    port = await serve(silent)
    with pytest.raises(RemoteError, match=r"did not answer in 0\.3 s"):
        await ImapRemote.connect(_plain(port, timeout=0.3))


async def test_refusals_and_broken_responses(serve: Callable[[Script], Awaitable[int]]) -> None:
    async def bye(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* BYE too busy\r\n")

    with pytest.raises(RemoteError, match="refused the connection"):
        await ImapRemote.connect(_plain(await serve(bye)))

    async def long_line(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK " + b"x" * 70000 + b"\r\n")

    with pytest.raises(RemoteError, match="line longer than 65536"):
        await ImapRemote.connect(_plain(await serve(long_line)))

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK hi\r\n")
        await reader.readline()
        writer.write(b"* CAPABILITY IMAP4rev1\r\np1 MAYBE\r\n")

    client = await ImapRemote.connect(_plain(await serve(garbage)))
    with pytest.raises(RemoteError, match="is not OK, NO or BAD"):
        await client.capability()
    await client.close()


async def test_starttls_refused_or_injected(serve: Callable[[Script], Awaitable[int]]) -> None:
    async def no_starttls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\r\n")
        await reader.read()

    with pytest.raises(RemoteError, match="does not offer STARTTLS"):
        await ImapRemote.connect(RemoteServer("127.0.0.1", await serve(no_starttls), TlsMode.STARTTLS))

    async def injected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n")
        await reader.readline()
        # RFC 9051 §6.2.1: a response after the OK, before TLS, is a man in the middle's.
        writer.write(b"p1 OK go\r\n* OK [CAPABILITY AUTH=PLAIN] injected\r\n")
        await reader.read()

    with pytest.raises(RemoteError, match="data after the STARTTLS answer"):
        await ImapRemote.connect(RemoteServer("127.0.0.1", await serve(injected), TlsMode.STARTTLS))


async def test_login_refused_and_closed(serve: Callable[[Script], Awaitable[int]]) -> None:
    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK [CAPABILITY IMAP4rev1] hi\r\n")
        line = await reader.readline()
        assert line.startswith(b"p1 LOGIN alice ")
        writer.write(b"p1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")
        await reader.readline()

    client = await ImapRemote.connect(_plain(await serve(refuse)))
    with pytest.raises(AuthFailed, match=r"LOGIN: NO \[AUTHENTICATIONFAILED\] Authentication failed."):
        await client.login("alice", "secret")
    with pytest.raises(RemoteError, match="closed the connection"):
        await client.capability()
    await client.close()


async def test_synchronizing_literal_and_sasl_continuation(serve: Callable[[Script], Awaitable[int]]) -> None:
    # No LITERAL+ and no SASL-IR: the client waits for each continuation request.
    seen: list[bytes] = []

    async def strict(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN UIDPLUS] hi\r\n")
        seen.append(await reader.readline())  # p1 AUTHENTICATE PLAIN
        writer.write(b"+ \r\n")
        seen.append(await reader.readline())  # the base64 response
        writer.write(b"p1 OK [CAPABILITY IMAP4rev1 UIDPLUS] in\r\n")
        seen.append(await reader.readline())  # p2 APPEND ... {5}
        assert not await _arrives(reader)  # nothing more before the continuation request
        writer.write(b"+ go on\r\n")
        seen.append(await reader.readexactly(7))  # the literal and CRLF
        writer.write(b"p2 OK [APPENDUID 9 41] done\r\n")
        await reader.read()

    client = await ImapRemote.connect(_plain(await serve(strict)))
    await client.login("alice", "pw")
    assert await client.append("INBOX", b"hello", ["\\Seen"]) == 41
    await client.close()
    assert seen == [
        b"p1 AUTHENTICATE PLAIN\r\n",
        b"AGFsaWNlAHB3\r\n",  # base64 of NUL alice NUL pw (RFC 4616)
        b"p2 APPEND INBOX (\\Seen) {5}\r\n",
        b"hello\r\n",
    ]


async def _arrives(reader: asyncio.StreamReader) -> bool:
    try:
        async with asyncio.timeout(0.2):
            return bool(await reader.read(1))
    except TimeoutError:
        return False
