"""JMAP over HTTP (RFC 8620 sections 2 and 3.1): ``GET /.well-known/jmap`` answers the Session
object, ``POST /jmap/api`` runs a Request. docs/jmap.md.

Both take HTTP Basic (``web.basic_auth``: the account's password or an app password, TLS or
loopback, the login limits and lockouts of IMAP, the account's ``jmap.enabled`` switch), or the
webmail's session cookie (``web.sessions``) when no Authorization is sent: the webmail is a JMAP
client like any other (docs/webmail.md); a POST with the cookie must carry the session's CSRF token
in ``X-CSRF-Token``. While
``[jmap] enabled`` is false every JMAP path answers 404, as if unrouted: the setting is read at
each request, so that a reload switches JMAP on or off without a restart.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from pochta.auth.authenticator import AuthOk
from pochta.proto.jmap import (
    CORE_CAPABILITY,
    PROBLEM_MEDIA_TYPE,
    CoreLimits,
    ProblemType,
    RequestLimits,
    RequestProblem,
    SessionDescription,
    dumps,
    parse_request,
    session_object,
)
from pochta.proto.jmap import Request as JmapRequest
from pochta.proto.jmap.admin import ADMIN_CAPABILITY
from pochta.proto.jmap.mail.query import COLLATIONS
from pochta.server.jmap import (
    IN_PROGRESS,
    ConcurrentRequests,
    Principal,
    default_registry,
    principal_of,
    process_request,
)
from pochta.server.jmap.account_capabilities import account_capabilities
from pochta.web.basic_auth import basic_login
from pochta.web.jmap_download import DOWNLOAD_PATH, download
from pochta.web.jmap_push import EVENT_SOURCE_PATH, event_source
from pochta.web.jmap_upload import UPLOAD_PATH, upload
from pochta.web.jmap_ws import WEBSOCKET_CAPABILITY, WS_PATH, jmap_websocket
from pochta.web.services import WebServices
from pochta.web.sessions import WebSessions

__all__ = ["API_PATH", "SESSION_PATH", "JmapEndpoints", "jmap_routes"]

SESSION_PATH = "/.well-known/jmap"  # RFC 8620 section 2.2
API_PATH = "/jmap/api"
# URI templates of the blob download (section 6.2, web/jmap_download.py) and upload (section 6.1,
# web/jmap_upload.py), which the Session object names (section 2). Push: section 7.3
# (web/jmap_push.py).
DOWNLOAD_TEMPLATE = DOWNLOAD_PATH + "?accept={type}"
UPLOAD_TEMPLATE = UPLOAD_PATH
EVENT_SOURCE_TEMPLATE = EVENT_SOURCE_PATH + "?types={types}&closeafter={closeafter}&ping={ping}"
JSON_MEDIA_TYPE = "application/json"
_EVERY_METHOD = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
# A body or a response past this many octets is parsed or serialised off the event loop thread.
_OFF_LOOP = 256 * 1024


def base_url(connection: HTTPConnection) -> str:
    """``https://host[:port]`` as the client reached us (``http`` for ``ws``, ``https`` for ``wss``)."""
    scheme = {"ws": "http", "wss": "https"}.get(connection.url.scheme, connection.url.scheme)
    return f"{scheme}://{connection.url.netloc}"


def _json(document: object, *, status: int = 200, media_type: str = JSON_MEDIA_TYPE) -> Response:
    return Response(dumps(document), status_code=status, media_type=media_type)


def _problem(problem: RequestProblem) -> Response:
    # RFC 8620 section 3.6.1: request-level errors are RFC 7807 problem details.
    return _json(problem.to_json(), status=problem.status, media_type=PROBLEM_MEDIA_TYPE)


