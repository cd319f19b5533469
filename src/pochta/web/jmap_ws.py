"""JMAP over WebSocket (RFC 8887): ``/jmap/ws``, subprotocol ``jmap``. docs/jmap.md "WebSocket".

The handshake is logged in as ``/jmap/api`` is (Basic; or the webmail's cookie, from a page of
this same origin: a browser sends any site's WebSocket handshake with our cookie, so ``Origin``
must be ours, RFC 6455 section 10.2). A refused handshake is a 403 (the listener's answer to a
WebSocket the application closes before accepting), as is one without the ``jmap`` subprotocol
(RFC 8887 section 4.2) or past the user's ``jmap.max_push_connections``.

Each text message is a Request (``@type: Request``, optional ``id``), answered by a Response with
``requestId`` through the same processor as ``/jmap/api`` (``JmapEndpoints.respond``), under the
same ``maxConcurrentRequests``; bad input is a RequestError (problem details, RFC 8887 section
4.3.3), and the WebSocket stays open. ``WebSocketPushEnable`` starts StateChange messages (with
``pushState``: the account's state, which every pushed type shares) for the ``dataTypes`` asked;
``WebSocketPushDisable`` stops them. Requests are answered in the order they come, one at a time
per WebSocket; pushes go out between them.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from pochta.auth.authenticator import AuthOk
from pochta.proto.jmap import ProblemType, RequestLimits, RequestProblem, dumps
from pochta.proto.jmap.push import (
    PushDisable,
    PushEnable,
    WebSocketRequest,
    parse_websocket_message,
    request_error,
    state_change,
    websocket_response,
)
from pochta.server.jmap import Principal, principal_of
from pochta.server.jmap.push import PUSHED_TYPES, StateWatch
from pochta.store.model import AccountId
from pochta.web.basic_auth import basic_login

if TYPE_CHECKING:
    from pochta.web.jmap import JmapEndpoints

__all__ = ["SUBPROTOCOL", "WEBSOCKET_CAPABILITY", "WS_PATH", "jmap_websocket"]

WS_PATH = "/jmap/ws"
WEBSOCKET_CAPABILITY = "urn:ietf:params:jmap:websocket"  # RFC 8887 section 4.1
SUBPROTOCOL = "jmap"  # RFC 8887 section 4.2


async def _login(endpoints: JmapEndpoints, websocket: WebSocket) -> Principal | None:
    if not endpoints.services.settings.jmap.enabled:
        return None
    if "authorization" not in websocket.headers:
        signed_in = await endpoints.sessions.current(websocket)
        if signed_in is None:
            return None
        secure = websocket.url.scheme == "wss"
        ours = f"{'https' if secure else 'http'}://{websocket.url.netloc}"
        if websocket.headers.get("origin") != ours:
            return None  # cross-site WebSocket hijacking: a cookie counts only from our pages
        return principal_of(signed_in.account, endpoints.capabilities)
    result = await basic_login(endpoints.services, websocket, "jmap")
    if not isinstance(result, AuthOk):
        return None
    return principal_of(result.account, endpoints.capabilities)


async def jmap_websocket(endpoints: JmapEndpoints, websocket: WebSocket) -> None:
    principal = await _login(endpoints, websocket)
    offered = websocket.scope.get("subprotocols", [])
    if principal is None or SUBPROTOCOL not in offered:
        await websocket.close()
        return
    jmap = endpoints.services.settings.jmap
    user = principal.own_id
    if not endpoints.push_connections.acquire(user, jmap.max_push_connections):
        await websocket.close()
        return
    try:
        await websocket.accept(subprotocol=SUBPROTOCOL)
        await _Session(endpoints, websocket, principal).run()
    finally:
        endpoints.push_connections.release(user)


class _Session:
    """One accepted JMAP WebSocket: its requests, and its push while enabled."""

    def __init__(self, endpoints: JmapEndpoints, websocket: WebSocket, principal: Principal) -> None:
        self.endpoints = endpoints
        self.websocket = websocket
        self.principal = principal
        self.sending = asyncio.Lock()  # a Response and a push never interleave their frames
        self.push: asyncio.Task[None] | None = None
        self.watch: StateWatch | None = None

    async def send(self, document: dict[str, Any]) -> None:
        async with self.sending:
            await self.websocket.send_text(dumps(document).decode("utf-8"))

    async def run(self) -> None:
        try:
            while True:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                if text is None:
                    # RFC 8887 section 4.2: JMAP messages are text; a binary one is not JSON text.
                    await self.send(
                        request_error(RequestProblem(ProblemType.NOT_JSON, "a binary message"), None)
                    )
                    continue
                await self.handle(text)
        except WebSocketDisconnect:
            return
        finally:
            await self.stop_push()

    async def handle(self, text: str) -> None:
        endpoints = self.endpoints
        limits = endpoints.core_limits()
        parsed = parse_websocket_message(
            text,
            capabilities=endpoints.request_capabilities,
            limits=RequestLimits(limits.max_size_request, limits.max_calls_in_request),
        )
        if isinstance(parsed, tuple):
            problem, request_id = parsed
            await self.send(request_error(problem, request_id))
        elif isinstance(parsed, PushEnable):
            await self.start_push(parsed)
        elif isinstance(parsed, PushDisable):
            await self.stop_push()
        else:
            await self.answer(parsed)

    async def answer(self, message: WebSocketRequest) -> None:
        endpoints, jmap = self.endpoints, self.endpoints.services.settings.jmap
        with endpoints.concurrent.enter(self.principal.own_id, jmap.max_concurrent_requests) as admitted:
            if not admitted:
                # RFC 8620 section 3.6.1, as for /jmap/api: the limit problem.
                problem = RequestProblem(
                    ProblemType.LIMIT,
                    f"over {jmap.max_concurrent_requests} requests in progress",
                    limit="maxConcurrentRequests",
                )
                await self.send(request_error(problem, message.request_id))
                return
            base = "https://" if self.websocket.url.scheme == "wss" else "http://"
            document = await endpoints.respond(
                message.request, self.principal, base + self.websocket.url.netloc
            )
        await self.send(websocket_response(document, message.request_id))

    async def start_push(self, enable: PushEnable) -> None:
        """RFC 8887 section 4.3.5.2: a new WebSocketPushEnable replaces the one before."""
        await self.stop_push()
        jmap = self.endpoints.services.settings.jmap
        watch = StateWatch(
            self.endpoints.services.store,
            AccountId(self.principal.account.id),
            max_pending=jmap.push_max_pending,
            coalesce=jmap.push_coalesce,
        )
        state = await watch.start()
        wanted = PUSHED_TYPES if enable.data_types is None else PUSHED_TYPES & enable.data_types
        if enable.push_state is not None and enable.push_state != state and wanted:
            # "the server SHOULD immediately send all changes since that state token": pushState
            # is the account's state, shared by every type; which of them moved is not kept.
            await self.send(
                state_change({self.principal.own_id: dict.fromkeys(sorted(wanted), state)}, state)
            )
        self.watch = watch
        self.push = asyncio.create_task(self.pushing(watch, wanted))

    async def pushing(self, watch: StateWatch, wanted: frozenset[str]) -> None:
        while not watch.ended:
            moved = await watch.next(None, wanted.__contains__)
            if moved:
                push_state = next(iter(moved.values()))
                await self.send(state_change({self.principal.own_id: moved}, push_state))

    async def stop_push(self) -> None:
        task, watch = self.push, self.watch
        self.push = self.watch = None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task
        if watch is not None:
            await watch.close()
