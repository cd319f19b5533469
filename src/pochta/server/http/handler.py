"""The HTTP/1.1 listener: h11 (sans-IO) over the server's ``Connection``, each request handed to
the web application (``pochta.web``) through ``asgi.call_app``.

Why not uvicorn (DESIGN "Dependencies" names it): the HTTP listeners are listeners like the
others. Served by the same ``Server``, they share its SO_REUSEPORT sockets in every worker, its
connection limits (per listener, per client address), TLS context reloaded in place, metrics,
connection logs and graceful stop, with no second server loop to keep in step. uvicorn brings its
own accept loop and signal handling and has no deadline for a request's head (a slowloris holds a
connection for as long as it trickles). h11 is the HTTP/1.1 parser uvicorn itself uses; the
application stays a Starlette app that any ASGI server could run (docs/http.md "Design").

Limits (``[http]``): the request head must be complete ``header_timeout`` seconds after its first
octet (else 408) and fit in ``max_header_size`` octets (else 431); the body must fit in
``max_body_size`` (else 413, decided from Content-Length before it is read when there is one)
and arrive within ``body_timeout``; a keep-alive connection idles ``keepalive_timeout`` seconds at
most between requests and serves ``max_requests_per_connection`` of them. A bad request gets 400.
Each of these answers closes the connection.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

import h11

from pochta.config import HttpSettings, Settings
from pochta.server.connection import Connection
from pochta.server.http.asgi import AsgiApp, Reply, call_app

__all__ = ["HttpHandler"]

# Response headers the listener owns: framing and the connection's fate are h11's and ours.
_HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"upgrade"})


class _Refusal(Exception):
    """A request the listener answers itself with ``status`` and closes the connection after."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status


@dataclass
class _Request:
    head: h11.Request
    body: bytes


