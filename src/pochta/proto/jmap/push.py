"""JMAP push, sans-IO (RFC 8620 section 7, RFC 8887 section 4.3): the StateChange object, the
event source's query and its events, and the messages a client sends on a JMAP WebSocket.

Which data types a store change touches is the server's business (``server.jmap.push``); here are
the objects and their rules only."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from pochta.proto.jmap.errors import ProblemType, RequestProblem
from pochta.proto.jmap.json_text import NotIJson, dumps, loads
from pochta.proto.jmap.request import Request, RequestLimits, request_from_json

__all__ = [
    "ALL_TYPES",
    "EventSourceQuery",
    "PushDisable",
    "PushEnable",
    "WebSocketRequest",
    "parse_event_source_query",
    "parse_websocket_message",
    "ping_event",
    "request_error",
    "state_change",
    "state_event",
    "websocket_response",
]

ALL_TYPES = "*"  # RFC 8620 section 7.3: types=* is every type


@dataclass(frozen=True)
class EventSourceQuery:
    """The event source's query (RFC 8620 section 7.3): the types wanted (None: all), whether the
    stream ends after its first state event, and the ping interval in seconds (0: none), clamped."""

    types: frozenset[str] | None
    close_after_state: bool
    ping: int


def parse_event_source_query(
    params: Mapping[str, str], *, min_ping: int, max_ping: int
) -> EventSourceQuery | str:
    """The query, or what is wrong with it (a 400). RFC 8620 section 7.3: "The server MAY modify a
    requested ping interval to be subject to a minimum and/or maximum value": a non-zero ping is
    clamped to [min_ping, max_ping]; 0 or no ping asks for none."""
    types_text = params.get("types", ALL_TYPES)
    types: frozenset[str] | None
    if types_text == ALL_TYPES:
        types = None
    else:
        names = [name for name in types_text.split(",") if name]
        if not names or not all(name.isascii() and name.isalnum() for name in names):
            return "types is not * or a comma-separated list of type names"
        types = frozenset(names)
    close_after = params.get("closeafter", "no")
    if close_after not in ("state", "no"):
        return "closeafter is neither state nor no"
    ping_text = params.get("ping", "0")
    # RFC 8620 section 7.3: "ping: A positive integer value representing a length of time in seconds"
    if not (ping_text.isascii() and ping_text.isdigit()) or len(ping_text) > 9:
        return "ping is not a non-negative integer"
    ping = int(ping_text)
    if ping:
        ping = max(min_ping, min(max_ping, ping))
    return EventSourceQuery(types, close_after == "state", ping)


def state_change(changed: Mapping[str, Mapping[str, str]], push_state: str | None = None) -> dict[str, Any]:
    """The StateChange object (RFC 8620 section 7.1): account id -> type name -> new state; RFC
    8887 section 4.3.5.1 adds ``pushState`` on a WebSocket."""
    document: dict[str, Any] = {
        "@type": "StateChange",
        "changed": {account: dict(types) for account, types in changed.items()},
    }
    if push_state is not None:
        document["pushState"] = push_state
    return document


def _event(name: str, data: Mapping[str, Any]) -> bytes:
    # The HTML event stream format: JSON has no raw newline, so the data is one "data:" line.
    return b"event: " + name.encode() + b"\ndata: " + dumps(data) + b"\n\n"


def state_event(change: Mapping[str, Any]) -> bytes:
    """RFC 8620 section 7.3: "state" events carry a StateChange object."""
    return _event("state", change)


def ping_event(interval: int) -> bytes:
    """RFC 8620 section 7.3: a "ping" event whose data is an object with the interval in use."""
    return _event("ping", {"interval": interval})


@dataclass(frozen=True)
class WebSocketRequest:
    """A Request message (RFC 8887 section 4.3.1): a JMAP Request with an optional ``id``."""

    request: Request
    request_id: str | None


@dataclass(frozen=True)
class PushEnable:
    """WebSocketPushEnable (RFC 8887 section 4.3.5.2): the types wanted (None: all) and the last
    pushState the client saw."""

    data_types: frozenset[str] | None
    push_state: str | None


@dataclass(frozen=True)
class PushDisable:
    """WebSocketPushDisable (RFC 8887 section 4.3.5.3)."""


def _error(kind: ProblemType, detail: str, request_id: str | None) -> tuple[RequestProblem, str | None]:
    return RequestProblem(kind, detail), request_id


def parse_websocket_message(
    text: str, *, capabilities: Collection[str], limits: RequestLimits
) -> WebSocketRequest | PushEnable | PushDisable | tuple[RequestProblem, str | None]:
    """A client's text message, or the problem to answer with a RequestError (and the request's
    id when it was readable); never raises."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) > limits.max_size_request:
        problem = RequestProblem(
            ProblemType.LIMIT, f"the request is over {limits.max_size_request} octets", limit="maxSizeRequest"
        )
        return problem, None
    try:
        document = loads(data)
    except NotIJson as exc:
        return _error(ProblemType.NOT_JSON, f"the message is not I-JSON: {exc}", None)
    if not isinstance(document, dict):
        return _error(ProblemType.NOT_REQUEST, "the message is not a JSON object", None)
    kind = document.get("@type")
    if kind == "WebSocketPushEnable":
        types = document.get("dataTypes")
        push_state = document.get("pushState")
        if types is not None and not (isinstance(types, list) and all(isinstance(t, str) for t in types)):
            return _error(ProblemType.NOT_REQUEST, "dataTypes is neither null nor an array of strings", None)
        if push_state is not None and not isinstance(push_state, str):
            return _error(ProblemType.NOT_REQUEST, "pushState is not a string", None)
        return PushEnable(frozenset(types) if types is not None else None, push_state)
    if kind == "WebSocketPushDisable":
        return PushDisable()
    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        return _error(ProblemType.NOT_REQUEST, "id is not a string", None)
    # RFC 8887 section 4.3.1: a Request object "MUST" have "@type": "Request".
    if kind != "Request":
        return _error(ProblemType.NOT_REQUEST, "@type is not Request or WebSocketPush...", request_id)
    parsed = request_from_json(document, capabilities=capabilities, limits=limits)
    if isinstance(parsed, RequestProblem):
        return parsed, request_id
    return WebSocketRequest(parsed, request_id)


def websocket_response(response: Mapping[str, Any], request_id: str | None) -> dict[str, Any]:
    """A Response message (RFC 8887 section 4.3.2): the JMAP Response with ``@type`` and the
    request's ``requestId`` when it had an id."""
    document: dict[str, Any] = {"@type": "Response", **response}
    if request_id is not None:
        document["requestId"] = request_id
    return document


def request_error(problem: RequestProblem, request_id: str | None) -> dict[str, Any]:
    """A RequestError message (RFC 8887 section 4.3.3): the problem details with ``@type`` and
    ``requestId`` when the request's id was readable."""
    document: dict[str, Any] = {"@type": "RequestError", **problem.to_json()}
    if request_id is not None:
        document["requestId"] = request_id
    return document
