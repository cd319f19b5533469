"""JMAP push over real sockets on a real ``pochta serve --workers 2`` (tests/web_env.py): the event
source (RFC 8620 section 7.3) told of a delivery by LMTP and of an IMAP STORE, its types filter,
closeafter=state, ping, the webmail cookie, the per-user limit, and the end of a stream when the
server stops."""

from __future__ import annotations

import base64
import imaplib
import json
import re
import threading
from collections.abc import Iterator
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

import pytest

from jmap_push_client import Event, EventStream, deliver
from web_env import ALICE, PASSWORD, Response, WebEnv, start_web_server

CORE = "urn:ietf:params:jmap:core"
CONFIG = "[jmap]\nenabled = true\npush_min_ping = 1\nmax_push_connections = 3\n[webmail]\nenabled = true\n"
STREAM = "/jmap/eventsource/?types={types}&closeafter={closeafter}&ping={ping}"
TIMEOUT = 20.0


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebEnv]:
    yield from start_web_server(tmp_path_factory.mktemp("jmap-push"), CONFIG, extra_listeners=("lmtp",))


def basic() -> dict[str, str]:
    token = base64.b64encode(f"{ALICE}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def open_stream(
    env: WebEnv,
    types: str = "*",
    closeafter: str = "no",
    ping: int = 0,
    headers: dict[str, str] | None = None,
) -> EventStream:
    path = STREAM.format(types=types, closeafter=closeafter, ping=ping)
    return EventStream(
        "localhost", env.port("https"), path, headers or basic(), env.client_context(), TIMEOUT
    )


def account_id(env: WebEnv) -> str:
    session = json.loads(env.get("/.well-known/jmap", tls=True, headers=basic()).body)
    return str(session["primaryAccounts"][CORE])


def state_event(stream: EventStream) -> Event:
    event = stream.next()
    assert event is not None
    assert event.name == "state", event
    assert event.data["@type"] == "StateChange"
    return event


def test_delivery_is_one_state_event(env: WebEnv) -> None:
    stream = open_stream(env)
    try:
        assert stream.status == 200
        assert stream.response.getheader("Content-Type", "").startswith("text/event-stream")
        assert stream.response.getheader("Cache-Control") == "no-store"
        deliver(env.port("lmtp"), ALICE, "push one")
        event = state_event(stream)
        [(account, changed)] = event.data["changed"].items()
        assert account == account_id(env)
        assert set(changed) == {"Email", "Mailbox", "Thread"}
        # All three share the account's counter (proto.jmap.mail.states).
        assert len(set(changed.values())) == 1
        deliver(env.port("lmtp"), ALICE, "push two")
        later = state_event(stream)
        [newer] = set(later.data["changed"][account].values())
        assert int(newer) > int(next(iter(changed.values())))
    finally:
        stream.close()


def imap_store(env: WebEnv, flags: str) -> None:
    imap = imaplib.IMAP4("127.0.0.1", env.port("imap"))
    try:
        imap.login(ALICE, PASSWORD)
        imap.select("INBOX")
        status, _ = imap.store("1", "+FLAGS", flags)
        assert status == "OK"
    finally:
        imap.logout()


def test_imap_store_changes_email_and_mailbox(env: WebEnv) -> None:
    deliver(env.port("lmtp"), ALICE, "to flag")
    stream = open_stream(env)
    try:
        imap_store(env, "(\\Seen)")
        event = state_event(stream)
        [changed] = event.data["changed"].values()
        assert set(changed) == {"Email", "Mailbox"}
    finally:
        stream.close()


def test_types_filter(env: WebEnv) -> None:
    deliver(env.port("lmtp"), ALICE, "to flag again")
    stream = open_stream(env, types="Thread")
    try:
        imap_store(env, "(\\Flagged)")  # Email and Mailbox only: nothing for this stream
        deliver(env.port("lmtp"), ALICE, "a thread")
        event = state_event(stream)
        [changed] = event.data["changed"].values()
        assert set(changed) == {"Thread"}
    finally:
        stream.close()


