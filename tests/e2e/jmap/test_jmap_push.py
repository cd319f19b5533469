"""JMAP push over real sockets on a real ``pochta serve --workers 2`` (tests/web_env.py): the event
source (RFC 8620 section 7.3) told of a delivery by LMTP and of an IMAP STORE, its types filter,
closeafter=state, ping, the webmail cookie, the per-user limit, and the end of a stream when the
server stops; and JMAP over WebSocket (RFC 8887) with the ``websockets`` client: requests, errors,
push enabled, filtered, disabled and caught up by pushState."""

from __future__ import annotations

import base64
import imaplib
import json
import re
import threading
import time
from collections.abc import Iterator
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from jmap_push_client import Event, EventStream, deliver
from web_env import ALICE, PASSWORD, Response, WebEnv, start_web_server

CORE = "urn:ietf:params:jmap:core"
CONFIG = (
    "[jmap]\nenabled = true\npush_min_ping = 1\nmax_push_connections = 3\npush_coalesce = 0.5\n"
    "[webmail]\nenabled = true\n"
)
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


def test_a_burst_is_one_state_event(env: WebEnv) -> None:
    for number in range(5):
        deliver(env.port("lmtp"), ALICE, f"burst {number}")
    imap = imaplib.IMAP4("127.0.0.1", env.port("imap"))
    try:
        imap.login(ALICE, PASSWORD)
        imap.select("INBOX")
        stream = open_stream(env, ping=3)
        try:
            # Five commits, well within push_coalesce (0.5 s here): one StateChange.
            for number in range(1, 6):
                status, _ = imap.store(str(number), "+FLAGS", f"(burst{number})")
                assert status == "OK"
            event = state_event(stream)
            [changed] = event.data["changed"].values()
            assert set(changed) == {"Email", "Mailbox"}
            following = stream.next()
            assert following is not None
            assert following.name == "ping"  # and no second state event
        finally:
            stream.close()
    finally:
        imap.logout()


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


def test_head_opens_no_stream(env: WebEnv) -> None:
    response = env.request(
        "HEAD", STREAM.format(types="*", closeafter="no", ping=0), tls=True, headers=basic()
    )
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")


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
    # A stream the client closed gives its place back (the server hears the close at once).
    for _ in range(10):
        deadline = time.monotonic() + TIMEOUT
        while True:
            stream = open_stream(env)
            stream.close()
            if stream.status == 200:
                break
            assert time.monotonic() < deadline, "places were not given back"
            time.sleep(0.2)


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


# -- JMAP over WebSocket (RFC 8887) ----------------------------------------------------------------

WEBSOCKET = "urn:ietf:params:jmap:websocket"


def open_ws(
    env: WebEnv, headers: dict[str, str] | None = None, subprotocols: list[str] | None = None
) -> ClientConnection:
    url = f"wss://localhost:{env.port('https')}/jmap/ws"
    return ws_connect(
        url,
        ssl=env.client_context(),
        subprotocols=subprotocols or ["jmap"],  # type: ignore[list-item]
        additional_headers=basic() if headers is None else headers,
        open_timeout=TIMEOUT,
    )


def ws_message(ws: ClientConnection) -> dict[str, Any]:
    text = ws.recv(timeout=TIMEOUT)
    assert isinstance(text, str)  # JMAP messages are text frames
    found: dict[str, Any] = json.loads(text)
    return found


def enable_push(ws: ClientConnection, enable: dict[str, Any]) -> None:
    """Send a WebSocketPushEnable and wait until the server has taken it: messages are handled in
    order, so the Response to a request sent after it means the watch has read its starting state.
    Without this a delivery racing the enable can land before the state the watch starts from,
    and its change is (rightly) never pushed."""
    ws.send(json.dumps({"@type": "WebSocketPushEnable", **enable}))
    ws.send(json.dumps({"@type": "Request", "id": "enabled", "using": [CORE], "methodCalls": []}))
    assert ws_message(ws)["requestId"] == "enabled"


