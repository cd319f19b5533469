"""JMAP's HTTP face through its ASGI interface on a real store, for what a loopback socket cannot
show: a client from another address, over plain HTTP or TLS, and requests held in progress
(maxConcurrentRequests)."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from pochta.auth.authenticator import Authenticator
from pochta.config import Settings
from pochta.config_jmap import JmapSettings
from pochta.proto.jmap import CORE_CAPABILITY
from pochta.server.http.asgi import Reply, call_app
from pochta.server.jmap import CallContext
from pochta.store.sqlite.store import SqliteStore
from pochta.web import WebServices, build_app
from pochta.web.jmap import JmapEndpoints

ALICE = "alice@example.org"  # the account of conftest.py's store
PASSWORD = "secret-1"


def services(store: SqliteStore, tmp_path: Path, **jmap: Any) -> WebServices:
    settings = Settings(jmap=JmapSettings(**{"enabled": True, **jmap}))
    return WebServices(settings, tmp_path, store, Authenticator(store, settings.login))


async def call(
    app: Any, method: str, path: str, *, client: str = "127.0.0.1", scheme: str = "https", body: bytes = b""
) -> Reply:
    token = base64.b64encode(f"{ALICE}:{PASSWORD}".encode())
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"mail.example.org"),
            (b"authorization", b"Basic " + token),
            (b"content-type", b"application/json"),
        ],
        "client": (client, 40000),
        "server": ("192.0.2.10", 443),
    }
    return await call_app(app, scope, body)


def echo(*calls: tuple[str, dict[str, Any]]) -> bytes:
    return json.dumps(
        {
            "using": [CORE_CAPABILITY],
            "methodCalls": [[name, args, f"c{i}"] for i, (name, args) in enumerate(calls)],
        }
    ).encode()


async def test_plain_http_from_elsewhere_is_refused(store: SqliteStore, tmp_path: Path) -> None:
    app = build_app(services(store, tmp_path))
    refused = await call(app, "GET", "/.well-known/jmap", client="192.0.2.7", scheme="http")
    assert refused.status == 403
    assert b"https" in refused.body
    taken = await call(app, "GET", "/.well-known/jmap", client="192.0.2.7", scheme="https")
    assert taken.status == 200
    session = json.loads(taken.body)
    assert session["apiUrl"] == "https://mail.example.org/jmap/api"  # as the client reached us


async def test_head_of_the_session(store: SqliteStore, tmp_path: Path) -> None:
    app = build_app(services(store, tmp_path))
    assert (await call(app, "HEAD", "/.well-known/jmap")).status == 200
    assert (await call(app, "PUT", "/.well-known/jmap")).status == 405


async def test_disabled_is_404_and_a_reload_switches_it(store: SqliteStore, tmp_path: Path) -> None:
    web = services(store, tmp_path, enabled=False)
    app = build_app(web)
    for method, path in (("GET", "/.well-known/jmap"), ("POST", "/jmap/api"), ("PUT", "/jmap/api")):
        assert (await call(app, method, path, body=echo())).status == 404
    web.reconfigure(Settings(jmap=JmapSettings(enabled=True)))
    assert (await call(app, "POST", "/jmap/api", body=echo(("Core/echo", {})))).status == 200


async def test_the_advertised_request_size_is_jmaps_own(store: SqliteStore, tmp_path: Path) -> None:
    # The listener bounds /jmap/api by the JMAP setting (server.http.BODY_LIMITS), not by
    # http.max_body_size.
    app = build_app(services(store, tmp_path))
    session = json.loads((await call(app, "GET", "/.well-known/jmap")).body)
    assert session["capabilities"][CORE_CAPABILITY]["maxSizeRequest"] == JmapSettings().max_size_request


async def test_max_concurrent_requests(store: SqliteStore, tmp_path: Path) -> None:
    endpoints = JmapEndpoints(services(store, tmp_path, max_concurrent_requests=2))
    release = asyncio.Event()
    started = asyncio.Semaphore(0)

    async def wait(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
        started.release()
        await release.wait()
        return {}

    endpoints.registry.register("Test/wait", CORE_CAPABILITY, wait)
    app = Starlette(routes=endpoints.routes())
    held = [
        asyncio.create_task(call(app, "POST", "/jmap/api", body=echo(("Test/wait", {})))) for _ in range(2)
    ]
    for _ in held:
        await started.acquire()
    refused = await call(app, "POST", "/jmap/api", body=echo(("Core/echo", {})))
    assert refused.status == 400
    problem = json.loads(refused.body)
    assert (problem["type"], problem["limit"]) == (
        "urn:ietf:params:jmap:error:limit",
        "maxConcurrentRequests",
    )
    release.set()
    assert [(await task).status for task in held] == [200, 200]
    assert (await call(app, "POST", "/jmap/api", body=echo(("Core/echo", {})))).status == 200


async def test_the_mail_capability_object(store: SqliteStore, tmp_path: Path) -> None:
    from pochta.config import LimitSettings
    from pochta.proto.jmap import MAIL_CAPABILITY
    from pochta.proto.jmap.mail.query import SORT_OPTIONS

    # RFC 8621 section 1.3.1's empty object in "capabilities", the limits in the account's, each
    # from the setting that enforces it.
    settings = Settings(
        jmap=JmapSettings(enabled=True),
        limits=LimitSettings(max_mailbox_depth=5, max_mailbox_name_bytes=200, max_message_size=78_000),
    )
    app = build_app(WebServices(settings, tmp_path, store, Authenticator(store, settings.login)))
    session = json.loads((await call(app, "GET", "/.well-known/jmap")).body)
    assert session["capabilities"][MAIL_CAPABILITY] == {}
    (account_id, account) = next(iter(session["accounts"].items()))
    assert session["primaryAccounts"][MAIL_CAPABILITY] == account_id
    assert account["accountCapabilities"][MAIL_CAPABILITY] == {
        "maxMailboxesPerEmail": None,
        "maxMailboxDepth": 5,
        "maxSizeMailboxName": 200,
        "maxSizeAttachmentsPerEmail": 57_000,  # base64 of 57,000 octets is 78,000
        "emailQuerySortOptions": list(SORT_OPTIONS),
        "mayCreateTopLevelMailbox": True,
    }
