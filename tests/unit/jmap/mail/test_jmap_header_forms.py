"""RFC 8621 section 4.1.2 header forms and section 4.1.3 header properties."""

from __future__ import annotations

import pytest
from jmap_mail_helpers import crlf, get

from pochta.proto.jmap.mail import InvalidArguments, email_request
from pochta.proto.jmap.mail.headers import addresses, date, grouped_addresses, message_ids, raw, text, urls
from pochta.proto.jmap.mail.properties import Form, parse_header_property

# RFC 8621 section 4.1.2.3, folded as the RFC prints it.
RFC_LIST = (
    ' "  James Smythe" <james@example.com>, Friends:\r\n'
    "  jane@example.com, =?UTF-8?Q?John_Sm=C3=AEth?=\r\n"
    "  <john@example.com>;"
)


def test_addresses_example_of_the_rfc() -> None:
    assert addresses(RFC_LIST) == [
        {"name": "James Smythe", "email": "james@example.com"},
        {"name": None, "email": "jane@example.com"},
        {"name": "John Smîth", "email": "john@example.com"},
    ]


def test_grouped_addresses_example_of_the_rfc() -> None:
    assert grouped_addresses(RFC_LIST) == [
        {"name": None, "addresses": [{"name": "James Smythe", "email": "james@example.com"}]},
        {
            "name": "Friends",
            "addresses": [
                {"name": None, "email": "jane@example.com"},
                {"name": "John Smîth", "email": "john@example.com"},
            ],
        },
    ]


def test_address_name_from_a_comment_and_best_effort_for_broken_elements() -> None:
    # "If there is no display-name but there is a comment immediately following the addr-spec".
    assert addresses(" joe@example.com (Joe Bloggs)") == [{"name": "Joe Bloggs", "email": "joe@example.com"}]
    # Semi-complete drafts: an element without a domain is still an EmailAddress.
    assert addresses(" John, x@y.org") == [
        {"name": None, "email": "John"},
        {"name": None, "email": "x@y.org"},
    ]
    assert grouped_addresses(" undisclosed-recipients:;") == [
        {"name": "undisclosed-recipients", "addresses": []}
    ]
    assert addresses(" undisclosed-recipients:;") == []
    assert addresses("") == []


def test_text_form_unfolds_and_decodes_only_well_placed_encoded_words() -> None:
    assert text(" =?utf-8?q?caf=C3=A9?=\r\n =?utf-8?q?_au_lait?= now ") == "café au lait now "
    # Leading SP goes; RFC 2047 §5 (1): a word glued to text is not an encoded word.
    assert text("  x=?utf-8?q?a?=") == "x=?utf-8?q?a?="
    # An unknown charset is left as written; encoded control characters are dropped.
    assert text(" =?x-bogus?q?a?=") == "=?x-bogus?q?a?="
    assert text(" =?utf-8?q?a=00=07b?=") == "ab"
    # NFC: e + combining acute becomes é.
    assert text(" =?utf-8?q?e=CC=81?=") == "\u00e9"


def test_raw_form_replaces_bad_utf8_and_drops_nul() -> None:
    assert raw(b" caf\xe9\x00 ok\r") == " caf\ufffd ok"
    assert raw(b" a\r\n b\r") == " a\r\n b"


def test_message_ids_null_when_not_msg_ids() -> None:
    assert message_ids(" <a@b> (comment)\r\n <c.d@e.f>") == ["a@b", "c.d@e.f"]
    assert message_ids(" not-an-id") is None
    assert message_ids(" <no-at-sign>") is None


def test_date_keeps_its_zone_and_is_null_when_unreadable() -> None:
    assert date(" Thu, 13 Feb 1969 23:32:54 -0330") == "1969-02-13T23:32:54-03:30"
    assert date(" Mon, 7 Dec 2026 10:00:00 +0000 (UTC)") == "2026-12-07T10:00:00Z"
    assert date(" someday") is None


def test_urls_of_rfc_2369() -> None:
    value = " <mailto:list@host.com?subject=help> (List Instructions),\r\n <http://www.host.com/list/>"
    assert urls(value) == ["mailto:list@host.com?subject=help", "http://www.host.com/list/"]
    assert urls(" NO (posting not allowed on this list)") is None


