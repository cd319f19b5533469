"""One HTTP request and its response through the ASGI application, streamed both ways.

Request body: within ``http.max_body_size``, read whole before the application is called and
handed to it in one ``http.request``; on a route with a bound of its own (``limits.body_limit``),
handed to it in the pieces it arrives in (``more_body``) as the application asks for them with
``receive`` - such a body the application never reads is never read (the connection is then
closed after the response). The listener enforces the size bound and the time bound
(``limits.BodyClock``) either way: a body over its bound, too slow, or malformed ends the exchange
with a refusal (413, 408, 400) that the listener answers itself; whatever the application sends
after it is dropped.

Response: a complete response in one ``http.response.body`` keeps the plain framing with a
Content-Length. A response sent in pieces (``more_body=True``) is written piece by piece as it
comes, each awaiting the connection's drain (backpressure: a client that reads slowly slows the
application down instead of filling our memory): with the application's Content-Length if it gave
one, else chunked (RFC 9112 section 7.1) to an HTTP/1.1 client and delimited by the close of the
connection to an HTTP/1.0 one (h11 chooses). The end of the message is written only when the
application sends its last piece: a stream cut short (the client left, a graceful stop) ends by
closing the connection without it, so the client can tell an interrupted body from a whole one.
A response to HEAD is its head alone (RFC 9110 section 9.3.2).

Disconnect: once the request is read, a watcher reads the connection while the application runs.
The client closing its side, the connection being lost, or a graceful stop (for an open-ended
stream, below) makes ``receive`` answer ``http.disconnect`` (Starlette's StreamingResponse listens
for it and stops its generator); a lost connection or a stop also makes ``send`` raise
``ClientDisconnected``. A client that only half-closes still gets a response sent whole.

Graceful stop: the listener answers a request inside ``busy_section`` (the stop lets it finish
within ``server.shutdown_grace``). An open-ended stream (pieces, no Content-Length: an event
stream may last for hours) leaves the busy section once its head is written - the stop then ends it
at once, as it ends a connection idle between requests - while a response of known length (a
download) keeps it and is let to finish within the grace.
"""

from __future__ import annotations

import asyncio
import contextlib
from http import HTTPStatus

import h11

from pochta.config import HttpSettings
from pochta.server.connection import Connection, IdleTimeout, ServerShutdown
from pochta.server.http.asgi import AppError, AsgiApp, ClientDisconnected, Message, Scope
from pochta.server.http.limits import BodyBound, BodyClock, read_before
from pochta.server.http.refusal import Refusal
from pochta.server.tasks import cancel_and_wait

__all__ = ["Exchange", "next_event"]

# Response headers the listener owns: framing and the connection's fate are h11's and ours.
_HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"upgrade"})

_DISCONNECT: Message = {"type": "http.disconnect"}


def next_event(h: h11.Connection) -> object:
    """h11's next event; a request it cannot parse is refused (400, or 431 for a head too large)."""
    try:
        return h.next_event()
    except h11.RemoteProtocolError as exc:
        raise Refusal(exc.error_status_hint, str(exc)) from None


