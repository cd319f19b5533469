"""enotify (RFC 5435) with the mailto method (RFC 5436): notify, its tests, :encodeurl."""

from __future__ import annotations

import pytest
from sieve_helpers import assert_compile_error

from pochta.sieve import Envelope, FileIntoAction, KeepAction, Outcome, SieveMessage, compile_script, run
from pochta.sieve.actions import NotifyAction, RejectAction
from pochta.sieve.mailto import MailtoError, parse_mailto

# RFC 5436 §3's triggering message.
KNITTING = (
    b"Return-Path: <knitting-bounces@example.com>\r\n"
    b"Message-ID: <1234567.89ABCDEF@example.com>\r\n"
    b"Precedence: list\r\n"
    b"List-Id: Knitting Mailing List <knitting.example.com>\r\n"
    b'From: "Jeff Smith" <jeff@hobbies.example.com>\r\n'
    b'To: "Knitting Mailing List" <knitting@example.com>\r\n'
    b"Subject: [Knitting] A new sweater\r\n"
    b"\r\n"
    b"I just finished a great new sweater!\r\n"
)
ENVELOPE = Envelope("knitting-bounces@example.com", "recipient@example.org")


def outcome(script: str, message: bytes = KNITTING, envelope: Envelope = ENVELOPE) -> Outcome:
    return run(compile_script(script), SieveMessage.from_bytes(message), envelope)


def notifications(result: Outcome) -> list[NotifyAction]:
    assert result.error is None, result.error
    return [action for action in result.actions if isinstance(action, NotifyAction)]


def test_the_example_of_rfc_5436() -> None:
    script = (
        'require ["enotify", "variables"];\n'
        'if header :contains "list-id" "knitting.example.com" {\n'
        '  if header :matches "Subject" "[*] *" {\n'
        '    notify :message "From ${1} list: ${2}" :importance "3"\n'
        '      "mailto:0123456789@sms.example.net?to=backup@example.com";\n'
        "  }\n"
        "}\n"
    )
    result = outcome(script)
    (action,) = notifications(result)
    assert action.recipients == ("0123456789@sms.example.net", "backup@example.com")
    assert action.subject == "From Knitting list: A new sweater"
    assert action.sender == "recipient@example.org"  # §2.7: the envelope "to" without :from
    assert action.envelope_sender == "recipient@example.org"
    assert action.importance == 3
    assert KeepAction(implicit=True) in result.actions  # RFC 5435 §7


def test_composition_rules() -> None:
    # The URI's subject and body, its other headers; ignored ones left out (§2.7).
    script = (
        'require "enotify";\n'
        'notify :from "me@example.org" "mailto:a@example.com?subject=New%20mail&body=See%20INBOX'
        '&X-Tag=1&auto-submitted=no&from=evil@example.net";'
    )
    (action,) = notifications(outcome(script))
    assert (action.subject, action.body, action.headers, action.sender) == (
        "New mail",
        "See INBOX",
        (("x-tag", "1"),),
        "me@example.org",
    )
    # The triggering subject without :message or a URI subject; no :from that is no address.
    (plain,) = notifications(outcome('require "enotify"; notify :from "nobody" "mailto:a@example.com";'))
    assert (plain.subject, plain.sender) == ("[Knitting] A new sweater", "recipient@example.org")
    # A null sender gives a null sender (no loops), and one message per address and run.
    null = outcome(
        'require "enotify"; notify "mailto:a@example.com"; notify "mailto:A@example.com,b@example.com";',
        envelope=Envelope("", "recipient@example.org"),
    )
    first, second = notifications(null)
    assert first.envelope_sender == ""
    assert second.recipients == ("b@example.com",)


def test_no_notification_of_automatic_mail() -> None:
    result = outcome(
        'require "enotify"; notify "mailto:a@example.com";', b"Auto-Submitted: auto-replied\r\n" + KNITTING
    )
    assert notifications(result) == []
    assert any("automatic message" in note for note in result.notes)


