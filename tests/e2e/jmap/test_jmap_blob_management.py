"""JMAP Blob Management (RFC 9404) over HTTP on a real ``pochta serve``: Blob/upload from text,
base64 and ranges of other blobs (a creation named by "#id" later in the same request, by
Blob/get, Email/import and Email/set), Blob/get of a delivered message's part with a digest,
Blob/lookup finding the Email, its Mailbox and Thread (IMAP's EMAILID, MAILBOXID, THREADID), and
the refusals (a range past the end, over maxSizeBlobSet, a type the request does not use)."""

from __future__ import annotations

import base64
import hashlib
import imaplib
import json
import re
import smtplib
from collections.abc import Iterator
from typing import Any

import pytest

from web_env import ALICE, PASSWORD, WebEnv, start_web_server

CORE = "urn:ietf:params:jmap:core"
MAIL = "urn:ietf:params:jmap:mail"
BLOB = "urn:ietf:params:jmap:blob"
MAX_SIZE_UPLOAD = 4096
CONFIG = f"[jmap]\nenabled = true\nmax_size_upload = {MAX_SIZE_UPLOAD}\nmax_blob_data_sources = 4\n"
ATTACHED = b"%PDF-1.4 not really\n"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebEnv]:
    yield from start_web_server(tmp_path_factory.mktemp("jmap-blob"), CONFIG, ("lmtp",))


