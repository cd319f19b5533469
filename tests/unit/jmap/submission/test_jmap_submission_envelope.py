"""The EmailSubmission's envelope and arguments (RFC 8621 section 7), pure."""

from __future__ import annotations

import pytest

from pochta.proto.jmap import MethodError, SetFailure
from pochta.proto.jmap.submission.envelope import (
    Address,
    Envelope,
    allowed_by_identity,
    derive_envelope,
    header_addresses,
    parse_envelope,
    without_bcc,
)
from pochta.proto.jmap.submission.submission import (
    parse_submission_create,
    parse_success_actions,
    smtp_reply_text,
)

MESSAGE = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: bob@example.org, Carol <carol@example.net>\r\n"
    b"Cc: BOB@example.org\r\n"
    b"Bcc: dave@example.com,\r\n"
    b" erin@example.com\r\n"
    b"Subject: hi\r\n"
    b"\r\n"
    b"Bcc: this line is body text\r\n"
)


def test_the_envelope_is_derived_from_sender_or_from_and_the_recipient_fields() -> None:
    envelope = derive_envelope(header_addresses(MESSAGE), "alice@example.org")
    assert envelope.mail_from == Address("alice@example.org")
    # Deduplicated without case, in field order, Bcc included.
    assert [a.email for a in envelope.rcpt_to] == [
        "bob@example.org",
        "carol@example.net",
        "dave@example.com",
        "erin@example.com",
    ]
    with_sender = b"Sender: sec@example.org\r\n" + MESSAGE
    assert (
        derive_envelope(header_addresses(with_sender), "sec@example.org").mail_from.email == "sec@example.org"
    )
    # An address the Identity does not allow: the Identity's email instead.
    assert (
        derive_envelope(header_addresses(MESSAGE), "other@example.org").mail_from.email == "other@example.org"
    )
    assert derive_envelope(header_addresses(MESSAGE), "*@example.org").mail_from.email == "alice@example.org"


@pytest.mark.parametrize(
    ("header", "prop"),
    [
        (b"From: a@example.org, b@example.org\r\n", "from"),
        (b"From: a@example.org\r\nFrom: a@example.org\r\n", "from"),
        (b"Sender: a@example.org, b@example.org\r\nFrom: a@example.org\r\n", "sender"),
    ],
)
def test_several_originators_are_an_invalid_email(header: bytes, prop: str) -> None:
    with pytest.raises(SetFailure) as caught:
        derive_envelope(header_addresses(header + b"To: x@example.org\r\n\r\n"), "a@example.org")
    assert (caught.value.error.type, list(caught.value.error.properties)) == ("invalidEmail", [prop])


def test_bcc_is_removed_from_the_header_only() -> None:
    sent = without_bcc(MESSAGE)
    assert b"dave" not in sent
    assert b"erin" not in sent
    assert sent.endswith(b"Subject: hi\r\n\r\nBcc: this line is body text\r\n")
    assert without_bcc(b"To: a@b.c\r\n\r\nbody") == b"To: a@b.c\r\n\r\nbody"


def test_identity_addresses() -> None:
    assert allowed_by_identity("Alice@Example.org", "alice@example.org")
    assert allowed_by_identity("x@example.org", "*@example.org")
    assert not allowed_by_identity("x@example.net", "*@example.org")


def test_envelope_and_create_arguments() -> None:
    given = {
        "mailFrom": {"email": "a@b.c"},
        "rcptTo": [{"email": "d@e.f", "parameters": {"NOTIFY": "NEVER"}}],
    }
    assert parse_envelope(given) == Envelope(Address("a@b.c"), (Address("d@e.f", {"NOTIFY": "NEVER"}),))
    assert parse_envelope(None) is None
    for bad in (
        {"mailFrom": {"email": "a@b.c"}},
        {"mailFrom": "a@b.c", "rcptTo": []},
        {"mailFrom": {}, "rcptTo": []},
    ):
        with pytest.raises(SetFailure):
            parse_envelope(bad)
    made = parse_submission_create({"identityId": "I1", "emailId": "#draft", "undoStatus": "final"})
    assert (made.identity_id, made.email_id, made.envelope) == ("I1", "#draft", None)
    for record, prop in (
        ({"emailId": "M1"}, "identityId"),
        ({"identityId": "I1", "emailId": 5}, "emailId"),
        ({"identityId": "I1", "emailId": "M1", "undoStatus": "pending"}, "undoStatus"),
        ({"identityId": "I1", "emailId": "M1", "sendAt": "2026-01-01T00:00:00Z"}, "sendAt"),
    ):
        with pytest.raises(SetFailure) as caught:
            parse_submission_create(record)
        assert list(caught.value.error.properties) == [prop]


def test_success_actions() -> None:
    actions = parse_success_actions({"onSuccessUpdateEmail": {"#s": {"keywords/$draft": None}}})
    assert (dict(actions.update), actions.destroy) == ({"#s": {"keywords/$draft": None}}, ())
    assert parse_success_actions({"onSuccessDestroyEmail": ["S1", "#t"]}).destroy == ("S1", "#t")
    for bad in (
        {"onSuccessUpdateEmail": ["S1"]},
        {"onSuccessDestroyEmail": {"S1": True}},
        {"onSuccessDestroyEmail": [1]},
    ):
        with pytest.raises(MethodError):
            parse_success_actions(bad)


def test_smtp_reply_text() -> None:
    assert smtp_reply_text(250, "2.0.0", ("Queued as X",)) == "250 2.0.0 Queued as X"
    assert smtp_reply_text(550, None, ("No such", "user")) == "550 No such user"
