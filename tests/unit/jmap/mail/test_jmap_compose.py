"""RFC 8621 section 4.6: a message from an Email create, the create rules, and round trips through
pochta's parser and Python's ``email`` package (an independent reader)."""

from __future__ import annotations

import email
import email.policy
import itertools
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jmap_mail_helpers import get

from pochta.config import MimeSettings
from pochta.mime import parse_message
from pochta.proto.jmap.mail import Blob, BlobNotFound, InvalidProperties, compose_email

NOW = datetime(2026, 12, 7, 19, 0, tzinfo=UTC)
BLOBS = {
    "Gpng": Blob(b"\x89PNG\r\n\x1a\n\x00\x00binary", "image/png"),
    "Gtxt": Blob(b"plain ascii text\r\nsecond line\r\n", "text/plain"),
    "Gmsg": Blob(b"From: x@example.com\r\nSubject: attached\r\n\r\nbody\r\n", "message/rfc822"),
}


def compose(create: dict[str, Any]) -> bytes:
    counter = itertools.count()
    return compose_email(
        create, blobs=BLOBS.get, hostname="mail.example.com", now=NOW, token=lambda: f"tok{next(counter):04d}"
    )


def invalid(create: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidProperties) as caught:
        compose(create)
    return caught.value.properties


def check_lines(data: bytes) -> None:
    """CRLF only, and every line within RFC 5322 §2.1.1's 998 octets."""
    assert data.count(b"\n") == data.count(b"\r\n")
    assert data.count(b"\r") == data.count(b"\r\n")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998


# RFC 8621 section 4.10: the draft the client saves.
RFC_DRAFT: dict[str, Any] = {
    "mailboxIds": {"2ea1ca41b38e": True},
    "keywords": {"$seen": True, "$draft": True},
    "from": [{"name": "Joe Bloggs", "email": "joe@example.com"}],
    "to": [{"name": "John", "email": "john@example.com"}],
    "subject": "World domination",
    "receivedAt": "2018-07-10T01:05:08Z",
    "sentAt": "2018-07-10T11:05:08+10:00",
    "bodyStructure": {
        "type": "multipart/alternative",
        "subParts": [{"partId": "49db", "type": "text/html"}, {"partId": "bd48", "type": "text/plain"}],
    },
    "bodyValues": {
        "bd48": {
            "value": "I have the most brilliant plan. Let me tell you all about it. What we do is, we",
            "isTruncated": False,
        },
        "49db": {
            "value": '<!DOCTYPE html><html><head><title></title><style type="text/css">div{font-size:16px}'
            "</style></head><body><div>I have the most brilliant plan. Let me tell you all about it. "
            "What we do is, we</div></body></html>",
            "isTruncated": False,
        },
    },
}


def test_the_draft_of_the_rfc() -> None:
    data = compose(RFC_DRAFT)
    check_lines(data)
    got = get(
        data,
        [
            "from",
            "to",
            "subject",
            "sentAt",
            "messageId",
            "bodyStructure",
            "bodyValues",
            "textBody",
            "htmlBody",
        ],
        ["partId", "type", "charset"],
        fetch_all_body_values=True,
    )
    assert got["from"] == RFC_DRAFT["from"]
    assert got["to"] == RFC_DRAFT["to"]
    assert got["subject"] == "World domination"
    assert got["sentAt"] == "2018-07-10T11:05:08+10:00"
    assert got["messageId"] == ["20261207190000.tok0000@mail.example.com"]
    structure = got["bodyStructure"]
    assert structure["type"] == "multipart/alternative"
    assert [p["type"] for p in structure["subParts"]] == ["text/html", "text/plain"]
    assert got["bodyValues"]["1"]["value"] == RFC_DRAFT["bodyValues"]["49db"]["value"]
    assert got["bodyValues"]["2"]["value"] == RFC_DRAFT["bodyValues"]["bd48"]["value"]
    assert [p["partId"] for p in got["textBody"]] == ["2"]
    assert [p["partId"] for p in got["htmlBody"]] == ["1"]
    assert b"\r\nMIME-Version: 1.0\r\n" in data
    assert b"\r\nDate: Tue, 10 Jul 2018 11:05:08 +1000\r\n" in data