def test_close_after_state(env: WebEnv) -> None:
    stream = open_stream(env, closeafter="state")
    try:
        deliver(env.port("lmtp"), ALICE, "long poll")
        state_event(stream)
        assert stream.next() is None  # RFC 8620 section 7.3: the response ends after the event
    finally:
        stream.close()


def test_ping(env: WebEnv) -> None:
    stream = open_stream(env, ping=1)  # push_min_ping = 1 here
    try:
        for _ in range(2):
            event = stream.next()
            assert event is not None
            assert event.name == "ping"
            assert event.data == {"interval": 1}
    finally:
        stream.close()


def test_ping_is_clamped(env: WebEnv) -> None:
    stream = open_stream(env, ping=100_000, closeafter="state")
    try:
        deliver(env.port("lmtp"), ALICE, "clamped")
        state_event(stream)
    finally:
        stream.close()
    # The interval used is the clamped one: seen in the first ping of a short one.
    short = open_stream(env, ping=1)
    try:
        event = short.next()
        assert event is not None
        assert event.data == {"interval": 1}
    finally:
        short.close()


@pytest.mark.parametrize(
    "query",
    [
        "/jmap/eventsource/?types=*&closeafter=maybe&ping=0",
        "/jmap/eventsource/?types=*&closeafter=no&ping=-1",
        "/jmap/eventsource/?types=*&closeafter=no&ping=ten",
        "/jmap/eventsource/?types=Em%20ail&closeafter=no&ping=0",
    ],
)
def test_bad_query_is_400(env: WebEnv, query: str) -> None:
    response = env.get(query, tls=True, headers=basic())
    assert response.status == 400, response.body


def test_login_required(env: WebEnv) -> None:
    response = env.get(STREAM.format(types="*", closeafter="no", ping=0), tls=True)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


def test_per_user_limit(env: WebEnv) -> None:
    # max_push_connections = 3, counted in each worker process: 2 workers take at most 6.
    streams: list[EventStream] = []
    try:
        refused = 0
        for _ in range(8):
            stream = open_stream(env)
            if stream.status == 429:
                refused += 1
                stream.close()
            else:
                assert stream.status == 200
                streams.append(stream)
        assert refused >= 2
        assert len(streams) >= 3
    finally:
        for stream in streams:
            stream.close()


def webmail_cookie(env: WebEnv) -> str:
    """Sign in to the webmail as a browser does (its form, over HTTPS); the Cookie header to send."""
    jar: dict[str, str] = {}

    def keep(response: Response) -> None:
        for line in response.headers.get_all("Set-Cookie") or []:
            cookie = SimpleCookie()
            cookie.load(line)
            jar.update({name: morsel.value for name, morsel in cookie.items()})

    page = env.get("/webmail/login", tls=True)
    keep(page)
    found = re.search(rb'name="token" value="([^"]+)"', page.body)
    assert found is not None
    form = urlencode({"token": found.group(1).decode(), "address": ALICE, "password": PASSWORD})
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": "; ".join(f"{k}={v}" for k, v in jar.items()),
    }
    answer = env.request("POST", "/webmail/login", tls=True, body=form.encode(), headers=headers)
    assert answer.status in (302, 303), answer.body
    keep(answer)
    return "; ".join(f"{k}={v}" for k, v in jar.items())


def test_webmail_cookie(env: WebEnv) -> None:
    cookie = webmail_cookie(env)
    stream = open_stream(env, closeafter="state", headers={"Cookie": cookie})
    try:
        assert stream.status == 200  # a GET: no CSRF token needed
        deliver(env.port("lmtp"), ALICE, "for the webmail")
        state_event(stream)
    finally:
        stream.close()


def test_stream_ends_when_the_server_stops(tmp_path_factory: pytest.TempPathFactory) -> None:
    servers = start_web_server(tmp_path_factory.mktemp("jmap-push-stop"), CONFIG)
    running = next(servers)
    stream = open_stream(running)
    ended: list[Any] = []
    reader = threading.Thread(target=lambda: ended.append(stream.next()))
    reader.start()
    try:
        assert running.server.stop() == 0  # a graceful stop does not wait for the open stream
        reader.join(TIMEOUT)
        assert not reader.is_alive()
        assert ended == [None]
    finally:
        stream.close()
        next(servers, None)  # the fixture's end: the log holds no traceback
