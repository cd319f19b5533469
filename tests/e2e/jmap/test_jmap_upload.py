"""The blob upload (RFC 8620 section 6.1) over HTTP on a real ``pochta serve``: an upload answers
its blob id, type and size, downloads back byte for byte (section 6.2), is bounded by
maxSizeUpload (the listener's 413), only to the uploader's own account, and authenticated as
/jmap/api (a webmail cookie needs the CSRF token to upload)."""

from __future__ import annotations

import base64
import hashlib
import imaplib
import json
import re
from collections.abc import Iterator
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

import pytest

from web_env import ALICE, PASSWORD, WebEnv, start_web_server

CORE = "urn:ietf:params:jmap:core"
MAX_SIZE_UPLOAD = 64 * 1024
CONFIG = f"[jmap]\nenabled = true\nmax_size_upload = {MAX_SIZE_UPLOAD}\n[webmail]\nenabled = true\n"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebEnv]:
    yield from start_web_server(tmp_path_factory.mktemp("jmap-upload"), CONFIG)


def basic() -> dict[str, str]:
    token = base64.b64encode(f"{ALICE}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def session(env: WebEnv) -> dict[str, Any]:
    response = env.get("/.well-known/jmap", tls=True, headers=basic())
    assert response.status == 200, response.body
    document: dict[str, Any] = json.loads(response.body)
    return document


def upload(env: WebEnv, account: str, data: bytes, media_type: str | None, **headers: str) -> Any:
    sent = {**basic(), **headers} if "Cookie" not in headers else dict(headers)
    if media_type is not None:
        sent["Content-Type"] = media_type
    return env.request("POST", f"/jmap/upload/{account}/", tls=True, body=data, headers=sent)


def test_an_upload_downloads_back_its_octets(env: WebEnv) -> None:
    document = session(env)
    account = document["primaryAccounts"][CORE]
    assert document["uploadUrl"].endswith("/jmap/upload/{accountId}/")
    data = bytes(range(256)) * 100  # binary, 25,600 octets
    response = upload(env, account, data, "application/x-test; name=x")
    assert response.status == 201, response.body
    assert response.headers["Content-Type"].startswith("application/json")
    answer = json.loads(response.body)
    assert answer == {
        "accountId": account,
        "blobId": "G" + hashlib.sha256(data).hexdigest(),
        "type": "application/x-test; name=x",
        "size": len(data),
    }
    got = env.get(f"/jmap/download/{account}/{answer['blobId']}/x.bin", tls=True, headers=basic())
    assert got.status == 200, got.body
    assert got.body == data
    # The same octets again: the same blob id (section 6.1 allows it), the type of this upload.
    again = json.loads(upload(env, account, data, None).body)
    assert (again["blobId"], again["type"]) == (answer["blobId"], "application/octet-stream")
    # A blob id never uploaded (nor held in a message) is not found.
    other = "G" + hashlib.sha256(b"never uploaded").hexdigest()
    assert env.get(f"/jmap/download/{account}/{other}/x", tls=True, headers=basic()).status == 404


def test_an_empty_upload_is_a_blob_of_no_octets(env: WebEnv) -> None:
    account = session(env)["primaryAccounts"][CORE]
    response = upload(env, account, b"", "text/plain")
    assert response.status == 201, response.body
    answer = json.loads(response.body)
    assert answer["size"] == 0
    got = env.get(f"/jmap/download/{account}/{answer['blobId']}/empty", tls=True, headers=basic())
    assert (got.status, got.body) == (200, b"")


def test_an_upload_past_max_size_upload_is_refused(env: WebEnv) -> None:
    document = session(env)
    account = document["primaryAccounts"][CORE]
    assert document["capabilities"][CORE]["maxSizeUpload"] == MAX_SIZE_UPLOAD
    response = upload(env, account, b"x" * (MAX_SIZE_UPLOAD + 1), "text/plain")
    assert response.status == 413
    # At the bound exactly: taken.
    assert upload(env, account, b"y" * MAX_SIZE_UPLOAD, "text/plain").status == 201


def test_uploads_need_the_users_own_account_and_authentication(env: WebEnv) -> None:
    account = session(env)["primaryAccounts"][CORE]
    assert upload(env, "A999999", b"data", "text/plain").status == 404
    assert upload(env, "nope", b"data", "text/plain").status == 404
    response = env.request("POST", f"/jmap/upload/{account}/", tls=True, body=b"data")
    assert response.status == 401
    wrong = env.request("GET", f"/jmap/upload/{account}/", tls=True, headers=basic())
    assert wrong.status == 405


def _cookies(headers: Any) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for line in headers.get_all("Set-Cookie") or []:
        jar.load(line)
    return {name: morsel.value for name, morsel in jar.items()}


def test_the_webmails_cookie_uploads_only_with_its_csrf_token(env: WebEnv) -> None:
    account = session(env)["primaryAccounts"][CORE]
    page = env.get("/webmail/login", tls=True)
    token = re.search(rb'name="token" value="([^"]+)"', page.body).group(1).decode()  # type: ignore[union-attr]
    jar = _cookies(page.headers)
    form = urlencode({"token": token, "address": ALICE, "password": PASSWORD}).encode()
    signed = env.request(
        "POST",
        "/webmail/login",
        tls=True,
        body=form,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": "; ".join(f"{k}={v}" for k, v in jar.items()),
        },
    )
    jar.update(_cookies(signed.headers))
    cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
    assert upload(env, account, b"from the webmail", "text/plain", Cookie=cookie).status == 403
    app = env.get("/webmail/", tls=True, headers={"Cookie": cookie})
    csrf = re.search(rb'name="csrf-token" content="([^"]+)"', app.body)
    assert csrf is not None, app.body[:500]
    response = upload(
        env,
        account,
        b"from the webmail",
        "text/plain",
        Cookie=cookie,
        **{"X-CSRF-Token": csrf.group(1).decode()},
    )
    assert response.status == 201, response.body


