"""The thin I/O side of one client session, shared by every protocol loop.

A protocol loop reads bytes with ``read_some``, feeds them to its sans-IO core, and writes what the
core produces with ``write`` + ``drain``. Everything about sockets lives here: the timeouts,
backpressure in both directions, STARTTLS, and the server's request to shut down.

Timeouts (each ends the session with ``IdleTimeout``; the protocol writes its goodbye):
- idle: no byte received (``read_some``) or taken by the peer (``drain``) for ``idle_timeout``;
- login deadline (``server.login_timeout``): the whole phase before login, counted from the accept,
  whatever the client sends meanwhile; ``end_login_phase`` ends it on a successful login, and a
  protocol without logins (SMTP MX, LMTP) calls it at once;
- line deadline (``server.line_timeout``): a command line must be complete this long after its
  first octet arrived, however slowly the rest trickles in. The protocol loop says whether its core
  holds an unfinished line: ``read_some(line_open=True)``. Literal and message data are no lines.
An idle timer alone restarts on every byte, so one byte every 45 seconds kept a connection forever.

This is an ``asyncio.Protocol`` underneath rather than StreamReader/StreamWriter, because STARTTLS
must drop every plaintext byte received before the switch to TLS, and only owning the receive
buffer lets us do that with no await between "discard" and "the transport now decrypts"
(see ``start_tls``).

Shutdown contract for handlers: the server calls ``request_shutdown``; from then on ``read_some``
raises ``ServerShutdown`` whenever the session is between commands (not inside ``busy_section``).
Let it propagate and the server writes the handler's goodbye; or catch it, write your own, return.
Hold ``busy_section()`` while executing a command whose reply is written in more than one piece, so
that no goodbye is ever written into the middle of a reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any, BinaryIO, cast

from structlog.typing import FilteringBoundLogger

from pochta.config import TlsMode
from pochta.log import get_logger, new_connection_id
from pochta.metrics import Metrics
from pochta.netaddr import is_loopback, normalise_ip
from pochta.plural import plural
from pochta.server.deflate_layer import CompressionError, DeflateLayer

__all__ = [
    "DEFAULT_READ_SIZE",
    "CompressionError",
    "Connection",
    "ConnectionOptions",
    "DeadlineExpired",
    "IdleTimeout",
    "ServerShutdown",
    "TlsHandshakeFailed",
    "format_address",
    "protocol_factory",
]

DEFAULT_READ_SIZE = 64 * 1024
# Receive-side backpressure: stop reading from the socket while this much is buffered unread, so a
# client that floods us cannot grow our memory; resume below the low mark.
_READ_HIGH_WATER = 256 * 1024
_READ_LOW_WATER = 64 * 1024
# Seconds a TLS close_notify exchange and a graceful close may take before we simply drop the socket.
_SSL_SHUTDOWN_TIMEOUT = 5.0
_CLOSE_TIMEOUT = 2.0


class IdleTimeout(TimeoutError):
    """The peer sent nothing (``read_some``) or read nothing (``drain``) for the idle timeout, or a
    deadline passed (``DeadlineExpired``). ``str(exc)`` says which, in words for a goodbye line."""


class DeadlineExpired(IdleTimeout):
    """The login deadline or the line deadline passed (however active the client was)."""


class ServerShutdown(Exception):
    """The server is stopping and this session is between commands: say goodbye and end."""


class TlsHandshakeFailed(ConnectionError):
    """The TLS handshake failed or timed out; the connection is closed."""


def format_address(sockaddr: object) -> str:
    """``127.0.0.1:25``, ``[::1]:25`` or ``unix:/path`` for a socket address as asyncio reports it."""
    if isinstance(sockaddr, tuple) and len(sockaddr) >= 2:
        host, port = str(sockaddr[0]), sockaddr[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if isinstance(sockaddr, str | bytes) and sockaddr:
        return "unix:" + (sockaddr.decode("utf-8", "replace") if isinstance(sockaddr, bytes) else sockaddr)
    return "unix"


@dataclass(frozen=True)
class ConnectionOptions:
    """What a listener tells each of its connections."""

    listener_name: str
    protocol: str
    tls_mode: TlsMode
    ssl_context: ssl.SSLContext | None
    idle_timeout: float
    handshake_timeout: float
    metrics: Metrics
    login_timeout: float | None = None  # the whole pre-login phase (None: no deadline)
    line_timeout: float | None = None  # one command line, from its first octet (None: no deadline)


class _Stream(asyncio.Protocol):
    """Receive buffer and flow-control state of one transport (plain, then possibly TLS)."""

    def __init__(self, on_made: Callable[[_Stream], None], *, pause_at_start: bool) -> None:
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.lost = False
        self.secure = False
        self.reading_paused = False
        self.write_paused = False
        # Futures resolve to True when woken by a timer (timeout), False otherwise.
        self.read_waiter: asyncio.Future[bool] | None = None
        self.drain_waiters: list[asyncio.Future[bool]] = []
        self.closed: asyncio.Future[None] = self.loop.create_future()
        # Offered each arrival before the waiting reader is woken (``Connection.set_fast_reader``);
        # True: it answered everything, the reader goes on waiting.
        self.on_data: Callable[[], bool] | None = None
        self._on_made = on_made
        self._pause_at_start = pause_at_start

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if self._pause_at_start:
            # Implicit TLS: the ClientHello must reach the TLS layer, not our plaintext buffer. The
            # socket is not yet being read (asyncio adds the reader after connection_made), so
            # pausing now guarantees no byte is consumed before start_tls takes over.
            self.transport.pause_reading()
        self._on_made(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.reading_paused and len(self.buffer) > _READ_HIGH_WATER and self.transport is not None:
            self.reading_paused = True
            self.transport.pause_reading()
        on_data = self.on_data
        if on_data is not None and on_data():
            return
        self.wake_reader(False)

    def eof_received(self) -> bool:
        self.eof = True
        self.wake_reader(False)
        # Keep a plain connection half-open so that replies to commands already received still go
        # out (``printf 'QUIT\r\n' | nc host 25`` shuts its sending side at once). asyncio's TLS
        # transport cannot be half-open and warns if asked to.
        return not self.secure

    def connection_lost(self, exc: Exception | None) -> None:
        self.mark_lost()

    def mark_lost(self) -> None:
        self.lost = True
        self.eof = True
        self.wake_reader(False)
        self._wake_drainers()
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self._wake_drainers()

    def wake_reader(self, timed_out: bool) -> None:
        waiter = self.read_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(timed_out)

    def _wake_drainers(self) -> None:
        for waiter in self.drain_waiters:
            if not waiter.done():
                waiter.set_result(False)
        self.drain_waiters.clear()


def _wake_on_timeout(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(True)


def protocol_factory(
    options: ConnectionOptions, on_connect: Callable[[Connection], None]
) -> Callable[[], asyncio.Protocol]:
    """An asyncio protocol factory for ``loop.create_server``: each accepted socket becomes a
    ``Connection`` handed to ``on_connect`` (synchronously, from ``connection_made``)."""
    pause = options.tls_mode is TlsMode.IMPLICIT

    def made(stream: _Stream) -> None:
        on_connect(Connection(stream, options))

    def factory() -> asyncio.Protocol:
        return _Stream(made, pause_at_start=pause)

    return factory


class Connection:
    """One client connection: reading with an idle timeout, writing with backpressure, STARTTLS."""

    def __init__(self, stream: _Stream, options: ConnectionOptions) -> None:
        assert stream.transport is not None
        self._stream = stream
        self._loop = stream.loop
        self._options = options
        self.id = new_connection_id()
        self.listener_name = options.listener_name
        self.protocol = options.protocol
        self.tls_mode = options.tls_mode
        transport = stream.transport
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.peer_ip = normalise_ip(str(peer[0]))
            self.peer_port: int | None = int(peer[1])
            self.peer = format_address((self.peer_ip, self.peer_port))
        else:
            # A UNIX-socket peer has no address; it is on this machine by definition.
            self.peer_ip = "unix"
            self.peer_port = None
            self.peer = "unix"
        self.local = self.peer_ip == "unix" or is_loopback(self.peer_ip)
        self.local_address = format_address(transport.get_extra_info("sockname"))
        self.log: FilteringBoundLogger = get_logger(conn=self.id)
        self.bytes_in = 0
        self.bytes_out = 0
        self.tls_version: str | None = None
        self.tls_cipher: str | None = None
        self._idle_timeout = options.idle_timeout
        now = self._loop.time()
        login = options.login_timeout
        self._login_deadline: float | None = now + login if login is not None else None
        self._line_timeout = options.line_timeout
        self._line_since: float | None = None  # when the first octet of an unfinished line came
        self._received_at = now  # when read_some last returned data
        self._busy = 0
        self._shutdown_requested = False
        self._fast_reader: Callable[[bytes], None] | None = None
        self._fast_error: Exception | None = None
        self._interrupted = False
        self._deflate: DeflateLayer | None = None  # COMPRESS=DEFLATE (``start_compression``)

    # -- state -----------------------------------------------------------------------------------

    @property
    def metrics(self) -> Metrics:
        """The server's metrics (count logins and deliveries here, not in a registry of your own)."""
        return self._options.metrics

    @property
    def is_secure(self) -> bool:
        """True once TLS is established (implicit TLS or after STARTTLS)."""
        return self._stream.secure

    @property
    def starttls_available(self) -> bool:
        """Whether the protocol should offer STARTTLS now (a STARTTLS listener, not yet secure, and
        no compression layer below which TLS could no longer go: RFC 4978 §3 orders them)."""
        has_context = self._options.ssl_context is not None
        return (
            self.tls_mode is TlsMode.STARTTLS
            and has_context
            and not self._stream.secure
            and self._deflate is None
        )

    @property
    def compressing(self) -> bool:
        """True once ``start_compression`` ran: DEFLATE both ways."""
        return self._deflate is not None

    @property
    def tls_compression(self) -> str | None:
        """The compression TLS negotiated (``"zlib"``...), None when TLS does not compress."""
        transport = self._stream.transport
        ssl_object: Any = None if transport is None else transport.get_extra_info("ssl_object")
        return None if ssl_object is None else cast(str | None, ssl_object.compression())

    @property
    def closed(self) -> bool:
        """True once the connection is closed or lost."""
        transport = self._stream.transport
        return self._stream.lost or transport is None or transport.is_closing()

    @property
    def idle_timeout(self) -> float:
        return self._idle_timeout

    def set_idle_timeout(self, seconds: float) -> None:
        """Change the idle timeout for the following reads and drains (e.g. raised after login:
        RFC 9051 §5.4 asks for at least 30 minutes for an authenticated IMAP session)."""
        if seconds <= 0:
            raise ValueError("idle timeout must be positive")
        self._idle_timeout = seconds

    @property
    def in_login_phase(self) -> bool:
        """True until ``end_login_phase``: the login deadline applies."""
        return self._login_deadline is not None

    def end_login_phase(self) -> None:
        """The client logged in (or the protocol has no login): the login deadline no longer applies."""
        self._login_deadline = None

    def begin_login_phase(self) -> None:
        """The client logged out but stays (IMAP UNAUTHENTICATE): a new login deadline from now."""
        login = self._options.login_timeout
        self._login_deadline = self._loop.time() + login if login is not None else None

    @property
    def shutdown_requested(self) -> bool:
        """The server is stopping; a long-running command may check this to wrap up early."""
        return self._shutdown_requested

    @property
    def in_command(self) -> bool:
        return self._busy > 0

    @contextlib.contextmanager
    def busy_section(self) -> Iterator[None]:
        """Mark a command as running: a graceful stop lets it finish (within the grace period)
        and writes the goodbye only after it. Nesting is allowed."""
        self._busy += 1
        try:
            yield
        finally:
            self._busy -= 1

    @contextlib.contextmanager
    def waiting_for_client(self) -> Iterator[None]:
        """Inside a command that waits for the client for as long as it likes (IMAP IDLE): a
        graceful stop may interrupt it as it would a session between commands - ``read_some``
        raises ``ServerShutdown`` - so the goodbye is not held back by the grace period."""
        busy, self._busy = self._busy, 0
        try:
            yield
        finally:
            self._busy = busy

    def request_shutdown(self) -> None:
        """Called by the server on stop: interrupt a read waiting between commands."""
        self._shutdown_requested = True
        if self._busy == 0:
            self._stream.wake_reader(False)

    # -- reading ---------------------------------------------------------------------------------

    def set_fast_reader(self, reader: Callable[[bytes], None] | None) -> None:
        """Answer commands straight from the socket callback while the session waits between them.

        While the session's loop waits in ``read_some`` (not in a ``busy_section``, no shutdown
        requested, the peer reading what we write), each arrival is handed to ``reader`` at once,
        in the event loop's callback, instead of waking the loop's task: a protocol answers cheap
        commands there with ``write`` and no task switch. ``reader`` must not block; when it needs
        the loop (anything that awaits) or leaves a line unfinished, it calls ``interrupt_read`` and
        the waiting ``read_some`` returns ``b""`` (the protocol knows from its own state that this
        is no end of stream). An exception in ``reader`` is raised by that ``read_some``. The bytes
        count as received (idle timer, counters) as if ``read_some`` had returned them."""
        self._fast_reader = reader
        self._stream.on_data = None if reader is None else self._read_fast

    def interrupt_read(self) -> None:
        """From a fast reader: the waiting ``read_some`` returns (``b""`` if nothing new arrived)."""
        self._interrupted = True
        self._stream.wake_reader(False)

    def _read_fast(self) -> bool:
        stream, reader = self._stream, self._fast_reader
        waiter = stream.read_waiter
        if (
            reader is None
            or waiter is None
            or waiter.done()
            or self._busy
            or self._shutdown_requested
            or self._interrupted
            or stream.write_paused
            or self._deflate is not None  # compressed octets are inflated by read_some only
        ):
            return False
        data = bytes(stream.buffer)
        stream.buffer.clear()
        if stream.reading_paused and stream.transport is not None:
            stream.reading_paused = False
            stream.transport.resume_reading()
        self.bytes_in += len(data)
        self._received_at = self._loop.time()
        try:
            reader(data)
        except Exception as exc:  # raised by the waiting read_some, in the session's task
            self._fast_error = exc
            return False
        if self._interrupted:
            return False  # an unfinished line keeps the deadline it has (a trickle never resets it)
        self._line_since = None  # every line answered
        return True

    async def read_some(self, max_bytes: int = DEFAULT_READ_SIZE, *, line_open: bool = False) -> bytes:
        """Up to ``max_bytes`` received bytes; ``b''`` once the peer has closed its side.

        ``line_open``: the protocol core holds the start of a line it has not seen the end of (the
        line deadline runs from when its first octet arrived). Raises IdleTimeout after
        ``idle_timeout`` seconds without data, DeadlineExpired when the login or line deadline
        passes, and ServerShutdown when the server stops while the session is between commands.
        """
        stream = self._stream
        if not line_open:
            self._line_since = None
        elif self._line_since is None:
            self._line_since = self._received_at
        since: float | None = None  # the idle time counts from here after a fast reader's arrival
        while True:
            if self._shutdown_requested and self._busy == 0:
                raise ServerShutdown
            if self._fast_error is not None:
                error, self._fast_error = self._fast_error, None
                self._interrupted = False
                raise error
            deflate = self._deflate
            if deflate is not None and deflate.has_pending_input:
                inflated = deflate.inflate(b"", max_bytes)
                if inflated:
                    return inflated
            if deflate is not None and deflate.input_ended:
                return b""  # the peer finished its compressed stream: it sends no more
            if stream.buffer:
                self._interrupted = False
                data = bytes(stream.buffer[:max_bytes])
                del stream.buffer[:max_bytes]
                self.bytes_in += len(data)
                if stream.reading_paused and len(stream.buffer) < _READ_LOW_WATER:
                    stream.reading_paused = False
                    if stream.transport is not None:
                        stream.transport.resume_reading()
                self._received_at = self._loop.time()
                if deflate is None:
                    return data
                inflated = deflate.inflate(data, max_bytes)
                if inflated:
                    return inflated
                continue  # a piece of a deflate block: wait for the rest
            if self._interrupted:
                self._interrupted = False
                return b""
            if stream.eof:
                return b""
            self._flush_deflate()  # what we wrote must reach the peer before we wait for it
            delay, expired = self._next_timeout(reading=True, since=since)
            waited_from = self._received_at
            waiter: asyncio.Future[bool] = self._loop.create_future()
            stream.read_waiter = waiter
            timer = self._loop.call_later(delay, _wake_on_timeout, waiter)
            try:
                timed_out = await waiter
            finally:
                timer.cancel()
                stream.read_waiter = None
            if timed_out:
                if self._received_at > waited_from:
                    since = self._received_at  # a fast reader took data meanwhile: wait on
                    continue
                raise expired()

    def _next_timeout(
        self, *, reading: bool, since: float | None = None
    ) -> tuple[float, Callable[[], IdleTimeout]]:
        """Seconds until the first of the idle timeout (counted from ``since``, or now) and the
        deadlines, and what makes the error to raise then (made only if it happens: most reads end
        with data)."""
        now = self._loop.time()
        delay = self._idle_timeout if since is None else since + self._idle_timeout - now
        expired: Callable[[], IdleTimeout] = partial(self._idle_expired, reading, self._idle_timeout)
        login = self._login_deadline
        if login is not None and login - now < delay:
            delay = login - now
            seconds = self._options.login_timeout
            assert seconds is not None  # a login deadline is only set from a login timeout
            expired = partial(DeadlineExpired, f"not logged in within {plural(seconds, 'second')}")
        line_since, line_timeout = self._line_since, self._line_timeout
        if (
            reading
            and line_since is not None
            and line_timeout is not None
            and line_since + line_timeout - now < delay
        ):
            delay = line_since + line_timeout - now
            expired = partial(
                DeadlineExpired, f"command line not completed within {plural(line_timeout, 'second')}"
            )
        return max(delay, 0.0), expired

    @staticmethod
    def _idle_expired(reading: bool, seconds: float) -> IdleTimeout:
        what = "no data" if reading else "peer read nothing"
        return IdleTimeout(f"{what} for {plural(seconds, 'second')}")

    def discard_buffered(self) -> int:
        """Drop every received byte not yet returned by ``read_some``; returns how many.

        ``start_tls`` calls this itself. A protocol core must likewise drop what *it* has buffered
        when it accepts STARTTLS (RFC 3207 §4.2, RFC 9051 §6.2.1, RFC 2595 §4: the client must
        not pipeline after STARTTLS, and whatever it did send in clear must not be executed).
        """
        dropped = len(self._stream.buffer)
        self._stream.buffer.clear()
        return dropped

    # -- writing ---------------------------------------------------------------------------------

    def write(self, data: bytes | bytearray) -> None:
        """Queue ``data`` for sending (never blocks). Call ``drain`` to wait for buffer space.
        After the connection is lost writes are dropped; ``drain`` reports the loss. A bytearray
        is handed over, not copied: the transport may hold it, so never change it afterwards."""
        transport = self._stream.transport
        if self._stream.lost or transport is None or transport.is_closing():
            return
        if self._deflate is not None:
            # RFC 4978 §3: compressed from the tagged OK on; ``drain`` (and a read that waits) ends
            # a burst with a sync flush so the peer can inflate all of it.
            for piece in self._deflate.compress(data):
                transport.write(piece)
                self.bytes_out += len(piece)
            return
        transport.write(data)
        self.bytes_out += len(data)

    async def drain(self) -> None:
        """Wait until the send buffer is below its high-water mark (backpressure).

        Raises ConnectionResetError if the connection is gone, IdleTimeout if the peer has not
        read anything for ``idle_timeout`` seconds.
        """
        stream = self._stream
        if stream.lost:
            raise ConnectionResetError("connection lost")
        self._flush_deflate()
        if not stream.write_paused:
            return
        delay, expired = self._next_timeout(reading=False)
        waiter: asyncio.Future[bool] = self._loop.create_future()
        stream.drain_waiters.append(waiter)
        timer = self._loop.call_later(delay, _wake_on_timeout, waiter)
        try:
            timed_out = await waiter
        finally:
            timer.cancel()
            if waiter in stream.drain_waiters:
                stream.drain_waiters.remove(waiter)
        if stream.lost:
            raise ConnectionResetError("connection lost")
        if timed_out:
            raise expired()

    async def send(self, data: bytes | bytearray) -> None:
        """``write`` + ``drain``."""
        self.write(data)
        await self.drain()

    @property
    def writing_paused(self) -> bool:
        """The peer lags: more than the high-water mark waits to be sent (``drain`` would wait)."""
        return self._stream.write_paused

    @property
    def can_sendfile(self) -> bool:
        """Whether ``sendfile`` can hand a file to the kernel: a plain (not TLS) socket stream.
        Over TLS every octet has to be encrypted in this process, so callers read and write."""
        transport = self._stream.transport
        return (
            not self._stream.secure
            and self._deflate is None
            and not self._stream.lost
            and transport is not None
            and not transport.is_closing()
            and transport.get_extra_info("socket") is not None
            and hasattr(os, "sendfile")
        )

    async def sendfile(self, file: BinaryIO, offset: int, count: int, piece: int) -> int:
        """Send ``count`` octets of ``file`` from ``offset`` with sendfile(2): the kernel copies
        from the page cache to the socket, nothing passes through Python. Only where
        ``can_sendfile``. What was ``write``-n before goes out first.

        Sent in pieces of ``piece`` octets; the peer must take each piece within the idle timeout
        (IdleTimeout otherwise, as ``drain``). Returns the octets sent: fewer than ``count`` only
        if the file is shorter.
        """
        transport = self._stream.transport
        if self._stream.lost or transport is None or transport.is_closing():
            raise ConnectionResetError("connection lost")
        sent = 0
        while sent < count:
            wanted = min(piece, count - sent)
            delay, expired = self._next_timeout(reading=False)
            try:
                async with asyncio.timeout(delay):
                    done = await self._loop.sendfile(transport, file, offset + sent, wanted, fallback=False)
            except TimeoutError:
                raise expired() from None
            except RuntimeError as exc:  # asyncio: "Transport is closing" and the like
                raise ConnectionResetError(str(exc)) from None
            sent += done
            self.bytes_out += done
            if done < wanted:
                break  # the file ended early
        return sent

    # -- TLS -------------------------------------------------------------------------------------

    async def start_tls(self, ssl_context: ssl.SSLContext | None = None) -> None:
        """Upgrade this connection to TLS (server side), after the protocol's go-ahead reply
        (``220 2.0.0 Ready``, ``OK Begin TLS``, ``+OK``) has been written.

        Raises TlsHandshakeFailed (the connection is then closed) or RuntimeError if TLS is
        already active or no context is configured.
        """
        context = ssl_context if ssl_context is not None else self._options.ssl_context
        if context is None:
            raise RuntimeError(f"listener {self.listener_name} has no TLS context")
        if self._stream.secure:
            raise RuntimeError("TLS is already active on this connection")
        if self._deflate is not None:
            raise RuntimeError("TLS cannot start below an active compression layer")
        await self.drain()
        await self._upgrade(context, starttls=True)

    async def handshake(self) -> None:
        """Implicit TLS: run the handshake on a freshly accepted connection (the server does this
        before the handler is called)."""
        context = self._options.ssl_context
        if context is None:
            raise RuntimeError(f"listener {self.listener_name} has no TLS context")
        await self._upgrade(context, starttls=False)

    async def _upgrade(self, context: ssl.SSLContext, *, starttls: bool) -> None:
        stream = self._stream
        transport = stream.transport
        assert transport is not None
        # CVE-2011-0411 class: bytes that arrived in clear before the switch (a command pipelined
        # behind STARTTLS, perhaps injected by a man in the middle) must never be executed as if
        # they came over TLS. Drop them, then switch synchronously: there is no await between this
        # line and loop.start_tls() installing the TLS protocol (it runs without suspending up to
        # its handshake wait), so no byte can slip into our buffer in between.
        dropped = self.discard_buffered()
        if dropped and starttls:
            self.log.warning("plaintext after starttls discarded", bytes=dropped)
        stream.reading_paused = False  # loop.start_tls resumes reading on the raw transport
        timeout = self._options.handshake_timeout
        try:
            # The outer timeout is a backstop; asyncio's own ssl_handshake_timeout normally fires.
            async with asyncio.timeout(timeout + 1.0):
                new_transport = await self._loop.start_tls(
                    transport,
                    stream,
                    context,
                    server_side=True,
                    ssl_handshake_timeout=timeout,
                    ssl_shutdown_timeout=_SSL_SHUTDOWN_TIMEOUT,
                )
        except OSError as exc:  # ssl.SSLError, ConnectionError and TimeoutError are OSErrors
            self._tls_failed(transport, exc)
            raise TlsHandshakeFailed(str(exc) or type(exc).__name__) from None
        if new_transport is None:  # pragma: no cover - asyncio returns None only for a closed loop
            self._tls_failed(transport, ConnectionError("no TLS transport"))
            raise TlsHandshakeFailed("no TLS transport")
        stream.transport = new_transport
        stream.secure = True
        ssl_object: Any = new_transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self.tls_version = ssl_object.version()
            cipher = ssl_object.cipher()
            self.tls_cipher = cipher[0] if cipher else None
        self.log.info("tls", version=self.tls_version, cipher=self.tls_cipher)

    def _tls_failed(self, transport: asyncio.Transport, exc: BaseException) -> None:
        self._options.metrics.tls_handshakes_failed.labels(listener=self.listener_name).inc()
        self.log.info("tls handshake failed", error=str(exc) or type(exc).__name__)
        # The TLS layer owns the raw transport now and will not report its loss to us.
        transport.abort()
        self._stream.mark_lost()

    # -- compression -----------------------------------------------------------------------------

    def start_compression(self, *, level: int, max_inflate: int) -> None:
        """Compress both directions with raw DEFLATE (RFC 1951; IMAP COMPRESS=DEFLATE, RFC 4978)
        from now on, above TLS if it is active (RFC 4978 §3: compress first, then encrypt).

        Call it right after the go-ahead reply was written, with nothing awaited in between. Every
        received octet not yet returned by ``read_some`` counts as compressed. ``read_some`` then
        returns inflated data, never more than its ``max_bytes`` nor ``max_inflate`` per call,
        whatever the ratio of the input: a small compressed burst inflating to gigabytes (a
        decompression bomb) is taken in bounded pieces that the protocol's own line and literal
        limits judge as they would plain input. Raises RuntimeError when already compressing.
        """
        if self._deflate is not None:
            raise RuntimeError("compression is already active on this connection")
        self._deflate = DeflateLayer(level=level, max_inflate=max_inflate)

    def stop_compression(self) -> None:
        """End DEFLATE both ways (IMAP UNAUTHENTICATE, RFC 8437 §4.1), right after the reply that
        ends it was written: our stream is finished (Z_FINISH) so the peer sees its end; what the
        peer sent after finishing its own stream is plain data again. Compressed input it sent
        without finishing its stream, not yet taken by ``read_some``, is dropped."""
        deflate, self._deflate = self._deflate, None
        if deflate is None:
            return
        transport = self._stream.transport
        if not self._stream.lost and transport is not None and not transport.is_closing():
            tail = deflate.finish()
            transport.write(tail)
            self.bytes_out += len(tail)
        if deflate.input_ended:
            self._stream.buffer[:0] = deflate.plain_after_end
        elif self._stream.buffer or deflate.has_pending_input:
            dropped = len(self._stream.buffer) + deflate.unread_input
            self._stream.buffer.clear()
            self.log.warning("compressed input after the end of compression discarded", bytes=dropped)

    def _flush_deflate(self) -> None:
        """End a burst of compressed output with a sync flush (``DeflateLayer.sync_flush``)."""
        if self._deflate is None or not self._deflate.flush_pending:
            return
        tail = self._deflate.sync_flush()
        transport = self._stream.transport
        if self._stream.lost or transport is None or transport.is_closing():
            return
        transport.write(tail)
        self.bytes_out += len(tail)

    # -- closing ---------------------------------------------------------------------------------

    async def close(self) -> None:
        """Flush what was written, close, and wait (briefly) until the socket is gone."""
        stream = self._stream
        transport = stream.transport
        if transport is None or stream.lost:
            return
        self._flush_deflate()
        if not transport.is_closing():
            transport.close()
        try:
            async with asyncio.timeout(_CLOSE_TIMEOUT):
                await asyncio.shield(stream.closed)
        except TimeoutError:
            # A peer that reads nothing (or never answers close_notify) must not hold us up.
            transport.abort()

    def abort(self) -> None:
        """Drop the connection at once, discarding unsent data."""
        transport = self._stream.transport
        if transport is not None and not self._stream.lost:
            transport.abort()
