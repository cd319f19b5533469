"""One HTTP request through an ASGI application, buffered both ways.

The HTTP listener reads a whole request (its body bounded by ``http.max_body_size``) before it
calls the application, and the application's answers here are small documents (a policy, an XML
or plist file), so the response is collected whole too: ``call_app`` returns it as a ``Reply``
that the listener frames with h11. Streaming bodies are for a later JMAP/webmail that needs them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AppError", "AsgiApp", "Reply", "call_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
AsgiApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]


class AppError(Exception):
    """The application broke the ASGI contract (no response, a second start ...)."""


@dataclass
class Reply:
    status: int
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""


async def call_app(app: AsgiApp, scope: Scope, body: bytes) -> Reply:
    """Run ``app`` for one request whose body is ``body``; its complete response."""
    delivered = False
    reply: Reply | None = None
    chunks: list[bytes] = []
    complete = False

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        # The request was read whole; after it there is only the end of the exchange.
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
