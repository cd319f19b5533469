"""Email/set create, update and destroy (RFC 8621 section 4.6) over HTTP on a real ``pochta
serve``, with IMAP beside it: a keyword set over JMAP is a flag in IMAP FETCH and an IMAP IDLE
session is told at once, an Email created over JMAP is an IMAP message with its flags, a Mailbox
change over JMAP is a move IMAP sees, a destroy an expunge; the rules (ifInState, at least one
Mailbox, immutable properties, unknown ids and blobs) as SetErrors."""

from __future__ import annotations

import base64
import email
import email.policy
import imaplib
import json
import re
import smtplib
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from jmapc import Client
from jmapc.methods import EmailSet, EmailSetResponse

from web_env import ALICE, PASSWORD, WebEnv, start_web_server

CORE = "urn:ietf:params:jmap:core"
MAIL = "urn:ietf:params:jmap:mail"
MAX_KEYWORDS = 4  # per mailbox: IMAP's limit, which an Email/set update meets as IMAP STORE does
CONFIG = (
    "[jmap]\nenabled = true\n[search]\nindexer = false\n"
    f"[limits]\nmax_keywords_per_mailbox = {MAX_KEYWORDS}\n"
)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebEnv]:
    yield from start_web_server(tmp_path_factory.mktemp("jmap-email-set"), CONFIG, ("lmtp",))


def deliver(env: WebEnv, subject: str) -> None:
    data = f"From: bob@example.net\r\nTo: {ALICE}\r\nSubject: {subject}\r\n\r\nHello.\r\n".encode()
    with smtplib.LMTP("127.0.0.1", env.port("lmtp"), timeout=30) as client:
        client.sendmail("bob@example.net", [ALICE], data)


def imap(env: WebEnv) -> imaplib.IMAP4_SSL:
    client = imaplib.IMAP4_SSL("localhost", env.port("imaps"), ssl_context=env.client_context(), timeout=30)
    client.login(ALICE, PASSWORD)
    return client


