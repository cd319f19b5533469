"""RFC 9007's MDN object and RFC 8098's report, pure: the request, the message MDN/send builds,
and MDN/parse's reading of it and of RFC 8098's examples."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email.policy import compat32
from typing import Any

import pytest

from pochta.proto.jmap import SetFailure
from pochta.proto.jmap.mdn import (
    Disposition,
    build_mdn,
    final_recipient_address,
    original_facts,
    parse_mdn,
    parse_mdn_request,
)

ORIGINAL = (
    b"From: Jane Sender <Jane_Sender@example.org>\r\n"
    b"To: Joe Recipient <Joe_Recipient@example.com>\r\n"
    b"Subject: First draft of report\r\n"
    b"Message-ID: <199509192301.23456@example.org>\r\n"
    b"Disposition-Notification-To: Jane Sender <Jane_Sender@example.org>\r\n"
    b"Original-Recipient: rfc822;Joe_Recipient@example.com\r\n"
    b"\r\n"
    b"Please read.\r\n"
)

DISPLAYED = {"actionMode": "manual-action", "sendingMode": "mdn-sent-manually", "type": "displayed"}

# RFC 8098 section 9.1 (the example MDN, the original message left out as the example allows).
RFC8098_EXAMPLE = (
    b"Date: Wed, 20 Sep 1995 00:19:00 (EDT) -0400\r\n"
    b"From: Joe Recipient <Joe_Recipient@example.com>\r\n"
    b"Message-Id: <199509200019.12345@example.com>\r\n"
    b"Subject: Disposition notification\r\n"
    b"To: Jane Sender <Jane_Sender@example.org>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/report; report-type=disposition-notification;\r\n"
    b'   boundary="RAA14128.773615765/example.com"\r\n'
    b"\r\n"
    b"--RAA14128.773615765/example.com\r\n"
    b"\r\n"
    b"The message sent on 1995 Sep 19 at 13:30:00 (EDT) -0400 to Joe\r\n"
    b'Recipient <Joe_Recipient@example.com> with subject "First draft of\r\n'
    b'report" has been displayed.\r\n'
    b"This is no guarantee that the message has been read or understood.\r\n"
    b"\r\n"
    b"--RAA14128.773615765/example.com\r\n"
    b"content-type: message/disposition-notification\r\n"
    b"\r\n"
    b"Reporting-UA: joes-pc.cs.example.com; Foomail 97.1\r\n"
    b"Original-Recipient: rfc822;Joe_Recipient@example.com\r\n"
    b"Final-Recipient: rfc822;Joe_Recipient@example.com\r\n"
    b"Original-Message-ID: <199509192301.23456@example.org>\r\n"
    b"Disposition: manual-action/MDN-sent-manually; displayed\r\n"
    b"\r\n"
    b"--RAA14128.773615765/example.com--\r\n"
)


def _request(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {"forEmailId": "M1", "disposition": dict(DISPLAYED)}
    record.update(changes)
    return record


def _build(record: dict[str, object], original: bytes = ORIGINAL) -> bytes:
    return build_mdn(
        parse_mdn_request(record),
        original_facts(original),
        original,
        from_field={"name": "Joe Recipient", "email": "Joe_Recipient@example.com"},
        final_recipient="Joe_Recipient@example.com",
        now=datetime(2026, 12, 7, 23, 0, tzinfo=UTC),
        message_id_domain="example.com",
    )


def test_the_rfc_8098_example_parses_into_its_fields() -> None:
    parsed = parse_mdn(RFC8098_EXAMPLE)
    assert parsed == {
        "forEmailId": None,
        "subject": "Disposition notification",
        "textBody": (
            "The message sent on 1995 Sep 19 at 13:30:00 (EDT) -0400 to Joe\n"
            'Recipient <Joe_Recipient@example.com> with subject "First draft of\n'
            'report" has been displayed.\n'
            "This is no guarantee that the message has been read or understood."
        ),
        "includeOriginalMessage": False,
        "reportingUA": "joes-pc.cs.example.com; Foomail 97.1",
        # RFC 9007 section 2: the disposition in lowercase.
        "disposition": DISPLAYED,
        "mdnGateway": None,
        "originalRecipient": "rfc822;Joe_Recipient@example.com",
        "finalRecipient": "rfc822;Joe_Recipient@example.com",
        "originalMessageId": "<199509192301.23456@example.org>",
        "error": None,
        "extensionFields": None,
    }


def test_a_gateway_report_with_an_error_and_an_extension() -> None:
    gateway = RFC8098_EXAMPLE.replace(
        b"Disposition: manual-action/MDN-sent-manually; displayed\r\n",
        b"MDN-Gateway: dns; gw.example.com\r\n"
        b"Disposition: Automatic-Action/MDN-Sent-Automatically; processed/error\r\n"
        b"Error: the mailbox is full\r\n"
        b"X-Checked: yes\r\n",
    )
    parsed = parse_mdn(gateway)
    assert parsed is not None
    assert parsed["disposition"] == {
        "actionMode": "automatic-action",
        "sendingMode": "mdn-sent-automatically",
        "type": "processed",
    }
    assert parsed["mdnGateway"] == "dns; gw.example.com"
    assert parsed["error"] == ["the mailbox is full"]
    assert parsed["extensionFields"] == {"X-Checked": "yes"}


@pytest.mark.parametrize(
    "message",
    [
        ORIGINAL,  # not a report at all
        RFC8098_EXAMPLE.replace(b"Final-Recipient: rfc822;Joe_Recipient@example.com\r\n", b""),
        RFC8098_EXAMPLE.replace(b"; displayed\r\n", b"; read\r\n"),
        RFC8098_EXAMPLE.replace(b"manual-action/MDN-sent-manually", b"manual-action"),
        RFC8098_EXAMPLE.replace(b"message/disposition-notification", b"message/delivery-status"),
    ],
)
def test_what_is_not_an_mdn_is_not_parsable(message: bytes) -> None:
    assert parse_mdn(message) is None


def test_the_built_mdn_is_a_report_with_the_three_parts_rfc_8098_names() -> None:
    built = _build(
        _request(
            subject="Read receipt for: First draft of report",
            textBody="Displayed, no guarantee it was read.",
            reportingUA="joes-pc.cs.example.com; Foomail 97.1",
            includeOriginalMessage=True,
            extensionFields={"X-Example": "example.com"},
        )
    )
    assert all(len(line) <= 998 for line in built.split(b"\r\n"))
    assert b"\n" not in built.replace(b"\r\n", b"")
    message: Any = email.message_from_bytes(built, policy=compat32)
    assert message.get_content_type() == "multipart/report"
    assert message.get_param("report-type") == "disposition-notification"
    assert message["To"] == "Jane_Sender@example.org"
    assert message["From"] == "Joe Recipient <Joe_Recipient@example.com>"
    assert message["In-Reply-To"] == "<199509192301.23456@example.org>"
    assert message["Auto-Submitted"] is None  # sent manually
    parts = message.get_payload()
    assert [p.get_content_type() for p in parts] == [
        "text/plain",
        "message/disposition-notification",
        "message/rfc822",
    ]
    report = parts[1].get_payload()[0]
    assert report["Reporting-UA"] == "joes-pc.cs.example.com; Foomail 97.1"
    assert report["Original-Recipient"] == "rfc822;Joe_Recipient@example.com"
    assert report["Final-Recipient"] == "rfc822; Joe_Recipient@example.com"
    assert report["Original-Message-ID"] == "<199509192301.23456@example.org>"
    assert report["Disposition"] == "manual-action/MDN-sent-manually; displayed"
    assert report["X-Example"] == "example.com"
    assert parts[2].get_payload()[0]["Subject"] == "First draft of report"
    parsed = parse_mdn(built)
    assert parsed is not None
    assert parsed["subject"] == "Read receipt for: First draft of report"
    assert parsed["textBody"] == "Displayed, no guarantee it was read."
    assert parsed["includeOriginalMessage"] is True
    assert parsed["disposition"] == DISPLAYED
    assert parsed["extensionFields"] == {"X-Example": "example.com"}


def test_defaults_and_no_original_part_unless_asked() -> None:
    auto = {"actionMode": "automatic-action", "sendingMode": "mdn-sent-automatically", "type": "processed"}
    built = _build(_request(disposition=auto, textBody="Grüße"))
    message: Any = email.message_from_bytes(built, policy=compat32)
    assert message["Subject"] == "Disposition notification (processed): First draft of report"
    assert message["Auto-Submitted"] == "auto-replied"  # RFC 3834 section 5
    parts = message.get_payload()
    assert len(parts) == 2
    assert parts[0].get_payload(decode=True).decode("utf-8") == "Grüße"
    assert built.isascii()


def test_a_default_text_names_the_disposition() -> None:
    parsed = parse_mdn(_build(_request()))
    assert parsed is not None
    assert parsed["textBody"] is not None
    assert 'with subject "First draft of report" has been displayed.' in parsed["textBody"]


def test_a_non_ascii_final_recipient_makes_a_global_report() -> None:
    request = parse_mdn_request(_request())
    built = build_mdn(
        request,
        original_facts(ORIGINAL),
        ORIGINAL,
        from_field={"email": "jöe@example.com"},
        final_recipient="jöe@example.com",
        now=datetime(2026, 12, 7, tzinfo=UTC),
        message_id_domain="example.com",
    )
    assert b"Content-Type: message/global-disposition-notification" in built
    assert "Final-Recipient: utf-8; jöe@example.com".encode() in built
    parsed = parse_mdn(built)
    assert parsed is not None
    assert parsed["finalRecipient"] == "utf-8; jöe@example.com"


@pytest.mark.parametrize(
    ("record", "property_"),
    [
        ({"disposition": DISPLAYED}, "forEmailId"),
        (_request(disposition={**DISPLAYED, "type": "read"}), "disposition/type"),
        (_request(disposition={**DISPLAYED, "actionMode": "Manual-Action"}), "disposition/actionMode"),
        (_request(disposition={"type": "displayed"}), "disposition"),
        (_request(originalMessageId="<x@y>"), "originalMessageId"),
        (_request(subject="two\r\nlines"), "subject"),
        (_request(includeOriginalMessage="yes"), "includeOriginalMessage"),
        (_request(extensionFields={"Disposition": "x"}), "extensionFields/Disposition"),
        (_request(extensionFields={"X-A": "a\r\nBcc: b"}), "extensionFields/X-A"),
        (_request(finalRecipient="x400; /G=Joe/"), "finalRecipient"),
        (_request(colour="blue"), "colour"),
    ],
)
def test_invalid_requests_name_the_property(record: dict[str, object], property_: str) -> None:
    with pytest.raises(SetFailure) as caught:
        parse_mdn_request(record)
    assert caught.value.error.type == "invalidProperties"
    assert property_ in caught.value.error.properties


def test_the_request_keeps_what_was_given() -> None:
    request = parse_mdn_request(_request(finalRecipient="rfc822; joe@example.com"))
    assert request.disposition == Disposition("manual-action", "mdn-sent-manually", "displayed")
    assert request.given == {"forEmailId", "disposition", "finalRecipient"}
    assert final_recipient_address("rfc822; joe@example.com") == "joe@example.com"
    assert final_recipient_address("joe@example.com") == "joe@example.com"
    assert final_recipient_address("x400; /G=Joe/") is None


def test_original_facts() -> None:
    facts = original_facts(ORIGINAL)
    assert facts.notify_to == ("Jane_Sender@example.org",)
    assert facts.message_id == "<199509192301.23456@example.org>"
    assert facts.original_recipient == "rfc822;Joe_Recipient@example.com"
    assert facts.subject == "First draft of report"
    assert original_facts(b"Subject: x\r\n\r\nbody").notify_to == ()