def call(env: WebEnv, name: str, arguments: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    body = json.dumps({"using": [CORE], "methodCalls": [[name, arguments, "c"]]}).encode()
    headers = {**basic(), "Content-Type": "application/json"}
    response = env.request("POST", "/jmap/api", tls=True, body=body, headers=headers)
    assert response.status == 200, response.body
    [[answered, result, _]] = json.loads(response.body)["methodResponses"]
    return answered, result


def test_blob_copy_within_the_account_and_not_found(env: WebEnv) -> None:
    account = session(env)["primaryAccounts"][CORE]
    uploaded = json.loads(upload(env, account, b"copy me", "text/plain").body)["blobId"]
    missing = "G" + hashlib.sha256(b"not uploaded").hexdigest()
    answered, result = call(
        env,
        "Blob/copy",
        {"fromAccountId": account, "accountId": account, "blobIds": [uploaded, missing, "Gzz"]},
    )
    assert answered == "Blob/copy", result
    assert result == {
        "fromAccountId": account,
        "accountId": account,
        "copied": {uploaded: uploaded},
        "notCopied": {missing: {"type": "notFound"}, "Gzz": {"type": "notFound"}},
    }
    # RFC 8620 section 6.3: an account the user may not use is fromAccountNotFound.
    answered, result = call(
        env, "Blob/copy", {"fromAccountId": "A999999", "accountId": account, "blobIds": []}
    )
    assert (answered, result["type"]) == ("error", "fromAccountNotFound")
    answered, result = call(
        env, "Blob/copy", {"fromAccountId": account, "accountId": "A999999", "blobIds": []}
    )
    assert (answered, result["type"]) == ("error", "accountNotFound")


MAIL = "urn:ietf:params:jmap:mail"
MESSAGE = (
    b"From: Bob <bob@example.net>\r\nTo: alice@example.org\r\nSubject: imported\r\n"
    b"Message-ID: <imported@example.net>\r\nDate: Mon, 07 Dec 2026 10:00:00 +0000\r\n\r\nHello.\r\n"
)


def mail_call(env: WebEnv, name: str, arguments: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    body = json.dumps({"using": [CORE, MAIL], "methodCalls": [[name, arguments, "c"]]}).encode()
    headers = {**basic(), "Content-Type": "application/json"}
    response = env.request("POST", "/jmap/api", tls=True, body=body, headers=headers)
    assert response.status == 200, response.body
    [[answered, result, _]] = json.loads(response.body)["methodResponses"]
    return answered, result


def test_an_uploaded_message_imports_and_imap_sees_it(env: WebEnv) -> None:
    account = session(env)["primaryAccounts"][CORE]
    uploaded = json.loads(upload(env, account, MESSAGE, "message/rfc822").body)["blobId"]
    not_mail = json.loads(upload(env, account, b"\r\n\r\n", "text/plain").body)["blobId"]
    _, mailboxes = mail_call(env, "Mailbox/get", {"accountId": account, "ids": None})
    inbox = next(box["id"] for box in mailboxes["list"] if box["role"] == "inbox")
    answered, state = mail_call(env, "Email/get", {"accountId": account, "ids": []})
    old = state["state"]
    answered, result = mail_call(
        env, "Email/import", {"accountId": account, "ifInState": "999999", "emails": {}}
    )
    assert (answered, result["type"]) == ("error", "stateMismatch")
    missing = "G" + hashlib.sha256(b"nothing").hexdigest()
    answered, result = mail_call(
        env,
        "Email/import",
        {
            "accountId": account,
            "ifInState": old,
            "emails": {
                "m1": {
                    "blobId": uploaded,
                    "mailboxIds": {inbox: True},
                    "keywords": {"$seen": True, "$label1": True},
                    "receivedAt": "2026-12-01T09:30:00Z",
                },
                "m2": {"blobId": missing, "mailboxIds": {inbox: True}},
                "m3": {"blobId": not_mail, "mailboxIds": {inbox: True}},
                "m4": {"blobId": uploaded, "mailboxIds": {"F999999": True}},
                "m5": {"blobId": uploaded, "mailboxIds": {}},
            },
        },
    )
    assert answered == "Email/import", result
    assert result["oldState"] == old
    assert result["newState"] != old
    created = result["created"]["m1"]
    assert created["blobId"] == uploaded
    assert created["size"] == len(MESSAGE)
    assert created["threadId"].startswith("T")
    errors = {key: (value["type"], value.get("properties")) for key, value in result["notCreated"].items()}
    assert errors == {
        "m2": ("invalidProperties", ["blobId"]),
        "m3": ("invalidEmail", None),
        "m4": ("invalidProperties", ["mailboxIds"]),
        "m5": ("invalidProperties", ["mailboxIds"]),
    }
    client = imaplib.IMAP4_SSL("localhost", env.port("imaps"), ssl_context=env.client_context(), timeout=30)
    try:
        client.login(ALICE, PASSWORD)
        client.select("INBOX")
        status, data = client.uid("SEARCH", "HEADER", "Message-ID", "<imported@example.net>")
        assert status == "OK", data
        [uid] = data[0].split()
        status, data = client.uid("FETCH", uid, "(EMAILID THREADID FLAGS INTERNALDATE BODY.PEEK[])")
        assert status == "OK", data
        head = data[0][0].decode()
        assert f"EMAILID ({created['id']})" in head
        assert f"THREADID ({created['threadId']})" in head
        assert "\\Seen" in head
        assert "$label1" in head
        assert 'INTERNALDATE " 1-Dec-2026 09:30:00 +0000"' in head
        assert data[0][1] == MESSAGE
    finally:
        client.logout()
    answered, got = mail_call(
        env,
        "Email/get",
        {"accountId": account, "ids": [created["id"]], "properties": ["subject", "keywords", "mailboxIds"]},
    )
    [email] = got["list"]
    assert email["subject"] == "imported"
    assert email["keywords"] == {"$label1": True, "$seen": True}
    assert email["mailboxIds"] == {inbox: True}


INNER = (
    b"From: Carol <carol@example.net>\r\nTo: bob@example.net\r\nSubject: the original\r\n"
    b"Message-ID: <original@example.net>\r\n\r\nThe forwarded text.\r\n"
)
FORWARD = (
    b"From: Bob <bob@example.net>\r\nTo: alice@example.org\r\nSubject: Fwd: the original\r\n"
    b"Message-ID: <forward@example.net>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="fw"\r\n\r\n'
    b"--fw\r\nContent-Type: text/plain\r\n\r\nSee below.\r\n"
    b"--fw\r\nContent-Type: message/rfc822\r\n\r\n" + INNER + b"--fw--\r\n"
)


def test_parse_of_an_upload_and_of_an_attached_message(env: WebEnv) -> None:
    account = session(env)["primaryAccounts"][CORE]
    uploaded = json.loads(upload(env, account, FORWARD, "message/rfc822").body)["blobId"]
    image = json.loads(upload(env, account, b"\x89PNG\r\n\x1a\n\x00\x00", "image/png").body)["blobId"]
    missing = "G" + hashlib.sha256(b"absent").hexdigest()
    answered, result = mail_call(
        env,
        "Email/parse",
        {
            "accountId": account,
            "blobIds": [uploaded, image, missing],
            "properties": ["id", "blobId", "subject", "from", "size", "mailboxIds", "attachments"],
            "fetchTextBodyValues": True,
        },
    )
    assert answered == "Email/parse", result
    assert result["notParsable"] == [image]
    assert result["notFound"] == [missing]
    email = result["parsed"][uploaded]
    assert (email["id"], email["mailboxIds"], email["blobId"]) == (None, None, uploaded)
    assert email["subject"] == "Fwd: the original"
    assert email["size"] == len(FORWARD)
    [attached] = email["attachments"]
    assert attached["type"] == "message/rfc822"
    assert attached["blobId"] == f"{uploaded}-2"
    # The attached message is a blob of the account once the message is: import it, then parse it.
    _, mailboxes = mail_call(env, "Mailbox/get", {"accountId": account, "ids": None})
    inbox = next(box["id"] for box in mailboxes["list"] if box["role"] == "inbox")
    _, notfound = mail_call(
        env, "Email/parse", {"accountId": account, "blobIds": [attached["blobId"]], "properties": ["subject"]}
    )
    assert notfound["notFound"] == [attached["blobId"]]  # a part of an upload is not a blob yet
    _, imported = mail_call(
        env,
        "Email/import",
        {"accountId": account, "emails": {"f": {"blobId": uploaded, "mailboxIds": {inbox: True}}}},
    )
    assert imported["created"]["f"]["blobId"] == uploaded, imported
    _, inner = mail_call(
        env,
        "Email/parse",
        {
            "accountId": account,
            "blobIds": [attached["blobId"]],
            "properties": ["subject", "from", "textBody", "bodyValues"],
            "fetchTextBodyValues": True,
        },
    )
    parsed = inner["parsed"][attached["blobId"]]
    assert parsed["subject"] == "the original"
    assert parsed["from"] == [{"name": "Carol", "email": "carol@example.net"}]
    [text] = parsed["textBody"]
    assert parsed["bodyValues"][text["partId"]]["value"] == "The forwarded text."
    # The inner text part is named as a part of the stored message, and downloads.
    got = env.get(f"/jmap/download/{account}/{text['blobId']}/t.txt", tls=True, headers=basic())
    assert got.status == 200, (text, got.body)
    assert got.body == b"The forwarded text."  # the CRLF before a boundary is the boundary's (RFC 2046)
