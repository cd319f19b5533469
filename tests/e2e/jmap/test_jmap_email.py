"""Email/get, Email/changes, Thread/get, Thread/changes and the blob download (RFC 8621 sections
3, 4.2, 4.3; RFC 8620 sections 5.1, 5.2, 6.2) over HTTP on a real ``pochta serve``, with mail
delivered by LMTP and changed over IMAP: the ids are IMAP's EMAILID, THREADID and MAILBOXID, a
flag set over IMAP is an Email update and a keyword, an expunge a destroy, and the octets
downloaded are IMAP's BODY[] and the decoded part."""

from __future__ import annotations

import base64
import email
import email.policy
import email.utils
import imaplib
import json
import re
import smtplib
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from jmapc import Client
from jmapc.methods import EmailGet, EmailGetResponse

from web_env import ALICE, PASSWORD, WebEnv, start_web_server

CORPUS = Path(__file__).parents[2] / "corpus" / "mime"

CORE = "urn:ietf:params:jmap:core"
MAIL = "urn:ietf:params:jmap:mail"
MAX_CHANGES = 3
# No background indexer: Emails are threaded on demand only, so that the tests see it done.
CONFIG = (
    f"[jmap]\nenabled = true\nmax_changes = {MAX_CHANGES}\n[webmail]\nenabled = true\n"
    "[search]\nindexer = false\n"
)
ATTACHMENT = bytes(range(256)) * 40  # binary: base64 in the message, decoded on download
BOUNDARY = "b0undary"


def _message(subject: str, message_id: str, *, reply_to: str | None = None) -> bytes:
    refs = f"In-Reply-To: {reply_to}\r\nReferences: {reply_to}\r\n" if reply_to else ""
    encoded = base64.encodebytes(ATTACHMENT).decode().replace("\n", "\r\n")
    return (
        "From: Bob <bob@example.net>\r\n"
        f"To: {ALICE}\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: {message_id}\r\n"
        f"{refs}"
        "Date: Mon, 07 Dec 2026 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/mixed; boundary="{BOUNDARY}"\r\n'
        "\r\n"
        f"--{BOUNDARY}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n"
        "\r\n"
        "Hello =C3=A9t=C3=A9 there.\r\n"
        f"--{BOUNDARY}\r\n"
        'Content-Type: application/octet-stream; name="data.bin"\r\n'
        'Content-Disposition: attachment; filename="data.bin"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n"
        f"{encoded}"
        f"--{BOUNDARY}--\r\n"
    ).encode()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebEnv]:
    yield from start_web_server(tmp_path_factory.mktemp("jmap-email"), CONFIG, ("lmtp",))


def deliver(env: WebEnv, *messages: bytes) -> None:
    with smtplib.LMTP("127.0.0.1", env.port("lmtp"), timeout=30) as client:
        for data in messages:
            client.sendmail("bob@example.net", [ALICE], data)


def imap(env: WebEnv) -> imaplib.IMAP4_SSL:
    client = imaplib.IMAP4_SSL("localhost", env.port("imaps"), ssl_context=env.client_context(), timeout=30)
    client.login(ALICE, PASSWORD)
    return client


def imap_messages(client: imaplib.IMAP4_SSL) -> dict[int, tuple[str, str, bytes]]:
    """UID -> (EMAILID, THREADID, BODY[]) of every message of the selected mailbox."""
    status, data = client.uid("FETCH", "1:*", "(EMAILID THREADID BODY.PEEK[])")
    assert status == "OK", data
    out: dict[int, tuple[str, str, bytes]] = {}
    for item in data:
        if not isinstance(item, tuple):
            continue
        head = item[0].decode()
        uid = int(re.search(r"UID (\d+)", head).group(1))  # type: ignore[union-attr]
        emailid = re.search(r"EMAILID \(([^)]+)\)", head).group(1)  # type: ignore[union-attr]
        threadid = re.search(r"THREADID \(([^)]+)\)", head).group(1)  # type: ignore[union-attr]
        out[uid] = (emailid, threadid, item[1])
    return out


