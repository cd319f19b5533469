"""VacationResponse/get and /set (RFC 8621 section 8) on a real ``pochta serve``: the singleton is
the account's vacation rule (``pochta vacation show`` shows what JMAP set, and the other way
round), the managed Sieve script ManageSieve reads holds it, and the next LMTP delivery from a
sender is answered (the reply goes through the outbound queue to the sender, a local account here,
read back over IMAP) only inside the fromDate..toDate window."""

from __future__ import annotations

import base64
import email
import email.policy
import imaplib
import json
import smtplib
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest

from managesieve_env import SieveClient
from serve_process import run_pochta
from web_env import ALICE, PASSWORD, WebEnv, start_web_server

CORE = "urn:ietf:params:jmap:core"
VACATION = "urn:ietf:params:jmap:vacationresponse"
SENDERS = ("bob@example.org", "dave@example.org", "erin@example.org")
CONFIG = "[jmap]\nenabled = true\n[search]\nindexer = false\n"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebEnv]:
    for server in start_web_server(tmp_path_factory.mktemp("jmap-vacation"), CONFIG, ("lmtp", "managesieve")):
        for sender in SENDERS:
            run_pochta(
                "user", "add", sender, "--password-stdin", "--data", str(server.data), stdin=PASSWORD + "\n"
            )
        yield server