def test_date_and_message_id_are_generated_once() -> None:
    data = compose({"subject": "x", "textBody": [{"partId": "t"}], "bodyValues": {"t": {"value": "hi"}}})
    assert data.count(b"\r\nDate: ") + data.startswith(b"Date: ") == 1
    assert b"Date: Mon, 07 Dec 2026 19:00:00 +0000\r\n" in data
    assert b"Message-ID: <20261207190000.tok0000@mail.example.com>\r\n" in data
    given = compose({"messageId": ["own@example.com"], "header:Date:asDate": "2020-01-01T00:00:00Z"})
    assert given.count(b"Message-ID:") == 1
    assert b"Message-ID: <own@example.com>\r\n" in given
    assert given.count(b"Date:") == 1


def test_lists_become_alternative_related_and_mixed_and_come_back() -> None:
    create = {
        "textBody": [{"partId": "t"}],
        "htmlBody": [{"partId": "h"}],
        "attachments": [
            {"blobId": "Gpng", "cid": "logo@example.com", "disposition": "inline"},
            {"blobId": "Gtxt", "name": "notes.txt", "disposition": "attachment"},
            {"blobId": "Gmsg"},
        ],
        "bodyValues": {
            "t": {"value": "plain\n"},
            "h": {"value": '<p>html <img src="cid:logo@example.com"></p>'},
        },
    }
    data = compose(create)
    check_lines(data)
    got = get(
        data, ["bodyStructure", "textBody", "htmlBody", "attachments"], ["partId", "type", "name", "cid"]
    )
    assert got["bodyStructure"]["type"] == "multipart/mixed"
    assert [p["type"] for p in got["bodyStructure"]["subParts"]] == [
        "multipart/alternative", "text/plain", "message/rfc822",
    ]  # fmt: skip
    assert [p["type"] for p in got["textBody"]] == ["text/plain"]
    assert [p["type"] for p in got["htmlBody"]] == ["text/html"]
    assert [(p["type"], p["name"], p["cid"]) for p in got["attachments"]] == [
        ("image/png", None, "logo@example.com"),
        ("text/plain", "notes.txt", None),
        ("message/rfc822", None, None),
    ]
    parsed = parse_message(data, MimeSettings())
    assert parsed.section((1, 2, 2)) is not None  # the image sits in the multipart/related
    message_part = parsed.section((3,))
    assert message_part is not None
    assert message_part.encoding == "7bit"  # RFC 2046 §5.2.1: a message is not encoded
    assert message_part.message is not None


def test_attachment_octets_survive() -> None:
    data = compose(
        {"attachments": [{"blobId": "Gpng"}, {"blobId": "Gtxt", "type": "text/x-notes", "charset": "utf-8"}]}
    )
    reader = email.message_from_bytes(data, policy=email.policy.default)
    payloads = [part.get_payload(decode=True) for part in reader.walk() if not part.is_multipart()]
    assert payloads == [BLOBS["Gpng"].data, BLOBS["Gtxt"].data]
    got = get(data, ["attachments"], ["type", "charset", "size"])["attachments"]
    assert got == [
        {"type": "image/png", "charset": None, "size": len(BLOBS["Gpng"].data)},
        {"type": "text/x-notes", "charset": "utf-8", "size": len(BLOBS["Gtxt"].data)},
    ]


def test_header_forms_are_written_back() -> None:
    create = {
        "header:X-Text:asText": "Ünïcødé and =?fake?q?word?= kept",
        "header:X-Raw": " raw value\r\n folded",
        "header:Resent-To:asGroupedAddresses": [
            {"name": "Team, Inc.", "addresses": [{"name": 'Ann "A" O\'Neil', "email": "ann@example.com"}]},
            {"name": None, "addresses": [{"name": None, "email": "bob@example.com"}]},
        ],
        "header:List-Post:asURLs": ["mailto:list@example.com", "https://example.com/post"],
        "header:References:asMessageIds": ["a@example.com", "b@example.com"],
        "header:X-Seen:asText:all": ["one", "two"],
        "replyTo": [{"name": "Zoë", "email": "zoe@example.com"}],
    }
    data = compose(create)
    check_lines(data)
    got = get(data, [*create, "header:X-Raw"])
    for key, value in create.items():
        assert got[key] == value, key


