"""JMAP Identity and EmailSubmission (RFC 8621 sections 6 and 7) on a real ``pochta serve``: the
Identities an account may use (its own address and aliases, by SMTP submission's rule), drafts
sent to a local recipient (read back over IMAP) and to a remote one (received by a sink SMTP
server the queue's transport map points at), the envelope derived from the Email, Bcc removed,
the draft moved to Sent by onSuccessUpdateEmail, and the refusals as SetErrors."""

from __future__ import annotations

import asyncio
import base64
import imaplib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from jmapc import Client, EmailSubmission
from jmapc.methods import (
    EmailSubmissionGet,
    EmailSubmissionGetResponse,
    EmailSubmissionSet,
    EmailSubmissionSetResponse,
    IdentityGet,
    IdentityGetResponse,
)

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
MAX_RECIPIENTS = 8


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
        f'[queue]\ntransport = {{ "{REMOTE}" = "127.0.0.1:{sink.sink.port}" }}\n'
        f"[limits]\nsend_recipients_per_hour = {SEND_LIMIT}\n"
        f"max_recipients = {MAX_RECIPIENTS}\n"
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
    # RFC 8621 section 1.3.2: advertised, with the account's object.
    shown = session(env)
    assert shown["capabilities"][SUBMISSION] == {}
    [account_object] = shown["accounts"].values()
    assert account_object["accountCapabilities"][SUBMISSION] == {
        "maxDelayedSend": 0,
        "submissionExtensions": {},
    }


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


def roles(env: WebEnv) -> dict[str, str]:
    """Mailbox role -> id, Drafts and Sent made once."""
    acct = account(env)
    found = {m["role"]: m["id"] for m in ok(env, "Mailbox/get", {"accountId": acct, "ids": None})["list"]}
    wanted = {role: {"name": role.title(), "role": role} for role in ("drafts", "sent") if role not in found}
    if wanted:
        made = ok(env, "Mailbox/set", {"accountId": acct, "create": wanted})
        found.update({role: made["created"][role]["id"] for role in wanted})
    return found


def draft(env: WebEnv, **fields: Any) -> dict[str, Any]:
    """An Email/set create of a draft in Drafts from alice (``fields`` replace its properties)."""
    record = {
        "mailboxIds": {roles(env)["drafts"]: True},
        "keywords": {"$draft": True, "$seen": True},
        "from": [{"name": "Alice", "email": ALICE}],
        "to": [{"name": "Bob", "email": BOB}],
        "subject": "Lunch",
        "textBody": [{"partId": "t", "type": "text/plain"}],
        "bodyValues": {"t": {"value": "Lunch at noon?"}},
    }
    record.update(fields)
    return {key: value for key, value in record.items() if value is not None}


def own_identity(env: WebEnv) -> str:
    return str(identities(env)[ALICE]["id"])


def submit(env: WebEnv, email: dict[str, Any], **submission: Any) -> dict[str, Any]:
    """Create the draft and submit it in one request; the EmailSubmission/set response."""
    acct = account(env)
    responses = call(
        env,
        ("Email/set", {"accountId": acct, "create": {"draft": email}}),
        (
            "EmailSubmission/set",
            {
                "accountId": acct,
                "create": {"send": {"identityId": own_identity(env), "emailId": "#draft", **submission}},
            },
        ),
    )
    assert responses[0][0] == "Email/set", responses
    assert "draft" in responses[0][1]["created"], responses
    assert responses[1][0] == "EmailSubmission/set", responses
    return responses[1][1]  # type: ignore[no-any-return]


def refusal(env: WebEnv, email: dict[str, Any], **submission: Any) -> dict[str, Any]:
    result = submit(env, email, **submission)
    assert result["created"] is None, result
    return result["notCreated"]["send"]  # type: ignore[no-any-return]


def imap_messages(env: WebEnv, user: str, password: str, mailbox: str = "INBOX") -> list[bytes]:
    client = imaplib.IMAP4_SSL("localhost", env.port("imaps"), ssl_context=env.client_context(), timeout=30)
    try:
        client.login(user, password)
        client.select(mailbox, readonly=True)
        status, data = client.fetch("1:*", "(BODY.PEEK[])")
        if status != "OK" or data == [None]:
            return []
        return [item[1] for item in data if isinstance(item, tuple)]
    finally:
        client.logout()


