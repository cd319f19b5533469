"""JMAP push's pure objects (``pochta.proto.jmap.push``): the event source's query (RFC 8620
section 7.3), the StateChange object (section 7.1), events, and RFC 8887's WebSocket messages
(the section 4.4 examples verbatim)."""

from __future__ import annotations

import json

import pytest

from pochta.proto.jmap import ProblemType, RequestLimits, RequestProblem
from pochta.proto.jmap.push import (
    EventSourceQuery,
    PushDisable,
    PushEnable,
    WebSocketRequest,
    parse_event_source_query,
    parse_websocket_message,
    ping_event,
    request_error,
    state_change,
    state_event,
    websocket_response,
)

CORE = "urn:ietf:params:jmap:core"
LIMITS = RequestLimits(max_size_request=10_000, max_calls_in_request=4)


def query(**params: str) -> EventSourceQuery | str:
    return parse_event_source_query(params, min_ping=10, max_ping=600)


def test_event_source_query() -> None:
    assert query(types="*", closeafter="no", ping="0") == EventSourceQuery(None, False, 0)
    assert query() == EventSourceQuery(None, False, 0)
    assert query(types="Email,Mailbox", closeafter="state", ping="300") == EventSourceQuery(
        frozenset({"Email", "Mailbox"}), True, 300
    )


def test_ping_is_clamped() -> None:
    # RFC 8620 section 7.3: the server may clamp the ping interval.
    assert query(ping="1") == EventSourceQuery(None, False, 10)
    assert query(ping="100000") == EventSourceQuery(None, False, 600)


@pytest.mark.parametrize(
    "params",
    [
        {"closeafter": "yes"},
        {"ping": "-5"},
        {"ping": "1.5"},
        {"ping": "9999999999"},
        {"types": ""},
        {"types": "Email,Mail box"},
        {"types": "Émail"},
    ],
)
def test_bad_event_source_query(params: dict[str, str]) -> None:
    assert isinstance(query(**params), str)


def test_state_change_and_events() -> None:
    change = state_change({"a456": {"Mailbox": "d35ecb040aab"}})
    assert change == {"@type": "StateChange", "changed": {"a456": {"Mailbox": "d35ecb040aab"}}}
    assert state_change({"a": {"Email": "1"}}, push_state="1")["pushState"] == "1"
    event = state_event(change)
    assert event.startswith(b"event: state\ndata: ")
    assert event.endswith(b"\n\n")
    assert json.loads(event.split(b"data: ", 1)[1]) == change
    assert ping_event(300) == b'event: ping\ndata: {"interval":300}\n\n'


def parse(text: str) -> object:
    return parse_websocket_message(text, capabilities={CORE}, limits=LIMITS)


def test_rfc_8887_request_example() -> None:
    # RFC 8887 section 4.4.
    found = parse(
        '{"@type": "Request", "id": "R1", "using": [ "urn:ietf:params:jmap:core" ],'
        ' "methodCalls": [ [ "Core/echo", { "hello": true, "high": 5 }, "b3ff" ] ] }'
    )
    assert isinstance(found, WebSocketRequest)
    assert found.request_id == "R1"
    [call] = found.request.method_calls
    assert (call.name, call.arguments, call.call_id) == ("Core/echo", {"hello": True, "high": 5}, "b3ff")


def test_push_enable_and_disable() -> None:
    found = parse('{"@type": "WebSocketPushEnable", "dataTypes": [ "Mailbox", "Email" ], "pushState": "aaa"}')
    assert found == PushEnable(frozenset({"Mailbox", "Email"}), "aaa")
    assert parse('{"@type": "WebSocketPushEnable"}') == PushEnable(None, None)
    assert parse('{"@type": "WebSocketPushEnable", "dataTypes": null}') == PushEnable(None, None)
    assert parse('{"@type": "WebSocketPushDisable"}') == PushDisable()


@pytest.mark.parametrize(
    ("text", "kind", "request_id"),
    [
        ("not json", ProblemType.NOT_JSON, None),
        ('{"a": 1, "a": 2}', ProblemType.NOT_JSON, None),
        ("[1]", ProblemType.NOT_REQUEST, None),
        ('{"using": [], "methodCalls": []}', ProblemType.NOT_REQUEST, None),  # no @type
        ('{"@type": "Request", "id": "x", "using": [], "methodCalls": 5}', ProblemType.NOT_REQUEST, "x"),
        ('{"@type": "Request", "id": 7, "using": [], "methodCalls": []}', ProblemType.NOT_REQUEST, None),
        (
            '{"@type": "Request", "id": "u", "using": ["urn:x"], "methodCalls": []}',
            ProblemType.UNKNOWN_CAPABILITY,
            "u",
        ),
        ('{"@type": "WebSocketPushEnable", "dataTypes": "Email"}', ProblemType.NOT_REQUEST, None),
        ('{"@type": "WebSocketPushEnable", "pushState": 5}', ProblemType.NOT_REQUEST, None),
        (
            '{"@type": "Request", "using": [], "methodCalls": [], "x": "' + "y" * 10_000 + '"}',
            ProblemType.LIMIT,
            None,
        ),
    ],
)
def test_bad_messages(text: str, kind: ProblemType, request_id: str | None) -> None:
    found = parse(text)
    assert isinstance(found, tuple)
    problem, found_id = found
    assert isinstance(problem, RequestProblem)
    assert problem.type is kind
    assert found_id == request_id


def test_response_and_request_error() -> None:
    response = websocket_response({"methodResponses": [], "sessionState": "s"}, "R1")
    assert response == {"@type": "Response", "methodResponses": [], "sessionState": "s", "requestId": "R1"}
    assert "requestId" not in websocket_response({"methodResponses": [], "sessionState": "s"}, None)
    error = request_error(RequestProblem(ProblemType.NOT_JSON, "bad"), "R2")
    assert error["@type"] == "RequestError"
    assert error["type"] == "urn:ietf:params:jmap:error:notJSON"
    assert error["status"] == 400
    assert error["requestId"] == "R2"
