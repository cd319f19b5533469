"""The HTTP/1.1 listener: h11 (sans-IO) over the server's ``Connection``, each request handed to
the web application (``pochta.web``) as ASGI: ``exchange.Exchange`` streams an ``http`` request's
body to it and its response to the client, ``websocket.WebSocketSession`` runs a WebSocket.

Why not uvicorn (DESIGN "Dependencies" names it): the HTTP listeners are listeners like the
others. Served by the same ``Server``, they share its SO_REUSEPORT sockets in every worker, its
connection limits (per listener, per client address), TLS context reloaded in place, metrics,
connection logs and graceful stop, with no second server loop to keep in step. uvicorn brings its
own accept loop and signal handling and has no deadline for a request's head (a slowloris holds a
connection for as long as it trickles). h11 is the HTTP/1.1 parser uvicorn itself uses; the
application stays a Starlette app that any ASGI server could run (docs/http.md "Design").

Limits (``[http]``): the request head must be complete ``header_timeout`` seconds after its first
octet (else 408) and fit in ``max_header_size`` octets (else 431); the body must fit in
``max_body_size`` or the bound its route declares (``limits.RouteBodyLimit``; else 413, decided
from Content-Length before it is read when there is one) and keep arriving (``body_timeout``,
``body_min_rate``: else 408); a keep-alive connection idles ``keepalive_timeout`` seconds at most
between requests and serves ``max_requests_per_connection`` of them. A bad request gets 400.
Each of these answers closes the connection.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from http import HTTPStatus

import h11

from pochta.config import HttpSettings, Settings
from pochta.server.connection import Connection
from pochta.server.http.asgi import AsgiApp
from pochta.server.http.exchange import Exchange, next_event
from pochta.server.http.limits import RouteBodyLimit, body_limit, read_before
from pochta.server.http.refusal import Refusal, plain_response
from pochta.server.http.scope import request_scope
from pochta.server.http.websocket import WebSocketSession, check_handshake, is_websocket_upgrade

__all__ = ["HttpHandler"]


class HttpHandler:
    """The ``http`` protocol's handler for the ``http`` and ``https`` listeners. ``body_limits``:
    the routes whose request bodies have a bound of their own (``limits.RouteBodyLimit``)."""

    def __init__(
        self, settings: Settings, app: AsgiApp, *, body_limits: Sequence[RouteBodyLimit] = ()
    ) -> None:
        self.settings = settings
        self._app = app
        self._body_limits = tuple(body_limits)

    def reconfigure(self, settings: Settings) -> None:
        """Limits from a reload apply to the next request."""
        self.settings = settings

    @property
    def _limits(self) -> HttpSettings:
        return self.settings.http

    # -- ProtocolHandler ---------------------------------------------------------------------------

    async def __call__(self, conn: Connection) -> None:
        conn.end_login_phase()  # no login phase: the deadlines below bound each request instead
        h = h11.Connection(h11.SERVER, max_incomplete_event_size=self._limits.max_header_size)
        served = 0
        while True:
            conn.set_idle_timeout(self._limits.keepalive_timeout if served else self._limits.header_timeout)
            try:
                head = await self._read_head(conn, h)
                if head is None:
                    return  # the client closed between requests
                served += 1
                if is_websocket_upgrade(head):
                    # Not a busy section: a WebSocket is a session of its own that a graceful stop
                    # closes (1001) rather than waits for.
                    await self._websocket(conn, h, head)
                    return
                with conn.busy_section():  # a graceful stop lets the answer finish
                    keep = await self._answer(conn, h, head, served)
            except Refusal as refusal:
                await self._refuse(conn, h, refusal)
                return
            if not keep or h.our_state is not h11.DONE or h.their_state is not h11.DONE:
                return
            h.start_next_cycle()

    async def busy(self, conn: Connection) -> None:
        """Over the connection limit: 503 and close (RFC 9110 section 15.6.4)."""
        conn.write(plain_response(HTTPStatus.SERVICE_UNAVAILABLE, "too many connections", retry_after=5))
        await conn.drain()

    async def shutdown(self, conn: Connection) -> None:
        """HTTP has no goodbye: a keep-alive connection closed between requests is normal, and the
        client opens a new one (RFC 9112 section 9.3)."""

    # -- reading -----------------------------------------------------------------------------------

    async def _read_head(self, conn: Connection, h: h11.Connection) -> h11.Request | None:
        deadline: float | None = None
        fed = len(h.trailing_data[0])  # what a previous request on the connection left over
        while True:
            event = next_event(h)
            if isinstance(event, h11.Request):
                # h11 bounds only a head still incomplete; one that arrived whole in a single read
                # is measured here: the octets it took are those fed minus those left after it.
                size = fed - len(h.trailing_data[0])
                if size > self._limits.max_header_size:
                    raise Refusal(
                        HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, f"request head of {size} octets"
                    )
                if event.http_version not in (b"1.0", b"1.1"):
                    # RFC 9110 section 15.6.6: a major version we do not speak (h11 reads any).
                    raise Refusal(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, "HTTP version not supported")
                return event
            if isinstance(event, h11.ConnectionClosed):
                return None
            if event is not h11.NEED_DATA:
                raise Refusal(HTTPStatus.BAD_REQUEST, f"unexpected {type(event).__name__}")
            if deadline is None and h.trailing_data[0]:
                # The first octets of a head: from now on it has header_timeout to be complete.
                deadline = asyncio.get_running_loop().time() + self._limits.header_timeout
            data = await read_before(conn, deadline, "request head")
            if not data and deadline is None:
                return None  # closed between requests (or before the first)
            fed += len(data)
            h.receive_data(data)

    # -- answering ---------------------------------------------------------------------------------

    async def _answer(self, conn: Connection, h: h11.Connection, head: h11.Request, served: int) -> bool:
        """Run the application for one request; whether the connection may serve another."""
        started = time.monotonic()
        scope = request_scope(conn, head)
        bound = body_limit(scope["path"], self._body_limits, self.settings)
        length = _content_length(head)
        if length is not None and length > bound.size:
            # RFC 9110 section 15.5.14: refused before a single octet of it is read.
            raise Refusal(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body of {length} octets over {bound.size}")
        conn.set_idle_timeout(self._limits.send_timeout)  # a client that reads nothing of its answer
        keep_alive = served < self._limits.max_requests_per_connection
        exchange = Exchange(conn, h, head, scope, body=bound, settings=self._limits, keep_alive=keep_alive)
        await exchange.run(self._app)
        if exchange.refusal is not None and not exchange.head_sent:
            raise exchange.refusal
        status = exchange.status
        if exchange.failed and not exchange.head_sent:
            status = HTTPStatus.INTERNAL_SERVER_ERROR
            conn.write(plain_response(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error"))
            await conn.drain()
        elif exchange.finished and h.their_state is h11.SEND_BODY and exchange.gone is None:
            await self._linger(conn)  # a body the application did not read: see _linger
        conn.log.info(
            "http",
            method=exchange.method,
            path=exchange.path,  # never the query: it may hold an address
            status=status,
            size=exchange.sent,
            ms=round((time.monotonic() - started) * 1000, 1),
            **({"ended": exchange.gone} if exchange.gone is not None else {}),
        )
        return exchange.keep and exchange.finished and not exchange.failed

    async def _websocket(self, conn: Connection, h: h11.Connection, head: h11.Request) -> None:
        key = check_handshake(head)
        if not isinstance(next_event(h), h11.EndOfMessage):  # the handshake has no body
            raise Refusal(HTTPStatus.BAD_REQUEST, "a body after a WebSocket handshake")
        conn.set_idle_timeout(self._limits.send_timeout)  # for drains: the client reads nothing
        scope = request_scope(conn, head, websocket=True)
        await WebSocketSession(conn, h, key, scope, self._limits).run(self._app)

    async def _refuse(self, conn: Connection, h: h11.Connection, refusal: Refusal) -> None:
        """Answer what the listener refuses (unless a response is already under way) and close."""
        conn.log.info("http refused", status=refusal.status, why=str(refusal))
        if h.our_state not in (h11.IDLE, h11.SEND_RESPONSE) or conn.closed:
            return
        status = HTTPStatus(refusal.status)
        conn.write(plain_response(status, status.phrase.lower(), headers=refusal.headers))
        try:
            await conn.drain()
            await self._linger(conn)
        except OSError:
            pass  # the client is gone or reads nothing: it is closed either way

    async def _linger(self, conn: Connection) -> None:
        """Read and drop what the client still sends (the rest of a refused body) for up to
        ``http.lingering_close`` seconds before closing: closing a socket with unread input sends a
        reset, which may destroy the response before the client has read it (RFC 9112 section 9.6)."""
        try:
            async with asyncio.timeout(self._limits.lingering_close):
                while await conn.read_some():
                    pass
        except TimeoutError:
            pass


def _content_length(head: h11.Request) -> int | None:
    for name, value in head.headers:
        if name == b"content-length":
            return int(value)  # h11 has checked it is one decimal number
    return None
