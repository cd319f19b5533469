"""The server runtime over real sockets: listeners, TLS, STARTTLS, limits, timeouts, shutdown, logs.

A tiny line protocol stands in for the mail protocols: ``STARTTLS``, ``ECHO x``, ``SLOW seconds``
(a command that runs inside ``busy_section``), ``INFO``, ``LOGIN`` (raises the idle timeout and
ends the login phase), ``FAST`` (from then on ``PING`` lines are answered by a fast reader in the
socket callback, ``BOOM`` raises there), ``PING``, ``CRASH`` and ``QUIT``. A passed deadline is
answered ``- timeout: why``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import signal
import socket
import ssl
import stat
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from pochta.config import LISTENER_KINDS, Settings
from pochta.log import configure_logging, reset_logging
from pochta.metrics import Metrics
from pochta.server.connection import Connection, DeadlineExpired
from pochta.server.listeners import AddressCounts, ProtocolHandler, Server, StartupError, run_until_signal

PROTOCOLS = {kind.protocol for kind in LISTENER_KINDS.values()}
WAIT = 5.0  # upper bound for anything a test waits for; only a hang ever reaches it


# -- the test protocol ---------------------------------------------------------------------------


class LineHandler:
    """A line protocol. ``byte_at_a_time`` reads one byte per read_some, so that whatever follows
    a command stays in the Connection's buffer rather than in ours."""

    def __init__(self, *, byte_at_a_time: bool = False) -> None:
        self.byte_at_a_time = byte_at_a_time
        self.sessions = 0

    async def __call__(self, conn: Connection) -> None:
        self.sessions += 1
        await conn.send(
            f"+ hello secure={conn.is_secure} peer={conn.peer_ip} local={conn.local}\r\n".encode()
        )
        buffer = bytearray()
        handed_over = [False]  # the fast reader interrupted the read: b"" is no end of stream

        def fast(data: bytes) -> None:
            buffer.extend(data)
            while (newline := buffer.find(b"\n")) >= 0 and buffer[:newline].rstrip(b"\r") in (
                b"PING",
                b"BOOM",
            ):
                if buffer.startswith(b"BOOM"):
                    raise RuntimeError("fast reader bug")
                del buffer[: newline + 1]
                conn.write(b"PONG fast\r\n")
            if buffer:
                handed_over[0] = True
                conn.interrupt_read()

        while True:
            newline = buffer.find(b"\n")
            if newline < 0:
                try:
                    data = await conn.read_some(1 if self.byte_at_a_time else 65536, line_open=bool(buffer))
                except DeadlineExpired as exc:
                    await conn.send(f"- timeout: {exc}\r\n".encode())
                    return
                if not data and not handed_over[0]:
                    return
                handed_over[0] = False
                buffer += data
                continue
            line = bytes(buffer[:newline]).rstrip(b"\r")
            del buffer[: newline + 1]
            verb, _, arg = line.partition(b" ")
            if verb == b"STARTTLS":
                await conn.send(b"+ go ahead\r\n")
                buffer.clear()  # the protocol core drops what it buffered, too
                await conn.start_tls()
            elif verb == b"ECHO":
                await conn.send(arg + b"\r\n")
            elif verb == b"INFO":
                await conn.send(f"secure={conn.is_secure} starttls={conn.starttls_available}\r\n".encode())
            elif verb == b"SLOW":
                with conn.busy_section():
                    await conn.send(b"+ working\r\n")
                    await asyncio.sleep(float(arg))
                    await conn.send(b"done\r\n")
            elif verb == b"LOGIN":
                conn.set_idle_timeout(30)
                conn.end_login_phase()
                await conn.send(b"+ logged in\r\n")
            elif verb == b"FAST":
                conn.set_fast_reader(fast)
                await conn.send(b"+ fast\r\n")
            elif verb == b"PING":
                await conn.send(b"PONG loop\r\n")
            elif verb == b"COMPRESS":
                await conn.send(b"+ deflate\r\n")
                buffer.clear()  # what the client sent before it saw the go-ahead
                conn.start_compression(level=1, max_inflate=4096)
            elif verb == b"SIZES":  # read int(arg) octets, report the largest read
                got, largest = len(buffer), len(buffer)  # what came with the line
                buffer.clear()
                while got < int(arg):
                    data = await conn.read_some(1 << 20)
                    if not data:
                        return
                    got, largest = got + len(data), max(largest, len(data))
                await conn.send(f"got={got} largest={largest}\r\n".encode())
            elif verb == b"CRASH":
                raise RuntimeError("handler bug")
            elif verb == b"QUIT":
                await conn.send(b"+ bye\r\n")
                return
            else:
                await conn.send(b"- what?\r\n")

    async def busy(self, conn: Connection) -> None:
        await conn.send(b"- busy\r\n")

    async def shutdown(self, conn: Connection) -> None:
        await conn.send(b"- bye\r\n")


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.deflate: Any = None  # after ``start_deflate``: zlib compressor and decompressor
        self.inflate: Any = None
        self.inflated = b""

    def start_deflate(self) -> None:
        """Raw DEFLATE both ways from now on (what the COMPRESS verb starts on the server)."""
        self.deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        self.inflate = zlib.decompressobj(-zlib.MAX_WBITS)

    @classmethod
    async def connect(cls, address: Any, ssl_context: ssl.SSLContext | None = None) -> Client:
        if isinstance(address, str):
            reader, writer = await asyncio.open_unix_connection(address)
        else:
            host, port = address
            reader, writer = await asyncio.open_connection(
                host, port, ssl=ssl_context, server_hostname="localhost" if ssl_context else None
            )
        return cls(reader, writer)

    async def line(self) -> bytes:
        async with asyncio.timeout(WAIT):
            if self.inflate is None:
                return await self.reader.readline()
            while b"\n" not in self.inflated:
                chunk = await self.reader.read(65536)
                if not chunk:
                    break
                self.inflated += self.inflate.decompress(chunk)
            line, newline, self.inflated = self.inflated.partition(b"\n")
            return line + newline

    async def send(self, data: bytes) -> None:
        if self.deflate is not None:
            data = self.deflate.compress(data) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
        self.writer.write(data)
        await self.writer.drain()

    async def command(self, data: bytes) -> bytes:
        await self.send(data + b"\r\n")
        return await self.line()

    async def rest(self) -> bytes:
        """Everything until the server closes."""
        async with asyncio.timeout(WAIT):
            return await self.reader.read()

    async def starttls(self, context: ssl.SSLContext) -> None:
        await self.writer.start_tls(context, server_hostname="localhost")

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):  # ssl.SSLError is an OSError
            await self.writer.wait_closed()


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost", "127.0.0.1", "::1").configure_cert(context)
    return context


