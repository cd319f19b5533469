"""The Request and Response objects (RFC 8620 sections 3.2 to 3.4) and the request-level checks of
section 3.6.1: a body is parsed into a typed ``Request`` or refused with a ``RequestProblem``."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pochta.proto.jmap.errors import ProblemType, RequestProblem
from pochta.proto.jmap.ids import is_id
from pochta.proto.jmap.json_text import NotIJson, loads

__all__ = ["Invocation", "Request", "RequestLimits", "Response", "parse_request", "request_from_json"]


@dataclass(frozen=True)
class Invocation:
    """A method call or a method response: [name, arguments, method call id] (section 3.2)."""

    name: str
    arguments: dict[str, Any]
    call_id: str

    def to_json(self) -> list[Any]:
        return [self.name, self.arguments, self.call_id]


@dataclass(frozen=True)
class Request:
    using: frozenset[str]
    method_calls: tuple[Invocation, ...]
    created_ids: Mapping[str, str] | None = None  # section 3.3: None when the client sent none


@dataclass(frozen=True)
class Response:
    method_responses: Sequence[Invocation]
    session_state: str
    created_ids: Mapping[str, str] | None = None  # section 3.4: only if the request had them

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "methodResponses": [response.to_json() for response in self.method_responses],
            "sessionState": self.session_state,
        }
        if self.created_ids is not None:
            body["createdIds"] = dict(self.created_ids)
        return body


@dataclass(frozen=True)
class RequestLimits:
    """The core capability's limits that apply to a request as a whole (section 2)."""

    max_size_request: int
    max_calls_in_request: int


def _limit(name: str, detail: str) -> RequestProblem:
    return RequestProblem(ProblemType.LIMIT, detail, limit=name)


def _not_request(detail: str) -> RequestProblem:
    return RequestProblem(ProblemType.NOT_REQUEST, detail)


def _is_json_media_type(content_type: str | None) -> bool:
    if content_type is None:
        return False
    media, _, params = content_type.partition(";")
    if media.strip().lower() != "application/json":
        return False
    for param in params.split(";"):
        name, _, value = param.partition("=")
        # RFC 8620 section 3.1: the body is UTF-8; a charset parameter may only say so.
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            return False
    return True


def _invocation(item: Any, index: int) -> Invocation | RequestProblem:
    # Section 3.2: an Invocation is [String, String[*], String].
    if not isinstance(item, list) or len(item) != 3:
        return _not_request(f"methodCalls[{index}] is not an array of 3 items")
    name, arguments, call_id = item
    if not isinstance(name, str) or not isinstance(arguments, dict) or not isinstance(call_id, str):
        return _not_request(f"methodCalls[{index}] is not [name, arguments object, method call id]")
    return Invocation(name, arguments, call_id)


def _created_ids(value: Any) -> dict[str, str] | RequestProblem:
    # Section 3.3: createdIds is Id[Id].
    if not isinstance(value, dict) or not all(is_id(k) and is_id(v) for k, v in value.items()):
        return _not_request("createdIds is not a map of creation ids to ids")
    return dict(value)


def parse_request(
    body: bytes,
    content_type: str | None,
    *,
    capabilities: Collection[str],
    limits: RequestLimits,
) -> Request | RequestProblem:
    """The request in ``body``, or why it is refused (section 3.6.1); never raises."""
    if len(body) > limits.max_size_request:
        return _limit("maxSizeRequest", f"the request is over {limits.max_size_request} octets")
    # Section 3.6.1 notJSON: "The content type of the request was not application/json or the
    # request did not parse as I-JSON".
    if not _is_json_media_type(content_type):
        return RequestProblem(ProblemType.NOT_JSON, "the content type is not application/json")
    try:
        document = loads(body)
    except NotIJson as exc:
        return RequestProblem(ProblemType.NOT_JSON, f"the request is not I-JSON: {exc}")
    return request_from_json(document, capabilities=capabilities, limits=limits)


def request_from_json(
    document: Any, *, capabilities: Collection[str], limits: RequestLimits
) -> Request | RequestProblem:
    """The Request object in parsed I-JSON (``parse_request`` after its checks of the body; RFC
    8887's Request message, whose ``@type`` and ``id`` members are not looked at here)."""
    # Section 3.6.1 notRequest: JSON that does not match the Request object's type.
    if not isinstance(document, dict):
        return _not_request("the request is not a JSON object")
    using, calls = document.get("using"), document.get("methodCalls")
    if not isinstance(using, list) or not all(isinstance(u, str) for u in using):
        return _not_request("using is not an array of strings")
    if not isinstance(calls, list):
        return _not_request("methodCalls is not an array")
    invocations: list[Invocation] = []
    for index, item in enumerate(calls):
        invocation = _invocation(item, index)
        if isinstance(invocation, RequestProblem):
            return invocation
        invocations.append(invocation)
    created: dict[str, str] | None = None
    if "createdIds" in document:
        found = _created_ids(document["createdIds"])
        if isinstance(found, RequestProblem):
            return found
        created = found
    unknown = sorted(set(using) - set(capabilities))
    if unknown:
        return RequestProblem(
            ProblemType.UNKNOWN_CAPABILITY,
            f"the request uses {', '.join(repr(u) for u in unknown)}, which this server does not support",
        )
    if len(invocations) > limits.max_calls_in_request:
        return _limit("maxCallsInRequest", f"the request has over {limits.max_calls_in_request} method calls")
    return Request(frozenset(using), tuple(invocations), created)