def basic() -> dict[str, str]:
    token = base64.b64encode(f"{ALICE}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def api(env: WebEnv, calls: list[list[Any]], using: tuple[str, ...] = (CORE, MAIL, BLOB)) -> list[list[Any]]:
    body = json.dumps({"using": list(using), "methodCalls": calls}).encode()
    headers = {**basic(), "Content-Type": "application/json"}
    response = env.request("POST", "/jmap/api", tls=True, body=body, headers=headers)
    assert response.status == 200, response.body
    answers: list[list[Any]] = json.loads(response.body)["methodResponses"]
    return answers


def account(env: WebEnv) -> str:
    session = json.loads(env.get("/.well-known/jmap", tls=True, headers=basic()).body)
    return str(session["primaryAccounts"][CORE])


def deliver(env: WebEnv, subject: str) -> None:
    boundary = "b1"
    data = (
        f"From: bob@example.net\r\nTo: {ALICE}\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
        f"--{boundary}\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        f"{base64.b64encode(ATTACHED).decode()}\r\n--{boundary}--\r\n"
    ).encode()
    with smtplib.LMTP("127.0.0.1", env.port("lmtp"), timeout=30) as client:
        client.sendmail("bob@example.net", [ALICE], data)


def imap_ids(env: WebEnv, subject: str) -> tuple[str, str, str]:
    """(EMAILID, MAILBOXID of INBOX, THREADID) of the INBOX message with ``subject``, over IMAP."""
    client = imaplib.IMAP4_SSL("localhost", env.port("imaps"), ssl_context=env.client_context(), timeout=30)
    try:
        client.login(ALICE, PASSWORD)
        status, data = client.status("INBOX", "(MAILBOXID)")
        mailbox = re.search(rb"MAILBOXID \(([^)]+)\)", data[0])  # type: ignore[arg-type]
        client.select("INBOX")
        status, found = client.uid("SEARCH", "SUBJECT", f'"{subject}"')
        assert status == "OK", found
        assert found[0], found
        uid = found[0].split()[-1].decode()
        status, fetched = client.uid("FETCH", uid, "(EMAILID THREADID)")
        line = fetched[0].decode() if isinstance(fetched[0], bytes) else str(fetched[0])
        email = re.search(r"EMAILID \(([^)]+)\)", line)
        thread = re.search(r"THREADID \(([^)]+)\)", line)
        assert mailbox is not None, data
        assert email is not None, fetched
        assert thread is not None, fetched
        return email.group(1), mailbox.group(1).decode(), thread.group(1)
    finally:
        client.logout()


def test_upload_joins_its_sources_and_later_calls_name_it(env: WebEnv) -> None:
    aid = account(env)
    fox = "The quick brown fox jumped over the lazy dog."
    answers = api(
        env,
        [
            ["Blob/upload", {"accountId": aid, "create": {"b4": {"data": [{"data:asText": fox}]}}}, "S4"],
            [
                "Blob/upload",
                {
                    "accountId": aid,
                    "create": {
                        "cat": {
                            "data": [
                                {"data:asText": "How"},
                                {"blobId": "#b4", "offset": 3, "length": 6},
                                {"data:asBase64": base64.b64encode(b" was th").decode()},
                                {"blobId": "#b4", "offset": 41, "length": 1},
                            ],
                            "type": "text/plain",
                        }
                    },
                },
                "CAT",
            ],
            ["Blob/get", {"accountId": aid, "ids": ["#cat"], "properties": ["data:asText", "size"]}, "G4"],
        ],
    )
    [(_, first, _), (_, joined, _), (name, got, _)] = answers
    made = first["created"]["b4"]
    assert (made["type"], made["size"]) == ("application/octet-stream", len(fox))
    assert made["id"] == "G" + hashlib.sha256(fox.encode()).hexdigest()
    cat = joined["created"]["cat"]
    assert (cat["type"], cat["size"]) == ("text/plain", len("How quick was thd"))
    assert name == "Blob/get", got
    assert got["list"] == [{"id": cat["id"], "data:asText": "How quick was thd", "size": 17}]
    assert got["notFound"] == []
    # The blob is the account's upload: the download serves it.
    download = env.request("GET", f"/jmap/download/{aid}/{cat['id']}/x.txt", tls=True, headers=basic())
    assert (download.status, download.body) == (200, b"How quick was thd")


def test_refused_creations_are_not_created(env: WebEnv) -> None:
    aid = account(env)
    [(_, made, _)] = api(
        env, [["Blob/upload", {"accountId": aid, "create": {"s": {"data": [{"data:asText": "short"}]}}}, "s"]]
    )
    short = made["created"]["s"]["id"]
    create = {
        "range": {"data": [{"blobId": short, "offset": 2, "length": 10}]},
        "absent": {"data": [{"blobId": "G" + "0" * 64}]},
        "big": {"data": [{"data:asText": "x" * 3000}, {"data:asText": "y" * 3000}]},
        "many": {"data": [{"data:asText": "a"}] * 5},
        "bad64": {"data": [{"data:asBase64": "***"}]},
    }
    [(_, result, _)] = api(env, [["Blob/upload", {"accountId": aid, "create": create}, "r"]])
    assert result["created"] is None
    kinds = {cid: error["type"] for cid, error in result["notCreated"].items()}
    assert kinds == {
        "range": "invalidProperties",
        "absent": "invalidProperties",
        "big": "tooLarge",
        "many": "tooLarge",
        "bad64": "invalidProperties",
    }


def test_get_a_part_of_a_delivered_message_with_digests(env: WebEnv) -> None:
    deliver(env, "blob get")
    aid = account(env)
    email, _, _ = imap_ids(env, "blob get")
    [(_, got, _), (_, blobs, _)] = api(
        env,
        [
            ["Email/get", {"accountId": aid, "ids": [email], "properties": ["attachments"]}, "e"],
            [
                "Blob/get",
                {
                    "accountId": aid,
                    "#ids": {"resultOf": "e", "name": "Email/get", "path": "/list/*/attachments/*/blobId"},
                    "properties": ["data", "digest:sha-256", "size"],
                    "offset": 0,
                    "length": 8,
                },
                "b",
            ],
        ],
    )
    [part] = got["list"][0]["attachments"]
    [item] = blobs["list"]
    assert item == {
        "id": part["blobId"],
        "data:asText": "%PDF-1.4",  # decoded from base64: the part's octets
        "digest:sha-256": base64.b64encode(hashlib.sha256(b"%PDF-1.4").digest()).decode(),
        "size": len(ATTACHED),
    }


def test_lookup_finds_the_email_its_mailbox_and_thread(env: WebEnv) -> None:
    deliver(env, "blob lookup")
    aid = account(env)
    email, inbox, thread = imap_ids(env, "blob lookup")
    [(_, got, _)] = api(
        env, [["Email/get", {"accountId": aid, "ids": [email], "properties": ["blobId", "attachments"]}, "e"]]
    )
    message_blob = got["list"][0]["blobId"]
    part_blob = got["list"][0]["attachments"][0]["blobId"]
    [(_, uploaded, _)] = api(
        env,
        [["Blob/upload", {"accountId": aid, "create": {"u": {"data": [{"data:asText": "lonely"}]}}}, "u"]],
    )
    lonely = uploaded["created"]["u"]["id"]
    absent = "G" + "1" * 64
    [(name, found, _)] = api(
        env,
        [
            [
                "Blob/lookup",
                {
                    "accountId": aid,
                    "typeNames": ["Mailbox", "Thread", "Email"],
                    "ids": [message_blob, part_blob, lonely, absent],
                },
                "l",
            ]
        ],
    )
    assert name == "Blob/lookup", found
    matched = {"Mailbox": [inbox], "Thread": [thread], "Email": [email]}
    assert found["list"] == [
        {"id": message_blob, "matchedIds": matched},
        {"id": part_blob, "matchedIds": matched},
        {"id": lonely, "matchedIds": {"Mailbox": [], "Thread": [], "Email": []}},
    ]
    assert found["notFound"] == [absent]
    # RFC 9404 section 4.3: a type whose capability the request does not use is unknownDataType.
    [(error, body, _)] = api(
        env,
        [["Blob/lookup", {"accountId": aid, "typeNames": ["Email"], "ids": [lonely]}, "l"]],
        using=(CORE, BLOB),
    )
    assert (error, body["type"]) == ("error", "unknownDataType")


def test_an_uploaded_blob_is_imported_and_attached_in_the_same_request(env: WebEnv) -> None:
    aid = account(env)
    _, inbox, _ = imap_ids(env, "blob get")  # a message delivered by the test above
    message = f"From: {ALICE}\r\nTo: {ALICE}\r\nSubject: made by Blob/upload\r\n\r\nBody.\r\n"
    answers = api(
        env,
        [
            [
                "Blob/upload",
                {
                    "accountId": aid,
                    "create": {
                        "msg": {"data": [{"data:asText": message}], "type": "message/rfc822"},
                        "pdf": {"data": [{"data:asBase64": base64.b64encode(ATTACHED).decode()}]},
                    },
                },
                "u",
            ],
            [
                "Email/import",
                {"accountId": aid, "emails": {"i": {"blobId": "#msg", "mailboxIds": {inbox: True}}}},
                "i",
            ],
            [
                "Email/set",
                {
                    "accountId": aid,
                    "create": {
                        "d": {
                            "mailboxIds": {inbox: True},
                            "subject": "with a Blob/upload attachment",
                            "textBody": [{"partId": "t", "type": "text/plain"}],
                            "bodyValues": {"t": {"value": "Attached."}},
                            "attachments": [{"blobId": "#pdf", "type": "application/pdf", "name": "x.pdf"}],
                        }
                    },
                },
                "s",
            ],
        ],
    )
    [(_, uploaded, _), (imported_name, imported, _), (set_name, created, _)] = answers
    assert imported_name == "Email/import", imported
    assert "i" in imported["created"], imported
    assert imported["created"]["i"]["blobId"] == uploaded["created"]["msg"]["id"]
    assert set_name == "Email/set", created
    assert "d" in created["created"], created
    email, _, _ = imap_ids(env, "made by Blob/upload")
    assert email == imported["created"]["i"]["id"]  # IMAP sees the imported message, same EMAILID
    [(_, got, _)] = api(
        env,
        [
            [
                "Email/get",
                {"accountId": aid, "ids": [created["created"]["d"]["id"]], "properties": ["attachments"]},
                "g",
            ]
        ],
    )
    [attachment] = got["list"][0]["attachments"]
    download = env.request(
        "GET", f"/jmap/download/{aid}/{attachment['blobId']}/x.pdf", tls=True, headers=basic()
    )
    assert download.body == ATTACHED


def test_the_session_advertises_blob_with_the_limits_set(env: WebEnv) -> None:
    session = json.loads(env.get("/.well-known/jmap", tls=True, headers=basic()).body)
    assert session["capabilities"][BLOB] == {}
    [account_object] = session["accounts"].values()
    assert account_object["accountCapabilities"][BLOB] == {
        "maxSizeBlobSet": MAX_SIZE_UPLOAD,
        "maxDataSources": 4,
        "supportedTypeNames": ["Email", "Mailbox", "Thread"],
        "supportedDigestAlgorithms": ["sha", "sha-256"],
    }