@pytest.fixture(scope="module")
def client_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    configure_logging(stream=buffer)
    yield buffer
    reset_logging()


def settings(listeners: dict[str, str], **sections: Any) -> Settings:
    """Only ``listeners`` are on; tiny timeouts unless a test says otherwise."""
    data: dict[str, Any] = {
        "listeners": {name: "off" for name in LISTENER_KINDS} | listeners,
        "server": {"idle_timeout_unauthenticated": 5.0, "shutdown_grace": 2.0},
        "tls": {"handshake_timeout": 2.0},
    }
    for section, values in sections.items():
        data[section] = data.get(section, {}) | values
    return Settings.model_validate(data)


StartServer = Callable[..., Awaitable[Server]]


@pytest.fixture
async def start(tmp_path: Path, server_tls: ssl.SSLContext, log: io.StringIO) -> AsyncIterator[StartServer]:
    servers: list[Server] = []

    async def _start(
        config: Settings,
        handler: ProtocolHandler | None = None,
        *,
        tls: ssl.SSLContext | None = server_tls,
        data_dir: Path = tmp_path,
    ) -> Server:
        handler = handler if handler is not None else LineHandler()
        server = Server(
            config, data_dir, dict.fromkeys(PROTOCOLS, handler), metrics=Metrics(), ssl_context=tls
        )
        servers.append(server)
        await server.start()
        return server

    yield _start
    for server in servers:
        await server.stop()


def tcp(server: Server, name: str) -> tuple[str, int]:
    address = server.bound_addresses()[name]
    assert isinstance(address, tuple)
    return address