def test_long_and_non_ascii_values_are_folded_within_the_limits() -> None:
    subject = "Ω " * 300 + "x" * 2000
    create = {
        "subject": subject,
        "to": [{"name": "n" * 50, "email": f"user{i}@example.com"} for i in range(100)],
    }
    data = compose(create)
    check_lines(data)
    assert max(len(line) for line in data.split(b"\r\n")[:-3]) <= 78
    got = get(data, ["subject", "to"])
    assert got["subject"] == subject.rstrip()
    assert got["to"] == create["to"]


def test_no_header_injection() -> None:
    data = compose({"subject": "hi\r\nBcc: victim@example.com", "header:X-A:asText": "a\nb"})
    assert b"\r\nBcc:" not in data
    assert get(data, ["subject"])["subject"] == "hi  Bcc: victim@example.com"
    assert invalid({"header:X-Raw": "a\r\nBcc: victim@example.com"}) == ["header:X-Raw"]


def test_text_bodies_take_a_fitting_encoding() -> None:
    def encoding_of(value: str) -> str:
        data = compose({"textBody": [{"partId": "t"}], "bodyValues": {"t": {"value": value}}})
        check_lines(data)
        assert get(data, ["bodyValues"], fetch_all_body_values=True)["bodyValues"]["1"]["value"] == value
        found = re.search(rb"Content-Transfer-Encoding: (\S+)", data)
        assert found is not None
        return found.group(1).decode()

    assert encoding_of("plain ascii\nlines\n") == "7bit"
    assert encoding_of("x" * 2000) == "quoted-printable"  # a line past 998
    assert encoding_of("café au lait\n") == "quoted-printable"
    assert encoding_of("日本語のテキストです。\n" * 3) == "base64"
    assert encoding_of("") == "7bit"