def test_session_advertises_the_websocket(env: WebEnv) -> None:
    session = json.loads(env.get("/.well-known/jmap", tls=True, headers=basic()).body)
    assert session["capabilities"][WEBSOCKET] == {
        "url": f"wss://localhost:{env.port('https')}/jmap/ws",
        "supportsPush": True,
    }
    plain = json.loads(env.get("/.well-known/jmap", headers=basic()).body)  # loopback: plain allowed
    assert plain["capabilities"][WEBSOCKET]["url"] == f"ws://127.0.0.1:{env.port('http')}/jmap/ws"


def test_websocket_request_and_response(env: WebEnv) -> None:
    with open_ws(env) as ws:
        assert ws.subprotocol == "jmap"
        # RFC 8887 section 4.4's example.
        request = {
            "@type": "Request",
            "id": "R1",
            "using": [CORE],
            "methodCalls": [["Core/echo", {"hello": True, "high": 5}, "b3ff"]],
        }
        ws.send(json.dumps(request))
        answer = ws_message(ws)
        assert answer["@type"] == "Response"
        assert answer["requestId"] == "R1"
        assert answer["methodResponses"] == [["Core/echo", {"hello": True, "high": 5}, "b3ff"]]
        session = json.loads(env.get("/.well-known/jmap", tls=True, headers=basic()).body)
        assert answer["sessionState"] == session["state"]
        # Without an id: no requestId. With the websocket capability in using: fine.
        ws.send(json.dumps({"@type": "Request", "using": [CORE, WEBSOCKET], "methodCalls": []}))
        bare = ws_message(ws)
        assert bare["@type"] == "Response"
        assert "requestId" not in bare


@pytest.mark.parametrize(
    ("message", "problem", "request_id"),
    [
        ("{not json", "urn:ietf:params:jmap:error:notJSON", None),
        ('{"using": [], "methodCalls": []}', "urn:ietf:params:jmap:error:notRequest", None),
        (
            '{"@type": "Request", "id": "R7", "methodCalls": []}',
            "urn:ietf:params:jmap:error:notRequest",
            "R7",
        ),
        (
            '{"@type": "Request", "id": "R8", "using": ["urn:x:nothing"], "methodCalls": []}',
            "urn:ietf:params:jmap:error:unknownCapability",
            "R8",
        ),
    ],
)
def test_websocket_request_errors(env: WebEnv, message: str, problem: str, request_id: str | None) -> None:
    with open_ws(env) as ws:
        ws.send(message)
        error = ws_message(ws)
        assert error["@type"] == "RequestError"
        assert error["type"] == problem
        assert error["status"] == 400
        assert isinstance(error["detail"], str)
        assert error.get("requestId") == request_id
        # The WebSocket stays open and answers the next request.
        ws.send(json.dumps({"@type": "Request", "id": "ok", "using": [CORE], "methodCalls": []}))
        assert ws_message(ws)["requestId"] == "ok"


def test_websocket_binary_message_is_an_error(env: WebEnv) -> None:
    with open_ws(env) as ws:
        ws.send(b'{"@type": "Request"}')
        assert ws_message(ws)["type"] == "urn:ietf:params:jmap:error:notJSON"


def test_websocket_refusals(env: WebEnv) -> None:
    for headers, subprotocols in (({}, ["jmap"]), (basic(), ["chat"])):
        with pytest.raises(InvalidStatus) as refused:
            open_ws(env, headers=headers, subprotocols=subprotocols)
        assert refused.value.response.status_code == 403
    wrong = {"Authorization": "Basic " + base64.b64encode(f"{ALICE}:nope".encode()).decode()}
    with pytest.raises(InvalidStatus):
        open_ws(env, headers=wrong)


def test_websocket_push(env: WebEnv) -> None:
    with open_ws(env) as ws:
        enable_push(ws, {"dataTypes": None})
        deliver(env.port("lmtp"), ALICE, "pushed by websocket")
        change = ws_message(ws)
        assert change["@type"] == "StateChange"
        [(account, changed)] = change["changed"].items()
        assert account == account_id(env)
        assert set(changed) == {"Email", "Mailbox", "Thread"}
        assert change["pushState"] == changed["Email"]
        # A request still gets its Response while push is on.
        ws.send(json.dumps({"@type": "Request", "id": "R2", "using": [CORE], "methodCalls": []}))
        assert ws_message(ws)["requestId"] == "R2"
        # Only the types asked for.
        enable_push(ws, {"dataTypes": ["Mailbox"]})
        imap_store(env, "(\\Answered)")
        flagged = ws_message(ws)
        assert set(flagged["changed"][account]) == {"Mailbox"}
        # Disabled: a delivery is not told; the next message is the Response to a request.
        ws.send(json.dumps({"@type": "WebSocketPushDisable"}))
        ws.send(json.dumps({"@type": "Request", "id": "R3", "using": [CORE], "methodCalls": []}))
        assert ws_message(ws)["requestId"] == "R3"
        deliver(env.port("lmtp"), ALICE, "not pushed")
        ws.send(json.dumps({"@type": "Request", "id": "R4", "using": [CORE], "methodCalls": []}))
        assert ws_message(ws)["requestId"] == "R4"
        with pytest.raises(TimeoutError):
            ws.recv(timeout=1.0)