def sample(server: Server, name: str, **labels: str) -> float:
    value = server.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def eventually(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not predicate():  # noqa: ASYNC110 - server state observed from outside, no event to wait on
            await asyncio.sleep(0.01)


# -- listening -----------------------------------------------------------------------------------


async def test_port_zero_binds_and_logs_one_listening_line(start: StartServer, log: io.StringIO) -> None:
    server = await start(settings({"imap": "127.0.0.1:0", "imaps": "127.0.0.1:0", "lmtp": "127.0.0.1:0"}))
    bound = server.bound_addresses()
    assert set(bound) == {"imap", "imaps", "lmtp"}
    lines = log.getvalue().splitlines()
    for name, tls in (("imap", "starttls"), ("imaps", "implicit"), ("lmtp", "none")):
        host, port = tcp(server, name)
        assert port != 0
        pattern = (
            rf"^\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ info listening name={name} addr={host}:{port} tls={tls}$"
        )
        assert len([line for line in lines if re.match(pattern, line)]) == 1, lines
    client = await Client.connect(bound["imap"])
    assert await client.line() == b"+ hello secure=False peer=127.0.0.1 local=True\r\n"
    assert await client.command(b"ECHO hi") == b"hi\r\n"
    assert await client.command(b"QUIT") == b"+ bye\r\n"
    assert await client.rest() == b""
    await client.close()


async def test_logs_go_to_stderr_by_default(
    start: StartServer, capsys: pytest.CaptureFixture[str], log: io.StringIO
) -> None:
    configure_logging()  # no stream: sys.stderr, looked up per line
    server = await start(settings({"pop3": "127.0.0.1:0"}))
    host, port = tcp(server, "pop3")
    assert f"info listening name=pop3 addr={host}:{port} tls=starttls\n" in capsys.readouterr().err


async def test_every_line_of_a_session_carries_its_connection_id(
    start: StartServer, log: io.StringIO
) -> None:
    server = await start(settings({"imap": "127.0.0.1:0"}))
    for _ in range(2):
        client = await Client.connect(server.bound_addresses()["imap"])
        await client.line()
        await client.command(b"QUIT")
        await client.rest()
        await client.close()
    await eventually(lambda: log.getvalue().count(" disconnect ") == 2)
    session_lines = [
        line for line in log.getvalue().splitlines() if " connect " in line or " disconnect " in line
    ]
    ids = [re.search(r" conn=([a-z2-7]{8}) ", line) for line in session_lines]
    assert all(ids), session_lines
    assert len({m.group(1) for m in ids if m}) == 2  # two sessions, two ids, each on both lines
    assert "listener=imap peer=127.0.0.1:" in session_lines[0]


async def test_star_listens_on_every_address(start: StartServer, log: io.StringIO) -> None:
    server = await start(settings({"imap": "*:0"}))
    host, port = tcp(server, "imap")
    assert host in ("0.0.0.0", "::")
    assert re.search(r"info listening name=imap addr=(0\.0\.0\.0|\[::\]):\d+", log.getvalue())
    client = await Client.connect(("127.0.0.1" if host == "0.0.0.0" else "::1", port))
    assert (await client.line()).startswith(b"+ hello")
    await client.close()


def need_ipv6_loopback() -> None:
    """Skip (an environment without ::1, as some containers are) unless ::1 can be bound."""
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")


async def test_ipv6_loopback(start: StartServer) -> None:
    need_ipv6_loopback()
    server = await start(settings({"imap": "[::1]:0"}))
    host, port = tcp(server, "imap")
    assert host == "::1"
    client = await Client.connect(("::1", port))
    assert await client.line() == b"+ hello secure=False peer=::1 local=True\r\n"
    await client.close()


async def test_unix_socket_listener(start: StartServer, tmp_path: Path, log: io.StringIO) -> None:
    path = tmp_path / "lmtp.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))  # a socket file nobody listens on: what a crashed run leaves behind
    stale.close()
    server = await start(settings({"lmtp": str(path)}))
    assert server.bound_addresses() == {"lmtp": str(path)}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
    assert f"listening name=lmtp addr=unix:{path} tls=none" in log.getvalue()
    assert "removed stale socket" in log.getvalue()
    client = await Client.connect(str(path))
    assert await client.line() == b"+ hello secure=False peer=unix local=True\r\n"
    assert await client.command(b"ECHO lmtp") == b"lmtp\r\n"

    # A live socket belongs to someone: a second server must not steal it.
    with pytest.raises(StartupError, match="another process is listening"):
        await start(settings({"lmtp": str(path)}))
    assert await client.command(b"ECHO still") == b"still\r\n"
    await client.close()
    await server.stop()
    assert not path.exists()


async def test_unix_socket_path_that_is_not_a_socket_is_refused(start: StartServer, tmp_path: Path) -> None:
    path = tmp_path / "precious"
    path.write_text("data")
    with pytest.raises(StartupError, match="not a socket"):
        await start(settings({"lmtp": str(path)}))
    assert path.read_text() == "data"


async def test_address_in_use_is_a_startup_error_and_nothing_stays_bound(start: StartServer) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(StartupError, match=rf"listener pop3: cannot listen on 127.0.0.1:{port}"):
            await start(settings({"imap": "127.0.0.1:0", "pop3": f"127.0.0.1:{port}"}))


async def test_missing_handler_is_a_startup_error(tmp_path: Path, server_tls: ssl.SSLContext) -> None:
    server = Server(
        settings({"imap": "127.0.0.1:0"}), tmp_path, {"smtp": LineHandler()}, ssl_context=server_tls
    )
    with pytest.raises(StartupError, match="no handler for protocol 'imap'"):
        await server.start()


async def test_handler_crash_ends_only_that_session(start: StartServer, log: io.StringIO) -> None:
    server = await start(settings({"imap": "127.0.0.1:0"}))
    address = server.bound_addresses()["imap"]
    other = await Client.connect(address)
    await other.line()
    client = await Client.connect(address)
    await client.line()
    await client.send(b"CRASH\r\n")
    assert await client.rest() == b""
    assert "error session failed" in log.getvalue()
    assert "RuntimeError: handler bug" in log.getvalue()
    assert await other.command(b"ECHO alive") == b"alive\r\n"
    await client.close()
    await other.close()


async def test_fast_reader_answers_in_the_callback_and_hands_over(
    start: StartServer, log: io.StringIO
) -> None:
    server = await start(settings({"imap": "127.0.0.1:0"}))
    client = await Client.connect(server.bound_addresses()["imap"])
    await client.line()
    assert await client.command(b"FAST") == b"+ fast\r\n"
    assert await client.command(b"PING") == b"PONG fast\r\n"
    # What the fast reader cannot answer goes to the loop, in order, and the rest with it.
    await client.send(b"PING\r\nECHO after\r\nPING\r\n")
    assert [await client.line() for _ in range(3)] == [b"PONG fast\r\n", b"after\r\n", b"PONG loop\r\n"]
    assert await client.command(b"PING") == b"PONG fast\r\n"
    # An exception in the fast reader fails the session in its own task, as a handler's would.
    await client.send(b"BOOM\r\n")
    assert await client.rest() == b""
    assert "error session failed" in log.getvalue()
    assert "RuntimeError: fast reader bug" in log.getvalue()
    assert "data_received() call failed" not in log.getvalue()
    await client.close()


async def test_half_closed_client_still_gets_its_replies(start: StartServer) -> None:
    server = await start(settings({"imap": "127.0.0.1:0"}))
    client = await Client.connect(server.bound_addresses()["imap"])
    await client.line()
    await client.send(b"ECHO one\r\nQUIT\r\n")
    client.writer.write_eof()  # printf 'ECHO one\r\nQUIT\r\n' | nc host port
    assert await client.rest() == b"one\r\n+ bye\r\n"
    await client.close()


# -- TLS -----------------------------------------------------------------------------------------


async def test_implicit_tls(start: StartServer, client_tls: ssl.SSLContext, log: io.StringIO) -> None:
    server = await start(settings({"imaps": "127.0.0.1:0"}))
    client = await Client.connect(server.bound_addresses()["imaps"], client_tls)
    assert await client.line() == b"+ hello secure=True peer=127.0.0.1 local=True\r\n"
    assert await client.command(b"INFO") == b"secure=True starttls=False\r\n"
    assert await client.command(b"ECHO over tls") == b"over tls\r\n"
    assert await client.command(b"QUIT") == b"+ bye\r\n"
    await client.close()
    assert re.search(r"info tls conn=\w+ version=TLSv1\.[23] cipher=", log.getvalue())


async def test_starttls_upgrade(start: StartServer, client_tls: ssl.SSLContext) -> None:
    server = await start(settings({"imap": "127.0.0.1:0"}))
    client = await Client.connect(server.bound_addresses()["imap"])
    assert await client.line() == b"+ hello secure=False peer=127.0.0.1 local=True\r\n"
    assert await client.command(b"INFO") == b"secure=False starttls=True\r\n"
    assert await client.command(b"STARTTLS") == b"+ go ahead\r\n"
    await client.starttls(client_tls)
    assert await client.command(b"INFO") == b"secure=True starttls=False\r\n"
    assert await client.command(b"ECHO secret") == b"secret\r\n"
    await client.close()


@pytest.mark.parametrize("byte_at_a_time", [False, True], ids=["core-buffer", "connection-buffer"])
async def test_commands_pipelined_after_starttls_are_never_executed(
    start: StartServer, client_tls: ssl.SSLContext, log: io.StringIO, byte_at_a_time: bool
) -> None:
    """CVE-2011-0411: ``STARTTLS\\r\\nECHO evil\\r\\n`` in one packet. Whether the injected command
    sits in the protocol core's buffer or still in the Connection's, it must be dropped."""
    server = await start(settings({"imap": "127.0.0.1:0"}), LineHandler(byte_at_a_time=byte_at_a_time))
    client = await Client.connect(server.bound_addresses()["imap"])
    await client.line()
    await client.send(b"STARTTLS\r\nECHO evil\r\n")  # one write, one segment on loopback
    assert await client.line() == b"+ go ahead\r\n"
    assert client.reader.at_eof() is False
    await client.starttls(client_tls)
    # Had "ECHO evil" been executed after the handshake, "evil" would arrive before "good".
    assert await client.command(b"ECHO good") == b"good\r\n"
    await client.close()
    if byte_at_a_time:
        assert re.search(
            r"warning plaintext after starttls discarded conn=\w+ bytes=11$", log.getvalue(), re.M
        )


# -- COMPRESS (RFC 4978 DEFLATE layer) ----------------------------------------------------------


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "starttls"])
async def test_deflate_both_ways_above_tls(start: StartServer, client_tls: ssl.SSLContext, tls: bool) -> None:
    server = await start(settings({"imap": "127.0.0.1:0"}))
    client = await Client.connect(server.bound_addresses()["imap"])
    await client.line()
    if tls:
        assert await client.command(b"STARTTLS") == b"+ go ahead\r\n"
        await client.starttls(client_tls)
    assert await client.command(b"COMPRESS") == b"+ deflate\r\n"  # the last line in clear
    client.start_deflate()
    # Compressed, then encrypted: a reply the client inflates proves both layers are right.
    assert await client.command(b"ECHO " + b"x" * 5000) == b"x" * 5000 + b"\r\n"
    # Pipelined commands in one compressed burst, each reply sync-flushed out.
    await client.send(b"PING\r\nECHO two\r\nPING\r\n")
    assert [await client.line() for _ in range(3)] == [b"PONG loop\r\n", b"two\r\n", b"PONG loop\r\n"]
    # TLS can no longer start below the compression layer.
    assert await client.command(b"INFO") == f"secure={tls} starttls=False\r\n".encode()
    await client.close()