@pytest.mark.parametrize(
    ("create", "properties"),
    [
        ({"headers": []}, ["headers"]),
        ({"id": "M1", "size": 3, "threadId": "T1", "blobId": "G"}, ["blobId", "id", "size", "threadId"]),
        ({"from": [{"email": "a@b"}], "header:From:asAddresses": []}, ["from", "header:From:asAddresses"]),
        ({"header:from": " a@b", "header:FROM:asRaw": " c@d"}, ["header:FROM:asRaw", "header:from"]),
        ({"header:From:asDate": "2020-01-01T00:00:00Z"}, ["header:From:asDate"]),
        ({"header:Content-Type": " text/plain"}, ["header:Content-Type"]),
        (
            {"bodyStructure": {"partId": "a"}, "textBody": [], "bodyValues": {"a": {"value": ""}}},
            ["textBody"],
        ),
        ({"textBody": [{"partId": "a"}, {"partId": "b"}], "bodyValues": {}}, ["textBody"]),
        (
            {"textBody": [{"partId": "a", "type": "text/html"}], "bodyValues": {"a": {"value": ""}}},
            ["textBody/0/type"],
        ),
        (
            {
                "htmlBody": [{"partId": "a", "type": "text/plain"}],
                "bodyValues": {"a": {"value": ""}},
                "sentAt": "x",
            },
            ["htmlBody/0/type", "sentAt"],
        ),
        (
            {"textBody": [{"partId": "a", "blobId": "Gtxt"}], "bodyValues": {"a": {"value": ""}}},
            ["textBody/0/blobId", "textBody/0/partId"],
        ),
        ({"textBody": [{"type": "text/plain"}]}, ["textBody/0/blobId", "textBody/0/partId"]),
        ({"textBody": [{"partId": "missing"}]}, ["textBody/0/partId"]),
        (
            {
                "textBody": [{"partId": "a", "charset": "utf-8", "size": 3}],
                "bodyValues": {"a": {"value": ""}},
            },
            ["textBody/0/charset", "textBody/0/size"],
        ),
        (
            {"attachments": [{"blobId": "Gpng", "header:Content-Transfer-Encoding": " base64"}]},
            ["attachments/0/header:Content-Transfer-Encoding"],
        ),
        ({"attachments": [{"blobId": "Gpng", "headers": []}]}, ["attachments/0/headers"]),
        (
            {"attachments": [{"blobId": "Gpng", "type": "image/gif", "header:Content-Type": " image/gif"}]},
            ["attachments/0/type"],
        ),
        (
            {"textBody": [{"partId": "a"}], "bodyValues": {"a": {"value": "x", "isTruncated": True}}},
            ["bodyValues/a/isTruncated"],
        ),
        (
            {"textBody": [{"partId": "a"}], "bodyValues": {"a": {"value": "x", "isEncodingProblem": True}}},
            ["bodyValues/a/isEncodingProblem"],
        ),
        (
            {
                "subject": "x",
                "bodyStructure": {"partId": "a", "header:Subject": " y"},
                "bodyValues": {"a": {"value": ""}},
            },
            ["bodyStructure/header:Subject", "subject"],
        ),
        ({"bodyStructure": {"type": "multipart/mixed", "subParts": []}}, ["bodyStructure/subParts"]),
        (
            {"bodyStructure": {"type": "text/plain", "subParts": [{"blobId": "Gtxt"}]}},
            ["bodyStructure/subParts"],
        ),
        (
            {"bodyStructure": {"type": "multipart/mixed", "partId": "a", "subParts": [{"blobId": "Gtxt"}]}},
            ["bodyStructure/partId"],
        ),
        (
            {"bodyStructure": {"type": "multipart/mixed", "subParts": [{"blobId": "Gtxt", "nonsense": 1}]}},
            ["bodyStructure/subParts/0/nonsense"],
        ),
        ({"messageId": ["no at sign"]}, ["messageId"]),
        ({"to": [{"name": "x"}]}, ["to"]),
        ({"to": [{"email": "a@b\r\nBcc: c@d"}]}, ["to"]),
        ({"header:X-All:all": "not a list"}, ["header:X-All:all"]),
        ({"preview": "x", "hasAttachment": True}, ["hasAttachment", "preview"]),
        ({"nonsense": 1}, ["nonsense"]),
    ],
)
def test_create_rules_of_the_rfc(create: dict[str, Any], properties: list[str]) -> None:
    assert invalid(create) == properties


def test_blob_not_found_lists_every_missing_blob() -> None:
    with pytest.raises(BlobNotFound) as caught:
        compose({"attachments": [{"blobId": "Gnope"}, {"blobId": "Gpng"}, {"blobId": "Galso"}]})
    assert caught.value.not_found == ["Galso", "Gnope"]
    with pytest.raises(InvalidProperties):  # invalid properties are reported first
        compose({"attachments": [{"blobId": "Gnope"}], "nonsense": 1})


def test_deeply_nested_body_structure_does_not_recurse() -> None:
    structure: dict[str, Any] = {"blobId": "Gtxt"}
    for _ in range(1200):
        structure = {"type": "multipart/mixed", "subParts": [structure]}
    data = compose({"bodyStructure": structure})
    parsed = parse_message(data, MimeSettings(max_depth=2000, max_parts=2000))
    assert "depth_limit" not in parsed.defects
    leaf = parsed.section((1,) * 1200)
    assert leaf is not None
    assert leaf.media_type == "text/plain"


# -- round trips ------------------------------------------------------------------------------
_NAME_CHARS = st.characters(
    min_codepoint=0x20, max_codepoint=0x2FFF, exclude_categories=("Cs", "Cc", "Zl", "Zp")
)
names = st.text(_NAME_CHARS, min_size=1, max_size=40).map(lambda s: " ".join(s.split())).filter(bool)
# NFC: the Text form normalises (RFC 8621 section 4.1.2.2), so a round trip holds for NFC text.
texts = names.map(lambda s: __import__("unicodedata").normalize("NFC", s))
locals_ = st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,15}", fullmatch=True).filter(
    lambda s: ".." not in s and not s.endswith(".")
)
domains = st.from_regex(r"[a-z0-9]{1,10}(\.[a-z0-9]{1,10}){1,2}", fullmatch=True)
addresses = st.lists(
    st.builds(lambda n, local, d: {"name": n, "email": f"{local}@{d}"}, st.none() | texts, locals_, domains),
    min_size=1,
    max_size=4,
)
bodies = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\r"), max_size=300)


