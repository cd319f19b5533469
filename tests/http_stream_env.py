"""The HTTP listener (``pochta.server.http.HttpHandler``) in a real ``Server`` on 127.0.0.1, serving
a small Starlette application of its own, for the tests of streaming, request bodies by route and
WebSocket (tests/e2e/test_http_streaming.py, test_http_websocket.py).

The server runs on an event loop in a thread of its own, so that tests talk to it with ordinary
blocking clients (sockets, http.client, the ``websockets`` package's sync client) exactly as a
remote client would. ``Probe`` is what the application tells the tests: which streams started
and which generators ended (their ``finally`` ran).
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from pochta.config import LISTENER_KINDS, Settings
from pochta.metrics import Metrics
from pochta.server.http import HttpHandler, RouteBodyLimit
from pochta.server.listeners import Server

UPLOAD_LIMIT = 50 * 1024 * 1024  # the /upload/ route's own bound, far over http.max_body_size
CHUNK = 64 * 1024


@dataclass
class Probe:
    """What the application saw, for the tests to wait on (set from the server's thread)."""

    started: dict[str, threading.Event] = field(default_factory=dict)
    ended: dict[str, threading.Event] = field(default_factory=dict)
    disconnects: dict[str, int] = field(default_factory=dict)
    produced: dict[str, int] = field(default_factory=dict)  # octets a download's generator yielded
    lock: threading.Lock = field(default_factory=threading.Lock)

    def event(self, kind: str, name: str) -> threading.Event:
        table = self.started if kind == "started" else self.ended
        with self.lock:
            return table.setdefault(name, threading.Event())


def build_test_app(probe: Probe, files: Path) -> Starlette:
    async def events(request: Request) -> Response:
        """An event stream: ``count`` events ``interval`` seconds apart (0: for ever)."""
        name = request.query_params.get("name", "events")
        count = int(request.query_params.get("count", "0"))
        interval = float(request.query_params.get("interval", "0.2"))

        async def generate() -> AsyncIterator[str]:
            probe.event("started", name).set()
            try:
                number = 0
                while count == 0 or number < count:
                    yield f"id: {number}\ndata: event {number}\n\n"
                    number += 1
                    await asyncio.sleep(interval)
            finally:
                probe.event("ended", name).set()

        return StreamingResponse(generate(), media_type="text/event-stream")

    async def pieces(request: Request) -> Response:
        """Fixed pieces, for the chunked framing checked octet by octet."""

        async def generate() -> AsyncIterator[bytes]:
            for piece in (b"hello", b", ", b"world", b"!" * 20):
                yield piece

        return StreamingResponse(generate(), media_type="text/plain")

    async def download(request: Request) -> Response:
        """``size`` octets from a generator, with a Content-Length unless ``length=no``."""
        name = request.query_params.get("name", "download")
        size = int(request.query_params["size"])
        block = bytes(range(256)) * (CHUNK // 256)

        async def generate() -> AsyncIterator[bytes]:
            probe.event("started", name).set()
            try:
                left = size
                while left > 0:
                    piece = block[: min(left, CHUNK)]
                    left -= len(piece)
                    with probe.lock:
                        probe.produced[name] = size - left
                    yield piece
            finally:
                probe.event("ended", name).set()

        headers = {} if request.query_params.get("length") == "no" else {"Content-Length": str(size)}
        return StreamingResponse(generate(), media_type="application/octet-stream", headers=headers)

    async def upload(request: Request) -> Response:
        """Digest the body as it comes: never whole in memory here either."""
        digest = hashlib.sha256()
        size = 0
        async for piece in request.stream():
            digest.update(piece)
            size += len(piece)
        return JSONResponse({"size": size, "sha256": digest.hexdigest()})

    async def blob(request: Request) -> Response:
        """A file from ``files``, as a blob download would be served (ranges included)."""
        return FileResponse(files / request.path_params["name"], media_type="application/octet-stream")

    async def hello(request: Request) -> Response:
        return PlainTextResponse("hello\n")

    async def echo_socket(websocket: WebSocket) -> None:
        """Echoes each message; ``close CODE`` closes with CODE; picks ``jmap`` when offered."""
        name = websocket.query_params.get("name", "ws")
        offered = websocket.scope.get("subprotocols", [])
        await websocket.accept(subprotocol="jmap" if "jmap" in offered else None)
        probe.event("started", name).set()
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    with probe.lock:
                        probe.disconnects[name] = int(message.get("code", 0))
                    return
                text = message.get("text")
                if text is not None and text.startswith("close "):
                    await websocket.close(int(text.split()[1]))
                    continue
                if text is not None:
                    await websocket.send_text(text)
                else:
                    await websocket.send_bytes(message["bytes"])
        finally:
            probe.event("ended", name).set()

    async def refuse_socket(websocket: WebSocket) -> None:
        await websocket.close()

    async def deaf_socket(websocket: WebSocket) -> None:
        """Accepts, then never takes a message."""
        await websocket.accept()
        probe.event("started", "deaf").set()
        await asyncio.sleep(3600)

    async def broken_socket(websocket: WebSocket) -> None:
        await websocket.accept()
        raise RuntimeError("a bug in a WebSocket route")

    return Starlette(
        routes=[
            Route("/events", events),
            Route("/pieces", pieces),
            Route("/download", download),
            Route("/upload/{name}", upload, methods=["POST"]),
            Route("/small", upload, methods=["POST"]),
            Route("/hello", hello),
            Route("/blob/{name}", blob),
            WebSocketRoute("/ws", echo_socket),
            WebSocketRoute("/ws-refuse", refuse_socket),
            WebSocketRoute("/ws-broken", broken_socket),
            WebSocketRoute("/ws-deaf", deaf_socket),
        ]
    )


def stream_settings(**http: Any) -> Settings:
    values: dict[str, Any] = {
        "body_timeout": 2.0,
        "send_timeout": 2.0,
        "keepalive_timeout": 5.0,
        "websocket_max_message": 64 * 1024,
    } | http
    return Settings.model_validate(
        {
            "listeners": {name: "off" for name in LISTENER_KINDS} | {"http": "127.0.0.1:0"},
            "server": {"shutdown_grace": 10.0},
            "http": values,
        }
    )


@dataclass
class StreamEnv:
    server: Server
    probe: Probe
    loop: asyncio.AbstractEventLoop
    port: int
    files: Path  # what /blob/NAME serves

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def stop_server(self) -> Future[None]:
        """Begin a graceful stop (as SIGTERM does); the future is done once the server stopped."""
        return asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop)


def start_stream_server(data_dir: Path, settings: Settings) -> Iterator[StreamEnv]:
    """Start the server in a thread (a generator for a fixture: yields, then stops it)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    probe = Probe()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="http-stream-server", daemon=True)
    thread.start()
    limits = (RouteBodyLimit("/upload/", lambda _settings: UPLOAD_LIMIT),)

    async def start() -> Server:
        handler = HttpHandler(settings, build_test_app(probe, data_dir), body_limits=limits)
        server = Server(settings, data_dir, {"http": handler}, metrics=Metrics())
        await server.start()
        return server

    server = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    address = server.bound_addresses()["http"]
    assert isinstance(address, tuple)
    try:
        yield StreamEnv(server, probe, loop, address[1], data_dir)
    finally:
        if not server.stopping:
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