async def test_deflate_output_is_sync_flushed_every_16_kib(start: StartServer) -> None:
    """A long reply is cut by sync flushes at most 16 KiB of output apart, so no piece the client
    reads (no TLS record) inflates to more: imaplib2 inflates a read into 32 KiB and then waits."""
    server = await start(settings({"imap": "127.0.0.1:0"}))
    client = await Client.connect(server.bound_addresses()["imap"])
    await client.line()
    assert await client.command(b"COMPRESS") == b"+ deflate\r\n"
    client.start_deflate()
    payload = b"".join(b"line %06d of a long reply; " % n for n in range(4000))  # 112 KB
    await client.send(b"ECHO " + payload + b"\r\n")
    raw, inflated = b"", b""
    check = zlib.decompressobj(-zlib.MAX_WBITS)
    async with asyncio.timeout(WAIT):
        while not inflated.endswith(b"\r\n"):
            chunk = await client.reader.read(65536)
            assert chunk
            raw += chunk
            inflated += check.decompress(chunk)
    assert inflated == payload + b"\r\n"
    marker = b"\x00\x00\xff\xff"  # the end of a sync flush (RFC 1951 stored block, empty)
    pieces = raw.split(marker)
    assert pieces[-1] == b""  # the reply ends with one
    pieces_inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    sizes = [len(pieces_inflater.decompress(piece + marker)) for piece in pieces[:-1]]
    assert sum(sizes) == len(payload) + 2
    assert max(sizes) <= 16 * 1024
    assert len(sizes) >= len(payload) // (16 * 1024)
    await client.close()


