"""JMAP MDN (RFC 9007) on a real ``pochta serve``: alice receives (LMTP) a message asking for a
disposition notification, sends one with MDN/send; bob, a local user, reads the multipart/report
over IMAP and parses it back with MDN/parse; $mdnsent is set on alice's Email (seen over IMAP
too) and a second MDN is refused; one to a remote address leaves through the queue with the null
envelope sender (seen by a sink SMTP server); the other refusals as SetErrors and method errors."""

from __future__ import annotations

import asyncio
import base64
import email
import imaplib
import json
import smtplib
import threading
import time
from collections.abc import Iterator
from email.policy import compat32
from typing import Any

import pytest

from serve_process import run_pochta
from smtp_sink import Script, SmtpSink
from web_env import ALICE, PASSWORD, WebEnv, start_web_server

CORE = "urn:ietf:params:jmap:core"
MAIL = "urn:ietf:params:jmap:mail"
SUBMISSION = "urn:ietf:params:jmap:submission"
MDN = "urn:ietf:params:jmap:mdn"
BOB = "bob@example.org"
BOB_PASSWORD = "bob's password"
REMOTE = "remote.example"
FRIEND = f"friend@{REMOTE}"
DISPLAYED = {"actionMode": "manual-action", "sendingMode": "mdn-sent-manually", "type": "displayed"}


class ThreadSink:
    """A scripted SMTP sink (tests/smtp_sink.py) in a thread of its own, answering the queue."""

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
    )
    for running in start_web_server(tmp_path_factory.mktemp("jmap-mdn"), config, ("lmtp",)):
        data = str(running.data)
        run_pochta("user", "add", BOB, "--password-stdin", "--data", data, stdin=BOB_PASSWORD + "\n")
        yield running


def call(
    env: WebEnv, *calls: tuple[str, dict[str, Any]], user: str = ALICE, using: tuple[str, ...] = ()
) -> list[list[Any]]:
    password = PASSWORD if user == ALICE else BOB_PASSWORD
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
    method_calls = [[name, arguments, f"c{i}"] for i, (name, arguments) in enumerate(calls)]
    body = json.dumps({"using": list(using or (CORE, MAIL, SUBMISSION, MDN)), "methodCalls": method_calls})
    response = env.request("POST", "/jmap/api", tls=True, body=body.encode(), headers=headers)
    assert response.status == 200, response.body
    responses: list[list[Any]] = json.loads(response.body)["methodResponses"]
    return responses


def ok(env: WebEnv, name: str, arguments: dict[str, Any], user: str = ALICE) -> dict[str, Any]:
    [[answered, result, _]] = call(env, (name, arguments), user=user)
    assert answered == name, result
    return result  # type: ignore[no-any-return]


def session(env: WebEnv, user: str = ALICE) -> dict[str, Any]:
    password = PASSWORD if user == ALICE else BOB_PASSWORD
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    response = env.get("/.well-known/jmap", tls=True, headers={"Authorization": f"Basic {token}"})
    return json.loads(response.body)  # type: ignore[no-any-return]


def account(env: WebEnv, user: str = ALICE) -> str:
    return str(session(env, user)["primaryAccounts"][CORE])


def deliver(env: WebEnv, subject: str, *, notify: bool = True, notify_to: str = BOB) -> str:
    """A message from bob to alice (asking for an MDN when ``notify``); alice's Email id."""
    message_id = f"<{subject.replace(' ', '.')}.{time.monotonic_ns()}@example.org>"
    data = (
        f"From: Bob <{BOB}>\r\nTo: {ALICE}\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n"
        + (f"Disposition-Notification-To: <{notify_to}>\r\n" if notify else "")
        + "\r\nPlease confirm.\r\n"
    ).encode()
    with smtplib.LMTP("127.0.0.1", env.port("lmtp"), timeout=30) as client:
        client.sendmail(BOB, [ALICE], data)
    acct = account(env)
    found = ok(env, "Email/query", {"accountId": acct, "filter": {"subject": subject}})
    [email_id] = found["ids"]
    return str(email_id)


def identity(env: WebEnv) -> str:
    got = ok(env, "Identity/get", {"accountId": account(env), "ids": None})
    return str(next(i["id"] for i in got["list"] if i["email"] == ALICE))


def send_mdn(env: WebEnv, email_id: str, **fields: Any) -> list[list[Any]]:
    update = fields.pop("update", {"#k1": {"keywords/$mdnsent": True}})
    record = {"forEmailId": email_id, "disposition": DISPLAYED, **fields}
    arguments = {"accountId": account(env), "identityId": identity(env), "send": {"k1": record}}
    if update is not None:
        arguments["onSuccessUpdateEmail"] = update
    return call(env, ("MDN/send", arguments))


def imap_messages(env: WebEnv, user: str, password: str) -> list[bytes]:
    client = imaplib.IMAP4_SSL("localhost", env.port("imaps"), ssl_context=env.client_context(), timeout=30)
    try:
        client.login(user, password)
        client.select("INBOX", readonly=True)
        status, data = client.fetch("1:*", "(BODY.PEEK[])")
        if status != "OK" or data == [None]:
            return []
        return [item[1] for item in data if isinstance(item, tuple)]
    finally:
        client.logout()


