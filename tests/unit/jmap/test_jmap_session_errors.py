"""The Session object (RFC 8620 section 2) and the errors' JSON (sections 3.6 and 5.3)."""

from __future__ import annotations

import pytest

from pochta.proto.jmap import (
    CORE_CAPABILITY,
    CoreLimits,
    MethodError,
    MethodErrorType,
    ProblemType,
    RequestProblem,
    SessionAccount,
    SessionDescription,
    SetError,
    SetErrorType,
    session_object,
)

LIMITS = CoreLimits(50_000_000, 4, 10_000_000, 4, 16, 500, 500, ("i;ascii-casemap",))


def description(**changes: object) -> SessionDescription:
    fields: dict[str, object] = {
        "core": LIMITS,
        "accounts": [SessionAccount("A1", "alice@example.org", True, False, {CORE_CAPABILITY: {}})],
        "primary_accounts": {CORE_CAPABILITY: "A1"},
        "username": "alice@example.org",
        "api_url": "https://mail.example.org/jmap/api",
        "download_url": "https://mail.example.org/jmap/download/{accountId}/{blobId}/{name}?accept={type}",
        "upload_url": "https://mail.example.org/jmap/upload/{accountId}/",
        "event_source_url": "https://mail.example.org/jmap/eventsource/?types={types}",
    }
    fields.update(changes)
    return SessionDescription(**fields)  # type: ignore[arg-type]


def test_session_object() -> None:
    session = session_object(description())
    assert session["capabilities"] == {
        CORE_CAPABILITY: {
            "maxSizeUpload": 50_000_000,
            "maxConcurrentUpload": 4,
            "maxSizeRequest": 10_000_000,
            "maxConcurrentRequests": 4,
            "maxCallsInRequest": 16,
            "maxObjectsInGet": 500,
            "maxObjectsInSet": 500,
            "collationAlgorithms": ["i;ascii-casemap"],
        }
    }
    assert session["accounts"] == {
        "A1": {
            "name": "alice@example.org",
            "isPersonal": True,
            "isReadOnly": False,
            "accountCapabilities": {CORE_CAPABILITY: {}},
        }
    }
    assert session["primaryAccounts"] == {CORE_CAPABILITY: "A1"}
    assert session["username"] == "alice@example.org"
    assert session["apiUrl"] == "https://mail.example.org/jmap/api"
    assert set(session) == {
        "capabilities",
        "accounts",
        "primaryAccounts",
        "username",
        "apiUrl",
        "downloadUrl",
        "uploadUrl",
        "eventSourceUrl",
        "state",
    }


def test_the_state_follows_the_content() -> None:
    state = session_object(description())["state"]
    assert session_object(description())["state"] == state
    assert session_object(description(username="bob@example.org"))["state"] != state
    assert session_object(description(other_capabilities={"urn:x": {}}))["state"] != state
    assert description(other_capabilities={"urn:x": {}}).capability_uris == {CORE_CAPABILITY, "urn:x"}


def test_method_errors() -> None:
    assert MethodError(MethodErrorType.UNKNOWN_METHOD).to_json() == {"type": "unknownMethod"}
    assert MethodError(MethodErrorType.INVALID_ARGUMENTS, "ids must be an array").to_json() == {
        "type": "invalidArguments",
        "description": "ids must be an array",
    }
    # Every type of RFC 8620 sections 3.6.2 and 5, spelt as the RFC does.
    assert {str(t) for t in MethodErrorType} == {
        "serverUnavailable",
        "serverFail",
        "serverPartialFail",
        "unknownMethod",
        "invalidArguments",
        "invalidResultReference",
        "forbidden",
        "accountNotFound",
        "accountNotSupportedByMethod",
        "accountReadOnly",
        "requestTooLarge",
        "stateMismatch",
        "cannotCalculateChanges",
        "anchorNotFound",
        "unsupportedSort",
        "unsupportedFilter",
        "tooManyChanges",
        "fromAccountNotFound",
        "fromAccountNotSupportedByMethod",
        "unknownDataType",  # RFC 9404 section 4.3
    }


def test_set_errors() -> None:
    assert SetError(SetErrorType.NOT_FOUND).to_json() == {"type": "notFound"}
    assert SetError(SetErrorType.INVALID_PROPERTIES, "bad", ("name", "role")).to_json() == {
        "type": "invalidProperties",
        "description": "bad",
        "properties": ["name", "role"],
    }
    assert SetError(SetErrorType.INVALID_PROPERTIES).to_json() == {
        "type": "invalidProperties",
        "properties": [],
    }
    assert SetError(SetErrorType.ALREADY_EXISTS, extra={"existingId": "M3"}).to_json() == {
        "type": "alreadyExists",
        "existingId": "M3",
    }


@pytest.mark.parametrize("kind", list(ProblemType))
def test_request_problems(kind: ProblemType) -> None:
    body = RequestProblem(kind, "why").to_json()
    assert body == {
        "type": f"urn:ietf:params:jmap:error:{kind.value.rsplit(':', 1)[1]}",
        "status": 400,
        "detail": "why",
    }