async def test_inflate_is_bounded_per_read(start: StartServer) -> None:
    """A decompression bomb (2 MiB of zeros in about 2 KiB) is read in pieces of at most
    ``max_inflate`` octets (4096 in the test protocol), whatever ``read_some`` asks for."""
    server = await start(settings({"imap": "127.0.0.1:0"}))
    client = await Client.connect(server.bound_addresses()["imap"])
    await client.line()
    assert await client.command(b"COMPRESS") == b"+ deflate\r\n"
    client.start_deflate()
    bomb = 2 * 1024 * 1024
    await client.send(b"SIZES %d\r\n" % bomb)
    compressed = client.deflate.compress(bytes(bomb)) + client.deflate.flush(zlib.Z_SYNC_FLUSH)
    assert len(compressed) < bomb // 500
    client.writer.write(compressed)
    assert await client.line() == b"got=%d largest=4096\r\n" % bomb
    assert await client.command(b"ECHO still here") == b"still here\r\n"
    await client.close()


async def test_a_finished_compressed_stream_ends_the_session(start: StartServer) -> None:
    """The peer ends its DEFLATE stream (Z_FINISH) without a protocol step that ends compression:
    nothing more can come, so read_some reports the end of the stream (not a wait until timeout)."""
    server = await start(settings({"imap": "127.0.0.1:0"}))
    client = await Client.connect(server.bound_addresses()["imap"])
    await client.line()
    assert await client.command(b"COMPRESS") == b"+ deflate\r\n"
    client.start_deflate()
    client.writer.write(client.deflate.compress(b"PING\r\n") + client.deflate.flush(zlib.Z_FINISH))
    assert await client.line() == b"PONG loop\r\n"
    async with asyncio.timeout(2.0):  # well before the 5 s idle timeout
        while await client.reader.read(65536):
            pass
    await client.close()


async def test_invalid_compressed_data_ends_the_session(start: StartServer, log: io.StringIO) -> None:
    server = await start(settings({"imap": "127.0.0.1:0"}))
    client = await Client.connect(server.bound_addresses()["imap"])
    await client.line()
    assert await client.command(b"COMPRESS") == b"+ deflate\r\n"
    client.start_deflate()
    await client.send(b"PING\r\n")
    assert await client.line() == b"PONG loop\r\n"
    client.writer.write(b"\xff" * 64)  # not DEFLATE (a reserved block type)
    assert await client.rest() == b""
    # A CompressionError is a ConnectionError: the session ends as a lost connection, no traceback.
    assert "connection lost conn=" in log.getvalue()
    assert 'error="invalid compressed data: ' in log.getvalue()
    assert "Traceback" not in log.getvalue()
    await client.close()