class HttpHandler:
    """The ``http`` protocol's handler for the ``http`` and ``https`` listeners."""

    def __init__(self, settings: Settings, app: AsgiApp) -> None:
        self.settings = settings
        self._app = app

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
                request = await self._read_request(conn, h)
            except _Refusal as refusal:
                await self._refuse(conn, h, refusal)
                return
            if request is None:
                return  # the client closed between requests
            served += 1
            with conn.busy_section():  # a graceful stop lets the answer finish
                keep = await self._answer(conn, h, request, served)
            if not keep or h.our_state is not h11.DONE or h.their_state is not h11.DONE:
                return
            h.start_next_cycle()

    async def busy(self, conn: Connection) -> None:
        """Over the connection limit: 503 and close (RFC 9110 section 15.6.4)."""
        conn.write(_plain_response(HTTPStatus.SERVICE_UNAVAILABLE, "too many connections", retry_after=5))
        await conn.drain()

    async def shutdown(self, conn: Connection) -> None:
        """HTTP has no goodbye: a keep-alive connection closed between requests is normal, and the
        client opens a new one (RFC 9112 section 9.3)."""

    # -- reading -----------------------------------------------------------------------------------

    async def _read_request(self, conn: Connection, h: h11.Connection) -> _Request | None:
        """The next request, whole; None when the client closed cleanly before sending one."""
        head = await self._read_head(conn, h)
        if head is None:
            return None
        return _Request(head, await self._read_body(conn, h, head))

    async def _read_head(self, conn: Connection, h: h11.Connection) -> h11.Request | None:
        deadline: float | None = None
        fed = len(h.trailing_data[0])  # what a previous request on the connection left over
        while True:
            event = self._next_event(h)
            if isinstance(event, h11.Request):
                # h11 bounds only a head still incomplete; one that arrived whole in a single read
                # is measured here: the octets it took are those fed minus those left after it.
                size = fed - len(h.trailing_data[0])
                if size > self._limits.max_header_size:
                    raise _Refusal(
                        HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, f"request head of {size} octets"
                    )
                if event.http_version not in (b"1.0", b"1.1"):
                    # RFC 9110 section 15.6.6: a major version we do not speak (h11 reads any).
                    raise _Refusal(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, "HTTP version not supported")
                return event
            if isinstance(event, h11.ConnectionClosed):
                return None
            if event is not h11.NEED_DATA:
                raise _Refusal(HTTPStatus.BAD_REQUEST, f"unexpected {type(event).__name__}")
            if deadline is None and h.trailing_data[0]:
                # The first octets of a head: from now on it has header_timeout to be complete.
                deadline = asyncio.get_running_loop().time() + self._limits.header_timeout
            data = await self._read(conn, deadline, "request head")
            if not data and deadline is None:
                return None  # closed between requests (or before the first)
            fed += len(data)
            h.receive_data(data)

    async def _read_body(self, conn: Connection, h: h11.Connection, head: h11.Request) -> bytes:
        limit = self._limits.max_body_size
        length = _content_length(head)
        if length is not None and length > limit:
            # RFC 9110 section 15.5.14: refused before a single octet of it is read.
            raise _Refusal(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body of {length} octets over {limit}")
        if h.they_are_waiting_for_100_continue:
            # RFC 9110 section 10.1.1: the client holds its body back until we ask for it.
            go_ahead = h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue")
            conn.write(h.send(go_ahead) or b"")
            await conn.drain()
        deadline = asyncio.get_running_loop().time() + self._limits.body_timeout
        chunks: list[bytes] = []
        size = 0
        while True:
            event = self._next_event(h)
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > limit:  # chunked bodies announce no length
                    raise _Refusal(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body over {limit} octets")
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return b"".join(chunks)
            elif event is h11.NEED_DATA:
                data = await self._read(conn, deadline, "request body")
                if not data and h.their_state is h11.SEND_BODY:
                    h.receive_data(b"")  # h11 turns an early end into a RemoteProtocolError
                else:
                    h.receive_data(data)
            else:
                raise _Refusal(HTTPStatus.BAD_REQUEST, f"unexpected {type(event).__name__}")

    @staticmethod
    def _next_event(h: h11.Connection) -> Any:
        try:
            return h.next_event()
        except h11.RemoteProtocolError as exc:
            # h11 hints 431 for a head over max_incomplete_event_size, 400 for the rest.
            raise _Refusal(exc.error_status_hint, str(exc)) from None

    @staticmethod
    async def _read(conn: Connection, deadline: float | None, what: str) -> bytes:
        if deadline is None:
            return await conn.read_some()
        try:
            async with asyncio.timeout_at(deadline) as scope:
                return await conn.read_some()
        except TimeoutError:
            if scope.expired():
                raise _Refusal(HTTPStatus.REQUEST_TIMEOUT, f"{what} not complete in time") from None
            raise

    # -- answering ---------------------------------------------------------------------------------

    async def _answer(self, conn: Connection, h: h11.Connection, request: _Request, served: int) -> bool:
        """Run the application and send its response; whether the connection may serve another."""
        head = request.head
        target = head.target
        raw_path, _, query = target.partition(b"?")
        method = head.method.decode("ascii", "replace")
        started = time.monotonic()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": head.http_version.decode("ascii", "replace"),
            "method": method,
            "scheme": "https" if conn.is_secure else "http",
            "path": unquote(raw_path.decode("latin-1"), errors="replace"),
            "raw_path": raw_path,
            "query_string": query,
            "root_path": "",
            "headers": [(bytes(name), bytes(value)) for name, value in head.headers],
            "client": (conn.peer_ip, conn.peer_port or 0),
            "server": _server_address(conn.local_address),
            "state": {},
        }
        try:
            reply = await call_app(self._app, scope, request.body)
        except Exception:
            # A bug in a route: its traceback in the log, a plain 500 to the client.
            conn.log.exception("http request failed", method=method, path=scope["path"])
            reply = Reply(HTTPStatus.INTERNAL_SERVER_ERROR, [(b"content-type", b"text/plain; charset=utf-8")])
            reply.body = b"internal error\n"
        keep = (
            served < self._limits.max_requests_per_connection
            and not conn.shutdown_requested
            and h.their_state is h11.DONE
        )
        headers = [(name, value) for name, value in reply.headers if name not in _HOP_BY_HOP]
        if not any(name == b"content-length" for name, _ in headers):
            headers.append((b"content-length", str(len(reply.body)).encode()))
        if not keep:
            headers.append((b"connection", b"close"))
        out = h.send(h11.Response(status_code=reply.status, headers=headers, reason=_phrase(reply.status)))
        if head.method != b"HEAD" and reply.body:  # RFC 9110 section 9.3.2: no body for HEAD
            out += h.send(h11.Data(data=reply.body)) or b""
        out = (out or b"") + (h.send(h11.EndOfMessage()) or b"")
        conn.write(out)
        await conn.drain()
        conn.log.info(
            "http",
            method=method,
            path=scope["path"],  # never the query: it may hold an address
            status=reply.status,
            size=len(reply.body),
            ms=round((time.monotonic() - started) * 1000, 1),
        )
        return keep and h.our_state is h11.DONE

    async def _refuse(self, conn: Connection, h: h11.Connection, refusal: _Refusal) -> None:
        """Answer what the listener refuses (unless a response is already under way) and close."""
        conn.log.info("http refused", status=refusal.status, why=str(refusal))
        if h.our_state not in (h11.IDLE, h11.SEND_RESPONSE) or conn.closed:
            return
        conn.write(_plain_response(HTTPStatus(refusal.status), HTTPStatus(refusal.status).phrase.lower()))
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


def _phrase(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""


def _content_length(head: h11.Request) -> int | None:
    for name, value in head.headers:
        if name == b"content-length":
            return int(value)  # h11 has checked it is one decimal number
    return None


def _server_address(local: str) -> tuple[str, int] | None:
    host, sep, port = local.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def _plain_response(status: HTTPStatus, text: str, *, retry_after: int | None = None) -> bytes:
    """A complete response that ends the connection, written without h11 (whose state may be
    an error state by then)."""
    body = (text + "\n").encode()
    lines = [
        f"HTTP/1.1 {status.value} {status.phrase}",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    if retry_after is not None:
        lines.append(f"Retry-After: {retry_after}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