class JmapEndpoints:
    """The JMAP routes and what they share: the method registry and the requests in progress
    per user (``maxConcurrentRequests``, counted in this worker process)."""

    def __init__(self, services: WebServices) -> None:
        self.services = services
        self.registry = default_registry()
        self.concurrent = ConcurrentRequests()
        self.push_connections = ConcurrentRequests()  # event streams and WebSockets per user
        self.uploads = ConcurrentRequests()  # uploads in progress per user (maxConcurrentUpload)
        self.sessions = WebSessions(services)

    @property
    def capabilities(self) -> frozenset[str]:
        """What a request may name in ``using``: every capability with a registered method."""
        return frozenset({CORE_CAPABILITY, *self.registry.capabilities})

    @property
    def advertised(self) -> frozenset[str]:
        """What the Session lists: the capabilities whose methods are all served."""
        return self.capabilities - IN_PROGRESS

    def core_limits(self) -> CoreLimits:
        jmap = self.services.settings.jmap
        return CoreLimits(
            max_size_upload=jmap.max_size_upload,
            max_concurrent_upload=jmap.max_concurrent_upload,
            # The HTTP listener bounds /jmap/api by this same setting (server.http.BODY_LIMITS).
            max_size_request=jmap.max_size_request,
            max_concurrent_requests=jmap.max_concurrent_requests,
            max_calls_in_request=jmap.max_calls_in_request,
            max_objects_in_get=jmap.max_objects_in_get,
            max_objects_in_set=jmap.max_objects_in_set,
            # RFC 8620 section 2: the collations /query sorts may name (Email/query's).
            collation_algorithms=COLLATIONS,
        )

    def session(self, base: str, principal: Principal) -> dict[str, object]:
        """The Session object, its URLs on ``base`` (``https://host``: the scheme and host the
        client reached us by)."""
        secure = base.startswith("https:")
        websocket_url = (
            ("wss" if secure else "ws") + base.removeprefix("https" if secure else "http") + WS_PATH
        )
        settings = self.services.settings
        accounts = principal.accounts.values()
        # The admin capability is for administrators only (docs/admin.md "Who may call it"): a
        # principal none of whose accounts has it is not told of it at all.
        shown = self.advertised
        if not any(ADMIN_CAPABILITY in account.capabilities for account in accounts):
            shown = shown - {ADMIN_CAPABILITY}
        # RFC 8621 section 1.3.1 (and 1.3.2, 1.3.3): beyond core, a capability's object in the
        # Session's "capabilities" is empty; what it tells is per account.
        advertised: dict[str, dict[str, object]] = {uri: {} for uri in sorted(shown - {CORE_CAPABILITY})}
        description = SessionDescription(
            core=self.core_limits(),
            accounts=[
                account.session_account(shown, account_capabilities(settings, account))
                for account in accounts
            ],
            primary_accounts={uri: principal.own_id for uri in sorted(shown)},
            username=principal.username,
            api_url=base + API_PATH,
            download_url=base + DOWNLOAD_TEMPLATE,
            upload_url=base + UPLOAD_TEMPLATE,
            event_source_url=base + EVENT_SOURCE_TEMPLATE,
            # RFC 8887 section 4.1: the WebSocket URL, and that it pushes StateChanges.
            other_capabilities={
                **advertised,
                WEBSOCKET_CAPABILITY: {"url": websocket_url, "supportsPush": True},
            },
        )
        return session_object(description)

    @property
    def request_capabilities(self) -> frozenset[str]:
        """What a request's ``using`` may name: every capability the Session advertises."""
        return self.capabilities | {WEBSOCKET_CAPABILITY}

    async def respond(self, parsed: JmapRequest, principal: Principal, base: str) -> dict[str, Any]:
        """The Response object to a parsed request (``/jmap/api`` and the WebSocket's)."""
        response = await process_request(
            parsed,
            registry=self.registry,
            principal=principal,
            settings=self.services.settings,
            store=self.services.store,
            session_state=lambda: str(self.session(base, principal)["state"]),
            delivery=self.services.delivery,
            data_dir=self.services.data_dir,
        )
        return response.to_json()

    async def login(self, request: Request, method: str) -> Principal | Response:
        if not self.services.settings.jmap.enabled:
            return PlainTextResponse("Not Found", status_code=404)
        if request.method != method and not (method == "GET" and request.method == "HEAD"):
            return PlainTextResponse("Method Not Allowed", status_code=405, headers={"Allow": method})
        if "authorization" not in request.headers:
            signed_in = await self.sessions.current(request)
            if signed_in is not None:
                changes = request.method not in ("GET", "HEAD")
                if changes and not self.sessions.csrf_ok(request, signed_in, None):
                    return PlainTextResponse("forbidden: wrong X-CSRF-Token\n", status_code=403)
                return principal_of(signed_in.account, self.capabilities)
        result = await basic_login(self.services, request, "jmap")
        if not isinstance(result, AuthOk):
            return result
        return principal_of(result.account, self.capabilities)

    async def session_resource(self, request: Request) -> Response:
        principal = await self.login(request, "GET")
        if isinstance(principal, Response):
            return principal
        response = _json(self.session(base_url(request), principal))
        response.headers["Cache-Control"] = "no-store"  # it names the account
        return response

    async def api(self, request: Request) -> Response:
        principal = await self.login(request, "POST")
        if isinstance(principal, Response):
            return principal
        settings = self.services.settings
        with self.concurrent.enter(principal.own_id, settings.jmap.max_concurrent_requests) as admitted:
            if not admitted:
                # RFC 8620 section 3.6.1: the limit problem, naming maxConcurrentRequests.
                return _problem(
                    RequestProblem(
                        ProblemType.LIMIT,
                        f"over {settings.jmap.max_concurrent_requests} requests in progress",
                        limit="maxConcurrentRequests",
                    )
                )
            return await self._run(request, principal)

    def routes(self) -> list[BaseRoute]:
        return [
            # Every method is routed here, so that a disabled JMAP is a 404 whatever the method.
            Route(SESSION_PATH, self.session_resource, methods=_EVERY_METHOD),
            Route(API_PATH, self.api, methods=_EVERY_METHOD),
            Route(DOWNLOAD_PATH, self.download, methods=_EVERY_METHOD),
            Route(UPLOAD_PATH, self.upload, methods=_EVERY_METHOD),
            Route(EVENT_SOURCE_PATH, self.event_source, methods=_EVERY_METHOD),
            WebSocketRoute(WS_PATH, self.websocket),
        ]

    async def download(self, request: Request) -> Response:
        return await download(self, request)

    async def upload(self, request: Request) -> Response:
        return await upload(self, request)

    async def websocket(self, websocket: WebSocket) -> None:
        await jmap_websocket(self, websocket)

    async def event_source(self, request: Request) -> Response:
        return await event_source(self, request)

    async def _run(self, request: Request, principal: Principal) -> Response:
        body = await request.body()
        limits = self.core_limits()
        request_limits = RequestLimits(limits.max_size_request, limits.max_calls_in_request)

        def parse() -> JmapRequest | RequestProblem:
            return parse_request(
                body,
                request.headers.get("content-type"),
                capabilities=self.request_capabilities,
                limits=request_limits,
            )

        parsed = await asyncio.to_thread(parse) if len(body) > _OFF_LOOP else parse()
        if isinstance(parsed, RequestProblem):
            return _problem(parsed)
        document = await self.respond(parsed, principal, base_url(request))
        if len(body) > _OFF_LOOP:  # a large request (Core/echo hands it back): likely a large answer
            return Response(await asyncio.to_thread(dumps, document), media_type=JSON_MEDIA_TYPE)
        return _json(document)


def jmap_routes(services: WebServices) -> list[BaseRoute]:
    return JmapEndpoints(services).routes()