async def test_tls_handshake_timeout(start: StartServer, log: io.StringIO) -> None:
    handler = LineHandler()
    server = await start(settings({"imaps": "127.0.0.1:0"}, tls={"handshake_timeout": 0.2}), handler)
    client = await Client.connect(server.bound_addresses()["imaps"])  # plain TCP, says nothing
    assert await client.rest() == b""
    await client.close()
    await eventually(lambda: sample(server, "pochta_tls_handshakes_failed_total", listener="imaps") == 1)
    assert handler.sessions == 0
    assert "tls handshake failed" in log.getvalue()


async def test_plaintext_on_implicit_tls_listener_fails_handshake(start: StartServer) -> None:
    handler = LineHandler()
    server = await start(settings({"imaps": "127.0.0.1:0"}), handler)
    client = await Client.connect(server.bound_addresses()["imaps"])
    await client.send(b"a001 LOGIN alice secret\r\n")
    assert b"hello" not in await client.rest()
    await client.close()
    await eventually(lambda: sample(server, "pochta_tls_handshakes_failed_total", listener="imaps") == 1)
    assert handler.sessions == 0


async def test_first_run_creates_a_self_signed_certificate_clients_can_pin(
    start: StartServer, tmp_path: Path, log: io.StringIO
) -> None:
    server = await start(settings({"imaps": "127.0.0.1:0"}), tls=None, data_dir=tmp_path)
    cert = tmp_path / "tls" / "cert.pem"
    assert cert.exists()
    assert stat.S_IMODE(os.stat(tmp_path / "tls" / "key.pem").st_mode) == 0o600
    assert "created self-signed certificate" in log.getvalue()
    pinned = ssl.create_default_context(cafile=str(cert))
    client = await Client.connect(server.bound_addresses()["imaps"], pinned)
    assert await client.line() == b"+ hello secure=True peer=127.0.0.1 local=True\r\n"
    await client.close()
    assert server.reload_tls() is True


async def test_a_replaced_certificate_is_loaded_for_new_handshakes_without_a_reload(
    start: StartServer, tmp_path: Path, log: io.StringIO
) -> None:
    """tls.reload_check_interval: a pair written over the files (an ACME renewal in the housekeeper,
    certbot) is picked up by each process on its own; a half-written pair keeps the old one."""
    config = settings({"imaps": "127.0.0.1:0"}, tls={"reload_check_interval": 0.05})
    server = await start(config, tls=None, data_dir=tmp_path)
    cert, key = tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem"
    # An RSA pair over the first run's ECDSA one, as an ACME renewal writes it.
    authority = trustme.CA(key_type=trustme.KeyType.RSA)
    served = authority.issue_cert("localhost")
    key.write_bytes(served.private_key_pem.bytes())  # the key alone first: no pair yet
    await eventually(lambda: "tls reload failed" in log.getvalue())
    cert.write_bytes(b"".join(blob.bytes() for blob in served.cert_chain_pems))
    await eventually(lambda: "info tls reloaded" in log.getvalue())
    trusting = ssl.create_default_context(cafile=None, cadata=authority.cert_pem.bytes().decode())
    client = await Client.connect(server.bound_addresses()["imaps"], trusting)
    assert await client.line() == b"+ hello secure=True peer=127.0.0.1 local=True\r\n"
    await client.close()


async def test_configured_certificate_that_is_missing_is_an_error(start: StartServer, tmp_path: Path) -> None:
    config = settings({"imaps": "127.0.0.1:0"}, tls={"certificate": "/nonexistent/cert.pem", "key": "k.pem"})
    with pytest.raises(StartupError, match=r"tls: .*no such file"):
        await start(config, tls=None)
    assert not (tmp_path / "k.pem").exists()


# -- timeouts and limits -------------------------------------------------------------------------


async def test_idle_timeout_closes_a_silent_session(start: StartServer, log: io.StringIO) -> None:
    server = await start(settings({"imap": "127.0.0.1:0"}, server={"idle_timeout_unauthenticated": 0.2}))
    client = await Client.connect(server.bound_addresses()["imap"])
    await client.line()
    assert await client.rest() == b""
    await client.close()
    await eventually(lambda: 'reason="idle timeout"' in log.getvalue())


async def test_a_protocol_may_raise_the_idle_timeout_after_login(start: StartServer) -> None:
    server = await start(settings({"imap": "127.0.0.1:0"}, server={"idle_timeout_unauthenticated": 0.2}))
    client = await Client.connect(server.bound_addresses()["imap"])
    await client.line()
    assert await client.command(b"LOGIN") == b"+ logged in\r\n"
    await asyncio.sleep(0.4)  # twice the unauthenticated timeout
    assert await client.command(b"ECHO awake") == b"awake\r\n"
    await client.close()