@pytest.mark.parametrize(
    "prop",
    ["header:From:asDate", "header:Subject:asAddresses", "header:Received:asText", "header:List-Post:asText",
     "header:Date:asURLs", "header:From:asText", "header:To:asMessageIds", "header:Subject:astext",
     "header:Subject:asNothing", "header:", "header:Subject:all:asText", "header:a b"],
)  # fmt: skip
def test_forbidden_or_malformed_header_properties_are_invalid_arguments(prop: str) -> None:
    with pytest.raises(InvalidArguments):
        email_request([prop])


def test_allowed_forms() -> None:
    for prop, form in [
        ("header:X-Anything:asDate", Form.DATE),
        ("header:List-Id:asText", Form.TEXT),
        ("header:Resent-Reply-To:asGroupedAddresses", Form.GROUPED_ADDRESSES),
        ("header:References:asMessageIds:all", Form.MESSAGE_IDS),
        ("header:List-Unsubscribe:asURLs", Form.URLS),
        ("header:Received:asRaw:all", Form.RAW),
        ("header:Keywords:asText", Form.TEXT),
    ]:
        parsed = parse_header_property(prop)
        assert parsed is not None
        assert parsed.form is form


MESSAGE = crlf(
    "Received: from a by b; Mon, 7 Dec 2026 10:00:00 +0000\n"
    "Received: from c by d; Mon, 7 Dec 2026 10:00:01 +0000\n"
    "From: Joe Bloggs <joe@example.com>\n"
    "To: one@example.com, Friends: two@example.com;\n"
    "Subject: =?utf-8?q?Dinner_on_Thursday=3F?=\n"
    "Date: Sun, 13 Oct 2013 14:12:00 +0100\n"
    "Message-ID: <m1@example.com>\n"
    "In-Reply-To: <m0@example.com>\n"
    "References: <a@example.com> <m0@example.com>\n"
    "List-Post: <mailto:partytime@lists.example.com>\n"
    "X-Twice: one\n"
    "x-twice: two\n"
    "\n"
    "Hello\n"
)


def test_convenience_properties_and_header_properties_of_a_message() -> None:
    email = get(
        MESSAGE,
        ["messageId", "inReplyTo", "references", "from", "to", "cc", "subject", "sentAt",
         "header:List-POST:asURLs", "header:x-TWICE", "header:X-Twice:all", "header:Received:all",
         "header:Missing", "header:Missing:all", "header:To:asGroupedAddresses"],
    )  # fmt: skip
    assert email["messageId"] == ["m1@example.com"]
    assert email["inReplyTo"] == ["m0@example.com"]
    assert email["references"] == ["a@example.com", "m0@example.com"]
    assert email["from"] == [{"name": "Joe Bloggs", "email": "joe@example.com"}]
    assert email["to"] == [
        {"name": None, "email": "one@example.com"},
        {"name": None, "email": "two@example.com"},
    ]
    assert email["cc"] is None
    assert email["subject"] == "Dinner on Thursday?"
    assert email["sentAt"] == "2013-10-13T14:12:00+01:00"
    # The property keeps the capitalisation of the request (RFC 8621 section 4.2).
    assert email["header:List-POST:asURLs"] == ["mailto:partytime@lists.example.com"]
    assert email["header:x-TWICE"] == " two"  # the last instance, Raw
    assert email["header:X-Twice:all"] == [" one", " two"]
    assert len(email["header:Received:all"]) == 2
    assert email["header:Missing"] is None
    assert email["header:Missing:all"] == []
    assert email["header:To:asGroupedAddresses"][1]["name"] == "Friends"


def test_headers_property_lists_every_field_raw_in_order() -> None:
    headers = get(MESSAGE, ["headers"])["headers"]
    assert headers[0] == {"name": "Received", "value": " from a by b; Mon, 7 Dec 2026 10:00:00 +0000"}
    assert [h["name"] for h in headers][-2:] == ["X-Twice", "x-twice"]
    assert len(headers) == 12


def test_quoted_display_names_keep_their_inner_spaces() -> None:
    assert addresses(' "  Two  Spaces " <a@example.com>') == [
        {"name": "Two  Spaces", "email": "a@example.com"}
    ]