def _spaceless(name: str | None) -> str | None:
    return name if name is None or name.isascii() else "".join(name.split())


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    sender=addresses,
    to=addresses,
    subject=texts,
    text=bodies,
    html=st.none() | bodies,
    attach=st.lists(st.binary(max_size=200), max_size=3),
)
def test_round_trip_through_both_parsers(
    sender: list[dict[str, Any]], to: list[dict[str, Any]], subject: str, text: str, html: str | None,
    attach: list[bytes],
) -> None:  # fmt: skip
    blobs = {f"G{i}": Blob(data, "application/octet-stream") for i, data in enumerate(attach)}
    create: dict[str, Any] = {
        "from": sender,
        "to": to,
        "subject": subject,
        "textBody": [{"partId": "t"}],
        "bodyValues": {"t": {"value": text}},
        "attachments": [
            {"blobId": key, "name": f"file{key}.bin", "disposition": "attachment"} for key in blobs
        ],
    }
    if html is not None:
        create["htmlBody"] = [{"partId": "h"}]
        create["bodyValues"]["h"] = {"value": html}
    data = compose_email(create, blobs=blobs.get, hostname="h.example", now=NOW)
    check_lines(data)
    # pochta's parser, through the Email object.
    got = get(data, ["from", "to", "subject", "textBody", "htmlBody", "attachments", "bodyValues"],
              fetch_all_body_values=True)  # fmt: skip
    assert got["from"] == sender
    assert got["to"] == to
    assert got["subject"] == subject
    values = got["bodyValues"]
    assert values[got["textBody"][0]["partId"]]["value"] == text
    if html is not None:
        assert values[got["htmlBody"][0]["partId"]]["value"] == html
    assert [a["name"] for a in got["attachments"]] == [f"file{key}.bin" for key in blobs]
    assert [a["size"] for a in got["attachments"]] == [len(b.data) for b in blobs.values()]
    # Python's email package, an independent reader.
    reader = email.message_from_bytes(data, policy=email.policy.default)
    assert str(reader["subject"]) == subject
    # Python's address parser keeps the white space between two encoded words of a display name
    # (RFC 2047 §6.2 says it is not shown; its unstructured fields drop it): names that needed
    # several words are compared without white space.
    read_to = [(_spaceless(a.display_name) or None, a.addr_spec) for a in reader["to"].addresses]
    assert read_to == [(_spaceless(a["name"]), a["email"]) for a in to]
    plain = reader.get_body(("plain",))
    assert plain is not None
    assert plain.get_content().replace("\r\n", "\n") == text.replace("\r\n", "\n")
    found = [(part.get_filename(), part.get_payload(decode=True)) for part in reader.iter_attachments()]
    assert found == [(f"file{key}.bin", blob.data) for key, blob in blobs.items()]


def test_header_fields_of_the_root_part_are_the_messages() -> None:
    create = {
        "bodyStructure": {
            "partId": "a",
            "header:Date:asDate": "2001-02-03T04:05:06-07:00",
            "header:X-Root": " r",
        },
        "bodyValues": {"a": {"value": "x"}},
    }
    data = compose(create)
    assert data.count(b"Date:") == 1
    assert get(data, ["sentAt", "header:X-Root"]) == {
        "sentAt": "2001-02-03T04:05:06-07:00",
        "header:X-Root": " r",
    }


def test_addresses_of_drafts_and_quoted_local_parts() -> None:
    to = [{"name": None, "email": '"john doe"@example.com'}, {"name": "Half", "email": "typed-so-far"}]
    assert get(compose({"to": to}), ["to"])["to"] == to
    assert invalid({"to": [{"name": None, "email": "a, b@example.com"}]}) == ["to"]