def imap_flags(env: WebEnv) -> str:
    client = imaplib.IMAP4_SSL("localhost", env.port("imaps"), ssl_context=env.client_context(), timeout=30)
    try:
        client.login(ALICE, PASSWORD)
        client.select("INBOX", readonly=True)
        status, data = client.fetch("1:*", "(FLAGS)")
        assert status == "OK"
        return " ".join(item.decode() for item in data if isinstance(item, bytes))
    finally:
        client.logout()


def test_an_mdn_is_sent_received_over_imap_and_parsed_back(env: WebEnv) -> None:
    email_id = deliver(env, "Quarterly report")
    responses = send_mdn(
        env,
        email_id,
        subject="Read: Quarterly report",
        textBody="Your message was displayed.",
        reportingUA="webmail.example.org; pochta",
        extensionFields={"X-Trace": "e2e"},
    )
    [(name, sent, _), (implicit, updated, _)] = responses
    assert name == "MDN/send", sent
    assert sent["notSent"] is None, sent
    shown = sent["sent"]["k1"]
    # RFC 9007 section 2.1: the properties the client did not set, the server's among them.
    assert shown["finalRecipient"] == f"rfc822; {ALICE}"
    assert shown["originalMessageId"].startswith("<Quarterly.report.")
    assert shown["includeOriginalMessage"] is False
    assert shown["mdnGateway"] is None
    assert shown["error"] is None
    assert "subject" not in shown
    assert "disposition" not in shown
    assert implicit == "Email/set"
    assert email_id in updated["updated"]
    got = ok(env, "Email/get", {"accountId": account(env), "ids": [email_id], "properties": ["keywords"]})
    assert got["list"][0]["keywords"].get("$mdnsent") is True
    assert "$mdnsent" in imap_flags(env).lower()

    # bob, local, receives the report at once.
    [received] = imap_messages(env, BOB, BOB_PASSWORD)
    message: Any = email.message_from_bytes(received, policy=compat32)
    assert message.get_content_type() == "multipart/report"
    assert message.get_param("report-type") == "disposition-notification"
    assert message["Subject"] == "Read: Quarterly report"
    assert ALICE in message["From"]
    assert BOB in message["To"]
    text, report = message.get_payload()[:2]
    assert text.get_payload(decode=True).decode().strip() == "Your message was displayed."
    assert report.get_content_type() == "message/disposition-notification"
    fields = report.get_payload()[0]
    assert fields["Final-Recipient"] == f"rfc822; {ALICE}"
    assert fields["Disposition"] == "manual-action/MDN-sent-manually; displayed"
    assert fields["Reporting-UA"] == "webmail.example.org; pochta"
    assert fields["Original-Message-ID"] == shown["originalMessageId"]
    assert fields["X-Trace"] == "e2e"

    # MDN/parse of bob's copy gives the fields back.
    bob = account(env, BOB)
    [mdn_email] = ok(env, "Email/query", {"accountId": bob}, user=BOB)["ids"]
    blob = ok(env, "Email/get", {"accountId": bob, "ids": [mdn_email], "properties": ["blobId"]}, user=BOB)
    blob_id = blob["list"][0]["blobId"]
    parsed = ok(env, "MDN/parse", {"accountId": bob, "blobIds": [blob_id, "Gnope"]}, user=BOB)
    assert parsed["notFound"] == ["Gnope"]
    assert parsed["notParsable"] is None
    mdn = parsed["parsed"][blob_id]
    assert mdn["disposition"] == DISPLAYED
    assert mdn["finalRecipient"] == f"rfc822; {ALICE}"
    assert mdn["originalMessageId"] == shown["originalMessageId"]
    assert mdn["subject"] == "Read: Quarterly report"
    assert mdn["textBody"] == "Your message was displayed."
    assert mdn["reportingUA"] == "webmail.example.org; pochta"
    assert mdn["extensionFields"] == {"X-Trace": "e2e"}

    # RFC 9007 section 2.1: not twice.
    [(_, again, _)] = send_mdn(env, email_id)
    assert again["sent"] is None
    assert again["notSent"]["k1"]["type"] == "mdnAlreadySent"


def test_a_message_that_is_not_an_mdn_is_not_parsable(env: WebEnv) -> None:
    email_id = deliver(env, "Plain one", notify=False)
    acct = account(env)
    blob = ok(env, "Email/get", {"accountId": acct, "ids": [email_id], "properties": ["blobId"]})
    blob_id = blob["list"][0]["blobId"]
    parsed = ok(env, "MDN/parse", {"accountId": acct, "blobIds": [blob_id]})
    assert parsed == {"accountId": acct, "parsed": None, "notParsable": [blob_id], "notFound": None}