def wait_for(what: str, check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_a_draft_is_sent_to_a_local_and_a_remote_recipient_and_moved_to_sent(
    env: WebEnv, sink: ThreadSink
) -> None:
    acct = account(env)
    boxes = roles(env)
    before = ok(env, "EmailSubmission/get", {"accountId": acct, "ids": []})["state"]
    email = draft(env, bcc=[{"email": FRIEND}], subject="Lunch for two")
    responses = call(
        env,
        ("Email/set", {"accountId": acct, "create": {"draft": email}}),
        (
            "EmailSubmission/set",
            {
                "accountId": acct,
                "create": {"send": {"identityId": own_identity(env), "emailId": "#draft"}},
                # RFC 8621 section 7.5: one implicit Email/set after success; the draft goes to Sent.
                "onSuccessUpdateEmail": {
                    "#send": {
                        f"mailboxIds/{boxes['drafts']}": None,
                        f"mailboxIds/{boxes['sent']}": True,
                        "keywords/$draft": None,
                    }
                },
            },
        ),
    )
    assert [name for name, _, _ in responses] == ["Email/set", "EmailSubmission/set", "Email/set"], responses
    email_id = responses[0][1]["created"]["draft"]["id"]
    made = responses[1][1]["created"]["send"]
    assert made["undoStatus"] == "final"
    # The envelope derived from the Email: alice, and To + Bcc.
    status = made["deliveryStatus"]
    assert set(status) == {BOB, FRIEND}
    assert status[BOB]["delivered"] == "yes"  # stored at once
    assert status[BOB]["smtpReply"].startswith("250 ")
    assert status[FRIEND]["delivered"] == "queued"
    assert responses[2][1]["updated"] == {email_id: None}
    moved = ok(
        env,
        "Email/get",
        {"accountId": acct, "ids": [email_id], "properties": ["mailboxIds", "keywords", "bcc"]},
    )
    [shown] = moved["list"]
    assert shown["mailboxIds"] == {boxes["sent"]: True}
    assert "$draft" not in shown["keywords"]
    assert shown["bcc"] == [{"name": None, "email": FRIEND}]  # the stored draft keeps its Bcc
    # bob's INBOX has it over IMAP, without the Bcc field (RFC 8621 section 7.5).
    received = wait_for(
        "bob's copy",
        lambda: [m for m in imap_messages(env, BOB, BOB_PASSWORD) if b"Lunch for two" in m],
    )
    header = received[0].split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in header
    assert f"From: Alice <{ALICE}>".encode() in header
    assert b"with HTTPSA" in header  # our Received field
    # The remote recipient gets it through the queue, from alice, without Bcc either.
    wait_for(
        "the sink's copy",
        lambda: [t for t in sink.sink.transactions if t.data and b"Lunch for two" in t.data],
    )
    [transaction] = [t for t in sink.sink.transactions if t.data and b"Lunch for two" in t.data]
    assert transaction.mail.startswith(f"MAIL FROM:<{ALICE}>")
    assert transaction.accepted == [FRIEND]
    assert transaction.data is not None
    assert b"\r\nBcc:" not in transaction.data.split(b"\r\n\r\n", 1)[0]
    # The queue's outcome reaches the EmailSubmission: relayed, so "unknown" (RFC 8621 section 7).
    submission_id = made["id"]

    def relayed() -> dict[str, Any] | None:
        got = ok(env, "EmailSubmission/get", {"accountId": acct, "ids": [submission_id]})["list"][0]
        return got if got["deliveryStatus"][FRIEND]["delivered"] != "queued" else None

    got = wait_for("the relay's status", relayed)
    assert got["deliveryStatus"][FRIEND]["delivered"] == "unknown"
    assert got["deliveryStatus"][FRIEND]["smtpReply"].startswith("250")
    assert (got["emailId"], got["identityId"], got["dsnBlobIds"]) == (email_id, own_identity(env), [])
    assert got["envelope"]["mailFrom"] == {"email": ALICE, "parameters": None}
    assert [a["email"] for a in got["envelope"]["rcptTo"]] == [BOB, FRIEND]
    changes = ok(env, "EmailSubmission/changes", {"accountId": acct, "sinceState": before})
    assert changes["created"] == [submission_id]
    # No unsending: pochta sends at once.
    cancel = ok(
        env, "EmailSubmission/set", {"accountId": acct, "update": {submission_id: {"undoStatus": "canceled"}}}
    )
    assert cancel["notUpdated"][submission_id]["type"] == "cannotUnsend"


def test_an_explicit_envelope_is_used_as_given(env: WebEnv, sink: ThreadSink) -> None:
    envelope = {
        "mailFrom": {"email": ALIAS, "parameters": None},
        "rcptTo": [{"email": FRIEND, "parameters": None}],
    }
    result = submit(env, draft(env, subject="Envelope only"), envelope=envelope)
    assert set(result["created"]["send"]["deliveryStatus"]) == {FRIEND}
    wait_for(
        "the sink's copy",
        lambda: [t for t in sink.sink.transactions if t.data and b"Envelope only" in t.data],
    )
    [transaction] = [t for t in sink.sink.transactions if t.data and b"Envelope only" in t.data]
    assert transaction.mail.startswith(f"MAIL FROM:<{ALIAS}>")
    assert not [m for m in imap_messages(env, BOB, BOB_PASSWORD) if b"Envelope only" in m]


def test_submissions_the_policy_refuses_are_set_errors(env: WebEnv) -> None:
    # A From: the account may not use (SMTP submission's header rule): forbiddenFrom.
    assert refusal(env, draft(env, **{"from": [{"email": BOB}]}))["type"] == "forbiddenFrom"
    # An envelope sender it may not use: forbiddenMailFrom.
    envelope = {"mailFrom": {"email": BOB}, "rcptTo": [{"email": BOB}]}
    assert refusal(env, draft(env), envelope=envelope)["type"] == "forbiddenMailFrom"
    assert refusal(env, draft(env, to=None))["type"] == "noRecipients"
    unknown = refusal(env, draft(env, to=[{"email": "nobody@example.org"}]))
    assert (unknown["type"], unknown["invalidRecipients"]) == ("invalidRecipients", ["nobody@example.org"])
    bad = refusal(
        env, draft(env), envelope={"mailFrom": {"email": ALICE}, "rcptTo": [{"email": "no address"}]}
    )
    assert (bad["type"], bad["invalidRecipients"]) == ("invalidRecipients", ["no address"])
    params = {"mailFrom": {"email": ALICE, "parameters": {"HOLDFOR": "60"}}, "rcptTo": [{"email": BOB}]}
    assert refusal(env, draft(env), envelope=params)["type"] == "invalidProperties"
    missing = refusal(env, draft(env), identityId="I999999")
    assert (missing["type"], missing["properties"]) == ("invalidProperties", ["identityId"])
    acct = account(env)
    gone = ok(
        env,
        "EmailSubmission/set",
        {"accountId": acct, "create": {"x": {"identityId": own_identity(env), "emailId": "M999999"}}},
    )
    assert gone["notCreated"]["x"]["properties"] == ["emailId"]


def test_too_many_recipients(env: WebEnv) -> None:
    crowd = [{"email": f"r{i}@{REMOTE}"} for i in range(MAX_RECIPIENTS + 1)]
    many = refusal(env, draft(env), envelope={"mailFrom": {"email": ALICE}, "rcptTo": crowd})
    assert (many["type"], many["maxRecipients"]) == ("tooManyRecipients", MAX_RECIPIENTS)


def test_past_the_sending_limit_is_forbidden_to_send(env: WebEnv) -> None:
    many = [{"email": f"r{i}@{REMOTE}"} for i in range(SEND_LIMIT + 1)]
    refused = refusal(env, draft(env, to=many, subject="To many"))
    assert refused["type"] == "forbiddenToSend"
    assert "limit" in refused["description"]


def test_submissions_are_queried_by_email_thread_identity_and_date(env: WebEnv) -> None:
    acct = account(env)
    first = submit(env, draft(env, subject="Query one"))["created"]["send"]["id"]
    second = submit(env, draft(env, subject="Query two"))["created"]["send"]["id"]
    listed = ok(env, "EmailSubmission/get", {"accountId": acct, "ids": [first, second]})["list"]
    email_one, email_two = (item["emailId"] for item in listed)
    found = ok(env, "EmailSubmission/query", {"accountId": acct, "filter": {"emailIds": [email_two]}})
    assert (found["ids"], found["canCalculateChanges"]) == ([second], False)
    both = ok(
        env,
        "EmailSubmission/query",
        {
            "accountId": acct,
            "filter": {
                "operator": "OR",
                "conditions": [{"emailIds": [email_one]}, {"emailIds": [email_two]}],
            },
            "sort": [{"property": "emailId", "isAscending": False}],
            "calculateTotal": True,
        },
    )
    assert (both["ids"], both["total"]) == ([second, first], 2)
    mine = ok(
        env,
        "EmailSubmission/query",
        {
            "accountId": acct,
            "filter": {
                "identityIds": [own_identity(env)],
                "undoStatus": "final",
                "after": "2000-01-01T00:00:00Z",
            },
            "sort": [{"property": "sentAt"}],
        },
    )
    assert mine["ids"][-2:] == [first, second]
    none = ok(env, "EmailSubmission/query", {"accountId": acct, "filter": {"before": "2000-01-01T00:00:00Z"}})
    assert none["ids"] == []
    for bad, error in (
        ({"filter": {"subject": "x"}}, "unsupportedFilter"),
        ({"sort": [{"property": "subject"}]}, "unsupportedSort"),
    ):
        [[name, result, _]] = call(env, ("EmailSubmission/query", {"accountId": acct, **bad}))
        assert (name, result["type"]) == ("error", error)
    [[name, result, _]] = call(
        env, ("EmailSubmission/queryChanges", {"accountId": acct, "sinceQueryState": found["queryState"]})
    )
    assert (name, result["type"]) == ("error", "cannotCalculateChanges")
    # Destroying the record leaves the mail alone (RFC 8621 section 7.5); onSuccessDestroyEmail
    # destroys the Email too.
    state = ok(env, "EmailSubmission/get", {"accountId": acct, "ids": []})["state"]
    responses = call(
        env,
        ("EmailSubmission/set", {"accountId": acct, "destroy": [first], "onSuccessDestroyEmail": [first]}),
    )
    assert [name for name, _, _ in responses] == ["EmailSubmission/set", "Email/set"]
    assert responses[0][1]["destroyed"] == [first]
    assert responses[1][1]["destroyed"] == [email_one]
    changes = ok(env, "EmailSubmission/changes", {"accountId": acct, "sinceState": state})
    assert (changes["destroyed"], changes["created"]) == ([first], [])
    assert ok(env, "EmailSubmission/get", {"accountId": acct, "ids": [first]})["notFound"] == [first]
    assert [m for m in imap_messages(env, BOB, BOB_PASSWORD) if b"Query one" in m]


def test_jmapc_identity_and_submission(env: WebEnv) -> None:
    jmap = Client.create_with_password(f"localhost:{env.port('https')}", ALICE, PASSWORD)
    jmap.requests_session.trust_env = False
    jmap.requests_session.verify = str(env.ca_file)
    got = jmap.request(IdentityGet())
    assert isinstance(got, IdentityGetResponse)
    assert ALICE in [identity.email for identity in got.data]
    acct = account(env)
    made = ok(env, "Email/set", {"accountId": acct, "create": {"d": draft(env, subject="From jmapc")}})
    email_id = made["created"]["d"]["id"]
    sent = jmap.request(
        EmailSubmissionSet(create={"s": EmailSubmission(identity_id=own_identity(env), email_id=email_id)})
    )
    assert isinstance(sent, EmailSubmissionSetResponse)
    assert sent.created is not None
    created = sent.created["s"]
    assert created is not None
    listed = jmap.request(EmailSubmissionGet(ids=[str(created.id)]))
    assert isinstance(listed, EmailSubmissionGetResponse)
    [submission] = listed.data
    assert (submission.email_id, getattr(submission.undo_status, "value", None)) == (email_id, "final")
    assert wait_for(
        "bob's copy", lambda: [m for m in imap_messages(env, BOB, BOB_PASSWORD) if b"From jmapc" in m]
    )
