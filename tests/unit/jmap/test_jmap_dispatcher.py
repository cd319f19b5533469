"""The dispatcher (pochta.server.jmap): calls in order, references to earlier responses, the
registry by capability, errors per call, serverFail for a handler's bug, creation ids, extra
responses, the account checks, and RFC 8620 section 3.4's response example reproduced."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from pochta.config import Settings
from pochta.proto.jmap import (
    CORE_CAPABILITY,
    MAIL_CAPABILITY,
    SUBMISSION_CAPABILITY,
    Invocation,
    MethodError,
    MethodErrorType,
    Request,
    RequestLimits,
    Response,
    parse_request,
)
from pochta.proto.jmap.admin import ADMIN_CAPABILITY
from pochta.proto.jmap.blob import BLOB_CAPABILITY
from pochta.server.jmap import (
    CallContext,
    ConcurrentRequests,
    MethodRegistry,
    Principal,
    default_registry,
    principal_of,
    process_request,
)
from pochta.server.jmap.account_capabilities import account_capabilities
from pochta.store.model import Account

OTHER = "urn:example:other"


def account(number: int = 7) -> Account:
    return Account(number, "alice@example.org", 1, "hash", None, None, True, datetime(2026, 1, 1, tzinfo=UTC))


def principal() -> Principal:
    return principal_of(account(), {CORE_CAPABILITY})


async def run(
    calls: list[list[Any]],
    registry: MethodRegistry | None = None,
    using: tuple[str, ...] = (CORE_CAPABILITY,),
    created_ids: dict[str, str] | None = None,
    changed: list[dict[str, set[str]]] | None = None,
) -> Response:
    document: dict[str, Any] = {"using": list(using), "methodCalls": calls}
    if created_ids is not None:
        document["createdIds"] = created_ids
    request = parse_request(
        json.dumps(document).encode(),
        "application/json",
        capabilities={CORE_CAPABILITY, OTHER},
        limits=RequestLimits(1_000_000, 100),
    )
    assert isinstance(request, Request), request
    return await process_request(
        request,
        registry=registry or default_registry(),
        principal=principal(),
        settings=Settings(),
        store=None,
        session_state=lambda: "s1",
        on_changed=changed.append if changed is not None else None,
    )


def answers(response: Response) -> list[list[Any]]:
    return [r.to_json() for r in response.method_responses]


async def test_the_rfc_response_example() -> None:
    """RFC 8620 section 3.4.1: method2 answers twice, method3 is unknown."""

    async def method1(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
        return {"arg1": 3, "arg2": "foo"}

    async def method2(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
        context.also_respond("anotherResponseFromMethod2", {"data": 10, "yetmoredata": "Hello"})
        return {"isBlah": True}

    registry = MethodRegistry()
    registry.register("method1", CORE_CAPABILITY, method1)
    registry.register("method2", CORE_CAPABILITY, method2)
    request = parse_request(
        b'{"using": ["urn:ietf:params:jmap:core"], "methodCalls": [["method1", {"arg1": "arg1data", '
        b'"arg2": "arg2data"}, "c1"], ["method2", {"arg1": "arg1data"}, "c2"], ["method3", {}, "c3"]]}',
        "application/json",
        capabilities={CORE_CAPABILITY},
        limits=RequestLimits(10_000, 10),
    )
    assert isinstance(request, Request)
    response = await process_request(
        request,
        registry=registry,
        principal=principal(),
        settings=Settings(),
        store=None,
        session_state=lambda: "75128aab4b1b",
    )
    assert response.to_json() == {
        "methodResponses": [
            ["method1", {"arg1": 3, "arg2": "foo"}, "c1"],
            ["method2", {"isBlah": True}, "c2"],
            ["anotherResponseFromMethod2", {"data": 10, "yetmoredata": "Hello"}, "c2"],
            ["error", {"type": "unknownMethod"}, "c3"],
        ],
        "sessionState": "75128aab4b1b",
    }


async def test_echo_and_references() -> None:
    response = await run(
        [
            ["Core/echo", {"ids": ["a", "b"]}, "c0"],
            ["Core/echo", {"#got": {"resultOf": "c0", "name": "Core/echo", "path": "/ids/1"}}, "c1"],
        ]
    )
    assert answers(response) == [["Core/echo", {"ids": ["a", "b"]}, "c0"], ["Core/echo", {"got": "b"}, "c1"]]
    assert response.session_state == "s1"
    assert response.created_ids is None


async def test_capability_not_in_using_is_unknown_method() -> None:
    response = await run([["Core/echo", {}, "c0"]], using=(OTHER,))
    assert answers(response) == [["error", {"type": "unknownMethod"}, "c0"]]


async def test_a_bug_fails_its_call_only() -> None:
    async def broken(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("a bug")

    registry = default_registry()
    registry.register("Test/broken", CORE_CAPABILITY, broken)
    response = await run([["Test/broken", {}, "c0"], ["Core/echo", {"x": 1}, "c1"]], registry)
    [failed, echoed] = answers(response)
    assert failed[0] == "error"
    assert failed[1]["type"] == "serverFail"
    assert "a bug" not in json.dumps(failed)  # the client is not told the server's insides
    assert echoed == ["Core/echo", {"x": 1}, "c1"]


async def test_method_errors_and_dropped_extra_responses() -> None:
    async def refuses(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
        context.also_respond("Test/more", {})
        raise MethodError(MethodErrorType.STATE_MISMATCH, "not now")

    registry = default_registry()
    registry.register("Test/refuses", CORE_CAPABILITY, refuses)
    response = await run([["Test/refuses", {}, "c0"]], registry)
    assert answers(response) == [["error", {"type": "stateMismatch", "description": "not now"}, "c0"]]


async def test_each_call_sees_the_ones_before() -> None:
    async def create(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
        created = {}
        for creation_id in arguments["create"]:
            new_id = f"X{len(context.request.created_ids.ids) + 1}"
            context.created(creation_id, new_id)
            created[creation_id] = {"id": new_id}
        context.changed(arguments["accountId"], "Thing")
        return {"created": created}

    async def lookup(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
        return {"ids": [context.resolve_id(i) for i in arguments["ids"]]}

    registry = default_registry()
    registry.register("Thing/set", CORE_CAPABILITY, create)
    registry.register("Thing/get", CORE_CAPABILITY, lookup)
    changed: list[dict[str, set[str]]] = []
    response = await run(
        [
            ["Thing/set", {"accountId": "A7", "create": {"k1": {}, "k2": {}}}, "c0"],
            ["Thing/get", {"ids": ["#k1", "#k2", "#k0", "#zz", "X9"]}, "c1"],
        ],
        registry,
        created_ids={"k0": "X0"},
        changed=changed,
    )
    assert answers(response)[1] == ["Thing/get", {"ids": ["X2", "X3", "X0", None, "X9"]}, "c1"]
    assert response.created_ids == {"k0": "X0", "k1": "X2", "k2": "X3"}
    assert changed == [{"A7": {"Thing"}}]


async def test_account_checks() -> None:
    async def use(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
        found = context.writable_account(arguments["accountId"])
        return {"name": found.account.address}

    registry = default_registry()
    registry.register("Thing/use", CORE_CAPABILITY, use)
    registry.register("Other/use", OTHER, use)
    response = await run(
        [
            ["Thing/use", {"accountId": "A7"}, "c0"],
            ["Thing/use", {"accountId": "A8"}, "c1"],
            ["Other/use", {"accountId": "A7"}, "c2"],
        ],
        registry,
        using=(CORE_CAPABILITY, OTHER),
    )
    assert answers(response) == [
        ["Thing/use", {"name": "alice@example.org"}, "c0"],
        ["error", {"type": "accountNotFound"}, "c1"],
        ["error", {"type": "accountNotSupportedByMethod"}, "c2"],
    ]


def test_registry() -> None:
    registry = default_registry()
    assert registry.capabilities == {
        CORE_CAPABILITY,
        MAIL_CAPABILITY,
        BLOB_CAPABILITY,
        ADMIN_CAPABILITY,
        SUBMISSION_CAPABILITY,
        "urn:ietf:params:jmap:vacationresponse",  # RFC 8621 section 8
        "urn:ietf:params:jmap:sieve",  # RFC 9661
        "urn:ietf:params:jmap:mdn",  # RFC 9007
        "urn:pochta:params:jmap:settings",  # pochta's own (docs/jmap.md "Settings")
    }
    assert registry.lookup("Email/get", frozenset({CORE_CAPABILITY})) is None  # mail not in using
    assert registry.lookup("Email/get", frozenset({CORE_CAPABILITY, MAIL_CAPABILITY})) is not None
    assert registry.lookup("Core/echo", frozenset({CORE_CAPABILITY})) is not None
    assert registry.lookup("Core/echo", frozenset()) is None
    assert registry.lookup("Domain/get", frozenset({CORE_CAPABILITY})) is None  # admin not in using
    assert registry.lookup("Domain/get", frozenset({CORE_CAPABILITY, ADMIN_CAPABILITY})) is not None
    with pytest.raises(ValueError, match="twice"):
        registry.register(
            "Core/echo", CORE_CAPABILITY, registry.lookup("Core/echo", frozenset({CORE_CAPABILITY})).handler
        )  # type: ignore[union-attr]


def test_principal() -> None:
    found = principal()
    assert found.own_id == "A7"
    assert found.username == "alice@example.org"
    assert found.accounts["A7"].session_account().to_json() == {
        "name": "alice@example.org",
        "isPersonal": True,
        "isReadOnly": False,
        "accountCapabilities": {CORE_CAPABILITY: {}},
    }
    # RFC 8621 section 1.3.2: the submission capability's account object, from the one owner.
    sending = principal_of(account(), {CORE_CAPABILITY, SUBMISSION_CAPABILITY}).accounts["A7"]
    objects = account_capabilities(Settings(), sending)
    shown = sending.session_account([SUBMISSION_CAPABILITY], objects).to_json()["accountCapabilities"]
    assert shown == {SUBMISSION_CAPABILITY: {"maxDelayedSend": 0, "submissionExtensions": {}}}


def test_concurrent_requests() -> None:
    limit = ConcurrentRequests()
    with limit.enter("A1", 2) as first, limit.enter("A1", 2) as second:
        assert (first, second) == (True, True)
        with limit.enter("A1", 2) as third:
            assert third is False
        with limit.enter("A2", 2) as other:
            assert other is True  # per user
        assert limit.running("A1") == 2
    assert limit.running("A1") == 0
    with limit.enter("A1", 2) as again:
        assert again is True


def test_invocation_json() -> None:
    assert Invocation("Core/echo", {}, "c0").to_json() == ["Core/echo", {}, "c0"]


def test_admin_capability_only_for_admin_accounts() -> None:
    offered = {CORE_CAPABILITY, ADMIN_CAPABILITY}
    user = principal_of(account(), offered)
    assert user.accounts[user.own_id].capabilities == {CORE_CAPABILITY}
    admin = principal_of(replace(account(), admin=True), offered)
    assert admin.accounts[admin.own_id].capabilities == offered


async def test_admin_method_is_forbidden_to_a_non_admin() -> None:
    document = {
        "using": [CORE_CAPABILITY, ADMIN_CAPABILITY],
        "methodCalls": [["Domain/get", {"ids": 5}, "0"]],
    }
    request = parse_request(
        json.dumps(document).encode(),
        "application/json",
        capabilities={CORE_CAPABILITY, ADMIN_CAPABILITY},
        limits=RequestLimits(1_000_000, 100),
    )
    assert isinstance(request, Request), request
    response = await process_request(
        request,
        registry=default_registry(),
        principal=principal_of(account(), {CORE_CAPABILITY, ADMIN_CAPABILITY}),
        settings=Settings(),
        store=None,
        session_state=lambda: "s1",
    )
    # RFC 8620 section 3.6.2: the method exists; this principal may not use it, whatever its
    # arguments (these are not even valid: no accountId, ids not a list).
    [(name, arguments, call_id)] = [tuple(r.to_json()) for r in response.method_responses]
    assert (name, arguments["type"], call_id) == ("error", "forbidden", "0")