class Exchange:
    """One request/response exchange; ``run`` it once, then read how it went."""

    def __init__(
        self,
        conn: Connection,
        h: h11.Connection,
        head: h11.Request,
        scope: Scope,
        *,
        body: BodyBound,
        settings: HttpSettings,
        keep_alive: bool,
    ) -> None:
        self._conn = conn
        self._h = h
        self._head = head
        self.scope = scope
        self._limit = body.size
        self._streamed = body.streamed
        self._settings = settings
        self._keep_alive = keep_alive  # the listener would serve another request after this one
        loop = asyncio.get_running_loop()
        self._clock = BodyClock(loop.time(), base=settings.body_timeout, min_rate=settings.body_min_rate)
        self._body_done = False  # h11 has given the end of the request
        self._delivered = False  # the application has the end of the request
        self._pending: bytes | None = None  # a body read whole, for the application's receive
        self._out: list[bytes] = []  # the response's octets of the app's current send, written at its end
        self._start: tuple[int, list[tuple[bytes, bytes]]] | None = None
        self._wire_done = False  # the end of the message is written (for HEAD: with the head)
        self._ended = asyncio.Event()  # from now on ``receive`` answers http.disconnect
        self._watcher: asyncio.Task[None] | None = None
        self._released = contextlib.ExitStack()  # outside the busy section: an open-ended stream
        # How it went:
        self.refusal: Refusal | None = None  # the listener answers this instead of the app
        self.failed = False  # the application raised (or broke the ASGI contract)
        self.head_sent = False
        self.complete = False  # the application sent its last piece
        self.keep = False  # the head let the connection serve another request
        self.status = 0
        self.sent = 0  # body octets written
        self.gone: str | None = None  # why the exchange ended early: closed, lost, shutdown

    @property
    def finished(self) -> bool:
        """The whole response is written, its end included."""
        return self._wire_done

    @property
    def method(self) -> str:
        return str(self.scope["method"])

    @property
    def path(self) -> str:
        return str(self.scope["path"])

    async def run(self, app: AsgiApp) -> None:
        if not _announces_body(self._head):
            # Nothing to read: h11 has the end of the message already.
            if not isinstance(next_event(self._h), h11.EndOfMessage):
                raise Refusal(HTTPStatus.BAD_REQUEST, "a body where none was announced")
            self._take_end_of_body()
            self._pending = b""
        elif not self._streamed:
            pieces = []
            while not self._body_done:  # a Refusal here is answered before the app runs
                pieces.append((await self._body_piece())["body"])
            self._pending = b"".join(pieces)
        try:
            await app(self.scope, self.receive, self.send)
            if not self.finished and self.gone is None and self.refusal is None:
                raise AppError("the application returned without a complete response")
        except Exception as exc:
            self._app_failed(exc)
        finally:
            self._ended.set()
            self._released.close()
            if self._watcher is not None:
                await cancel_and_wait([self._watcher])

    def _app_failed(self, exc: Exception) -> None:
        if self.refusal is not None:
            return  # the body was refused: the application only saw that happen
        if self.gone is not None:
            # The client left (or the stop came) and the application ended on that, its own way
            # (ClientDisconnected from send, Starlette's ClientDisconnect from a body cut short).
            self._conn.log.info("http client gone", path=self.path, why=self.gone, error=type(exc).__name__)
            return
        self.failed = True
        # A bug in a route: its traceback in the log, a plain 500 to the client (if still possible).
        self._conn.log.exception("http request failed", method=self.method, path=self.path)

    # -- receive ---------------------------------------------------------------------------------

    async def receive(self) -> Message:
        if self.refusal is not None:
            raise self.refusal
        if self._pending is not None:
            body, self._pending = self._pending, None
            self._delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        if not self._delivered:
            try:
                message = await self._body_piece()
                self._delivered = not message["more_body"]
                return message
            except Refusal as refusal:
                self.refusal = refusal
                self._ended.set()
                raise
            except OSError as exc:  # the connection was lost under the body
                self._end("lost")
                self._conn.log.info("http body cut", path=self.path, error=str(exc) or type(exc).__name__)
                return _DISCONNECT
        await self._ended.wait()
        return _DISCONNECT

    async def _body_piece(self) -> Message:
        h, conn = self._h, self._conn
        while True:
            event = next_event(h)
            if isinstance(event, h11.Data):
                self._clock.took(len(event.data))
                if self._clock.received > self._limit:  # a chunked body announces no length
                    raise Refusal(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body over {self._limit} octets")
                return {"type": "http.request", "body": bytes(event.data), "more_body": True}
            if isinstance(event, h11.EndOfMessage):
                self._take_end_of_body()
                return {"type": "http.request", "body": b"", "more_body": False}
            if event is not h11.NEED_DATA:
                raise Refusal(HTTPStatus.BAD_REQUEST, f"unexpected {type(event).__name__}")
            if h.they_are_waiting_for_100_continue:
                # RFC 9110 section 10.1.1: the client holds its body back until we ask for it,
                # which is when the application first wants it.
                go_ahead = h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue")
                conn.write(h.send(go_ahead) or b"")
                await conn.drain()
            loop = asyncio.get_running_loop()
            # An early end of the body: h11 makes it a RemoteProtocolError (400) at the next event.
            h.receive_data(await read_before(conn, self._clock.deadline(loop.time()), "request body"))

    def _take_end_of_body(self) -> None:
        self._body_done = True
        self._watcher = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        """Once the request is read, while the application runs: notice the client leaving and a
        graceful stop. What the client sends meanwhile (its next request, pipelined) waits in h11's
        buffer; past ``max_header_size`` of it the connection is no longer read, and TCP's flow
        control holds the client back."""
        conn, h = self._conn, self._h
        try:
            while len(h.trailing_data[0]) <= self._settings.max_header_size:
                try:
                    data = await conn.read_some()
                except IdleTimeout:
                    continue  # a client waiting for its response sends nothing: that is fine
                if not data:
                    self._end("closed")
                    return
                h.receive_data(data)
        except ServerShutdown:
            self._end("shutdown")
        except OSError:
            self._end("lost")

    def _end(self, why: str) -> None:
        if self.gone is None:
            self.gone = why
        self._ended.set()

    # -- send ------------------------------------------------------------------------------------

    async def send(self, message: Message) -> None:
        if self.refusal is not None:
            return  # the listener answers the refused request itself
        kind = message.get("type")
        if kind == "http.response.start":
            if self._start is not None:
                raise AppError("http.response.start sent twice")
            headers = [(bytes(name).lower(), bytes(value)) for name, value in message.get("headers", ())]
            self._start = (int(message["status"]), headers)
            return  # written with the first piece of the body, which decides the framing
        if kind != "http.response.body":
            raise AppError(f"unexpected ASGI message {kind!r}")
        if self._start is None or self.complete:
            raise AppError("http.response.body outside a response")
        if self._conn.closed:  # lost, though the loop may not have told us yet (write drops it)
            self._end("lost")
        if self.gone in ("lost", "shutdown"):
            raise ClientDisconnected(f"exchange ended: {self.gone}")
        body = bytes(message.get("body", b""))
        more = bool(message.get("more_body", False))
        try:
            if not self.head_sent:
                self._write_head(self._start, body, more)
            if body and not self._wire_done:
                self._out.extend(self._h.send_with_data_passthrough(h11.Data(data=body)) or ())
                self.sent += len(body)
            if not more:
                self.complete = True
                self._write_end()
        except h11.LocalProtocolError as exc:  # more body than its Content-Length, a bad header ...
            raise AppError(f"response refused by h11: {exc}") from None
        finally:
            # One write per piece of the app's: a small response leaves in one segment, not as
            # head, body and end one after the other.
            if self._out:
                self._conn.write(b"".join(self._out))
                self._out.clear()
        try:
            await self._conn.drain()
        except OSError as exc:  # lost, or the client read nothing for send_timeout (IdleTimeout)
            self._end("lost")
            raise ClientDisconnected(str(exc) or type(exc).__name__) from None

    def _write_head(self, start: tuple[int, list[tuple[bytes, bytes]]], body: bytes, more: bool) -> None:
        status, given = start
        headers = [(name, value) for name, value in given if name not in _HOP_BY_HOP]
        has_length = any(name == b"content-length" for name, _ in headers)
        if not more and not has_length and _may_have_body(status):
            headers.append((b"content-length", str(len(body)).encode()))
        # Another request only after a request read whole, before a stop, within the count.
        self.keep = self._keep_alive and self._body_done and not self._conn.shutdown_requested
        if not self.keep:
            headers.append((b"connection", b"close"))
        response = h11.Response(status_code=status, headers=headers, reason=_phrase(status))
        self._out.append(self._h.send(response) or b"")
        self.head_sent = True
        self.status = status
        if self._head.method == b"HEAD":
            self._write_end()  # RFC 9110 section 9.3.2: the head only; the app's body is dropped
        elif more and not has_length:
            # An open-ended stream: a graceful stop ends it now rather than after the grace period
            # (the module's docstring). A stop already requested ends it after this first piece.
            self._released.enter_context(self._conn.waiting_for_client())
            if self._conn.shutdown_requested:
                self._end("shutdown")

    def _write_end(self) -> None:
        if not self._wire_done:
            self._wire_done = True
            self._out.append(self._h.send(h11.EndOfMessage()) or b"")
        self._ended.set()  # the exchange is over: a receive waiting for the end returns


def _announces_body(head: h11.Request) -> bool:
    for name, value in head.headers:
        if name == b"transfer-encoding":
            return True
        if name == b"content-length":
            return int(value) > 0  # h11 has checked it is one decimal number
    return False


def _may_have_body(status: int) -> bool:
    # RFC 9110 section 8.6: no Content-Length in a 1xx or 204, nor a 304 that does not repeat it.
    return status >= 200 and status not in (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED)


def _phrase(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""
