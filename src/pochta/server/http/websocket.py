"""WebSocket (RFC 6455) on the HTTP listener: an HTTP/1.1 Upgrade request becomes an ASGI
``websocket`` scope, its frames handled by wsproto (sans-IO, by h11's authors).

Handshake: the listener checks the request (GET, HTTP/1.1, ``Connection: Upgrade``, a
``Sec-WebSocket-Key`` of 16 octets, version 13) and refuses what is wrong itself (400, or 426 for
another version) before the application sees it. The application then gets ``websocket.connect``
and answers ``websocket.accept`` (with a subprotocol among those the client offered: JMAP's is
``jmap``, RFC 8887 section 3) - the listener writes the 101 - or ``websocket.close`` (403). An
application that ends without deciding, or fails, gets the client a 500. No extension
(permessage-deflate) is negotiated.

Messages: fragments are reassembled into one ``websocket.receive`` each, up to
``http.websocket_max_message`` octets (a larger message closes the WebSocket with 1009); Pings
are answered with Pongs by the listener; what the client sends is read only while the
application keeps up (a few messages waiting at most), so a client that floods is held back by
TCP. Keepalive: a Ping after ``websocket_ping_interval`` seconds of silence from the client; after
``websocket_idle_timeout`` seconds without a frame the WebSocket is closed with 1001.

Closing: the client's Close is answered with the same code and reported to the application as
``websocket.disconnect``; the application's close (or its end: 1000, or 1011 when it failed)
sends ours and waits ``websocket_close_timeout`` seconds for the client's. A graceful stop
closes with 1001 at once: a WebSocket is a session idle between messages, not a command the stop
waits for. A connection lost without a Close is 1006 to the application.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from http import HTTPStatus
from typing import Literal

import h11
from wsproto.connection import Connection as WsConnection
from wsproto.connection import ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Event, Ping, TextMessage
from wsproto.utilities import generate_accept_token

from pochta.config import HttpSettings
from pochta.server.connection import Connection, ServerShutdown
from pochta.server.http.asgi import AppError, AsgiApp, ClientDisconnected, Scope
from pochta.server.http.asgi import Message as AsgiMessage
from pochta.server.http.refusal import Refusal, plain_response
from pochta.server.tasks import cancel_and_wait

__all__ = ["WebSocketSession", "check_handshake", "is_websocket_upgrade"]

# RFC 6455 section 7.4.1 close codes.
NORMAL = 1000
GOING_AWAY = 1001
ABNORMAL = 1006  # never sent: the connection ended without a Close
INTERNAL_ERROR = 1011
MESSAGE_TOO_BIG = 1009

_VERSION = b"13"  # RFC 6455 section 4.1: the only version
_INBOX_DEPTH = 8  # messages waiting for the application before the socket is no longer read
_ROOM_CHECK = 1.0  # seconds between looks for a stop while the socket is not read
# Response headers the listener owns in a 101.
_OWN_HEADERS = frozenset(
    {
        b"connection",
        b"upgrade",
        b"sec-websocket-accept",
        b"sec-websocket-protocol",
        b"sec-websocket-extensions",
    }
)


def _tokens(head: h11.Request, name: bytes) -> list[bytes]:
    return [
        token.strip().lower()
        for field, value in head.headers
        if field == name
        for token in bytes(value).split(b",")
        if token.strip()
    ]


def is_websocket_upgrade(head: h11.Request) -> bool:
    """The client asks to switch to WebSocket (``Upgrade: websocket``)."""
    return b"websocket" in _tokens(head, b"upgrade")


def check_handshake(head: h11.Request) -> bytes:
    """The client's opening handshake, checked (RFC 6455 section 4.2.1); its key. Raises a
    Refusal for a handshake the listener must refuse."""
    if head.method != b"GET" or head.http_version != b"1.1":
        raise Refusal(HTTPStatus.BAD_REQUEST, "a WebSocket handshake is a GET in HTTP/1.1")
    if b"upgrade" not in _tokens(head, b"connection"):
        raise Refusal(HTTPStatus.BAD_REQUEST, "WebSocket handshake without Connection: Upgrade")
    if any(name in (b"content-length", b"transfer-encoding") for name, _ in head.headers):
        raise Refusal(HTTPStatus.BAD_REQUEST, "a WebSocket handshake has no body")
    versions = [bytes(value).strip() for name, value in head.headers if name == b"sec-websocket-version"]
    if versions != [_VERSION]:
        # RFC 6455 section 4.4: 426 naming the versions we speak.
        raise Refusal(
            HTTPStatus.UPGRADE_REQUIRED,
            f"WebSocket version {b','.join(versions).decode('latin-1')!r}",
            headers=(("Sec-WebSocket-Version", _VERSION.decode()), ("Upgrade", "websocket")),
        )
    keys = [bytes(value).strip() for name, value in head.headers if name == b"sec-websocket-key"]
    try:
        # RFC 6455 section 4.2.1 item 5: base64 of 16 octets.
        valid = len(keys) == 1 and len(base64.b64decode(keys[0], validate=True)) == 16
    except binascii.Error:
        valid = False
    if not valid:
        raise Refusal(HTTPStatus.BAD_REQUEST, "missing or malformed Sec-WebSocket-Key")
    return keys[0]


class WebSocketSession:
    """One WebSocket, from the application's decision on the handshake to the end of the
    connection."""

    def __init__(
        self,
        conn: Connection,
        h: h11.Connection,
        key: bytes,
        scope: Scope,
        settings: HttpSettings,
    ) -> None:
        self._conn = conn
        self._h = h
        self._key = key
        self.scope = scope
        self._settings = settings
        self._loop = asyncio.get_running_loop()
        self._ws: WsConnection | None = None
        self._decision: Literal["accepted", "refused", "ended"] | None = None
        self._decided = asyncio.Event()
        self._connect_delivered = False
        self._inbox: asyncio.Queue[AsgiMessage] = asyncio.Queue()
        self._inbox_space = asyncio.Event()
        self._goodbye: AsgiMessage | None = None  # the disconnect, once told to the application
        self._text: list[str] = []  # the pieces of the message being reassembled
        self._bytes: list[bytes] = []
        self._size = 0
        self._heard_at = self._loop.time()
        self._close_deadline: float | None = None
        self._close_code: int | None = None  # ours, when we closed first
        self._interrupted = False
        self._app_failed = False
        self._app_task: asyncio.Task[None] | None = None
        self.received = 0
        self.sent = 0

    @property
    def subprotocols(self) -> list[str]:
        return list(self.scope["subprotocols"])

    # -- the whole session -----------------------------------------------------------------------

    async def run(self, app: AsgiApp) -> None:
        started = time.monotonic()
        self._app_task = asyncio.create_task(self._run_app(app))
        try:
            await self._decided.wait()
            if self._decision != "accepted":
                refused = self._decision == "refused"
                status = HTTPStatus.FORBIDDEN if refused else HTTPStatus.INTERNAL_SERVER_ERROR
                self._conn.log.info("websocket refused", path=self.scope["path"], status=status.value)
                self._conn.write(plain_response(status, status.phrase.lower()))
                await self._conn.drain()
                return
            try:
                await self._serve()
            except OSError as exc:  # lost, or the client read nothing for send_timeout
                self._conn.log.info("websocket lost", error=str(exc) or type(exc).__name__)
            self._disconnect(ABNORMAL, "")
            await self._end_app()
            self._conn.log.info(
                "websocket",
                path=self.scope["path"],
                code=self._goodbye["code"] if self._goodbye is not None else None,
                received=self.received,
                sent=self.sent,
                ms=round((time.monotonic() - started) * 1000, 1),
            )
        finally:
            await cancel_and_wait([self._app_task])

    async def _run_app(self, app: AsgiApp) -> None:
        try:
            await app(self.scope, self._receive, self._send)
        except ClientDisconnected:
            pass
        except Exception:
            self._app_failed = True
            self._conn.log.exception("websocket application failed", path=self.scope["path"])
        finally:
            if self._decision is None:
                if not self._app_failed:
                    self._conn.log.error("websocket application ended without accepting or closing")
                self._decision = "ended"
                self._decided.set()
            elif self._decision == "accepted":
                self._close(INTERNAL_ERROR if self._app_failed else NORMAL, "")

    async def _end_app(self) -> None:
        """The application was told the WebSocket is closed: it gets ``websocket_close_timeout``
        seconds to end before it is cancelled."""
        task = self._app_task
        if task is not None and not task.done():
            await asyncio.wait({task}, timeout=self._settings.websocket_close_timeout)

    # -- reading ---------------------------------------------------------------------------------

    async def _serve(self) -> None:
        ws, conn = self._ws, self._conn
        assert ws is not None
        self._take_events()
        await conn.drain()
        while ws.state is not ConnectionState.CLOSED:
            closing = ws.state is not ConnectionState.OPEN
            if closing:
                data = await self._read_closing()
                if data is None:
                    return  # no Close from the client in time: drop the connection
            else:
                try:
                    await self._wait_for_room()
                    data = await self._read_open()
                except ServerShutdown:
                    self._close(GOING_AWAY, "server shutting down")
                    continue
                if data is None:
                    continue
            if not data:
                if self._interrupted:  # the application closed: our Close is out
                    self._interrupted = False
                    continue
                return  # the client closed the TCP connection
            self._heard_at = self._loop.time()
            ws.receive_data(data)
            if not self._take_events():
                return  # a protocol error: the connection is failed, not closed in turn
            await conn.drain()

    async def _wait_for_room(self) -> None:
        """While the application has messages to take, read no more (TCP holds the client)."""
        ws, task = self._ws, self._app_task
        assert ws is not None
        assert task is not None
        while self._inbox.qsize() >= _INBOX_DEPTH and not task.done() and ws.state is ConnectionState.OPEN:
            self._inbox_space.clear()
            try:
                async with asyncio.timeout(_ROOM_CHECK):
                    await self._inbox_space.wait()
            except TimeoutError:
                if self._conn.shutdown_requested:  # no read is waiting to be woken by the stop
                    raise ServerShutdown from None

    async def _read_open(self) -> bytes | None:
        """What the client sends next; None after a timer (a Ping sent, or the idle close)."""
        settings = self._settings
        idle_at = self._heard_at + settings.websocket_idle_timeout
        wait = min(settings.websocket_ping_interval, idle_at - self._loop.time())
        if wait > 0:
            try:
                async with asyncio.timeout(wait):
                    return await self._conn.read_some()
            except TimeoutError:  # ours, or the connection's own idle timer: silence either way
                pass
        if self._loop.time() >= idle_at:
            self._close(GOING_AWAY, "idle timeout")
        else:
            self._write(Ping(payload=b"pochta"))  # RFC 6455 section 5.5.2: the Pong shows it is alive
            await self._conn.drain()
        return None

    async def _read_closing(self) -> bytes | None:
        """While our Close waits for the client's (RFC 6455 section 7.1.2); None once it is late.
        Inside a busy section: a graceful stop lets the closing handshake finish."""
        assert self._close_deadline is not None
        remaining = self._close_deadline - self._loop.time()
        if remaining <= 0:
            return None
        with self._conn.busy_section():
            try:
                async with asyncio.timeout(remaining):
                    return await self._conn.read_some()
            except TimeoutError:
                return None

    def _take_events(self) -> bool:
        """Handle what wsproto decoded; False when the client broke the protocol."""
        ws = self._ws
        assert ws is not None
        for event in ws.events():
            if isinstance(event, TextMessage | BytesMessage):
                if ws.state is ConnectionState.OPEN:
                    self._assemble(event)
            elif isinstance(event, Ping):
                if ws.state is ConnectionState.OPEN:
                    self._write(event.response())  # RFC 6455 section 5.5.3: the Pong echoes the Ping
            elif isinstance(event, CloseConnection):
                if ws.state is ConnectionState.REMOTE_CLOSING:
                    # RFC 6455 section 5.5.1: the client's Close is answered with ours.
                    self._write(event.response())
                    self._disconnect(event.code, event.reason or "")
                elif ws.state is ConnectionState.CLOSED:
                    code = self._close_code if self._close_code is not None else event.code
                    self._disconnect(code, event.reason or "")
                else:
                    # wsproto found a malformed frame or invalid UTF-8 and names the code (1002,
                    # 1007): RFC 6455 section 7.1.7, fail the connection.
                    self._close(event.code, event.reason or "")
                    return False
        return True

    def _assemble(self, event: TextMessage | BytesMessage) -> None:
        """Add a piece (wsproto hands a frame over as it arrives) to the message being reassembled;
        a whole message goes to the application."""
        if isinstance(event, TextMessage):
            self._size += len(event.data.encode("utf-8"))
            self._text.append(event.data)
        else:
            self._size += len(event.data)
            self._bytes.append(bytes(event.data))
        if self._size > self._settings.websocket_max_message:
            self._close(MESSAGE_TOO_BIG, "message too big")  # RFC 6455 section 7.4.1
            self._text.clear()
            self._bytes.clear()
            return
        if not event.message_finished:
            return
        self.received += 1
        message: AsgiMessage
        if isinstance(event, TextMessage):
            message = {"type": "websocket.receive", "text": "".join(self._text)}
        else:
            message = {"type": "websocket.receive", "bytes": b"".join(self._bytes)}
        self._text.clear()
        self._bytes.clear()
        self._size = 0
        self._inbox.put_nowait(message)

    # -- writing and closing ---------------------------------------------------------------------

    def _write(self, event: Event) -> None:
        assert self._ws is not None
        self._conn.write(self._ws.send(event))

    def _close(self, code: int, reason: str) -> None:
        """Send our Close (if the WebSocket is still open), tell the application, and give the
        client ``websocket_close_timeout`` seconds to answer."""
        ws = self._ws
        if ws is None or ws.state is not ConnectionState.OPEN:
            return
        self._close_code = code
        self._write(CloseConnection(code=code, reason=reason or None))
        self._close_deadline = self._loop.time() + self._settings.websocket_close_timeout
        self._disconnect(code, reason)
        self._inbox_space.set()
        self._interrupted = True
        self._conn.interrupt_read()  # the reader waits for the client's Close from now on

    def _disconnect(self, code: int, reason: str) -> None:
        if self._goodbye is None:
            self._goodbye = {"type": "websocket.disconnect", "code": code, "reason": reason}
            self._inbox.put_nowait(self._goodbye)

    # -- the application's side ------------------------------------------------------------------

    async def _receive(self) -> AsgiMessage:
        if not self._connect_delivered:
            self._connect_delivered = True
            return {"type": "websocket.connect"}
        if self._goodbye is not None and self._inbox.empty():
            return self._goodbye  # told again to an application that asks again
        message = await self._inbox.get()
        self._inbox_space.set()
        return message

    async def _send(self, message: AsgiMessage) -> None:
        kind = message.get("type")
        if kind == "websocket.accept":
            if self._decision is not None:
                raise AppError("websocket.accept after the handshake was decided")
            self._accept(message)
            return
        if kind == "websocket.close":
            if self._decision is None:
                self._decision = "refused"  # RFC 6455 section 4.2.2: any status but 101 refuses
                self._decided.set()
            elif self._decision == "accepted":
                self._close(int(message.get("code") or NORMAL), str(message.get("reason") or ""))
                await self._drain()
            return
        if kind != "websocket.send":
            raise AppError(f"unexpected ASGI message {kind!r}")
        if self._decision != "accepted":
            raise AppError("websocket.send before websocket.accept")
        ws = self._ws
        assert ws is not None
        if ws.state is not ConnectionState.OPEN or self._conn.closed:
            raise ClientDisconnected("the WebSocket is closed")
        text, data = message.get("text"), message.get("bytes")
        if text is not None:
            self._write(TextMessage(data=str(text)))
        elif data is not None:
            self._write(BytesMessage(data=bytes(data)))
        else:
            raise AppError("websocket.send without text or bytes")
        self.sent += 1
        await self._drain()

    async def _drain(self) -> None:
        try:
            await self._conn.drain()
        except OSError as exc:
            raise ClientDisconnected(str(exc) or type(exc).__name__) from None

    def _accept(self, message: AsgiMessage) -> None:
        subprotocol = message.get("subprotocol")
        if subprotocol is not None and subprotocol not in self.subprotocols:
            # RFC 6455 section 4.2.2 item 5.4: one of the client's, or none.
            raise AppError(f"subprotocol {subprotocol!r} was not offered")
        headers = [
            (b"upgrade", b"websocket"),
            (b"connection", b"Upgrade"),
            (b"sec-websocket-accept", generate_accept_token(self._key)),  # RFC 6455 section 4.2.2
        ]
        if subprotocol is not None:
            headers.append((b"sec-websocket-protocol", str(subprotocol).encode()))
        for name, value in message.get("headers", ()):
            if bytes(name).lower() not in _OWN_HEADERS:
                headers.append((bytes(name).lower(), bytes(value)))
        switch = h11.InformationalResponse(status_code=101, headers=headers, reason=b"Switching Protocols")
        self._conn.write(self._h.send(switch) or b"")
        trailing, _closed = self._h.trailing_data  # what the client sent after its handshake
        self._ws = WsConnection(ConnectionType.SERVER, trailing_data=trailing)
        self._heard_at = self._loop.time()
        self._decision = "accepted"
        self._decided.set()
