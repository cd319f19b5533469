"""The webmail sessions' rules on a real store with a clock the test moves
(``pochta.web.sessions``): lifetime and idle time, the touch at most once a minute, password only
over TLS off loopback, and the webmail's routes absent while it is off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response

from pochta.auth.authenticator import Authenticator
from pochta.config import Settings
from pochta.server.http.asgi import call_app
from pochta.store.sqlite.store import SqliteStore
from pochta.web import WebServices, build_app
from pochta.web.sessions import SignedIn, SignInRefused, WebSessions

ALICE = "alice@example.org"  # the account of conftest.py's store
PASSWORD = "secret-1"

SETTINGS = Settings.model_validate(
    {"webmail": {"session_lifetime": 3600, "session_idle": 600}, "jmap": {"enabled": True}}
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def request(*, cookie: str = "", scheme: str = "http", client: str = "127.0.0.1") -> Request:
    headers = [(b"host", b"mail.example.org"), (b"user-agent", b"test browser")]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "scheme": scheme,
        "path": "/webmail/",
        "query_string": b"",
        "headers": headers,
        "client": (client, 40000),
        "server": ("192.0.2.10", 443 if scheme == "https" else 80),
    }
    return Request(scope)


async def signed_in(sessions: WebSessions) -> tuple[str, SignedIn]:
    outcome = await sessions.sign_in(request(), ALICE, PASSWORD)
    assert not isinstance(outcome, SignInRefused), outcome
    return outcome


async def test_a_session_ends_when_idle_and_at_its_lifetime(store: SqliteStore, tmp_path: Path) -> None:
    clock = Clock()
    sessions = WebSessions(
        WebServices(SETTINGS, tmp_path, store, Authenticator(store, SETTINGS.login)), clock
    )
    token, first = await signed_in(sessions)
    assert first.session.expires == first.session.created + 3600
    assert first.session.user_agent == "test browser"
    cookie = f"pochta_session={token}"
    clock.now += 30
    current = await sessions.current(request(cookie=cookie))
    assert current is not None
    assert current.account.address == ALICE
    stored = await store.web_session(first.session.token_hash)
    assert stored is not None
    assert stored.seen == first.session.seen  # within a minute: not written
    # Active every 9 minutes: never idle for 10, yet over at the hour.
    for _ in range(6):
        clock.now += 540
        assert await sessions.current(request(cookie=cookie)) is not None
    clock.now = first.session.created + 3600
    assert await sessions.current(request(cookie=cookie)) is None
    assert await store.web_session(first.session.token_hash) is None  # deleted when found ended

    token, _ = await signed_in(sessions)
    clock.now += 600  # idle for session_idle
    assert await sessions.current(request(cookie=f"pochta_session={token}")) is None
    # A cookie of the other scheme's name is not this session's.
    token, _ = await signed_in(sessions)
    assert await sessions.current(request(cookie=f"__Host-pochta_session={token}")) is None
    assert (
        await sessions.current(request(cookie=f"__Host-pochta_session={token}", scheme="https")) is not None
    )


async def test_no_password_over_plain_http_off_loopback(store: SqliteStore, tmp_path: Path) -> None:
    sessions = WebSessions(WebServices(SETTINGS, tmp_path, store, Authenticator(store, SETTINGS.login)))
    refused = await sessions.sign_in(request(client="192.0.2.7"), ALICE, PASSWORD)
    assert isinstance(refused, SignInRefused)
    assert "HTTPS" in refused.message
    accepted = await sessions.sign_in(request(client="192.0.2.7", scheme="https"), ALICE, PASSWORD)
    assert not isinstance(accepted, SignInRefused)
    response = Response()
    sessions.set_session_cookie(request(scheme="https"), response, accepted[0])
    line = response.headers["set-cookie"]
    assert line.startswith("__Host-pochta_session=")
    assert "Secure" in line
    assert "HttpOnly" in line


async def test_the_webmail_is_not_served_while_off(store: SqliteStore, tmp_path: Path) -> None:
    web = WebServices(Settings(), tmp_path, store, Authenticator(store, Settings().login))
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/webmail/login",
        "raw_path": b"/webmail/login",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"mail.example.org")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 80),
    }
    assert (await call_app(build_app(web), scope, b"")).status == 404


def test_the_webmail_needs_jmap() -> None:
    with pytest.raises(ValueError, match=r"webmail\.enabled needs jmap\.enabled"):
        Settings.model_validate({"webmail": {"enabled": True}})
    assert Settings.model_validate({"webmail": {"enabled": True}, "jmap": {"enabled": True}}).webmail.enabled