def call(env: WebEnv, name: str, arguments: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    token = base64.b64encode(f"{ALICE}:{PASSWORD}".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
    body = json.dumps({"using": [CORE, MAIL], "methodCalls": [[name, arguments, "c"]]}).encode()
    response = env.request("POST", "/jmap/api", tls=True, body=body, headers=headers)
    assert response.status == 200, response.body
    [[answered, result, _]] = json.loads(response.body)["methodResponses"]
    return answered, result


def ok(env: WebEnv, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    answered, result = call(env, name, arguments)
    assert answered == name, result
    return result


def account(env: WebEnv) -> str:
    token = base64.b64encode(f"{ALICE}:{PASSWORD}".encode()).decode()
    session = json.loads(
        env.get("/.well-known/jmap", tls=True, headers={"Authorization": f"Basic {token}"}).body
    )
    return str(session["primaryAccounts"][CORE])


def mailbox_ids(client: imaplib.IMAP4_SSL, *names: str) -> list[str]:
    out = []
    for name in names:
        status, data = client.status(name, "(MAILBOXID)")
        assert status == "OK", data
        out.append(re.search(rb"MAILBOXID \(([^)]+)\)", data[0]).group(1).decode())  # type: ignore[union-attr]
    return out


def emails(client: imaplib.IMAP4_SSL, mailbox: str) -> dict[str, tuple[int, str]]:
    """EMAILID -> (UID, FLAGS) of the mailbox's messages."""
    client.select(mailbox)
    status, data = client.uid("FETCH", "1:*", "(EMAILID FLAGS)")
    assert status == "OK", data
    out: dict[str, tuple[int, str]] = {}
    for item in data:
        if not item:
            continue
        line = item.decode() if isinstance(item, bytes) else item[0].decode()
        found = re.search(r"UID (\d+)", line), re.search(r"EMAILID \(([^)]+)\)", line)
        flags = re.search(r"FLAGS \(([^)]*)\)", line)
        if found[0] and found[1] and flags:
            out[found[1].group(1)] = (int(found[0].group(1)), flags.group(1))
    return out


def email_set(env: WebEnv, **arguments: Any) -> dict[str, Any]:
    return ok(env, "Email/set", {"accountId": account(env), **arguments})


def test_keywords_set_over_jmap_are_imap_flags_and_idle_hears_at_once(env: WebEnv) -> None:
    deliver(env, "keywords")
    client = imap(env)
    try:
        [(eid, (_uid, flags))] = [(k, v) for k, v in emails(client, "INBOX").items()]
        assert "\\Flagged" not in flags
    finally:
        client.logout()
    # An IDLE session on INBOX (raw: imaplib has no IDLE in this Python).
    raw = env.client_context().wrap_socket(
        socket.create_connection(("127.0.0.1", env.port("imaps")), timeout=10), server_hostname="localhost"
    )
    reader = raw.makefile("rb")
    try:
        reader.readline()
        for line in (f'a LOGIN {ALICE} "{PASSWORD}"', "b SELECT INBOX", "c IDLE"):
            raw.sendall(line.encode() + b"\r\n")
            tag = line.split()[0].encode()
            while True:
                got = reader.readline()
                assert got, "connection closed"
                if got.startswith((tag + b" ", b"+")):
                    assert got.startswith((tag + b" OK", b"+")), got
                    break
        before = ok(env, "Email/get", {"accountId": account(env), "ids": []})["state"]
        started = time.monotonic()
        result = email_set(
            env, ifInState=before, update={eid: {"keywords/$flagged": True, "keywords/work": True}}
        )
        assert result["updated"] == {eid: None}
        assert result["oldState"] == before != result["newState"]
        # A new keyword is announced first (FLAGS, PERMANENTFLAGS), then the message's FETCH.
        heard = reader.readline()
        while b" FETCH " not in heard:
            heard = reader.readline()
        assert time.monotonic() - started < 5
        assert re.match(rb"\* \d+ FETCH \(.*FLAGS \(", heard), heard
        assert b"\\Flagged" in heard
        assert b"work" in heard
        raw.sendall(b"DONE\r\n")
    finally:
        reader.close()
        raw.close()
    client = imap(env)
    try:
        _, flags = emails(client, "INBOX")[eid]
        assert set(flags.split()) >= {"\\Flagged", "work"}
        got = ok(env, "Email/get", {"accountId": account(env), "ids": [eid], "properties": ["keywords"]})
        assert got["list"][0]["keywords"] == {"$flagged": True, "work": True}
        # Whole keywords replace: $seen only.
        email_set(env, update={eid: {"keywords": {"$Seen": True}}})
        _, flags = emails(client, "INBOX")[eid]
        assert flags.split() == ["\\Seen"]
    finally:
        client.logout()


def test_a_mailbox_change_over_jmap_is_a_move_imap_sees(env: WebEnv) -> None:
    deliver(env, "move me")
    client = imap(env)
    try:
        client.create("Archive")
        client.create("Later")
        inbox, archive, later = mailbox_ids(client, "INBOX", "Archive", "Later")
        eid = next(k for k, _ in emails(client, "INBOX").items() if k not in emails(client, "Archive"))
        result = email_set(env, update={eid: {f"mailboxIds/{inbox}": None, f"mailboxIds/{archive}": True}})
        assert result["updated"] == {eid: None}, result
        # The move is an update of the Email (RFC 8621 section 4.3), seen from the oldState on.
        aid = account(env)
        changes = ok(env, "Email/changes", {"accountId": aid, "sinceState": result["oldState"]})
        assert (changes["created"], changes["updated"], changes["destroyed"]) == ([], [eid], [])
        assert changes["newState"] == result["newState"]
        assert eid not in emails(client, "INBOX")
        assert eid in emails(client, "Archive")
        # A second Mailbox added (a copy; the EMAILID is the same message), then the whole set.
        email_set(env, update={eid: {f"mailboxIds/{later}": True}})
        assert eid in emails(client, "Archive")
        assert eid in emails(client, "Later")
        got = ok(env, "Email/get", {"accountId": account(env), "ids": [eid], "properties": ["mailboxIds"]})
        assert got["list"][0]["mailboxIds"] == {archive: True, later: True}
        email_set(env, update={eid: {"mailboxIds": {inbox: True}}})
        assert eid in emails(client, "INBOX")
        assert eid not in emails(client, "Archive")
        assert eid not in emails(client, "Later")
    finally:
        client.logout()


def test_the_rules_are_set_errors(env: WebEnv) -> None:
    deliver(env, "rules")
    client = imap(env)
    try:
        [inbox] = mailbox_ids(client, "INBOX")
        eid = list(emails(client, "INBOX"))[-1]
    finally:
        client.logout()
    answered, result = call(env, "Email/set", {"accountId": account(env), "ifInState": "S0", "update": {}})
    assert (answered, result["type"]) == ("error", "stateMismatch")
    result = email_set(
        env,
        update={
            eid: {f"mailboxIds/{inbox}": None},
            "M999999": {"keywords": {}},
        },
        destroy=["M999998"],
        create={"k": {"mailboxIds": {}}},
    )
    assert result["notUpdated"][eid]["type"] == "invalidProperties"
    assert result["notUpdated"][eid]["properties"] == ["mailboxIds"]
    assert result["notUpdated"]["M999999"]["type"] == "notFound"
    assert result["notDestroyed"]["M999998"]["type"] == "notFound"
    assert result["notCreated"]["k"]["type"] == "invalidProperties"  # in no Mailbox
    result = email_set(env, update={eid: {"subject": "no"}})
    assert result["notUpdated"][eid] == {
        "type": "invalidProperties",
        "description": "subject cannot be changed",
        "properties": ["subject"],
    }
    result = email_set(env, update={eid: {"mailboxIds": {"F999999": True}}})
    assert result["notUpdated"][eid]["type"] == "invalidProperties"
    assert result["oldState"] == result["newState"]  # nothing written


def test_destroy_expunges_every_membership(env: WebEnv) -> None:
    deliver(env, "destroy me")
    client = imap(env)
    try:
        client.create("Keep")
        [keep] = mailbox_ids(client, "Keep")
        eid = list(emails(client, "INBOX"))[-1]
        email_set(env, update={eid: {f"mailboxIds/{keep}": True}})
        assert eid in emails(client, "Keep")
        result = email_set(env, destroy=[eid])
        assert result["destroyed"] == [eid]
        assert eid not in emails(client, "INBOX")
        assert eid not in emails(client, "Keep")
        got = ok(env, "Email/get", {"accountId": account(env), "ids": [eid], "properties": ["id"]})
        assert got["notFound"] == [eid]
    finally:
        client.logout()


def test_create_is_an_imap_message_with_its_flags_and_attachments(env: WebEnv) -> None:
    deliver(env, "to attach")
    client = imap(env)
    try:
        client.create("Drafts")
        inbox, drafts = mailbox_ids(client, "INBOX", "Drafts")
        attached = list(emails(client, "INBOX"))[-1]
    finally:
        client.logout()
    aid = account(env)
    [source] = ok(env, "Email/get", {"accountId": aid, "ids": [attached], "properties": ["blobId"]})["list"]
    draft = {
        "mailboxIds": {drafts: True, inbox: True},
        "keywords": {"$draft": True, "$seen": True},
        "from": [{"name": "Alice", "email": ALICE}],
        "to": [{"email": "bob@example.net"}],
        "subject": "Draft été",
        "textBody": [{"partId": "t", "type": "text/plain"}],
        "bodyValues": {"t": {"value": "Hello Bob."}},
        "attachments": [{"blobId": source["blobId"], "type": "message/rfc822", "name": "fwd.eml"}],
        "receivedAt": "2026-12-01T08:00:00Z",
    }
    result = email_set(
        env,
        create={
            "d": draft,
            "bad": {**draft, "attachments": [{"blobId": "Gnope", "type": "application/pdf"}]},
        },
    )
    made = result["created"]["d"]
    assert set(made) == {"id", "blobId", "threadId", "size"}
    assert result["notCreated"]["bad"]["type"] == "blobNotFound"
    assert result["notCreated"]["bad"]["notFound"] == ["Gnope"]
    client = imap(env)
    try:
        for mailbox in ("Drafts", "INBOX"):
            uid, flags = emails(client, mailbox)[made["id"]]
            assert set(flags.split()) - {"\\Recent"} == {"\\Draft", "\\Seen"}
        status, dates = client.uid("FETCH", str(uid), "(INTERNALDATE)")
        assert b'INTERNALDATE " 1-Dec-2026 08:00:00 +0000"' in dates[0], dates
        status, data = client.uid("FETCH", str(uid), "(RFC822.SIZE BODY.PEEK[])")
        assert status == "OK", data
        head, body = data[0]
        assert f"RFC822.SIZE {made['size']}".encode() in head
        parsed = email.message_from_bytes(body, policy=email.policy.default)
        assert parsed["Subject"] == "Draft été"  # RFC 2047-encoded on the wire
        assert body.isascii()
        assert b"Hello Bob." in body
        assert b"Subject: to attach" in body  # the attached message, as it is
    finally:
        client.logout()
    got = ok(
        env,
        "Email/get",
        {
            "accountId": aid,
            "ids": [made["id"]],
            "properties": ["subject", "threadId", "blobId", "attachments"],
        },
    )
    [mail] = got["list"]
    assert mail["subject"] == "Draft été"
    assert (mail["threadId"], mail["blobId"]) == (made["threadId"], made["blobId"])
    assert [a["name"] for a in mail["attachments"]] == ["fwd.eml"]


def test_an_upload_is_an_attachment_of_a_create(env: WebEnv) -> None:
    """RFC 8621 section 4.6: an attachment's blobId may be an upload (RFC 8620 section 6.1); the
    created Email's part downloads back the uploaded octets, its type and name as given."""
    aid = account(env)
    token = base64.b64encode(f"{ALICE}:{PASSWORD}".encode()).decode()
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
    uploaded = env.request(
        "POST",
        f"/jmap/upload/{aid}/",
        tls=True,
        body=pdf,
        headers={"Authorization": f"Basic {token}", "Content-Type": "application/pdf"},
    )
    assert uploaded.status == 201, uploaded.body
    blob = json.loads(uploaded.body)["blobId"]
    client = imap(env)
    try:
        [inbox] = mailbox_ids(client, "INBOX")
    finally:
        client.logout()
    result = email_set(
        env,
        create={
            "u": {
                "mailboxIds": {inbox: True},
                "from": [{"email": ALICE}],
                "subject": "with an upload",
                "textBody": [{"partId": "t", "type": "text/plain"}],
                "bodyValues": {"t": {"value": "See the PDF."}},
                "attachments": [{"blobId": blob, "type": "application/pdf", "name": "report.pdf"}],
            }
        },
    )
    made = result["created"]["u"]
    [mail] = ok(env, "Email/get", {"accountId": aid, "ids": [made["id"]], "properties": ["attachments"]})[
        "list"
    ]
    [attachment] = mail["attachments"]
    assert (attachment["type"], attachment["name"], attachment["size"]) == (
        "application/pdf",
        "report.pdf",
        len(pdf),
    )
    download = env.request(
        "GET",
        f"/jmap/download/{aid}/{attachment['blobId']}/report.pdf",
        tls=True,
        headers={"Authorization": f"Basic {token}"},
    )
    assert download.status == 200
    assert download.body == pdf  # transfer-encoded in the message, decoded by the download


def test_email_copy_is_between_accounts_and_a_user_reaches_one(env: WebEnv) -> None:
    """RFC 8620 section 5.4: accountId must differ from fromAccountId; a principal reaches only its
    own account, so the other one is fromAccountNotFound or accountNotFound."""
    aid = account(env)
    client = imap(env)
    try:
        [inbox] = mailbox_ids(client, "INBOX")
        eid = list(emails(client, "INBOX"))[-1]
    finally:
        client.logout()
    create = {"c": {"id": eid, "mailboxIds": {inbox: True}}}

    def copy_error(from_account: str, to_account: str, **more: Any) -> str:
        arguments = {"fromAccountId": from_account, "accountId": to_account, "create": create, **more}
        answered, result = call(env, "Email/copy", arguments)
        assert answered == "error", result
        return str(result["type"])

    assert copy_error(aid, aid) == "invalidArguments"
    assert copy_error("A999999", aid) == "fromAccountNotFound"
    assert copy_error(aid, "A999999", onSuccessDestroyOriginal=True) == "accountNotFound"
    # Nothing was copied or destroyed.
    client = imap(env)
    try:
        assert eid in emails(client, "INBOX")
    finally:
        client.logout()


def test_jmapc_email_set(env: WebEnv) -> None:
    deliver(env, "for jmapc")
    client = imap(env)
    try:
        eid = list(emails(client, "INBOX"))[-1]
    finally:
        client.logout()
    jmap = Client.create_with_password(f"localhost:{env.port('https')}", ALICE, PASSWORD)
    jmap.requests_session.trust_env = False
    jmap.requests_session.verify = str(env.ca_file)
    answer = jmap.request(EmailSet(update={eid: {"keywords/$answered": True}}))
    assert isinstance(answer, EmailSetResponse)
    assert answer.updated == {eid: None}
    client = imap(env)
    try:
        _, flags = emails(client, "INBOX")[eid]
        assert "\\Answered" in flags.split()
    finally:
        client.logout()


def test_the_keywords_a_mailbox_may_hold_are_imaps_limit(env: WebEnv) -> None:
    deliver(env, "many keywords")
    client = imap(env)
    try:
        client.create("Tagged")
        [tagged] = mailbox_ids(client, "Tagged")
        eid = list(emails(client, "INBOX"))[-1]
    finally:
        client.logout()
    email_set(env, update={eid: {"mailboxIds": {tagged: True}}})
    many = {f"tag{n}": True for n in range(MAX_KEYWORDS + 1)}
    result = email_set(env, update={eid: {"keywords": many}})
    assert result["notUpdated"][eid]["type"] == "invalidProperties", result
    assert result["notUpdated"][eid]["properties"] == ["keywords"]
    got = ok(env, "Email/get", {"accountId": account(env), "ids": [eid], "properties": ["keywords"]})
    assert got["list"][0]["keywords"] == {}


def test_flags_no_keyword_stands_for_stay(env: WebEnv) -> None:
    deliver(env, "deleted stays")
    client = imap(env)
    try:
        eid = list(emails(client, "INBOX"))[-1]
        uid, _ = emails(client, "INBOX")[eid]
        status, data = client.uid("STORE", str(uid), "+FLAGS", "(\\Deleted)")
        assert status == "OK", data
        email_set(env, update={eid: {"keywords": {"$flagged": True}}})
        _, flags = emails(client, "INBOX")[eid]
        assert {"\\Deleted", "\\Flagged"} <= set(flags.split())
    finally:
        client.logout()