def test_the_original_is_included_when_asked(env: WebEnv) -> None:
    email_id = deliver(env, "With original")
    [(name, sent, _), _implicit] = send_mdn(env, email_id, includeOriginalMessage=True)
    assert name == "MDN/send", sent
    assert sent["notSent"] is None, sent

    def arrived() -> bytes | None:
        return next((m for m in imap_messages(env, BOB, BOB_PASSWORD) if b"With original" in m), None)

    deadline = time.monotonic() + 30
    while (found := arrived()) is None:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    message: Any = email.message_from_bytes(found, policy=compat32)
    parts = message.get_payload()
    assert [p.get_content_type() for p in parts][-1] == "message/rfc822"
    assert parts[-1].get_payload()[0]["Subject"] == "With original"
    # The default subject names the disposition and the original's subject.
    assert message["Subject"] == "Disposition notification (displayed): With original"


def test_refusals(env: WebEnv) -> None:
    asked = deliver(env, "Refusals")
    # RFC 9007 section 2.1: an MDN/send that does not set $mdnsent is refused.
    [(_, without, _)] = send_mdn(env, asked, update=None)
    assert without["notSent"]["k1"]["type"] == "invalidProperties"
    [(_, wrong, _)] = send_mdn(env, asked, update={"#k1": {"keywords/$seen": True}})
    assert wrong["notSent"]["k1"]["type"] == "invalidProperties"
    # An Email that asks for no MDN, and one that does not exist, are notFound.
    plain = deliver(env, "No request", notify=False)
    [(_, none, _)] = send_mdn(env, plain)
    assert none["notSent"]["k1"]["type"] == "notFound"
    [(_, missing, _)] = send_mdn(env, "M999999")
    assert missing["notSent"]["k1"]["type"] == "notFound"
    # Invalid properties, and a finalRecipient the account may not use.
    [(_, bad, _)] = send_mdn(env, asked, disposition={**DISPLAYED, "type": "read"})
    assert bad["notSent"]["k1"]["type"] == "invalidProperties"
    assert bad["notSent"]["k1"]["properties"] == ["disposition/type"]
    [(_, other, _)] = send_mdn(env, asked, finalRecipient=f"rfc822; {BOB}")
    assert other["notSent"]["k1"]["type"] == "forbiddenFrom"
    # Nothing of that was sent nor marked.
    got = ok(env, "Email/get", {"accountId": account(env), "ids": [asked], "properties": ["keywords"]})
    assert "$mdnsent" not in got["list"][0]["keywords"]
    # Method errors: an unknown Identity; Mail missing from using (RFC 9007 section 2.1).
    acct = account(env)
    send = {"k1": {"forEmailId": asked, "disposition": DISPLAYED}}
    [(name, error, _)] = call(env, ("MDN/send", {"accountId": acct, "identityId": "I999", "send": send}))
    assert (name, error["type"]) == ("error", "invalidArguments")
    arguments = {"accountId": acct, "identityId": identity(env), "send": send}
    [(name, error, _)] = call(env, ("MDN/send", arguments), using=(CORE, MDN))
    assert (name, error["type"]) == ("error", "unknownMethod")


def test_mdn_is_reachable_but_not_advertised_yet(env: WebEnv) -> None:
    shown = session(env)
    assert MDN not in shown["capabilities"]
    [(name, _, _)] = call(env, ("MDN/parse", {"accountId": account(env), "blobIds": []}), using=(CORE, MDN))
    assert name == "MDN/parse"


def test_two_mdns_for_one_email_in_one_call(env: WebEnv) -> None:
    email_id = deliver(env, "Twice in one call")
    record = {"forEmailId": email_id, "disposition": DISPLAYED}
    arguments = {
        "accountId": account(env),
        "identityId": identity(env),
        "send": {"k1": record, "k2": record},
        "onSuccessUpdateEmail": {"#k1": {"keywords/$mdnsent": True}, "#k2": {"keywords/$mdnsent": True}},
    }
    [(name, result, _), (implicit, updated, _)] = call(env, ("MDN/send", arguments))
    assert name == "MDN/send", result
    assert list(result["sent"]) == ["k1"]
    assert result["notSent"]["k2"]["type"] == "mdnAlreadySent"
    assert implicit == "Email/set"
    assert list(updated["updated"]) == [email_id]


def test_a_remote_mdn_leaves_with_the_null_envelope_sender(env: WebEnv, sink: ThreadSink) -> None:
    email_id = deliver(env, "To a friend", notify_to=FRIEND)
    [(name, result, _), _implicit] = send_mdn(env, email_id)
    assert name == "MDN/send", result
    assert result["notSent"] is None, result

    def relayed() -> list[Any]:
        return [t for t in sink.sink.transactions if t.data and b"To a friend" in t.data]

    deadline = time.monotonic() + 60
    while not relayed():
        assert time.monotonic() < deadline, "the MDN never reached the sink"
        time.sleep(0.2)
    [transaction] = relayed()
    # RFC 8098 section 3: the MDN's envelope sender is null, so that nothing answers it.
    assert transaction.mail.startswith("MAIL FROM:<>")
    assert transaction.accepted == [FRIEND]
    assert b"report-type=disposition-notification" in transaction.data