def test_method_tests_and_encodeurl() -> None:
    head = 'require ["enotify", "variables", "fileinto"];\n'
    checks = (
        'if valid_notify_method ["mailto:a@example.com", "mailto:b@example.com?subject=x"]\n'
        '{ fileinto "valid"; }\n'
        'if valid_notify_method ["mailto:a@example.com", "xmpp:tim@example.com"] { fileinto "xmpp"; }\n'
        'if notify_method_capability "mailto:a@example.com" "Online" "maybe" { fileinto "maybe"; }\n'
        'if notify_method_capability "mailto:a@example.com" "frob" "" { fileinto "frob"; }\n'
        'set :encodeurl "body" "Safe body&evil=evilbody"; fileinto "${body}";\n'
    )
    result = outcome(head + checks)
    assert [a.mailbox for a in result.actions if isinstance(a, FileIntoAction)] == [
        "valid",
        "maybe",
        "Safe%20body%26evil%3Devilbody",
    ]


def test_notify_goes_with_reject_and_unsupported_methods_fail_when_run() -> None:
    mixed = outcome('require ["enotify", "reject"]; notify "mailto:a@example.com"; reject "no";')
    assert [type(action) for action in mixed.actions] == [NotifyAction, RejectAction]
    failed = outcome('require "enotify"; notify "tel:+14085551212";')
    assert failed.actions == (KeepAction(implicit=True),)
    assert failed.error is not None
    assert "not a mailto URI" in failed.error


def test_mailto_parsing() -> None:
    assert parse_mailto("mailto:a@example.com,b@example.com?cc=c@example.com").recipients == (
        "a@example.com",
        "b@example.com",
        "c@example.com",
    )
    for bad in (
        "mailto:",
        "mailto:a b@example.com",
        "mailto:a@example.com?x",
        "mailto:x?body=%zz",
        "mailto:nodomain",
    ):
        with pytest.raises(MailtoError):
            parse_mailto(bad)


@pytest.mark.parametrize(
    ("script", "says"),
    [
        ('notify "mailto:a@example.com";', "'notify' needs require \"enotify\""),
        (
            'require "enotify"; notify :importance "4" "mailto:a@example.com";',
            ':importance must be "1", "2" or "3"',
        ),
        ('require "enotify"; notify :options ["bad option"] "mailto:a@example.com";', "is not name=value"),
        ('require "enotify"; notify "mailto:not an address";', "holds characters a URI must escape"),
        ('require "variables"; set :encodeurl "a" "b";', "':encodeurl' needs require \"enotify\""),
    ],
)
def test_errors(script: str, says: str) -> None:
    assert_compile_error(script, says)


def test_to_and_cc_fields_keep_display_names_and_drop_addresses_already_notified() -> None:
    # RFC 5436 §2.7: To holds the URI's "to" addresses, Cc its "cc" ones; one message per address
    # and run, so a later notify leaves out who was notified already.
    result = outcome(
        'require "enotify";\n'
        'notify "mailto:a@example.com?to=%3D%3Futf-8%3Fq%3FG%3DC3%3DBCnther%3F%3D%20%3Cg%40example.com%3E'
        '&cc=c@example.com";\n'
        'notify "mailto:d@example.com?cc=a@example.com";\n'
    )
    first, second = notifications(result)
    assert first.to == ("a@example.com", "=?utf-8?q?G=C3=BCnther?= <g@example.com>")
    assert first.cc == ("c@example.com",)
    assert first.recipients == ("a@example.com", "g@example.com", "c@example.com")
    assert second.to == ("d@example.com",)
    assert second.cc == ()  # a@example.com was notified by the first


def test_a_long_subject_is_cut() -> None:
    [note] = notifications(
        outcome(f'require "enotify"; notify :message "{"x" * 300}" "mailto:a@example.com";')
    )
    assert len(note.subject) == 256
    assert note.subject.endswith("\u2026")


def test_parse_mailto_keeps_to_and_cc_apart() -> None:
    uri = parse_mailto("mailto:a@example.com,b@example.com?cc=Carol%20%3Cc@example.com%3E")
    assert uri.to == (("a@example.com", "a@example.com"), ("b@example.com", "b@example.com"))
    assert uri.cc == (("c@example.com", "Carol <c@example.com>"),)


def test_a_uri_header_name_must_be_a_field_name() -> None:
    with pytest.raises(MailtoError, match="not a header field name"):
        parse_mailto("mailto:stephan@example.org?header:=frop")
