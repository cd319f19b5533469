"""The messages Sieve at delivery sends (vacation, notify, rejection report), the combination of
several scripts' outcomes, and the redirect loop check: pure parts of docs/sieve.md "At delivery"."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from pochta.config_sieve import SieveSettings
from pochta.delivery.sieve_messages import LOOP_FIELD, notify_message, rejection_report, vacation_reply
from pochta.delivery.sieve_run import combine, environment
from pochta.sieve import Envelope as SieveEnvelope
from pochta.sieve import Outcome, SieveMessage
from pochta.sieve.actions import FileIntoAction, KeepAction, NotifyAction, RedirectAction, VacationAction
from pochta.sieve.redirect import loops, redirect_sender

NOW = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)


def _vacation(**changes: object) -> VacationAction:
    values: dict[str, object] = {
        "recipient": "carol@example.net",
        "tracking": "t",
        "period": 86400,
        "subject": "Auto: hello",
        "sender": None,
        "reason": "I am away. Très loin.",
        "mime": False,
        "in_reply_to": "<a@example.net>",
        "references": ("<z@example.net>", "<a@example.net>"),
    }
    values.update(changes)
    return VacationAction(**values)  # type: ignore[arg-type]


def test_vacation_reply_fields() -> None:
    data = vacation_reply(_vacation(), "alice@example.org", hostname="mx.example.org", now=NOW)
    assert b"\r\n" in data
    assert b"\n" not in data.replace(b"\r\n", b"")
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed["From"] == "alice@example.org"  # RFC 5230 §5.2: the user's address
    assert parsed["To"] == "carol@example.net"
    assert parsed["Subject"] == "Auto: hello"
    assert parsed["Auto-Submitted"] == "auto-replied"  # RFC 3834 §5
    assert parsed["In-Reply-To"] == "<a@example.net>"
    assert parsed["References"] == "<z@example.net> <a@example.net>"
    assert parsed["Message-ID"].endswith("@mx.example.org>")
    assert parsed.get_content().strip() == "I am away. Très loin."


def test_vacation_reply_from_and_mime_entity() -> None:
    action = _vacation(
        sender="Alice <away@example.org>",
        mime=True,
        reason="Content-Type: text/html\n\n<p>Away</p>\n",
        in_reply_to=None,
        references=(),
    )
    data = vacation_reply(action, "alice@example.org", hostname="mx.example.org", now=NOW)
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed["From"] == "Alice <away@example.org>"
    assert parsed["In-Reply-To"] is None
    assert parsed.get_content_type() == "text/html"  # RFC 5230 §4.4: the entity as it is
    assert "<p>Away</p>" in parsed.get_content()


def test_vacation_reply_to_carries_the_display_name() -> None:
    action = _vacation(to='"Carol Ö." <carol@example.net>')  # RFC 5230 §5.5
    data = vacation_reply(action, "alice@example.org", hostname="mx.example.org", now=NOW)
    parsed = email.message_from_string(data.decode("utf-8"), policy=email.policy.default)
    assert parsed["To"].addresses[0].display_name == "Carol Ö."
    assert parsed["To"].addresses[0].addr_spec == "carol@example.net"


def test_notify_message_fields() -> None:
    action = NotifyAction(
        method="mailto:pager@example.net?X-Tag=1",
        envelope_sender="alice@example.org",
        sender="alice@example.org",
        recipients=("pager@example.net",),
        subject="New mail",
        body=None,
        headers=(("X-Tag", "1"), ("Date", "forged")),
        importance=1,
    )
    data = notify_message(action, "alice@example.org", hostname="mx.example.org", now=NOW)
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed["Auto-Submitted"] == "auto-notified; owner-email=alice@example.org"  # RFC 5436 §2.7
    assert parsed["Importance"] == "high"
    assert parsed["X-Tag"] == "1"
    assert parsed.get_all("Date") is not None
    assert len(parsed.get_all("Date")) == 1
    assert parsed["To"] == "pager@example.net"


def test_rejection_report_is_a_dsn_with_the_reason() -> None:
    original = b"From: carol@example.net\r\nSubject: s\r\n\r\nbody\r\n"
    data = rejection_report(
        original,
        sender="carol@example.net",
        recipient="alice@example.org",
        reason="Not wanted\r\nhere",
        hostname="mx.example.org",
        arrival=NOW,
        now=NOW,
    )
    assert b"report-type=delivery-status" in data
    assert b"Status: 5.7.1" in data
    assert b"Not wanted here" in data
    assert b"Final-Recipient: rfc822; alice@example.org" in data


def test_combine_keeps_the_implicit_keep_only_when_no_script_cancelled_it() -> None:
    keep = KeepAction(implicit=True)
    filed = Outcome((FileIntoAction("Lists"),))
    kept_with_flag = Outcome((KeepAction(implicit=True, flags=("\\Seen",)),))
    assert combine([Outcome((keep,)), kept_with_flag]).actions == (KeepAction(True, ("\\Seen",)),)
    flagged = Outcome((KeepAction(implicit=True, flags=("$a",)),))
    assert combine([flagged, kept_with_flag]).actions == (KeepAction(True, ("$a", "\\Seen")),)
    assert combine([filed, Outcome((keep,))]).actions == (FileIntoAction("Lists"),)
    redirected = Outcome((RedirectAction("x@example.net"), keep))
    assert combine([redirected, filed]).actions == (RedirectAction("x@example.net"), FileIntoAction("Lists"))


def test_redirect_loop_seen_by_our_field() -> None:
    message = SieveMessage.from_bytes(f"{LOOP_FIELD}: Alice@Example.org\r\nSubject: x\r\n\r\n".encode())
    assert loops(message, "alice@example.org")
    assert not loops(message, "bob@example.org")
    assert loops(message, "bob@example.org", "alice@example.org")  # the user's or the recipient's
    older = SieveMessage.from_bytes(b"X-Pochta-Loop: alice@example.org\r\n\r\n")  # before the rename
    assert loops(older, "alice@example.org")


@pytest.mark.parametrize(
    ("setting", "sender", "expected"),
    [
        ("sender", "carol@example.net", "carol@example.net"),
        ("recipient", "carol@example.net", "alias@example.org"),
        ("user_email", "carol@example.net", "alice@example.org"),
        ("<bounces@example.org>", "carol@example.net", "bounces@example.org"),
        ("<>", "carol@example.net", ""),
        ("recipient", "", ""),  # the null path stays null
    ],
)
def test_redirect_envelope_sender(setting: str, sender: str, expected: str) -> None:
    envelope = SieveEnvelope(sender, "alias@example.org")
    assert redirect_sender(setting, envelope, "alice@example.org") == expected


def test_redirect_envelope_from_setting_is_checked() -> None:
    assert SieveSettings(redirect_envelope_from=" recipient ").redirect_envelope_from == "recipient"
    for bad in ("orig_recipient", "bounces@example.org", "<nobody>"):
        with pytest.raises(ValidationError):
            SieveSettings(redirect_envelope_from=bad)


def test_environment_items() -> None:
    items = environment(
        hostname="mx.example.org", peer="[192.0.2.1]", helo="client.example.net", phase="during"
    )
    assert items["domain"] == "example.org"
    assert items["host"] == "mx.example.org"
    assert items["location"] == "MDA"
    assert items["phase"] == "during"
    assert items["remote-ip"] == "192.0.2.1"
    assert items["remote-host"] == "client.example.net"
    assert "remote-ip" not in environment(hostname="h", peer="unknown", helo=None, phase="post")


def test_notify_message_to_and_cc() -> None:
    action = NotifyAction(
        method="mailto:a@example.net?cc=b@example.net",
        envelope_sender="alice@example.org",
        sender="alice@example.org",
        recipients=("a@example.net", "b@example.net"),
        subject="New mail",
        body=None,
        headers=(),
        importance=2,
        to=("Ann <a@example.net>",),
        cc=("b@example.net",),
    )
    data = notify_message(action, "alice@example.org", hostname="mx.example.org", now=NOW)
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed["To"] == "Ann <a@example.net>"  # RFC 5436 §2.7
    assert parsed["Cc"] == "b@example.net"
