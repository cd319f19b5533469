"""RFC 8621 section 4.1.4: EmailBodyPart, bodyStructure, the textBody/htmlBody/attachments split,
hasAttachment, preview and bodyValues."""

from __future__ import annotations

import pytest
from jmap_mail_helpers import crlf, get, leaf, message, multipart

from pochta.config import MimeSettings
from pochta.mime import parse_message
from pochta.proto.jmap.mail.body import BodyPart, body_structure, split_body
from pochta.proto.jmap.mail.body_values import truncate


def _names(parts: list[dict[str, object]]) -> list[object]:
    return [part["name"] for part in parts]


def _named(content_type: str, label: str, disposition: str | None = None) -> str:
    # Each part carries its letter as its file name... except that a name would change the
    # algorithm for text parts, so the letter goes in a Content-Description-like field instead.
    return leaf(content_type, label, disposition, extra=f"X-Label: {label}\n")


def test_the_list_manager_example_of_the_rfc() -> None:
    """The decomposition RFC 8621 section 4.1.4 gives for its list-software example."""
    entity = multipart(
        "mixed",
        _named("text/plain", "A", "inline"),
        multipart(
            "mixed",
            multipart(
                "alternative",
                multipart(
                    "mixed",
                    _named("text/plain", "B", "inline"),
                    _named("image/jpeg", "C", "inline"),
                    _named("text/plain", "D", "inline"),
                ),
                multipart("related", _named("text/html", "E"), _named("image/jpeg", "F")),
            ),
            _named("image/jpeg", "G", "attachment"),
            _named("application/x-excel", "H"),
            leaf("message/rfc822", "Subject: J\n\nbody", extra="X-Label: J\n"),
        ),
        _named("text/plain", "K", "inline"),
    )
    email = get(
        message(entity),
        ["textBody", "htmlBody", "attachments", "hasAttachment"],
        ["header:X-Label:asText"],
    )

    def labels(key: str) -> list[object]:
        return [part["header:X-Label:asText"] for part in email[key]]

    assert labels("textBody") == ["A", "B", "C", "D", "K"]
    assert labels("htmlBody") == ["A", "E", "K"]
    assert labels("attachments") == ["C", "F", "G", "H", "J"]
    assert email["hasAttachment"] is True


def test_part_ids_are_imap_section_numbers_and_multiparts_have_none() -> None:
    entity = multipart(
        "mixed", leaf("text/plain", "a"), multipart("alternative", leaf("text/plain"), leaf("text/html"))
    )
    structure = get(message(entity), ["bodyStructure"], ["partId", "blobId", "type"])["bodyStructure"]
    assert structure["partId"] is None
    assert structure["blobId"] is None
    assert [p["partId"] for p in structure["subParts"]] == ["1", None]
    assert [p["partId"] for p in structure["subParts"][1]["subParts"]] == ["2.1", "2.2"]
    assert structure["subParts"][1]["subParts"][1] == {
        "partId": "2.2",
        "blobId": "B-2.2",
        "type": "text/html",
    }
    single = get(crlf("Subject: x\n\nhello\n"), ["bodyStructure"])["bodyStructure"]
    assert single["partId"] == "1"
    assert single["type"] == "text/plain"
    assert single["charset"] == "us-ascii"


def test_body_part_properties() -> None:
    part = leaf(
        'application/pdf; name="=?utf-8?q?r=C3=A9sum=C3=A9?=.pdf"',
        "JVBERi0xLjQ=\n",
        "attachment; filename*=utf-8''r%C3%A9sum%C3%A9%20final.pdf",
        extra="Content-Transfer-Encoding: base64\nContent-ID: (comment) <part1@example.com>\n"
        "Content-Language: en, fr\nContent-Location: http://example.com/r.pdf\n",
    )
    attachments = get(message(multipart("mixed", leaf("text/plain"), part)), ["attachments"])["attachments"]
    assert attachments == [
        {
            "partId": "2",
            "blobId": "B-2",
            "size": 8,  # after base64 decoding
            "name": "résumé final.pdf",  # RFC 2231 filename over the Content-Type name
            "type": "application/pdf",
            "charset": None,  # Content-Type present, not text/*
            "disposition": "attachment",
            "cid": "part1@example.com",
            "language": ["en", "fr"],
            "location": "http://example.com/r.pdf",
        }
    ]


def test_charset_defaults() -> None:
    entity = multipart(
        "digest",
        "Subject: inner\n\nno content type: message/rfc822 in a digest\n",
        leaf("text/html", "<p>x</p>"),
    )
    parts = get(message(entity), ["bodyStructure"], ["type", "charset"])["bodyStructure"]["subParts"]
    assert parts == [
        {"type": "message/rfc822", "charset": "us-ascii"},
        {"type": "text/html", "charset": "us-ascii"},
    ]


def test_headers_and_header_properties_of_parts() -> None:
    entity = multipart("mixed", leaf("text/plain; charset=utf-8", "x", extra="X-Part: one\n"))
    structure = get(message(entity), ["bodyStructure"], ["headers", "header:X-Part:asText", "subParts"])[
        "bodyStructure"
    ]
    child = structure["subParts"][0]
    assert child["headers"] == [
        {"name": "Content-Type", "value": " text/plain; charset=utf-8"},
        {"name": "X-Part", "value": " one"},
    ]
    assert child["header:X-Part:asText"] == "one"
    assert child["subParts"] is None
    assert structure["headers"][0] == {"name": "From", "value": " a@example.com"}  # the root: the message's


def test_has_attachment_only_for_parts_not_inline() -> None:
    inline_image = multipart("related", leaf("text/html"), leaf("image/png", "x", "inline"))
    assert get(message(inline_image), ["hasAttachment"])["hasAttachment"] is False
    assert get(message(leaf("text/plain")), ["hasAttachment", "attachments"]) == {
        "hasAttachment": False,
        "attachments": [],
    }


