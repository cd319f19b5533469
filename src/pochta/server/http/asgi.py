"""The ASGI vocabulary the HTTP listener speaks to the web application (``pochta.web``).

An ``http`` request is run by ``exchange.Exchange`` (the request body streamed to the app through
``receive``, the response written as the app sends it), a ``websocket`` one by
``websocket.WebSocketSession``. Both declare ASGI 3.0, spec version 2.3: Starlette then listens on
``receive`` for ``http.disconnect`` while it streams a response, which is how a client that goes
away, or a graceful stop, ends a long-lived stream promptly (docs/http.md "Streaming").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ASGI_VERSION",
    "AppError",
    "AsgiApp",
    "ClientDisconnected",
    "Message",
    "Receive",
    "Reply",
    "Scope",
    "Send",
    "call_app",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ASGI_VERSION = {"version": "3.0", "spec_version": "2.3"}


class AppError(Exception):
    """The application broke the ASGI contract (no response, a second start ...)."""


class ClientDisconnected(OSError):
    """``send`` on an exchange whose client is gone (or that a graceful stop ended): the ASGI
    specification asks servers to raise an OSError subclass, which ends the app's stream; the
    listener takes it as the normal end of that exchange, not as an error."""


@dataclass
class Reply:
    status: int
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""


async def call_app(app: AsgiApp, scope: Scope, body: bytes) -> Reply:
    """Run ``app`` in-process for one request whose body is ``body``; its whole response. No
    socket: for tests that need what a loopback client cannot be (another address, a scheme)."""
    delivered = False
    reply: Reply | None = None
    chunks: list[bytes] = []
    complete = False

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal reply, complete
        kind = message.get("type")
        if kind == "http.response.start":
            if reply is not None:
                raise AppError("http.response.start sent twice")
            headers = [(bytes(name).lower(), bytes(value)) for name, value in message.get("headers", ())]
            reply = Reply(int(message["status"]), headers)
        elif kind == "http.response.body":
            if reply is None or complete:
                raise AppError("http.response.body outside a response")
            chunks.append(bytes(message.get("body", b"")))
            complete = not message.get("more_body", False)
        else:
            raise AppError(f"unexpected ASGI message {kind!r}")

    await app(scope, receive, send)
    if reply is None or not complete:
        raise AppError("the application returned without a complete response")
    reply.body = b"".join(chunks)
    return reply
