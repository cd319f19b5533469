"""SieveScript/get, /set, /query, /validate and /changes (RFC 9661) on a real ``pochta serve`` with
ManageSieve and LMTP beside it: a script made over JMAP (content uploaded, then named by its
blobId) is listed and read over ManageSieve, one put over ManageSieve is a SieveScript with a
downloadable blobId; onSuccessActivateScript makes a script the one delivery runs; the managed
script ``pochta-settings`` is read and activated but never written, renamed or destroyed."""

from __future__ import annotations

import base64
import imaplib
import json
import smtplib
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from managesieve_env import SieveClient, literal
from serve_process import run_pochta
from web_env import ALICE, PASSWORD, WebEnv, start_web_server

CORE = "urn:ietf:params:jmap:core"
SIEVE = "urn:ietf:params:jmap:sieve"
CONFIG = "[jmap]\nenabled = true\n[search]\nindexer = false\n[sieve]\nmax_scripts = 6\n"

FILING = (
    'require ["fileinto", "mailbox"];\nif header :contains "subject" "jmap" { fileinto :create "Filed"; }\n'
)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebEnv]:
    yield from start_web_server(tmp_path_factory.mktemp("jmap-sieve"), CONFIG, ("lmtp", "managesieve"))


def _auth() -> dict[str, str]:
    token = base64.b64encode(f"{ALICE}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def account(env: WebEnv) -> str:
    session = json.loads(env.get("/.well-known/jmap", tls=True, headers=_auth()).body)
    # RFC 9661 section 1.3: advertised, with the account's limits.
    assert session["capabilities"][SIEVE] == {}
    [account_object] = session["accounts"].values()
    assert account_object["accountCapabilities"][SIEVE]["maxNumberScripts"] >= 1
    assert session["primaryAccounts"][SIEVE] == session["primaryAccounts"][CORE]
    return str(session["primaryAccounts"][CORE])


def calls(env: WebEnv, *method_calls: list[Any]) -> list[list[Any]]:
    body = json.dumps({"using": [CORE, SIEVE], "methodCalls": list(method_calls)}).encode()
    headers = {**_auth(), "Content-Type": "application/json"}
    response = env.request("POST", "/jmap/api", tls=True, body=body, headers=headers)
    assert response.status == 200, response.body
    answers: list[list[Any]] = json.loads(response.body)["methodResponses"]
    return answers


def ok(env: WebEnv, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    [[answered, result, _]] = calls(env, [name, {"accountId": account(env), **arguments}, "c"])
    assert answered == name, result
    return dict(result)


def upload(env: WebEnv, text: str | bytes) -> str:
    headers = {**_auth(), "Content-Type": "application/sieve"}
    data = text.encode() if isinstance(text, str) else text
    response = env.request("POST", f"/jmap/upload/{account(env)}/", tls=True, body=data, headers=headers)
    assert response.status == 201, response.body
    return str(json.loads(response.body)["blobId"])


def download(env: WebEnv, blob_id: str) -> tuple[int, bytes]:
    got = env.get(f"/jmap/download/{account(env)}/{blob_id}/script.sieve", tls=True, headers=_auth())
    return got.status, got.body


def managesieve(env: WebEnv, *commands: bytes) -> list[bytes]:
    client = SieveClient(socket.create_connection(("127.0.0.1", env.port("managesieve")), timeout=30))
    try:
        client.response()
        client.starttls(env.client_context())
        assert client.login(ALICE, PASSWORD).startswith(b"OK")
        return [client.command(command) for command in commands]
    finally:
        client.close()


def scripts(env: WebEnv) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in ok(env, "SieveScript/get", {"ids": None})["list"]}


def test_a_script_made_over_jmap_is_managesieves_and_runs_at_delivery(env: WebEnv) -> None:
    state = ok(env, "SieveScript/get", {"ids": None})["state"]
    blob = upload(env, FILING)
    result = ok(
        env,
        "SieveScript/set",
        {"create": {"s1": {"name": "filing", "blobId": blob}}, "onSuccessActivateScript": "#s1"},
    )
    made = result["created"]["s1"]
    assert made["id"].startswith("S")
    assert made["isActive"] is True
    assert result["oldState"] == state
    assert result["newState"] != state
    assert scripts(env)["filing"] == {"id": made["id"], "name": "filing", "blobId": blob, "isActive": True}
    listed, got = managesieve(env, b"LISTSCRIPTS", b'GETSCRIPT "filing"')
    assert b'"filing" ACTIVE' in listed
    assert FILING.replace("\n", "\r\n").encode() in got or FILING.encode() in got
    assert download(env, blob) == (200, FILING.encode())

    # Delivery runs it.
    data = f"From: bob@example.net\r\nTo: {ALICE}\r\nSubject: via jmap\r\n\r\nHello.\r\n".encode()
    with smtplib.LMTP("127.0.0.1", env.port("lmtp"), timeout=30) as client:
        client.sendmail("bob@example.net", [ALICE], data)
    imap = imaplib.IMAP4_SSL("localhost", env.port("imaps"), ssl_context=env.client_context(), timeout=30)
    try:
        imap.login(ALICE, PASSWORD)
        status, counts = imap.status("Filed", "(MESSAGES)")
        assert status == "OK", counts
        assert b"MESSAGES 1" in counts[0], counts
    finally:
        imap.logout()


def test_a_script_put_over_managesieve_is_a_sieve_script(env: WebEnv) -> None:
    text = b'require "imap4flags";\naddflag "\\\\Flagged";\n'
    [put] = managesieve(env, b'PUTSCRIPT "flagger" ' + literal(text))
    assert put.startswith(b"OK"), put
    found = scripts(env)["flagger"]
    assert found["isActive"] is False
    assert download(env, found["blobId"]) == (200, text)
    # Renamed and rewritten over JMAP: ManageSieve sees both.
    new_text = 'require "imap4flags";\naddflag "\\\\Seen";\n'
    result = ok(
        env,
        "SieveScript/set",
        {"update": {found["id"]: {"name": "marker", "blobId": upload(env, new_text)}}},
    )
    assert result["updated"] == {found["id"]: None}, result
    listed, got = managesieve(env, b"LISTSCRIPTS", b'GETSCRIPT "marker"')
    assert b'"marker"' in listed
    assert b'"flagger"' not in listed
    assert b"Seen" in got
    # Destroyed over JMAP: gone from ManageSieve.
    assert ok(env, "SieveScript/set", {"destroy": [found["id"]]})["destroyed"] == [found["id"]]
    [listed] = managesieve(env, b"LISTSCRIPTS")
    assert b'"marker"' not in listed


def test_the_active_script_rules(env: WebEnv) -> None:
    filing = scripts(env)["filing"]
    assert filing["isActive"]
    refused = ok(env, "SieveScript/set", {"destroy": [filing["id"]]})
    assert refused["notDestroyed"][filing["id"]]["type"] == "sieveIsActive"
    # Deactivated (listed as updated with its isActive), then it may go.
    off = ok(env, "SieveScript/set", {"onSuccessDeactivateScript": True})
    assert off["updated"] == {filing["id"]: {"isActive": False}}
    [listed] = managesieve(env, b"LISTSCRIPTS")
    assert b"ACTIVE" not in listed
    # isActive is the server's: a client cannot set it.
    bad = ok(env, "SieveScript/set", {"update": {filing["id"]: {"isActive": True}}})
    assert bad["notUpdated"][filing["id"]]["type"] == "invalidProperties"
    # A failed create: nothing is activated.
    failed = ok(
        env,
        "SieveScript/set",
        {
            "create": {"bad": {"name": "bad", "blobId": upload(env, "nonsense;\n")}},
            "onSuccessActivateScript": filing["id"],
        },
    )
    assert failed["notCreated"]["bad"]["type"] == "invalidSieve"
    assert scripts(env)["filing"]["isActive"] is False
    assert ok(env, "SieveScript/set", {"destroy": [filing["id"]]})["destroyed"] == [filing["id"]]


def test_the_managed_script_is_read_and_activated_only(env: WebEnv) -> None:
    run_pochta("vacation", "set", ALICE, "--message-file", "-", "--data", str(env.data), stdin="Away.\n")
    managed = scripts(env)["pochta-settings"]
    assert managed["isActive"] is True  # the account had no active script
    status, body = download(env, managed["blobId"])
    assert status == 200
    assert b'vacation "Away.' in body
    other_blob = upload(env, "keep;\n")
    result = ok(
        env,
        "SieveScript/set",
        {
            "create": {"m": {"name": "pochta-settings", "blobId": other_blob}},
            "update": {managed["id"]: {"name": "mine"}},
        },
    )
    assert result["notCreated"]["m"]["type"] == "forbidden"
    assert result["notUpdated"][managed["id"]]["type"] == "forbidden"
    gone = ok(env, "SieveScript/set", {"destroy": [managed["id"]]})
    assert gone["notDestroyed"][managed["id"]]["type"] == "forbidden"
    content = ok(env, "SieveScript/set", {"update": {managed["id"]: {"blobId": other_blob}}})
    assert content["notUpdated"][managed["id"]]["type"] == "forbidden"
    # Made active again after a deactivation, as SETACTIVE may.
    ok(env, "SieveScript/set", {"onSuccessDeactivateScript": True})
    back = ok(env, "SieveScript/set", {"onSuccessActivateScript": managed["id"]})
    assert back["updated"] == {managed["id"]: {"isActive": True}}
    run_pochta("vacation", "off", ALICE, "--data", str(env.data))
    assert "pochta-settings" not in scripts(env)


def test_set_errors(env: WebEnv) -> None:
    good = upload(env, "keep;\n")
    made = ok(
        env, "SieveScript/set", {"create": {"a": {"name": "one", "blobId": good}, "b": {"blobId": good}}}
    )
    assert made["created"]["b"]["name"]  # a null name is the server's to choose
    result = ok(
        env,
        "SieveScript/set",
        {
            "create": {
                "taken": {"name": "one", "blobId": good},
                "noblob": {"name": "two", "blobId": "G" + "0" * 64},
                "control": {"name": "a\tb", "blobId": good},
                "utf": {
                    "name": "three",
                    "blobId": upload(env, b"keep; # \xff\n"),
                },
            },
            "update": {"S999999": {"name": "x"}},
        },
    )
    assert result["notCreated"]["taken"]["type"] == "alreadyExists"
    assert result["notCreated"]["noblob"]["type"] == "blobNotFound"
    assert result["notCreated"]["control"]["type"] == "invalidProperties"
    assert result["notCreated"]["utf"]["type"] == "invalidSieve"
    assert result["notUpdated"]["S999999"]["type"] == "notFound"
    # max_scripts = 6: the account holds 2 + the ones made below until the quota refuses.
    quota = ok(
        env, "SieveScript/set", {"create": {f"q{i}": {"name": f"q{i}", "blobId": good} for i in range(6)}}
    )
    assert any(e["type"] == "overQuota" for e in quota["notCreated"].values()), quota
    ids = [s["id"] for s in scripts(env).values()]
    ok(env, "SieveScript/set", {"destroy": ids})
    assert scripts(env) == {}


def test_query_validate_and_changes(env: WebEnv) -> None:
    good = upload(env, "keep;\n")
    made = ok(
        env,
        "SieveScript/set",
        {
            "create": {n: {"name": n, "blobId": good} for n in ("beta", "Alpha", "gamma")},
            "onSuccessActivateScript": "#gamma",
        },
    )["created"]
    names = {made[n]["id"]: n for n in made}
    every = ok(env, "SieveScript/query", {"calculateTotal": True})
    assert [names[i] for i in every["ids"]] == ["Alpha", "beta", "gamma"]
    assert every["total"] == 3
    active_first = ok(env, "SieveScript/query", {"sort": [{"property": "isActive", "isAscending": False}]})
    assert names[active_first["ids"][0]] == "gamma"
    by_name = ok(env, "SieveScript/query", {"filter": {"name": "A"}})
    assert sorted(names[i] for i in by_name["ids"]) == ["Alpha", "beta", "gamma"]  # contains, any case
    inactive = ok(
        env,
        "SieveScript/query",
        {"filter": {"operator": "AND", "conditions": [{"isActive": False}, {"name": "ta"}]}},
    )
    assert [names[i] for i in inactive["ids"]] == ["beta"]
    [[kind, error, _]] = calls(
        env, ["SieveScript/query", {"accountId": account(env), "filter": {"size": 1}}, "c"]
    )
    assert (kind, error["type"]) == ("error", "unsupportedFilter")

    assert ok(env, "SieveScript/validate", {"blobId": good})["error"] is None
    invalid = ok(env, "SieveScript/validate", {"blobId": upload(env, 'require "fileinto";\nfileinto;\n')})[
        "error"
    ]
    assert invalid["type"] == "invalidSieve"
    assert "line 2" in invalid["description"]

    state = ok(env, "SieveScript/get", {"ids": []})["state"]
    same = ok(env, "SieveScript/changes", {"sinceState": state})
    assert (same["newState"], same["created"], same["updated"]) == (state, [], [])
    [put] = managesieve(env, b'PUTSCRIPT "delta" ' + literal(b"keep;\n"))
    assert put.startswith(b"OK")
    [[kind, error, _]] = calls(
        env, ["SieveScript/changes", {"accountId": account(env), "sinceState": state}, "c"]
    )
    assert (kind, error["type"]) == ("error", "cannotCalculateChanges")
