"""JMAP Identity and EmailSubmission (RFC 8621 sections 6 and 7) on a real ``pochta serve``: the
Identities an account may use (its own address and aliases, by SMTP submission's rule), drafts
sent to a local recipient (read back over IMAP) and to a remote one (received by a sink SMTP
server the queue's transport map points at), the envelope derived from the Email, Bcc removed,
the draft moved to Sent by onSuccessUpdateEmail, and the refusals as SetErrors."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from serve_process import run_pochta
from smtp_sink import Script, SmtpSink
from web_env import ALICE, PASSWORD, WebEnv, start_web_server

CORE = "urn:ietf:params:jmap:core"
MAIL = "urn:ietf:params:jmap:mail"
SUBMISSION = "urn:ietf:params:jmap:submission"
BOB = "bob@example.org"
BOB_PASSWORD = "bob's password"
ALIAS = "sales@example.org"
REMOTE = "remote.example"
FRIEND = f"friend@{REMOTE}"
SEND_LIMIT = 4  # recipients per hour


class ThreadSink:
    """A scripted SMTP sink (tests/smtp_sink.py) in a thread of its own, so that it answers the
    server's queue while the test waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sink = asyncio.run_coroutine_threadsafe(SmtpSink(Script()).__aenter__(), self.loop).result(30)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.sink.__aexit__(None, None, None), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()


@pytest.fixture(scope="module")
def sink() -> Iterator[ThreadSink]:
    running = ThreadSink()
    yield running
    running.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, sink: ThreadSink) -> Iterator[WebEnv]:
    config = (
        "[jmap]\nenabled = true\n[search]\nindexer = false\n"
        f"[queue]\ntransport = {{ \"{REMOTE}\" = \"127.0.0.1:{sink.sink.port}\" }}\n"
        f"[limits]\nsend_recipients_per_hour = {SEND_LIMIT}\n"
    )
    for running in start_web_server(tmp_path_factory.mktemp("jmap-submission"), config, ("lmtp",)):
        data = str(running.data)
        run_pochta("user", "add", BOB, "--password-stdin", "--data", data, stdin=BOB_PASSWORD + "\n")
        run_pochta("alias", "add", ALIAS, ALICE, "--data", data)
        yield running


def call(env: WebEnv, *calls: tuple[str, dict[str, Any]], user: str = ALICE) -> list[list[Any]]:
    password = PASSWORD if user == ALICE else BOB_PASSWORD
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
    method_calls = [[name, arguments, f"c{i}"] for i, (name, arguments) in enumerate(calls)]
    body = json.dumps({"using": [CORE, MAIL, SUBMISSION], "methodCalls": method_calls}).encode()
    response = env.request("POST", "/jmap/api", tls=True, body=body, headers=headers)
    assert response.status == 200, response.body
    responses: list[list[Any]] = json.loads(response.body)["methodResponses"]
    return responses


def ok(env: WebEnv, name: str, arguments: dict[str, Any], user: str = ALICE) -> dict[str, Any]:
    [[answered, result, _]] = call(env, (name, arguments), user=user)
    assert answered == name, result
    return result  # type: ignore[no-any-return]


def session(env: WebEnv) -> dict[str, Any]:
    token = base64.b64encode(f"{ALICE}:{PASSWORD}".encode()).decode()
    response = env.get("/.well-known/jmap", tls=True, headers={"Authorization": f"Basic {token}"})
    return json.loads(response.body)  # type: ignore[no-any-return]


def account(env: WebEnv) -> str:
    return str(session(env)["primaryAccounts"][CORE])


def identities(env: WebEnv) -> dict[str, dict[str, Any]]:
    got = ok(env, "Identity/get", {"accountId": account(env), "ids": None})
    return {identity["email"]: identity for identity in got["list"]}


def test_the_account_has_its_own_address_as_an_identity_it_may_not_delete(env: WebEnv) -> None:
    acct = account(env)
    got = ok(env, "Identity/get", {"accountId": acct, "ids": None})
    [own] = got["list"]
    assert own["email"] == ALICE
    assert own["mayDelete"] is False
    assert (own["name"], own["textSignature"], own["replyTo"]) == ("", "", None)
    refused = ok(env, "Identity/set", {"accountId": acct, "destroy": [own["id"]]})
    assert refused["notDestroyed"][own["id"]]["type"] == "forbidden"
    # Submission is not advertised until Mail is complete, but reachable by naming it.
    assert SUBMISSION not in session(env)["capabilities"]


def test_identities_are_created_with_an_alias_updated_and_destroyed_with_changes(env: WebEnv) -> None:
    acct = account(env)
    start = ok(env, "Identity/get", {"accountId": acct, "ids": []})["state"]
    made = ok(
        env,
        "Identity/set",
        {
            "accountId": acct,
            "create": {
                "sales": {
                    "email": ALIAS,
                    "name": "Sales",
                    "replyTo": [{"name": None, "email": ALIAS}],
                    "textSignature": "-- \nSales",
                },
                # RFC 8621 section 6.3: an address the account may not send as is forbiddenFrom,
                # under SMTP submission's rule (the account's address or an alias reaching it).
                "bob": {"email": BOB},
                "far": {"email": "someone@elsewhere.example"},
            },
        },
    )
    assert made["notCreated"]["bob"]["type"] == "forbiddenFrom"
    assert made["notCreated"]["far"]["type"] == "forbiddenFrom"
    sales = made["created"]["sales"]["id"]
    assert made["created"]["sales"]["mayDelete"] is True
    shown = identities(env)[ALIAS]
    assert shown["id"] == sales
    assert (shown["name"], shown["textSignature"], shown["htmlSignature"]) == ("Sales", "-- \nSales", "")
    assert shown["replyTo"] == [{"name": None, "email": ALIAS}]
    changes = ok(env, "Identity/changes", {"accountId": acct, "sinceState": start})
    assert (changes["created"], changes["updated"], changes["destroyed"]) == ([sales], [], [])
    # email is immutable; a signature is not.
    updated = ok(
        env,
        "Identity/set",
        {"accountId": acct, "update": {sales: {"htmlSignature": "<b>Sales</b>", "name": None}}},
    )
    assert sales in updated["updated"]
    moved = ok(env, "Identity/set", {"accountId": acct, "update": {sales: {"email": ALICE}}})
    assert moved["notUpdated"][sales]["properties"] == ["email"]
    after = identities(env)[ALIAS]
    assert (after["name"], after["htmlSignature"]) == ("", "<b>Sales</b>")
    middle = updated["newState"]
    changes = ok(env, "Identity/changes", {"accountId": acct, "sinceState": middle})
    assert (changes["updated"], changes["newState"]) == ([], middle)
    gone = ok(env, "Identity/set", {"accountId": acct, "destroy": [sales], "ifInState": middle})
    assert gone["destroyed"] == [sales]
    changes = ok(env, "Identity/changes", {"accountId": acct, "sinceState": middle})
    assert (changes["created"], changes["updated"], changes["destroyed"]) == ([], [], [sales])
    # Made and destroyed since the start: not told at all.
    changes = ok(env, "Identity/changes", {"accountId": acct, "sinceState": start})
    assert (changes["created"], changes["destroyed"]) == ([], [])
    stale = call(env, ("Identity/set", {"accountId": acct, "destroy": [], "ifInState": start}))
    assert stale[0][0] == "error"
    assert stale[0][1]["type"] == "stateMismatch"