async def test_per_ip_limit(start: StartServer) -> None:
    config = settings({"imap": "127.0.0.1:0"}, server={"max_connections_per_ip": 2, "max_connections": 10})
    server = await start(config)
    address = server.bound_addresses()["imap"]
    first, second = await Client.connect(address), await Client.connect(address)
    assert (await first.line()).startswith(b"+ hello")
    assert (await second.line()).startswith(b"+ hello")
    third = await Client.connect(address)
    assert await third.rest() == b"- busy\r\n"
    assert await first.command(b"ECHO served") == b"served\r\n"
    assert (
        sample(server, "pochta_connections_rejected_total", listener="imap", reason="max_connections_per_ip")
        == 1
    )

    # A slot that frees up is usable again.
    await first.command(b"QUIT")
    await first.close()
    await eventually(lambda: sample(server, "pochta_connections_active", listener="imap") == 1)
    fourth = await Client.connect(address)
    assert (await fourth.line()).startswith(b"+ hello")
    for client in (second, third, fourth):
        await client.close()


async def test_a_line_dripping_in_is_cut_off_at_the_line_deadline(start: StartServer) -> None:
    # The idle timer restarts with every byte: one byte every 0.3 s never trips a 5 s idle timeout.
    server = await start(settings({"imap": "127.0.0.1:0"}, server={"line_timeout": 1.0}))
    client = await Client.connect(tcp(server, "imap"))
    await client.line()
    loop = asyncio.get_running_loop()
    started = loop.time()
    answer = asyncio.ensure_future(client.rest())
    for byte in b"ECHO " + b"x" * 20:
        if answer.done():
            break
        await client.send(bytes([byte]))
        await asyncio.sleep(0.3)
    assert await answer == b"- timeout: command line not completed within 1 second\r\n"
    assert 0.9 < loop.time() - started < 3
    await client.close()


async def test_complete_lines_keep_no_line_deadline_running(start: StartServer) -> None:
    server = await start(settings({"imap": "127.0.0.1:0"}, server={"line_timeout": 0.5}))
    client = await Client.connect(tcp(server, "imap"))
    await client.line()
    for _ in range(6):  # 1.8 s of whole lines, each sent at once
        assert await client.command(b"ECHO line") == b"line\r\n"
        await asyncio.sleep(0.3)
    await client.send(b"ECHO x")  # half a line, finished before the deadline
    await asyncio.sleep(0.3)
    assert await client.command(b"y") == b"xy\r\n"
    await client.close()


async def test_login_deadline_ends_an_active_session_that_never_logs_in(start: StartServer) -> None:
    server = await start(settings({"imap": "127.0.0.1:0"}, server={"login_timeout": 2.0}))
    address = tcp(server, "imap")
    idler, worker = await Client.connect(address), await Client.connect(address)
    await idler.line()
    await worker.line()
    assert await worker.command(b"LOGIN") == b"+ logged in\r\n"
    loop = asyncio.get_running_loop()
    started = loop.time()
    answers = []
    while loop.time() - started < 3:  # whole commands, far inside the idle timeout
        answers.append(await idler.command(b"ECHO busy"))
        assert await worker.command(b"ECHO busy") == b"busy\r\n"  # logged in: no deadline
        if answers[-1] != b"busy\r\n":
            break
        await asyncio.sleep(0.3)
    assert answers[-1] == b"- timeout: not logged in within 2 seconds\r\n"
    assert set(answers[:-1]) == {b"busy\r\n"}
    assert 1.5 < loop.time() - started < 3
    assert await worker.command(b"ECHO still here") == b"still here\r\n"
    for client in (idler, worker):
        await client.close()


def test_connections_per_address_count_ipv6_per_64() -> None:
    counts = AddressCounts()
    key = counts.add("2001:db8:1:2::1")
    counts.add("2001:db8:1:2:ffff:ffff:ffff:ffff")
    assert counts["2001:db8:1:2::99"] == 2  # the same /64
    assert counts["2001:db8:1:3::1"] == 0  # the next /64
    counts.add("::ffff:192.0.2.1")
    assert counts["192.0.2.1"] == 1  # IPv4-mapped is the IPv4 address
    assert counts["192.0.2.2"] == 0
    counts.remove(key)
    counts.remove(key)
    assert counts["2001:db8:1:2::1"] == 0
    assert len(counts) == 1  # nothing kept for a block without connections


async def test_per_ip_limit_over_ipv6(start: StartServer) -> None:
    need_ipv6_loopback()
    config = settings({"imap": "[::1]:0"}, server={"max_connections_per_ip": 1})
    server = await start(config)
    first = await Client.connect(("::1", tcp(server, "imap")[1]))
    assert (await first.line()).startswith(b"+ hello")
    second = await Client.connect(("::1", tcp(server, "imap")[1]))
    assert await second.rest() == b"- busy\r\n"
    for client in (first, second):
        await client.close()


