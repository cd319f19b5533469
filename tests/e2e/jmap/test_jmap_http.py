"""JMAP's core over HTTP on a real ``pochta serve`` (tests/web_env.py) with ``[jmap] enabled``: the
Session resource, Core/echo, result references across calls, every request-level problem of RFC
8620 section 3.6.1, and HTTP Basic (password, app password, the account's jmap switch, lockout)."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from serve_process import run_pochta
from web_env import ALICE, DOMAIN, PASSWORD, Response, WebEnv, start_web_server

CORE = "urn:ietf:params:jmap:core"
BLOB = "urn:ietf:params:jmap:blob"
MAIL_FAMILY = (
    "urn:ietf:params:jmap:mail",
    "urn:ietf:params:jmap:submission",
    "urn:ietf:params:jmap:vacationresponse",
    "urn:ietf:params:jmap:sieve",
    "urn:ietf:params:jmap:mdn",
)
MAX_SIZE_REQUEST = 100_000  # over http.max_body_size (64 KiB): /jmap/api has its own bound
CONFIG = (
    f"[jmap]\nenabled = true\nmax_size_request = {MAX_SIZE_REQUEST}\nmax_calls_in_request = 8\n"
    "[login]\nfailures_before_delay = 100\nlockout_after = 8\n"
)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebEnv]:
    yield from start_web_server(tmp_path_factory.mktemp("jmap"), CONFIG)


def basic(user: str = ALICE, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def post(env: WebEnv, body: bytes, *, content_type: str = "application/json", tls: bool = True) -> Response:
    headers = {**basic(), "Content-Type": content_type}
    return env.request("POST", "/jmap/api", tls=tls, body=body, headers=headers)


def api(env: WebEnv, request: dict[str, Any]) -> dict[str, Any]:
    response = post(env, json.dumps(request).encode())
    assert response.status == 200, response.body
    assert response.headers["Content-Type"].startswith("application/json")
    answer: dict[str, Any] = json.loads(response.body)
    return answer


def problem(response: Response) -> dict[str, Any]:
    assert response.status == 400, response.body
    assert response.headers["Content-Type"].startswith("application/problem+json")
    found: dict[str, Any] = json.loads(response.body)
    assert found["status"] == 400
    assert isinstance(found["detail"], str)
    return found


def account_id(env: WebEnv) -> str:
    session = json.loads(env.get("/.well-known/jmap", tls=True, headers=basic()).body)
    return str(session["primaryAccounts"][CORE])


def test_session_resource(env: WebEnv) -> None:
    response = env.get("/.well-known/jmap", tls=True, headers=basic())
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Cache-Control"] == "no-store"
    session = json.loads(response.body)
    # Every capability whose methods all work (the admin one is not, until its pages come).
    assert set(session["capabilities"]) == {CORE, "urn:ietf:params:jmap:websocket", BLOB, *MAIL_FAMILY}
    core = session["capabilities"][CORE]
    assert core["maxSizeRequest"] == MAX_SIZE_REQUEST
    assert core["maxCallsInRequest"] == 8
    assert core["maxConcurrentRequests"] == 4
    assert core["maxObjectsInGet"] == core["maxObjectsInSet"] == 500
    assert core["collationAlgorithms"] == ["i;ascii-casemap", "i;unicode-casemap"]
    assert session["username"] == ALICE
    [(account_id, account)] = session["accounts"].items()
    assert re.fullmatch(r"A[1-9][0-9]*", account_id)
    assert account == {
        "name": ALICE,
        "isPersonal": True,
        "isReadOnly": False,
        "accountCapabilities": {
            CORE: {},
            **{uri: account["accountCapabilities"][uri] for uri in MAIL_FAMILY},
            BLOB: {
                "maxSizeBlobSet": 50_000_000,  # RFC 9404 section 3.1: as maxSizeUpload
                "maxDataSources": 64,
                "supportedTypeNames": ["Email", "Mailbox", "Thread"],
                "supportedDigestAlgorithms": ["sha", "sha-256"],
            },
        },
    }
    assert session["primaryAccounts"] == {uri: account_id for uri in (CORE, BLOB, *MAIL_FAMILY)}
    base = f"https://localhost:{env.port('https')}"
    assert session["apiUrl"] == base + "/jmap/api"
    for template, variables in (
        ("downloadUrl", ("{accountId}", "{blobId}", "{name}", "{type}")),
        ("uploadUrl", ("{accountId}",)),
        ("eventSourceUrl", ("{types}", "{closeafter}", "{ping}")),
    ):
        assert session[template].startswith(base + "/jmap/")
        assert all(variable in session[template] for variable in variables)
    assert re.fullmatch(r"[0-9a-f]{16}", session["state"])
    again = json.loads(env.get("/.well-known/jmap", tls=True, headers=basic()).body)
    assert again["state"] == session["state"]  # nothing changed: the same state


def test_core_echo(env: WebEnv) -> None:
    arguments = {"hello": True, "high": 5, "nested": {"list": [1, "two", None]}, "unicode": "прив"}
    answer = api(env, {"using": [CORE], "methodCalls": [["Core/echo", arguments, "b3ff"]]})
    assert answer["methodResponses"] == [["Core/echo", arguments, "b3ff"]]
    session = json.loads(env.get("/.well-known/jmap", tls=True, headers=basic()).body)
    assert answer["sessionState"] == session["state"]
    assert "createdIds" not in answer  # RFC 8620 section 3.4: only when the request had them


def test_created_ids_come_back(env: WebEnv) -> None:
    answer = api(env, {"using": [CORE], "methodCalls": [], "createdIds": {"k1": "M12"}})
    assert answer == {
        "methodResponses": [],
        "createdIds": {"k1": "M12"},
        "sessionState": answer["sessionState"],
    }


def test_back_references_across_echo_calls(env: WebEnv) -> None:
    calls = [
        ["Core/echo", {"list": [{"id": "a", "ids": ["1", "2"]}, {"id": "b", "ids": ["3"]}]}, "c0"],
        ["Core/echo", {"#ids": {"resultOf": "c0", "name": "Core/echo", "path": "/list/*/id"}}, "c1"],
        ["Core/echo", {"#all": {"resultOf": "c0", "name": "Core/echo", "path": "/list/*/ids"}}, "c2"],
        ["Core/echo", {"#first": {"resultOf": "c1", "name": "Core/echo", "path": "/ids/0"}}, "c3"],
    ]
    answer = api(env, {"using": [CORE], "methodCalls": calls})
    assert answer["methodResponses"][1:] == [
        ["Core/echo", {"ids": ["a", "b"]}, "c1"],
        ["Core/echo", {"all": ["1", "2", "3"]}, "c2"],
        ["Core/echo", {"first": "a"}, "c3"],
    ]


def test_failing_calls_are_errors_of_their_own(env: WebEnv) -> None:
    calls = [
        ["Core/echo", {"x": 1}, "c0"],
        ["Core/echo", {"#y": {"resultOf": "c0", "name": "Mailbox/get", "path": "/x"}}, "c1"],
        ["Core/echo", {"#y": {"resultOf": "c0", "name": "Core/echo", "path": "/nothing"}}, "c2"],
        ["Core/echo", {"#y": {"resultOf": "nope", "name": "Core/echo", "path": "/x"}}, "c3"],
        ["Core/echo", {"y": 1, "#y": {"resultOf": "c0", "name": "Core/echo", "path": "/x"}}, "c4"],
        ["Mailbox/get", {"accountId": account_id(env)}, "c5"],
        ["Core/echo", {"after": "errors"}, "c6"],
    ]
    answer = api(env, {"using": [CORE], "methodCalls": calls})
    responses = answer["methodResponses"]
    assert [r[2] for r in responses] == ["c0", "c1", "c2", "c3", "c4", "c5", "c6"]
    assert [r[1]["type"] for r in responses[1:4]] == ["invalidResultReference"] * 3
    assert all(r[0] == "error" for r in responses[1:6])
    assert responses[4][1]["type"] == "invalidArguments"
    assert responses[5][1] == {"type": "unknownMethod"}
    assert responses[6] == ["Core/echo", {"after": "errors"}, "c6"]


def test_a_method_of_a_capability_not_used_is_unknown(env: WebEnv) -> None:
    answer = api(env, {"using": [], "methodCalls": [["Core/echo", {}, "c0"]]})
    assert answer["methodResponses"] == [["error", {"type": "unknownMethod"}, "c0"]]


def test_unknown_capability(env: WebEnv) -> None:
    found = problem(
        post(
            env, json.dumps({"using": [CORE, "https://example.com/apis/foobar"], "methodCalls": []}).encode()
        )
    )
    assert found["type"] == "urn:ietf:params:jmap:error:unknownCapability"
    assert "https://example.com/apis/foobar" in found["detail"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"using": [], "methodCalls": []}', "text/plain"),
        (b'{"using": [], "methodCalls": [}', "application/json"),
        (b'{"using": [], "using": [], "methodCalls": []}', "application/json"),  # I-JSON: no duplicates
        (b'{"using": [], "methodCalls": [], "x": NaN}', "application/json"),
        (b'{"using": ["\xff"], "methodCalls": []}', "application/json"),  # not UTF-8
        (b'{"using": ["\\ud800"], "methodCalls": []}', "application/json"),  # a lone surrogate
        (b"[" * 5000 + b"]" * 5000, "application/json"),  # deeper than the parser goes
    ],
)
def test_not_json(env: WebEnv, body: bytes, content_type: str) -> None:
    assert problem(post(env, body[:MAX_SIZE_REQUEST], content_type=content_type))["type"] == (
        "urn:ietf:params:jmap:error:notJSON"
    )


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"methodCalls": []},
        {"using": [CORE]},
        {"using": "urn:ietf:params:jmap:core", "methodCalls": []},
        {"using": [CORE], "methodCalls": [["Core/echo", {}]]},
        {"using": [CORE], "methodCalls": [["Core/echo", [], "c0"]]},
        {"using": [CORE], "methodCalls": [[1, {}, "c0"]]},
        {"using": [CORE], "methodCalls": [], "createdIds": {"k1": 5}},
    ],
)
def test_not_request(env: WebEnv, document: Any) -> None:
    found = problem(post(env, json.dumps(document).encode()))
    assert found["type"] == "urn:ietf:params:jmap:error:notRequest"


def test_limit_max_size_request(env: WebEnv) -> None:
    big = {"using": [CORE], "methodCalls": [["Core/echo", {"pad": "x" * MAX_SIZE_REQUEST}, "c0"]]}
    found = problem(post(env, json.dumps(big).encode()))
    assert (found["type"], found["limit"]) == ("urn:ietf:params:jmap:error:limit", "maxSizeRequest")
    # Just under the limit, and over http.max_body_size: answered.
    fits = {"using": [CORE], "methodCalls": [["Core/echo", {"pad": "x" * (MAX_SIZE_REQUEST - 200)}, "c0"]]}
    assert len(api(env, fits)["methodResponses"][0][1]["pad"]) == MAX_SIZE_REQUEST - 200
    # Far over it: the listener's 413, before the body is read.
    huge = post(env, b"x" * (3 * MAX_SIZE_REQUEST))
    assert huge.status == 413


def test_limit_max_calls_in_request(env: WebEnv) -> None:
    calls = [["Core/echo", {}, f"c{i}"] for i in range(9)]
    found = problem(post(env, json.dumps({"using": [CORE], "methodCalls": calls}).encode()))
    assert (found["type"], found["limit"]) == ("urn:ietf:params:jmap:error:limit", "maxCallsInRequest")
    assert len(api(env, {"using": [CORE], "methodCalls": calls[:8]})["methodResponses"]) == 8


def test_plain_http_from_loopback_is_taken(env: WebEnv) -> None:
    response = post(env, json.dumps({"using": [CORE], "methodCalls": []}).encode(), tls=False)
    assert response.status == 200
    session = json.loads(env.get("/.well-known/jmap", headers=basic()).body)
    assert session["apiUrl"] == f"http://127.0.0.1:{env.port('http')}/jmap/api"


def test_get_on_the_api_is_not_allowed(env: WebEnv) -> None:
    response = env.get("/jmap/api", tls=True, headers=basic())
    assert response.status == 405
    assert response.headers["Allow"] == "POST"


def test_app_password(env: WebEnv) -> None:
    out = run_pochta("app-password", "add", ALICE, "jmap-client", "--data", str(env.data)).stdout
    found = re.search(r"password: (\S+)", out)
    assert found is not None, out
    response = env.get("/.well-known/jmap", tls=True, headers=basic(ALICE, found.group(1)))
    assert response.status == 200
    assert json.loads(response.body)["username"] == ALICE


def test_account_switch(env: WebEnv) -> None:
    bob = f"bob@{DOMAIN}"
    run_pochta("user", "add", bob, "--password-stdin", "--data", str(env.data), stdin="bob password\n")
    assert env.get("/.well-known/jmap", tls=True, headers=basic(bob, "bob password")).status == 200
    run_pochta("user", "set", bob, "--set", "jmap.enabled=off", "--data", str(env.data))
    deadline = time.monotonic() + 10
    while (
        status := env.get("/.well-known/jmap", tls=True, headers=basic(bob, "bob password")).status
    ) == 200:
        assert time.monotonic() < deadline  # the directory cache of each worker sees the change
        time.sleep(0.1)
    assert status == 401


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer abc"},
        {"Authorization": "Basic !!!not-base64"},
        basic(ALICE, "wrong password"),
        basic(f"nobody@{DOMAIN}", PASSWORD),
    ],
)
def test_every_login_failure_is_the_same_401(env: WebEnv, headers: dict[str, str]) -> None:
    for response in (
        env.get("/.well-known/jmap", tls=True, headers=headers),
        env.request(
            "POST", "/jmap/api", tls=True, body=b"{}", headers={**headers, "Content-Type": "application/json"}
        ),
    ):
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith('Basic realm="')
        assert ALICE.encode() not in response.body


def test_zz_lockout(env: WebEnv) -> None:
    """Last in the file (named so): from here on 127.0.0.1 is locked out (lockout_after = 8)."""
    statuses = [
        env.get("/.well-known/jmap", tls=True, headers=basic(ALICE, "guess")).status for _ in range(10)
    ]
    assert 429 in statuses
    assert env.get("/.well-known/jmap", tls=True, headers=basic()).status == 429