def test_websocket_push_state_catches_up(env: WebEnv) -> None:
    with open_ws(env) as ws:
        enable_push(ws, {"dataTypes": ["Email"]})
        deliver(env.port("lmtp"), ALICE, "first of two")
        seen = ws_message(ws)["pushState"]
    deliver(env.port("lmtp"), ALICE, "while away")
    with open_ws(env) as ws:
        # RFC 8887 section 4.3.5.2: with its last pushState, the client hears of what it missed.
        ws.send(json.dumps({"@type": "WebSocketPushEnable", "dataTypes": ["Email"], "pushState": seen}))
        caught_up = ws_message(ws)
        assert caught_up["@type"] == "StateChange"
        [changed] = caught_up["changed"].values()
        assert set(changed) == {"Email"}
        assert int(caught_up["pushState"]) > int(seen)


def test_websocket_with_the_webmail_cookie(env: WebEnv) -> None:
    cookie = webmail_cookie(env)
    origin = f"https://localhost:{env.port('https')}"
    with open_ws(env, headers={"Cookie": cookie, "Origin": origin}) as ws:
        ws.send(json.dumps({"@type": "Request", "id": "c", "using": [CORE], "methodCalls": []}))
        assert ws_message(ws)["requestId"] == "c"
    # From another site's page the cookie counts for nothing.
    with pytest.raises(InvalidStatus):
        open_ws(env, headers={"Cookie": cookie, "Origin": "https://evil.example"})


# -- PushSubscription (RFC 8620 section 7.2): none is ever made --------------------------------------


def api(env: WebEnv, calls: list[Any]) -> list[Any]:
    body = json.dumps({"using": [CORE], "methodCalls": calls}).encode()
    headers = {**basic(), "Content-Type": "application/json"}
    response = env.request("POST", "/jmap/api", tls=True, body=body, headers=headers)
    assert response.status == 200, response.body
    responses: list[Any] = json.loads(response.body)["methodResponses"]
    return responses


def test_push_subscriptions_are_refused(env: WebEnv) -> None:
    create = {
        "deviceClientId": "a889-ffea-910",
        "url": "https://push.example.com/push/?device=X8980fc&client=12c6d086",
        "types": None,
    }
    [got, got_ids, made, wrong] = api(
        env,
        [
            ["PushSubscription/get", {}, "g"],
            ["PushSubscription/get", {"ids": ["P1", "P2"]}, "g2"],
            [
                "PushSubscription/set",
                {"create": {"4f29": create}, "update": {"P1": {}}, "destroy": ["P2"]},
                "s",
            ],
            ["PushSubscription/set", {"accountId": account_id(env), "create": {}}, "bad"],
        ],
    )
    assert got == ["PushSubscription/get", {"list": [], "notFound": []}, "g"]
    assert got_ids == ["PushSubscription/get", {"list": [], "notFound": ["P1", "P2"]}, "g2"]
    name, result, _ = made
    assert name == "PushSubscription/set"
    assert "oldState" not in result
    assert "newState" not in result
    assert result["created"] is None
    assert result["notCreated"]["4f29"]["type"] == "forbidden"
    assert "eventSourceUrl" in result["notCreated"]["4f29"]["description"]
    assert result["notUpdated"] == {"P1": {"type": "notFound"}}
    assert result["notDestroyed"] == {"P2": {"type": "notFound"}}
    # Section 7.2.2: no accountId for this type.
    assert wrong[0] == "error"
    assert wrong[1]["type"] == "invalidArguments"
