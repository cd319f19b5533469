"""Result references (RFC 8620 section 3.7), on the RFC's example verbatim."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pochta.proto.jmap import Invocation, MethodError, MethodErrorType, Request, RequestLimits, parse_request
from pochta.proto.jmap.references import resolve_references

# RFC 8620 section 3.7's request, verbatim.
RFC_REQUEST = b"""{
  "using": [ "urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail" ],
  "methodCalls": [[ "Email/query", {
    "accountId": "a",
    "filter": { "inMailbox": "a9c7e6" },
    "sort": [{ "property": "receivedAt", "isAscending": false }],
    "collapseThreads": true,
    "position": 0,
    "limit": 10,
    "calculateTotal": true
  }, "t0" ], [ "Email/get", {
    "accountId": "a",
    "#ids": {
      "resultOf": "t0",
      "name": "Email/query",
      "path": "/ids"
    },
    "properties": [ "threadId" ]
  }, "t1" ], [ "Thread/get", {
    "accountId": "a",
    "#ids": {
      "resultOf": "t1",
      "name": "Email/get",
      "path": "/list/*/threadId"
    }
  }, "t2" ], [ "Email/get", {
    "accountId": "a",
    "#ids": {
      "resultOf": "t2",
      "name": "Thread/get",
      "path": "/list/*/emailIds"
    },
    "properties": [ "from", "receivedAt", "subject" ]
  }, "t3" ]]
}"""

# The RFC's responses to t0, t1 and t2 (its "..." elisions left out).
RFC_RESPONSES = [
    [
        "Email/query",
        {
            "accountId": "a",
            "queryState": "abcdefg",
            "canCalculateChanges": True,
            "position": 0,
            "total": 101,
            "ids": [
                "msg1023",
                "msg223",
                "msg110",
                "msg93",
                "msg91",
                "msg38",
                "msg36",
                "msg33",
                "msg11",
                "msg1",
            ],
        },
        "t0",
    ],
    [
        "Email/get",
        {
            "accountId": "a",
            "state": "123456",
            "list": [{"id": "msg1023", "threadId": "trd194"}, {"id": "msg223", "threadId": "trd114"}],
            "notFound": [],
        },
        "t1",
    ],
    [
        "Thread/get",
        {
            "accountId": "a",
            "state": "123456",
            "list": [
                {"id": "trd194", "emailIds": ["msg1020", "msg1021", "msg1023"]},
                {"id": "trd114", "emailIds": ["msg201", "msg223"]},
            ],
            "notFound": [],
        },
        "t2",
    ],
]


def responses() -> list[Invocation]:
    return [Invocation(name, arguments, call_id) for name, arguments, call_id in RFC_RESPONSES]


def request() -> Request:
    parsed = parse_request(
        RFC_REQUEST,
        "application/json",
        capabilities={"urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"},
        limits=RequestLimits(100_000, 16),
    )
    assert isinstance(parsed, Request)
    return parsed


def test_the_rfc_example() -> None:
    calls = request().method_calls
    earlier = responses()
    assert resolve_references(calls[0].arguments, []) is calls[0].arguments  # no reference: as given
    assert resolve_references(calls[1].arguments, earlier[:1]) == {
        "accountId": "a",
        "ids": RFC_RESPONSES[0][1]["ids"],  # type: ignore[index]
        "properties": ["threadId"],
    }
    assert resolve_references(calls[2].arguments, earlier[:2]) == {
        "accountId": "a",
        "ids": ["trd194", "trd114"],
    }
    # "/list/*/emailIds": each thread's array, flattened into one.
    assert resolve_references(calls[3].arguments, earlier) == {
        "accountId": "a",
        "ids": ["msg1020", "msg1021", "msg1023", "msg201", "msg223"],
        "properties": ["from", "receivedAt", "subject"],
    }


def failure(arguments: dict[str, Any], earlier: list[Invocation]) -> MethodError:
    with pytest.raises(MethodError) as caught:
        resolve_references(arguments, earlier)
    return caught.value


@pytest.mark.parametrize(
    "reference",
    [
        {"resultOf": "t9", "name": "Email/query", "path": "/ids"},  # no such call
        {"resultOf": "t0", "name": "Email/get", "path": "/ids"},  # another response name
        {"resultOf": "t0", "name": "Email/query", "path": "/nothing"},
        {"resultOf": "t0", "name": "Email/query", "path": "ids"},  # not a pointer
        {"resultOf": "t0", "name": "Email/query", "path": "/ids/99"},
        {"resultOf": "t0", "name": "Email/query"},  # no path
        {"resultOf": "t0", "name": 5, "path": "/ids"},
        "t0",
        None,
    ],
)
def test_failing_references(reference: Any) -> None:
    error = failure({"accountId": "a", "#ids": reference}, responses())
    assert error.type is MethodErrorType.INVALID_RESULT_REFERENCE
    assert error.to_json()["type"] == "invalidResultReference"


def test_an_argument_given_both_ways_is_invalid_arguments() -> None:
    reference = {"resultOf": "t0", "name": "Email/query", "path": "/ids"}
    error = failure({"ids": ["x"], "#ids": reference}, responses())
    assert error.type is MethodErrorType.INVALID_ARGUMENTS


def test_the_first_response_of_a_call_id_is_the_one() -> None:
    earlier = [Invocation("error", {"type": "serverFail"}, "c1"), Invocation("Core/echo", {"x": 1}, "c1")]
    error = failure({"#x": {"resultOf": "c1", "name": "Core/echo", "path": "/x"}}, earlier)
    assert error.type is MethodErrorType.INVALID_RESULT_REFERENCE
    earlier.reverse()
    assert resolve_references({"#x": {"resultOf": "c1", "name": "Core/echo", "path": "/x"}}, earlier) == {
        "x": 1
    }


def test_a_reference_to_the_whole_arguments() -> None:
    earlier = [Invocation("Core/echo", {"a": [1]}, "c0")]
    assert resolve_references({"#all": {"resultOf": "c0", "name": "Core/echo", "path": ""}}, earlier) == {
        "all": {"a": [1]}
    }
    assert json.dumps(earlier[0].to_json()) == '["Core/echo", {"a": [1]}, "c0"]'