async def test_per_listener_limit(start: StartServer) -> None:
    config = settings({"imap": "127.0.0.1:0", "pop3": "127.0.0.1:0"}, server={"max_connections": 1})
    server = await start(config)
    first = await Client.connect(server.bound_addresses()["imap"])
    await first.line()
    second = await Client.connect(server.bound_addresses()["imap"])
    assert await second.rest() == b"- busy\r\n"
    assert await first.command(b"ECHO still") == b"still\r\n"
    other_listener = await Client.connect(server.bound_addresses()["pop3"])  # limits are per listener
    assert (await other_listener.line()).startswith(b"+ hello")
    assert sample(server, "pochta_connections_rejected_total", listener="imap", reason="max_connections") == 1
    for client in (first, second, other_listener):
        await client.close()


# -- shutdown ------------------------------------------------------------------------------------


async def test_graceful_stop_lets_a_command_finish_and_says_goodbye(start: StartServer) -> None:
    server = await start(settings({"imap": "127.0.0.1:0"}, server={"shutdown_grace": 5.0}))
    address = server.bound_addresses()["imap"]
    idle, working = await Client.connect(address), await Client.connect(address)
    await idle.line()
    await working.line()
    assert await working.command(b"SLOW 0.3") == b"+ working\r\n"
    stopping = asyncio.create_task(server.stop())
    assert await idle.rest() == b"- bye\r\n"  # at once, while the other command still runs
    assert not stopping.done()
    assert await working.rest() == b"done\r\n- bye\r\n"  # the reply whole, then the goodbye
    async with asyncio.timeout(WAIT):
        await stopping
    with pytest.raises(ConnectionRefusedError):
        await Client.connect(address)
    await idle.close()
    await working.close()


async def test_stop_after_grace_drops_a_command_without_cutting_its_reply(start: StartServer) -> None:
    server = await start(settings({"imap": "127.0.0.1:0"}, server={"shutdown_grace": 0.2}))
    client = await Client.connect(server.bound_addresses()["imap"])
    await client.line()
    assert await client.command(b"SLOW 30") == b"+ working\r\n"
    async with asyncio.timeout(WAIT):
        await server.stop()
    assert await client.rest() == b""  # no "done", and no goodbye in the middle of the command
    await client.close()


async def test_stop_with_no_grace_still_says_goodbye_to_idle_sessions(start: StartServer) -> None:
    server = await start(
        settings({"imap": "127.0.0.1:0", "imaps": "127.0.0.1:0"}, server={"shutdown_grace": 0})
    )
    client = await Client.connect(server.bound_addresses()["imap"])
    await client.line()
    await server.stop()
    assert await client.rest() == b"- bye\r\n"
    await client.close()


async def test_run_until_signal(tmp_path: Path, log: io.StringIO) -> None:
    """SIGHUP reloads the certificate, SIGTERM stops gracefully; run_until_signal then returns."""
    server = Server(settings({"imap": "127.0.0.1:0"}), tmp_path, dict.fromkeys(PROTOCOLS, LineHandler()))
    running = asyncio.create_task(run_until_signal(server))
    await eventually(lambda: "imap" in server.bound_addresses())
    client = await Client.connect(tcp(server, "imap"))
    await client.line()
    os.kill(os.getpid(), signal.SIGHUP)
    await eventually(lambda: "info tls reloaded" in log.getvalue())
    os.kill(os.getpid(), signal.SIGTERM)
    assert await client.rest() == b"- bye\r\n"
    async with asyncio.timeout(WAIT):
        await running
    assert "info signal name=SIGTERM" in log.getvalue()
    await client.close()


# -- metrics -------------------------------------------------------------------------------------


async def http_get(address: tuple[str, int], request: bytes) -> tuple[bytes, bytes]:
    reader, writer = await asyncio.open_connection(*address)
    writer.write(request)
    async with asyncio.timeout(WAIT):
        response = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = response.partition(b"\r\n\r\n")
    return head, body


async def test_metrics_endpoint(start: StartServer, log: io.StringIO) -> None:
    server = await start(settings({"imap": "127.0.0.1:0"}, metrics={"listen": "127.0.0.1:0"}))
    metrics_address = server.bound_addresses()["metrics"]
    assert isinstance(metrics_address, tuple)
    assert f"listening name=metrics addr=127.0.0.1:{metrics_address[1]} tls=none" in log.getvalue()
    client = await Client.connect(server.bound_addresses()["imap"])
    await client.line()
    server.metrics.login("imap", ok=False)

    head, body = await http_get(metrics_address, b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200 OK\r\n")
    assert b"Content-Type: text/plain; version=" in head
    text = body.decode()
    assert 'pochta_connections_opened_total{listener="imap"} 1.0' in text
    assert 'pochta_connections_active{listener="imap"} 1.0' in text
    assert 'pochta_logins_total{protocol="imap",result="failed"} 1.0' in text
    assert 'pochta_tls_handshakes_failed_total{listener="imap"} 0.0' in text

    head, _ = await http_get(metrics_address, b"GET / HTTP/1.0\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 404 ")
    head, _ = await http_get(metrics_address, b"POST /metrics HTTP/1.0\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 405 ")
    await client.close()