def test_text_with_a_name_after_the_first_part_is_an_attachment() -> None:
    entity = multipart("mixed", leaf("text/plain", "body"), leaf('text/plain; name="notes.txt"', "file"))
    email = get(message(entity), ["textBody", "attachments"], ["partId"])
    assert email == {"textBody": [{"partId": "1"}], "attachments": [{"partId": "2"}]}


def test_deep_nesting_does_not_recurse() -> None:
    depth = 1500
    entity = leaf("text/plain", "deep")
    for level in range(depth):
        entity = multipart("mixed", entity, boundary=f"level{level}")
    data = message(entity)
    parsed = parse_message(data, MimeSettings(max_depth=depth + 10, max_parts=depth + 10))
    structure = body_structure(parsed.root)
    text, html, attachments = split_body(structure)
    assert [part.part_id for part in text] == [".".join(["1"] * depth)]
    assert html == text
    assert attachments == []


def test_alternative_inside_an_ended_side_does_not_fail() -> None:
    """alternative > mixed > [html, alternative > [plain, html]]: the mixed part ends the text
    side, and the inner alternative's plain part has nowhere to go (the RFC's JavaScript throws)."""
    entity = multipart(
        "alternative",
        multipart(
            "mixed", leaf("text/html", "1"), multipart("alternative", leaf("text/plain"), leaf("text/html"))
        ),
    )
    email = get(message(entity), ["textBody", "htmlBody", "attachments"], ["partId"])
    assert email["htmlBody"] == [{"partId": "1.1"}, {"partId": "1.2.2"}]
    assert email["attachments"] == []


def test_preview_is_at_most_256_characters() -> None:
    data = crlf("Subject: x\n\n" + "word " * 200)
    preview = get(data, ["preview"])["preview"]
    assert 0 < len(preview) <= 256
    assert preview.startswith("word word")
    assert get(data, ["preview"])["preview"] == preview


QP = "Content-Transfer-Encoding: quoted-printable\n"


def test_body_values_decoded_with_their_flags() -> None:
    entity = multipart(
        "mixed",
        leaf("text/plain; charset=iso-8859-1", "caf=E9\nline two=\n joined", extra=QP),
        leaf("text/plain; charset=x-no-such-charset", "plain"),
        leaf("text/html; charset=utf-8", "<p>x</p>", extra="Content-Transfer-Encoding: x-mystery\n"),
        leaf("text/plain; charset=utf-8", "bad BADBYTE"),
        leaf("image/png", "iVBORw0K", extra="Content-Transfer-Encoding: base64\n"),
    )  # fmt: skip
    data = message(entity).replace(b"BADBYTE", b"\xff")
    values = get(data, ["bodyValues"], fetch_all_body_values=True)["bodyValues"]
    assert values["1"] == {"value": "café\nline two joined", "isEncodingProblem": False, "isTruncated": False}
    assert values["2"]["isEncodingProblem"] is True  # unknown charset
    assert values["3"]["isEncodingProblem"] is True  # unknown transfer encoding
    assert values["4"] == {"value": "bad \ufffd", "isEncodingProblem": True, "isTruncated": False}
    assert set(values) == {"1", "2", "3", "4"}  # text/* parts only


def test_fetch_flags_choose_the_parts() -> None:
    entity = multipart("alternative", leaf("text/plain", "plain"), leaf("text/html", "<b>html</b>"))
    data = message(entity)
    assert get(data, ["bodyValues"])["bodyValues"] == {}
    assert set(get(data, ["bodyValues"], fetch_text_body_values=True)["bodyValues"]) == {"1"}
    assert set(get(data, ["bodyValues"], fetch_html_body_values=True)["bodyValues"]) == {"2"}


def test_truncation_on_a_character_boundary_and_outside_tags() -> None:
    assert truncate("héllo", 2, html=False) == ("h", True)  # é is two octets: not cut in half
    assert truncate("héllo", 3, html=False) == ("hé", True)
    assert truncate("hello", 5, html=False) == ("hello", False)
    assert truncate("hello", 0, html=False) == ("hello", False)  # 0: no truncation
    markup = '<p>Hi <a href="https://example.com">there</a></p>'
    assert truncate(markup, 12, html=True) == ("<p>Hi ", True)
    assert truncate(markup, 37, html=True) == ('<p>Hi <a href="https://example.com">t', True)
    assert truncate("a < b and more", 5, html=True) == ("a < b", True)  # a lone "<" is no tag
    assert truncate("ab<", 3, html=False) == ("ab<", False)
    assert truncate("abc<p", 4, html=True) == ("abc", True)


def test_max_body_value_bytes_in_email_get() -> None:
    data = crlf("Content-Type: text/plain; charset=utf-8\n\n" + "é" * 100)
    value = get(data, ["bodyValues"], fetch_text_body_values=True, max_body_value_bytes=51)["bodyValues"]["1"]
    assert value["value"] == "é" * 25
    assert value["isTruncated"] is True


@pytest.mark.parametrize("value", [-1, 1.5, True, "10"])
def test_max_body_value_bytes_must_be_an_unsigned_int(value: object) -> None:
    from pochta.proto.jmap.mail import InvalidArguments, email_request

    with pytest.raises(InvalidArguments):
        email_request(max_body_value_bytes=value)


def test_body_part_walk_is_depth_first() -> None:
    structure = body_structure(
        parse_message(message(multipart("mixed", leaf("text/plain"), leaf("text/html"))), MimeSettings()).root
    )
    assert [part.part_id for part in structure.walk()] == [None, "1", "2"]
    assert isinstance(structure, BodyPart)