def basic() -> dict[str, str]:
    token = base64.b64encode(f"{ALICE}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def call(env: WebEnv, name: str, arguments: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    body = json.dumps({"using": [CORE, MAIL], "methodCalls": [[name, arguments, "c"]]}).encode()
    response = env.request(
        "POST", "/jmap/api", tls=True, body=body, headers={**basic(), "Content-Type": "application/json"}
    )
    assert response.status == 200, response.body
    [[answered, result, _]] = json.loads(response.body)["methodResponses"]
    return answered, result


def ok(env: WebEnv, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    answered, result = call(env, name, arguments)
    assert answered == name, result
    return result


def error(env: WebEnv, name: str, arguments: dict[str, Any]) -> str:
    answered, result = call(env, name, arguments)
    assert answered == "error", result
    return str(result["type"])


def account(env: WebEnv) -> str:
    session = json.loads(env.get("/.well-known/jmap", tls=True, headers=basic()).body)
    return str(session["primaryAccounts"][CORE])


def state(env: WebEnv) -> str:
    return str(ok(env, "Email/get", {"accountId": account(env), "ids": []})["state"])


def download(env: WebEnv, blob: str, name: str, accept: str = "application/octet-stream") -> Any:
    path = f"/jmap/download/{account(env)}/{blob}/{name}?accept={accept}"
    return env.get(path, tls=True, headers=basic())


def test_emails_are_imaps_messages_and_download_their_octets(env: WebEnv) -> None:
    aid = account(env)
    start = state(env)
    first = _message("Trip", "<trip@example.net>")
    reply = _message("Re: Trip", "<re.trip@example.net>", reply_to="<trip@example.net>")
    deliver(env, first)
    deliver(env, reply)
    client = imap(env)
    try:
        status, data = client.status("INBOX", "(MAILBOXID)")
        assert status == "OK", data
        mailboxid = re.search(rb"MAILBOXID \(([^)]+)\)", data[0]).group(1).decode()  # type: ignore[union-attr]
        client.select("INBOX")
        fetched = imap_messages(client)
    finally:
        client.logout()
    (first_id, thread, first_octets), (reply_id, reply_thread, _) = fetched[1], fetched[2]
    assert first_octets.endswith(first)  # after the Received field LMTP adds
    assert reply_thread == thread  # one conversation

    changes = ok(env, "Email/changes", {"accountId": aid, "sinceState": start})
    assert (changes["created"], changes["updated"], changes["destroyed"]) == ([first_id, reply_id], [], [])
    assert changes["hasMoreChanges"] is False
    assert changes["oldState"] == start
    assert changes["newState"] == state(env)

    got = ok(
        env,
        "Email/get",
        {"accountId": aid, "ids": [first_id, "M999999", "nope"], "fetchTextBodyValues": True},
    )
    assert got["notFound"] == ["M999999", "nope"]
    [mail] = got["list"]
    assert mail["id"] == first_id
    assert mail["threadId"] == thread
    assert mail["mailboxIds"] == {mailboxid: True}
    assert mail["keywords"] == {}  # delivered unseen; \Recent is not a keyword
    assert mail["size"] == len(first_octets)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", mail["receivedAt"])
    assert mail["subject"] == "Trip"
    assert mail["from"] == [{"name": "Bob", "email": "bob@example.net"}]
    assert mail["messageId"] == ["trip@example.net"]
    assert mail["sentAt"] == "2026-12-07T10:00:00Z"
    assert mail["hasAttachment"] is True
    assert mail["preview"].startswith("Hello été there.")
    [text] = mail["textBody"]
    assert mail["bodyValues"] == {
        text["partId"]: {"value": "Hello été there.", "isEncodingProblem": False, "isTruncated": False}
    }
    [attachment] = mail["attachments"]
    assert (attachment["name"], attachment["type"], attachment["size"]) == (
        "data.bin",
        "application/octet-stream",
        len(ATTACHMENT),
    )

    # The whole message: IMAP's BODY[] octets, with the headers RFC 8620 section 6.2 asks for.
    whole = download(env, mail["blobId"], "trip.eml", "message/rfc822")
    assert whole.status == 200
    assert whole.body == first_octets
    assert whole.headers["Content-Type"] == "message/rfc822"
    assert whole.headers["Content-Length"] == str(len(first_octets))
    assert whole.headers["Content-Disposition"] == 'attachment; filename="trip.eml"'
    assert whole.headers["Cache-Control"] == "private, immutable, max-age=31536000"
    # One part, decoded from its base64; a name outside ASCII in both forms (RFC 6266).
    text_part = download(env, text["blobId"], "t.txt", "text/plain")
    assert text_part.headers["Content-Type"] == "text/plain"  # as asked: no charset added
    # Quoted-printable undone; the CRLF before the boundary is the boundary's (RFC 2046 §5.1.1).
    assert text_part.body == "Hello été there.".encode()
    part = download(env, attachment["blobId"], "d%C3%A4ta.bin")
    assert part.status == 200
    assert part.body == ATTACHMENT
    assert part.headers["Content-Type"] == "application/octet-stream"
    assert part.headers["Content-Disposition"] == (
        "attachment; filename=\"d_ta.bin\"; filename*=UTF-8''d%C3%A4ta.bin"
    )
    assert (
        download(env, attachment["blobId"], "x", "text/html%0d%0aX-Bad:%201").headers["Content-Type"]
        == "application/octet-stream"
    )  # not a media type: never a header the client writes
    # Not held by the account, not a blob id, another account, a multipart: 404.
    for blob, who in (
        ("G" + "0" * 64, aid),
        ("M1", aid),
        (mail["blobId"], "A999"),
        (mail["blobId"] + "-9", aid),
    ):
        missing = env.get(f"/jmap/download/{who}/{blob}/x", tls=True, headers=basic())
        assert missing.status == 404, blob
    assert env.get(f"/jmap/download/{aid}/{mail['blobId']}/x", tls=True).status == 401

    # Thread/get: the conversation, oldest first; Thread/changes: created since the start.
    threads = ok(env, "Thread/get", {"accountId": aid, "ids": [thread, "T999999"]})
    assert threads["list"] == [{"id": thread, "emailIds": [first_id, reply_id]}]
    assert threads["notFound"] == ["T999999"]
    thread_changes = ok(env, "Thread/changes", {"accountId": aid, "sinceState": start})
    assert (thread_changes["created"], thread_changes["updated"], thread_changes["destroyed"]) == (
        [thread],
        [],
        [],
    )

    # A flag set over IMAP: an update, shown as keywords; an expunge: a destroy.
    before = state(env)
    client = imap(env)
    try:
        client.select("INBOX")
        assert client.uid("STORE", "1", "+FLAGS", r"(\Flagged \Seen $Work)")[0] == "OK"
    finally:
        client.logout()
    changes = ok(env, "Email/changes", {"accountId": aid, "sinceState": before})
    assert (changes["created"], changes["updated"], changes["destroyed"]) == ([], [first_id], [])
    [flagged] = ok(env, "Email/get", {"accountId": aid, "ids": [first_id], "properties": ["keywords"]})[
        "list"
    ]
    assert flagged == {"id": first_id, "keywords": {"$flagged": True, "$seen": True, "$work": True}}
    assert ok(env, "Thread/changes", {"accountId": aid, "sinceState": before})["updated"] == []

    before = state(env)
    client = imap(env)
    try:
        client.select("INBOX")
        assert client.uid("STORE", "2", "+FLAGS", r"(\Deleted)")[0] == "OK"
        assert client.expunge()[0] == "OK"
    finally:
        client.logout()
    changes = ok(env, "Email/changes", {"accountId": aid, "sinceState": before})
    assert changes["destroyed"] == [reply_id]
    assert changes["created"] == []
    thread_changes = ok(env, "Thread/changes", {"accountId": aid, "sinceState": before})
    assert (thread_changes["created"], thread_changes["updated"], thread_changes["destroyed"]) == (
        [],
        [thread],
        [],
    )
    assert ok(env, "Thread/get", {"accountId": aid, "ids": [thread]})["list"] == [
        {"id": thread, "emailIds": [first_id]}
    ]
    assert ok(env, "Email/get", {"accountId": aid, "ids": [reply_id]})["notFound"] == [reply_id]


def _cookies(headers: Any) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for line in headers.get_all("Set-Cookie") or []:
        jar.load(line)
    return {name: morsel.value for name, morsel in jar.items()}


def test_the_webmails_cookie_downloads_without_a_csrf_token(env: WebEnv) -> None:
    aid = account(env)
    start = state(env)
    deliver(env, _message("Cookie", "<cookie@example.net>"))
    [emailid] = ok(env, "Email/changes", {"accountId": aid, "sinceState": start})["created"]
    [mail] = ok(env, "Email/get", {"accountId": aid, "ids": [emailid], "properties": ["blobId"]})["list"]
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
    cookie = {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())}
    got = env.get(f"/jmap/download/{aid}/{mail['blobId']}/m.eml", tls=True, headers=cookie)
    assert got.status == 200, got.body
    assert got.body.endswith(_message("Cookie", "<cookie@example.net>"))


def test_large_blobs_download_in_pieces(env: WebEnv) -> None:
    big = bytes(range(256)) * 3000  # 768,000 octets: several of the route's pieces
    encoded = base64.encodebytes(big).decode().replace("\n", "\r\n")
    data = (
        f"From: bob@example.net\r\nTo: {ALICE}\r\nSubject: big\r\nMessage-ID: <big@example.net>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}"
    ).encode()
    aid = account(env)
    start = state(env)
    deliver(env, data)
    [emailid] = ok(env, "Email/changes", {"accountId": aid, "sinceState": start})["created"]
    [mail] = ok(
        env, "Email/get", {"accountId": aid, "ids": [emailid], "properties": ["blobId", "bodyStructure"]}
    )["list"]
    whole = download(env, mail["blobId"], "big.eml")
    assert whole.status == 200
    assert whole.body.endswith(data)
    assert int(whole.headers["Content-Length"]) == len(whole.body)
    body = mail["bodyStructure"]
    assert body["partId"] == "1"
    part = download(env, body["blobId"], "big.bin")
    assert part.body == big
    assert part.headers["Content-Length"] == str(len(big))


def test_a_thread_is_whole_with_emails_not_threaded_yet(env: WebEnv) -> None:
    aid = account(env)
    start = state(env)
    deliver(env, _message("Plan", "<plan@example.net>"))
    [first] = ok(env, "Email/changes", {"accountId": aid, "sinceState": start})["created"]
    [mail] = ok(env, "Email/get", {"accountId": aid, "ids": [first], "properties": ["threadId"]})["list"]
    middle = state(env)
    # The reply waits for the indexer (there is none here) when Thread/get asks for the thread.
    deliver(env, _message("Re: Plan", "<re.plan@example.net>", reply_to="<plan@example.net>"))
    [reply] = ok(env, "Email/changes", {"accountId": aid, "sinceState": middle})["created"]
    threads = ok(env, "Thread/get", {"accountId": aid, "ids": [mail["threadId"]]})
    assert threads["list"] == [{"id": mail["threadId"], "emailIds": [first, reply]}]
    assert threads["state"] == state(env)


def test_corpus_attachments_by_name_and_octets(env: WebEnv) -> None:
    raw = (CORPUS / "rfc2231_attachments.eml").read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    aid = account(env)
    start = state(env)
    deliver(env, raw)
    [emailid] = ok(env, "Email/changes", {"accountId": aid, "sinceState": start})["created"]
    [mail] = ok(env, "Email/get", {"accountId": aid, "ids": [emailid], "properties": ["attachments"]})["list"]
    names = [part["name"] for part in mail["attachments"]]
    # RFC 2231 continuations and charsets, RFC 2047 in a Content-Type name: decoded.
    assert names == ["Отчёт за март.pdf", "résumé.txt", "very long file name split across three lines.bin"]
    # Each attachment downloads as the stdlib's decoding of that part.
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    expected = [part.get_payload(decode=True) for part in parsed.iter_attachments()]
    for part, octets in zip(mail["attachments"], expected, strict=True):
        got = download(env, part["blobId"], "a")
        assert got.status == 200
        assert got.body == octets, part["name"]
        assert part["size"] == len(octets)


def test_changes_come_in_pages(env: WebEnv) -> None:
    aid = account(env)
    start = state(env)
    deliver(env, *(_message(f"page {n}", f"<page{n}@example.net>") for n in range(5)))
    seen: list[str] = []
    since = start
    pages = 0
    while True:
        page = ok(env, "Email/changes", {"accountId": aid, "sinceState": since, "maxChanges": 100})
        assert len(page["created"]) <= MAX_CHANGES  # the server's bound wins over a larger maxChanges
        seen += page["created"]
        pages += 1
        since = page["newState"]
        if not page["hasMoreChanges"]:
            break
    assert pages == 2
    assert len(seen) == len(set(seen)) == 5
    assert since == state(env)
    small = ok(env, "Email/changes", {"accountId": aid, "sinceState": start, "maxChanges": 2})
    assert len(small["created"]) == 2
    assert small["hasMoreChanges"] is True
    threads = ok(env, "Thread/changes", {"accountId": aid, "sinceState": start, "maxChanges": 2})
    assert len(threads["created"]) == 2
    assert threads["hasMoreChanges"] is True
    assert threads["newState"] == small["newState"]


def test_errors(env: WebEnv) -> None:
    aid = account(env)
    assert (
        error(env, "Email/changes", {"accountId": aid, "sinceState": "garbage"}) == "cannotCalculateChanges"
    )
    assert (
        error(env, "Thread/changes", {"accountId": aid, "sinceState": "99999999"}) == "cannotCalculateChanges"
    )
    assert (
        error(env, "Email/changes", {"accountId": aid, "sinceState": "1", "maxChanges": 0})
        == "invalidArguments"
    )
    ids = [f"M{n}" for n in range(1, 502)]  # maxObjectsInGet is 500
    assert error(env, "Email/get", {"accountId": aid, "ids": ids}) == "requestTooLarge"
    assert error(env, "Email/get", {"accountId": aid, "ids": None}) == "requestTooLarge"
    assert (
        error(env, "Email/get", {"accountId": aid, "ids": [], "properties": ["nope"]}) == "invalidArguments"
    )
    assert (
        error(env, "Thread/get", {"accountId": aid, "ids": [], "properties": ["subject"]})
        == "invalidArguments"
    )
    assert error(env, "Email/get", {"accountId": "A999", "ids": []}) == "accountNotFound"
    # The Session advertises Mail (RFC 8621 section 1.3.1), the account primary for it.
    session = json.loads(env.get("/.well-known/jmap", tls=True, headers=basic()).body)
    assert session["capabilities"][MAIL] == {}
    assert session["primaryAccounts"][MAIL] == aid


def test_jmapc_email_get(env: WebEnv) -> None:
    deliver(env, _message("For jmapc", "<jmapc@example.net>"))
    client = imap(env)
    try:
        client.select("INBOX")
        fetched = imap_messages(client)
    finally:
        client.logout()
    emailid = fetched[max(fetched)][0]
    jmap = Client.create_with_password(f"localhost:{env.port('https')}", ALICE, PASSWORD)
    jmap.requests_session.trust_env = False
    jmap.requests_session.verify = str(env.ca_file)
    answer = jmap.request(EmailGet(ids=[emailid], properties=["id", "subject", "from", "receivedAt"]))
    assert isinstance(answer, EmailGetResponse)
    [got] = answer.data
    assert got.id == emailid
    assert got.subject == "For jmapc"
    assert got.mail_from is not None
    assert got.mail_from[0].email == "bob@example.net"
    assert got.received_at is not None
    assert email.utils.format_datetime(got.received_at)
