"""The Request object and the request-level problems (RFC 8620 sections 3.3 and 3.6.1), with the
RFC's examples verbatim; and a fuzzed parser that answers every input with a Request or a typed
problem, never an exception."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pochta.proto.jmap import (
    Invocation,
    ProblemType,
    Request,
    RequestLimits,
    RequestProblem,
    Response,
    parse_request,
)

CORE = "urn:ietf:params:jmap:core"
MAIL = "urn:ietf:params:jmap:mail"
SUPPORTED = {CORE, MAIL}
LIMITS = RequestLimits(max_size_request=10_000, max_calls_in_request=4)

# RFC 8620 section 3.3.1, verbatim.
RFC_REQUEST = b"""{
  "using": [ "urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail" ],
  "methodCalls": [
    [ "method1", {
      "arg1": "arg1data",
      "arg2": "arg2data"
    }, "c1" ],
    [ "method2", {
      "arg1": "arg1data"
    }, "c2" ],
    [ "method3", {}, "c3" ]
  ]
}"""

# RFC 8620 section 3.4.1, verbatim.
RFC_RESPONSE = """{
  "methodResponses": [
    [ "method1", {
      "arg1": 3,
      "arg2": "foo"
    }, "c1" ],
    [ "method2", {
      "isBlah": true
    }, "c2" ],
    [ "anotherResponseFromMethod2", {
      "data": 10,
      "yetmoredata": "Hello"
    }, "c2"],
    [ "error", {
      "type":"unknownMethod"
    }, "c3" ]
  ],
  "sessionState": "75128aab4b1b"
}"""


def parse(body: bytes, content_type: str | None = "application/json") -> Request | RequestProblem:
    return parse_request(body, content_type, capabilities=SUPPORTED, limits=LIMITS)


def problem(body: bytes, content_type: str | None = "application/json") -> RequestProblem:
    found = parse(body, content_type)
    assert isinstance(found, RequestProblem), found
    assert found.status == 400
    return found


def test_the_rfc_request_example() -> None:
    request = parse(RFC_REQUEST)
    assert request == Request(
        frozenset({CORE, MAIL}),
        (
            Invocation("method1", {"arg1": "arg1data", "arg2": "arg2data"}, "c1"),
            Invocation("method2", {"arg1": "arg1data"}, "c2"),
            Invocation("method3", {}, "c3"),
        ),
        None,
    )


def test_the_rfc_response_example() -> None:
    response = Response(
        (
            Invocation("method1", {"arg1": 3, "arg2": "foo"}, "c1"),
            Invocation("method2", {"isBlah": True}, "c2"),
            Invocation("anotherResponseFromMethod2", {"data": 10, "yetmoredata": "Hello"}, "c2"),
            Invocation("error", {"type": "unknownMethod"}, "c3"),
        ),
        "75128aab4b1b",
    )
    assert response.to_json() == json.loads(RFC_RESPONSE)


def test_created_ids() -> None:
    request = parse(b'{"using": [], "methodCalls": [], "createdIds": {"k1": "M5"}}')
    assert isinstance(request, Request)
    assert request.created_ids == {"k1": "M5"}
    empty = parse(b'{"using": [], "methodCalls": [], "createdIds": {}}')
    assert isinstance(empty, Request)
    assert empty.created_ids == {}  # given, though empty: the response has it too
    assert Response((), "s", {}).to_json() == {"methodResponses": [], "sessionState": "s", "createdIds": {}}


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        'application/json;charset="UTF-8"',
    ],
)
def test_json_content_types(content_type: str) -> None:
    assert isinstance(parse(b'{"using": [], "methodCalls": []}', content_type), Request)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"using": [], "methodCalls": []}', None),
        (b'{"using": [], "methodCalls": []}', "text/plain"),
        (b'{"using": [], "methodCalls": []}', "application/json; charset=latin1"),
        (b"", "application/json"),
        (b"{", "application/json"),
        (b'{"using": [], "methodCalls": []} x', "application/json"),
        (b'{"using": [], "methodCalls": [], "using": []}', "application/json"),
        (b'{"using": [], "methodCalls": [], "n": Infinity}', "application/json"),
        (b'{"using": [], "methodCalls": [], "n": NaN}', "application/json"),
        (b'{"using": [], "methodCalls": [], "n": 1e400}', "application/json"),
        (b'{"using": [], "methodCalls": [], "n": ' + b"9" * 5000 + b"}", "application/json"),
        (b'{"using": ["\\udc00"], "methodCalls": []}', "application/json"),
        (b'{"using": ["\xc3\x28"], "methodCalls": []}', "application/json"),
        (b'\xef\xbb\xbf{"using": [], "methodCalls": []}', "application/json"),  # a BOM
        (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    ],
)
def test_not_json(body: bytes, content_type: str | None) -> None:
    found = parse_request(body, content_type, capabilities=SUPPORTED, limits=RequestLimits(10_000_000, 4))
    assert isinstance(found, RequestProblem)
    assert found.type is ProblemType.NOT_JSON


@pytest.mark.parametrize(
    "document",
    [
        None,
        "request",
        [],
        {},
        {"using": [CORE]},
        {"methodCalls": []},
        {"using": CORE, "methodCalls": []},
        {"using": [1], "methodCalls": []},
        {"using": [], "methodCalls": {}},
        {"using": [], "methodCalls": ["Core/echo"]},
        {"using": [], "methodCalls": [["Core/echo", {}]]},
        {"using": [], "methodCalls": [["Core/echo", {}, "c1", "x"]]},
        {"using": [], "methodCalls": [["Core/echo", [], "c1"]]},
        {"using": [], "methodCalls": [["Core/echo", {}, 1]]},
        {"using": [], "methodCalls": [[None, {}, "c1"]]},
        {"using": [], "methodCalls": [], "createdIds": []},
        {"using": [], "methodCalls": [], "createdIds": {"k1": 1}},
        {"using": [], "methodCalls": [], "createdIds": {"bad id": "M1"}},
    ],
)
def test_not_request(document: object) -> None:
    assert problem(json.dumps(document).encode()).type is ProblemType.NOT_REQUEST


def test_unknown_capability() -> None:
    body = json.dumps({"using": [CORE, "https://example.com/apis/foobar"], "methodCalls": []}).encode()
    found = problem(body)
    assert found.type is ProblemType.UNKNOWN_CAPABILITY
    assert "https://example.com/apis/foobar" in found.detail
    assert found.to_json() == {
        "type": "urn:ietf:params:jmap:error:unknownCapability",
        "status": 400,
        "detail": found.detail,
    }


def test_limit_max_size_request() -> None:
    body = json.dumps({"using": [], "methodCalls": [], "pad": "x" * 10_000}).encode()
    found = problem(body)
    assert (found.type, found.limit) == (ProblemType.LIMIT, "maxSizeRequest")
    # RFC 8620 section 3.6.1's example shape: the limit problem names the limit.
    assert found.to_json() == {
        "type": "urn:ietf:params:jmap:error:limit",
        "limit": "maxSizeRequest",
        "status": 400,
        "detail": found.detail,
    }
    # The size is checked first: a body too big is not even parsed.
    assert problem(b"x" * 10_001, "text/plain").limit == "maxSizeRequest"
    assert isinstance(parse(b'{"using":[],"methodCalls":[]}' + b" " * (10_000 - 29)), Request)


def test_limit_max_calls_in_request() -> None:
    calls = [["Core/echo", {}, f"c{i}"] for i in range(5)]
    found = problem(json.dumps({"using": [], "methodCalls": calls}).encode())
    assert (found.type, found.limit) == (ProblemType.LIMIT, "maxCallsInRequest")
    assert isinstance(parse(json.dumps({"using": [], "methodCalls": calls[:4]}).encode()), Request)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
REQUEST_LIKE = st.fixed_dictionaries(
    {
        "using": st.lists(st.sampled_from([CORE, MAIL, "x"]) | st.text(max_size=5), max_size=3) | JSON,
        "methodCalls": st.lists(
            st.tuples(
                st.text(max_size=10) | JSON,
                st.dictionaries(st.text(max_size=5), JSON, max_size=3) | JSON,
                st.text(max_size=5) | JSON,
            ).map(list)
            | JSON,
            max_size=6,
        )
        | JSON,
    },
    optional={
        "createdIds": st.dictionaries(st.text(max_size=5), st.text(max_size=5) | JSON, max_size=3) | JSON
    },
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_bytes(body: bytes) -> None:
    assert isinstance(parse(body), Request | RequestProblem)


@settings(max_examples=300, deadline=None)
@given(REQUEST_LIKE)
def test_fuzz_request_shapes(document: dict[str, object]) -> None:
    body = json.dumps(document).encode()
    found = parse(body)
    assert isinstance(found, Request | RequestProblem)
    if isinstance(found, Request):
        # A parsed request says back what it was given.
        assert found.using == set(document["using"])  # type: ignore[call-overload]
        assert [c.to_json() for c in found.method_calls] == document["methodCalls"]


@settings(max_examples=200, deadline=None)
@given(REQUEST_LIKE, st.integers(min_value=0, max_value=200))
def test_fuzz_truncated_and_mangled(document: dict[str, object], cut: int) -> None:
    body = json.dumps(document).encode()
    assert isinstance(parse(body[:cut]), Request | RequestProblem)
    assert isinstance(parse(body[cut:]), Request | RequestProblem)


IDS = st.from_regex(r"[A-Za-z0-9_-]{1,20}", fullmatch=True)
INVOCATIONS = st.lists(
    st.builds(
        Invocation,
        st.text(max_size=12),
        st.dictionaries(st.text(max_size=6), JSON, max_size=3),
        st.text(max_size=6),
    ),
    max_size=4,
)


@settings(max_examples=200, deadline=None)
@given(
    st.frozensets(st.sampled_from(sorted(SUPPORTED))),
    INVOCATIONS,
    st.none() | st.dictionaries(IDS, IDS, max_size=3),
)
def test_round_trip(using: frozenset[str], calls: list[Invocation], created: dict[str, str] | None) -> None:
    """A Request written as JSON parses back to itself."""
    document: dict[str, object] = {"using": sorted(using), "methodCalls": [c.to_json() for c in calls]}
    if created is not None:
        document["createdIds"] = created
    parsed = parse(json.dumps(document).encode())
    assert parsed == Request(using, tuple(calls), created)
