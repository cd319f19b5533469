"""RFC 8621 section 4.2 Email/get and section 4.9 Email/parse as functions, over the RFC's example
and every message of the shared corpus."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jmap_mail_helpers import blob_id, crlf, get, leaf, message, multipart

from pochta.config import MimeSettings
from pochta.mime import parse_message
from pochta.proto.jmap.mail import (
    GET_DEFAULT,
    PARSE_DEFAULT,
    InvalidArguments,
    decoded_content,
    email_object,
    email_request,
    is_message,
    parse_email,
)
from pochta.proto.jmap.mail.properties import BODY_PART_PROPERTIES, EMAIL_PROPERTIES
from shared_dir import corpus_messages

CORPUS = corpus_messages()


def test_default_properties_are_the_rfcs() -> None:
    request = email_request()
    assert request.properties == GET_DEFAULT
    assert request.body_properties == (
        "partId", "blobId", "size", "name", "type", "charset", "disposition", "cid", "language", "location",
    )  # fmt: skip
    assert email_request(default=PARSE_DEFAULT).properties[0] == "messageId"
    email = get(crlf("From: a@example.com\nSubject: hi\n\nbody\n"))
    assert list(email) == list(GET_DEFAULT)
    assert email["id"] == "M1"
    assert email["threadId"] is None


@pytest.mark.parametrize(
    ("properties", "body_properties"),
    [(["nope"], None), (["subject", "Subject"], None), (None, ["partid"]), (None, ["header:From:asDate"]),
     ("subject", None), ([1], None)],
)  # fmt: skip
def test_unknown_properties_are_invalid_arguments(properties: object, body_properties: object) -> None:
    with pytest.raises(InvalidArguments):
        email_request(properties, body_properties)


@pytest.mark.parametrize(
    "flag", ["fetch_text_body_values", "fetch_html_body_values", "fetch_all_body_values"]
)
def test_fetch_flags_must_be_booleans(flag: str) -> None:
    with pytest.raises(InvalidArguments):
        email_request(**{flag: "yes"})


def test_the_email_get_example_of_the_rfc() -> None:
    """RFC 8621 section 4.2.1: htmlBody with the chosen body properties, bodyValues of the HTML
    body truncated to 256 octets, List-POST as URLs."""
    html = "<html><body><p>Hello " + "x" * 400 + "</p></body></html>"
    footer = "-- Sent by your friendly mailing list ..."
    data = message(
        multipart("mixed", leaf("text/html; charset=utf-8", html), leaf("text/plain", footer, "inline")),
        header="From: Joe Bloggs <joe@example.com>\nSubject: Dinner on Thursday?\n"
        "List-Post: <mailto:partytime@lists.example.com>\n",
    )
    email = get(
        data,
        [
            "threadId",
            "mailboxIds",
            "from",
            "subject",
            "receivedAt",
            "header:List-POST:asURLs",
            "htmlBody",
            "bodyValues",
        ],
        ["partId", "blobId", "size", "type"],
        fetch_html_body_values=True,
        max_body_value_bytes=256,
    )
    assert email["from"] == [{"name": "Joe Bloggs", "email": "joe@example.com"}]
    assert email["subject"] == "Dinner on Thursday?"
    assert email["header:List-POST:asURLs"] == ["mailto:partytime@lists.example.com"]
    assert email["htmlBody"] == [
        {"partId": "1", "blobId": "B-1", "size": len(html), "type": "text/html"},
        {"partId": "2", "blobId": "B-2", "size": len(footer), "type": "text/plain"},
    ]
    assert email["bodyValues"]["1"]["isTruncated"] is True
    assert email["bodyValues"]["1"]["value"] == html[:256]
    assert email["bodyValues"]["2"] == {"value": footer, "isEncodingProblem": False, "isTruncated": False}


def test_email_parse_of_an_attached_message() -> None:
    inner = crlf("From: inner@example.com\nSubject: =?utf-8?q?Inside?=\n\nthe inner body\n")
    outer = message(
        multipart("mixed", leaf("text/plain", "see attached"), leaf("message/rfc822", inner.decode()))
    )
    attachment = get(outer, ["attachments"])["attachments"][0]
    assert attachment["type"] == "message/rfc822"
    part = parse_message(outer, MimeSettings()).section((2,))
    assert part is not None
    blob = decoded_content(outer, part)
    request = email_request(default=PARSE_DEFAULT, fetch_text_body_values=True)
    email = parse_email(
        request, blob, MimeSettings(), blob_id=blob_id, metadata={"blobId": attachment["blobId"]}
    )
    assert email is not None
    assert email["subject"] == "Inside"
    assert email["from"] == [{"name": None, "email": "inner@example.com"}]
    assert email["bodyValues"]["1"]["value"] == "the inner body\n"
    with_meta = email_request(["id", "blobId", "mailboxIds", "subject"], default=PARSE_DEFAULT)
    parsed = parse_email(with_meta, blob, MimeSettings(), blob_id=blob_id, metadata={"blobId": "G1"})
    assert parsed == {"id": None, "blobId": "G1", "mailboxIds": None, "subject": "Inside"}


def test_a_blob_that_is_not_a_message_is_not_parsable() -> None:
    request = email_request(default=PARSE_DEFAULT)
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
    assert parse_email(request, png, MimeSettings(), blob_id=blob_id, metadata={}) is None
    assert not is_message(parse_message(b"", MimeSettings()))


EVERYTHING = email_request(
    [*EMAIL_PROPERTIES, "header:Subject:asText:all", "header:From:asGroupedAddresses", "header:X-X:asDate",
     "header:References:asMessageIds", "header:List-Post:asURLs:all", "header:Date:asDate:all"],
    [*BODY_PART_PROPERTIES, "header:Content-Type:asRaw", "header:Content-Description:asText"],
    fetch_all_body_values=True,
    max_body_value_bytes=100,
)  # fmt: skip


@pytest.mark.parametrize(("name", "data"), CORPUS, ids=[name for name, _ in CORPUS])
def test_every_corpus_message_gives_an_email(name: str, data: bytes) -> None:
    """Real-world and malformed messages: every property, no exception, JSON-serialisable, and
    the invariants of section 4.1.4 hold."""
    parsed = parse_message(data, MimeSettings())
    email = email_object(EVERYTHING, data, parsed, blob_id=blob_id, metadata={"id": "M1", "size": len(data)})
    json.dumps(email)
    assert set(email) == set(EVERYTHING.properties)
    assert len(email["preview"]) <= 256
    leaves = [p for p in _walk(email["bodyStructure"]) if p["partId"] is not None]
    ids = [p["partId"] for p in leaves]
    assert len(ids) == len(set(ids))
    for key in ("textBody", "htmlBody", "attachments"):
        assert all(part["partId"] in ids for part in email[key]), key
        assert all(not part["type"].startswith("multipart/") for part in email[key])
    for part_id, value in email["bodyValues"].items():
        assert part_id in ids
        assert len(value["value"].encode("utf-8")) <= 100
    for part in leaves:
        assert part["blobId"] == f"B-{part['partId']}"
        assert part["size"] >= 0


def _walk(part: dict[str, Any]) -> list[dict[str, Any]]:
    out, stack = [], [part]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(reversed(node.get("subParts") or []))
    return out


def test_corpus_is_there() -> None:
    assert len(CORPUS) > 90