def _basic() -> dict[str, str]:
    token = base64.b64encode(f"{ALICE}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


def call(env: WebEnv, name: str, arguments: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    body = json.dumps({"using": [CORE, VACATION], "methodCalls": [[name, arguments, "c"]]}).encode()
    response = env.request("POST", "/jmap/api", tls=True, body=body, headers=_basic())
    assert response.status == 200, response.body
    [[answered, result, _]] = json.loads(response.body)["methodResponses"]
    return answered, result


def ok(env: WebEnv, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    answered, result = call(env, name, arguments)
    assert answered == name, result
    return result


def account(env: WebEnv) -> str:
    session = json.loads(env.get("/.well-known/jmap", tls=True, headers=_basic()).body)
    assert session["capabilities"][VACATION] == {}  # RFC 8621 section 1.3.3: advertised
    assert session["primaryAccounts"][VACATION] == session["primaryAccounts"][CORE]
    return str(session["primaryAccounts"][CORE])


def vacation(env: WebEnv) -> tuple[dict[str, Any], str]:
    got = ok(env, "VacationResponse/get", {"accountId": account(env), "ids": None})
    [only] = got["list"]
    return only, got["state"]


def update(env: WebEnv, patch: dict[str, Any]) -> dict[str, Any]:
    return ok(env, "VacationResponse/set", {"accountId": account(env), "update": {"singleton": patch}})


def utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def deliver(env: WebEnv, sender: str, subject: str) -> str:
    message_id = f"<{subject.replace(' ', '.')}.{time.time_ns()}@example.org>"
    data = (
        f"From: {sender}\r\nTo: {ALICE}\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n\r\nHello.\r\n"
    ).encode()
    with smtplib.LMTP("127.0.0.1", env.port("lmtp"), timeout=30) as client:
        client.sendmail(sender, [ALICE], data)
    return message_id


def replies(env: WebEnv, user: str, count: int, timeout: float = 60.0) -> list[EmailMessage]:
    """The messages in ``user``'s INBOX once there are ``count`` (the queue delivers them)."""
    deadline = time.monotonic() + timeout
    while True:
        client = imaplib.IMAP4_SSL(
            "localhost", env.port("imaps"), ssl_context=env.client_context(), timeout=30
        )
        try:
            client.login(user, PASSWORD)
            client.select("INBOX", readonly=True)
            _, data = client.search(None, "ALL")
            numbers = data[0].split()
            if len(numbers) >= count or time.monotonic() > deadline:
                out: list[EmailMessage] = []
                for number in numbers:
                    _, fetched = client.fetch(number, "(BODY.PEEK[])")
                    raw = fetched[0][1]  # type: ignore[index]
                    parsed = email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[arg-type]
                    assert isinstance(parsed, EmailMessage)
                    out.append(parsed)
                return out
        finally:
            client.logout()
        time.sleep(0.2)


def managed_script(env: WebEnv) -> str:
    client = SieveClient(socket.create_connection(("127.0.0.1", env.port("managesieve")), timeout=30))
    try:
        client.response()
        client.starttls(env.client_context())
        assert client.login(ALICE, PASSWORD).startswith(b"OK")
        answer: bytes = client.command(b'GETSCRIPT "pochta-settings"')
        assert b"\r\nOK" in answer, answer
        return answer.decode()
    finally:
        client.close()


def test_a_vacation_set_over_jmap_answers_the_next_delivery(env: WebEnv) -> None:
    before, state = vacation(env)
    assert before == {
        "id": "singleton",
        "isEnabled": False,
        "fromDate": None,
        "toDate": None,
        "subject": None,
        "textBody": None,
        "htmlBody": None,
    }
    now = datetime.now(UTC).replace(microsecond=0)
    wished = {
        "isEnabled": True,
        "fromDate": utc(now - timedelta(hours=1)),
        "toDate": utc(now + timedelta(days=2)),
        "subject": "Away until Wednesday",
        "textBody": "Back on Wednesday.\n",
        "htmlBody": "<p>Back on <b>Wednesday</b>.</p>",
    }
    result = update(env, wished)
    assert result["updated"] == {"singleton": None}, result
    assert result["oldState"] == state
    assert result["newState"] != state
    after, new_state = vacation(env)
    assert after == {"id": "singleton", **wished}
    assert new_state == result["newState"]

    # The CLI's view of the same rule.
    shown = run_pochta("vacation", "show", ALICE, "--data", str(env.data)).stdout
    assert "Away until Wednesday" in shown
    assert "Back on Wednesday." in shown
    # The window's start, an hour ago: yesterday's date just after midnight (UTC).
    assert (now - timedelta(hours=1)).strftime("%Y-%m-%d") in shown
    assert "<p>Back on <b>Wednesday</b>.</p>" in shown
    # ManageSieve reads the managed script that carries it.
    script = managed_script(env)
    assert "vacation" in script
    assert ":mime" in script
    assert "currentdate" in script

    message_id = deliver(env, "bob@example.org", "Project")
    [reply] = replies(env, "bob@example.org", 1)
    assert reply["Subject"] == "Away until Wednesday"
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["In-Reply-To"] == message_id
    assert reply.get_content_type() == "multipart/alternative"
    text = reply.get_body(("plain",))
    html = reply.get_body(("html",))
    assert text is not None
    assert "Back on Wednesday." in text.get_content()
    assert html is not None
    assert "<b>Wednesday</b>" in html.get_content()


def test_no_reply_outside_the_window(env: WebEnv) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    later = {
        "isEnabled": True,
        "fromDate": utc(now + timedelta(days=1)),
        "toDate": utc(now + timedelta(days=3)),
    }
    assert update(env, {**later, "textBody": "Away.", "htmlBody": None})["updated"] == {"singleton": None}
    deliver(env, "dave@example.org", "Too early")
    # The window moved back over now: the next message from the same sender is answered, and
    # only it (the one before got no reply of its own).
    assert update(env, {"fromDate": utc(now - timedelta(hours=1))})["updated"] == {"singleton": None}
    second = deliver(env, "dave@example.org", "In time")
    [reply] = replies(env, "dave@example.org", 1)
    assert reply["In-Reply-To"] == second
    time.sleep(1.0)  # a reply to the first, had there been one, would be queued before it
    assert len(replies(env, "dave@example.org", 2, timeout=1.0)) == 1
    # Past toDate: nothing.
    past = {"fromDate": utc(now - timedelta(days=3)), "toDate": utc(now - timedelta(days=1))}
    assert update(env, past)["updated"] == {"singleton": None}
    deliver(env, "erin@example.org", "Too late")
    time.sleep(2.0)
    assert replies(env, "erin@example.org", 1, timeout=2.0) == []


def test_turned_off_the_reply_is_kept_and_sends_nothing(env: WebEnv) -> None:
    update(env, {"isEnabled": True, "fromDate": None, "toDate": None, "textBody": "Gone fishing."})
    assert update(env, {"isEnabled": False})["updated"] == {"singleton": None}
    kept, _ = vacation(env)
    assert (kept["isEnabled"], kept["textBody"]) == (False, "Gone fishing.")
    assert "state" in run_pochta("vacation", "show", ALICE, "--data", str(env.data)).stdout
    assert "vacation :" not in managed_script(env)  # no vacation action runs
    # Off with every property null: no rule at all, as `pochta vacation off` leaves it.
    cleared = {"subject": None, "textBody": None, "htmlBody": None}
    assert update(env, cleared)["updated"] == {"singleton": None}
    assert "vacation reply off" in run_pochta("vacation", "show", ALICE, "--data", str(env.data)).stdout


def test_the_cli_rule_is_the_singleton_and_moves_its_state(env: WebEnv) -> None:
    _, state = vacation(env)
    run_pochta(
        "vacation", "set", ALICE, "--message-file", "-", "--subject", "Out",
        "--from-date", "2030-01-02", "--until", "2030-01-05", "--data", str(env.data),
        stdin="Back in January.\n",
    )  # fmt: skip
    got, new_state = vacation(env)
    assert new_state != state
    assert got["isEnabled"] is True
    assert (got["subject"], got["textBody"], got["htmlBody"]) == ("Out", "Back in January.\n", None)
    # Whole days of the server's calendar: from the first day's start to the end of the last.
    assert (got["fromDate"], got["toDate"]) == ("2030-01-02T00:00:00Z", "2030-01-06T00:00:00Z")
    # An update of the text keeps the days as days.
    update(env, {"textBody": "Back in January, really.\n"})
    shown = run_pochta("vacation", "show", ALICE, "--data", str(env.data)).stdout
    assert "2030-01-02" in shown
    assert "2030-01-05" in shown
    assert "really" in shown
    run_pochta("vacation", "off", ALICE, "--data", str(env.data))
    off, _ = vacation(env)
    assert off["isEnabled"] is False
    assert off["textBody"] is None


def test_the_singleton_is_neither_created_nor_destroyed(env: WebEnv) -> None:
    account_id = account(env)
    result = ok(
        env,
        "VacationResponse/set",
        {
            "accountId": account_id,
            "create": {"x": {"isEnabled": True}},
            "update": {"other": {"isEnabled": True}},
            "destroy": ["singleton"],
        },
    )
    assert result["notCreated"]["x"]["type"] == "singleton"
    assert result["notDestroyed"]["singleton"]["type"] == "singleton"
    assert result["notUpdated"]["other"]["type"] == "notFound"
    bad_date = update(env, {"fromDate": "tomorrow"})
    assert bad_date["notUpdated"]["singleton"]["properties"] == ["fromDate"]
    bad_subject = update(env, {"isEnabled": True, "subject": "two\nlines"})
    assert bad_subject["notUpdated"]["singleton"]["type"] == "invalidProperties"
    assert bad_subject["notUpdated"]["singleton"]["properties"] == ["subject"]
    backwards = update(
        env, {"isEnabled": True, "fromDate": "2030-01-02T00:00:00Z", "toDate": "2030-01-01T00:00:00Z"}
    )
    assert backwards["notUpdated"]["singleton"]["type"] == "invalidProperties"
    answered, error = call(
        env, "VacationResponse/set", {"accountId": account_id, "ifInState": "nope", "update": {}}
    )
    assert (answered, error["type"]) == ("error", "stateMismatch")
    got = ok(
        env,
        "VacationResponse/get",
        {"accountId": account_id, "ids": ["singleton", "x"], "properties": ["isEnabled"]},
    )
    assert got["list"] == [{"id": "singleton", "isEnabled": False}]
    assert got["notFound"] == ["x"]
