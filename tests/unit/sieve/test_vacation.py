"""vacation (RFC 5230) and vacation-seconds (RFC 6131): when a reply goes out, and what it says."""

from __future__ import annotations

import pytest
from sieve_helpers import assert_compile_error

from pochta.sieve import (
    Envelope,
    KeepAction,
    Outcome,
    RedirectAction,
    RunLimits,
    SieveMessage,
    VacationAction,
    compile_script,
    run,
)
from pochta.sieve.message import DeliveryContext

ORIGINAL = (
    b"From: Coyote <coyote@desert.example.org>\r\n"
    b"To: Road Runner <roadrunner@acme.example.com>\r\n"
    b"Subject: Cyrus bug\r\n"
    b"Message-ID: <m2@desert.example.org>\r\n"
    b"References: <m0@desert.example.org> <m1@desert.example.org>\r\n"
    b"\r\nhello\r\n"
)
ENVELOPE = Envelope("coyote@desert.example.org", "roadrunner@acme.example.com")


def vacation_of(
    script: str, message: bytes = ORIGINAL, envelope: Envelope = ENVELOPE, **context: object
) -> Outcome:
    return run(
        compile_script(script),
        SieveMessage.from_bytes(message),
        envelope,
        RunLimits(),
        DeliveryContext(**context),  # type: ignore[arg-type]
    )


def reply(outcome: Outcome) -> VacationAction:
    found = [action for action in outcome.actions if isinstance(action, VacationAction)]
    assert len(found) == 1, outcome
    return found[0]


def test_a_reply_and_what_it_says() -> None:
    outcome = vacation_of('require "vacation"; vacation "I\'m out";')
    assert outcome.error is None
    action = reply(outcome)
    assert action.recipient == "coyote@desert.example.org"  # §4: the envelope sender
    assert action.subject == "Auto: Cyrus bug"  # §5.3
    # §5.4: the user's own address, as the message named it; §5.5: the sender with its name.
    assert action.sender == "roadrunner@acme.example.com"
    assert action.to == '"Coyote" <coyote@desert.example.org>'
    assert action.envelope_sender == ""  # §5.1: the null reverse-path
    assert action.reason == "I'm out"
    assert action.period == 7 * 86400  # §4.1: 7 days by default
    assert action.in_reply_to == "<m2@desert.example.org>"  # §5.8
    assert action.references == (
        "<m0@desert.example.org>",
        "<m1@desert.example.org>",
        "<m2@desert.example.org>",
    )
    assert KeepAction(implicit=True) in outcome.actions  # §4.7: the implicit keep stays


def test_arguments() -> None:
    script = (
        'require ["vacation", "variables"];\n'
        'set "who" "Road Runner";\n'
        'vacation :days 23 :subject "Away: ${who}" :from "rr@acme.example.com" :mime\n'
        '  "Content-Type: text/plain\\r\\n\\r\\nBeep beep";'
    )
    action = reply(vacation_of(script))
    assert action.period == 23 * 86400
    assert action.subject == "Away: Road Runner"
    assert action.sender == "rr@acme.example.com"
    assert action.mime
    # §4.3: an invalid :from is ignored, not an error.
    outcome = vacation_of('require "vacation"; vacation :from "not an address" "x";')
    assert reply(outcome).sender == "roadrunner@acme.example.com"  # the user's, as §5.4
    assert any(":from 'not an address' is not an address" in note for note in outcome.notes)


def test_periods_are_clamped() -> None:
    # RFC 6131 §2: :seconds replaces :days; both clamp to the site's bounds.
    assert reply(vacation_of('require "vacation-seconds"; vacation :seconds 1800 "x";')).period == 86400
    assert reply(vacation_of('require "vacation"; vacation :days 1000 "x";')).period == 90 * 86400
    limits = RunLimits(vacation_min_period=0)
    script = compile_script('require "vacation-seconds"; vacation :seconds 0 "x";')
    outcome = run(script, SieveMessage.from_bytes(ORIGINAL), ENVELOPE, limits)
    assert reply(outcome).period == 0


def test_tracking_uses_the_handle_or_the_unexpanded_arguments() -> None:
    # RFC 5230 §4.2: two different reasons are two responses; one handle is one response; and
    # arguments are taken before variables are expanded.
    first = reply(vacation_of('require "vacation"; vacation "I\'m out -- send mail to cyrus-bugs";'))
    second = reply(vacation_of('require "vacation"; vacation "I\'m out -- call me";'))
    assert first.tracking != second.tracking
    lunch = reply(
        vacation_of('require "vacation"; vacation :handle "ran-away" "I\'m out and can\'t meet for lunch";')
    )
    other = reply(vacation_of('require "vacation"; vacation :handle "ran-away" "I\'m out";'))
    assert lunch.tracking == other.tracking
    script = (
        'require ["vacation", "variables"];\n'
        'if header :matches "subject" "*" { vacation :subject "Automatic response to: ${1}" "I\'m away"; }'
    )
    one = reply(vacation_of(script))
    two = reply(vacation_of(script, ORIGINAL.replace(b"Cyrus bug", b"Dinner")))
    assert one.subject != two.subject
    assert one.tracking == two.tracking
    # One string given as :subject or as :from is not the same response.
    as_subject = reply(vacation_of('require "vacation"; vacation :subject "a@b.example" "x";'))
    as_from = reply(vacation_of('require "vacation"; vacation :from "a@b.example" "x";'))
    assert as_subject.tracking != as_from.tracking


@pytest.mark.parametrize(
    ("message", "envelope", "why"),
    [
        (ORIGINAL, Envelope("", ENVELOPE.recipient), "null reverse-path"),
        (ORIGINAL, Envelope("MAILER-DAEMON@example.org", ENVELOPE.recipient), "automated address"),
        (ORIGINAL, Envelope("owner-list@example.org", ENVELOPE.recipient), "automated address"),
        (ORIGINAL, Envelope("list-request@example.org", ENVELOPE.recipient), "automated address"),
        (ORIGINAL, Envelope("roadrunner@acme.example.com", ENVELOPE.recipient), "the sender is the user"),
        (b"List-Id: <x.example.org>\r\n" + ORIGINAL, ENVELOPE, "mailing list"),
        (b"Auto-Submitted: auto-replied\r\n" + ORIGINAL, ENVELOPE, "sent automatically"),
        (b"Precedence: bulk\r\n" + ORIGINAL, ENVELOPE, "Precedence: bulk"),
        (b"X-Auto-Response-Suppress: DR, OOF\r\n" + ORIGINAL, ENVELOPE, "X-Auto-Response-Suppress"),
        (b"X-Auto-Response-Suppress: All\r\n" + ORIGINAL, ENVELOPE, "X-Auto-Response-Suppress"),
        (
            ORIGINAL.replace(b"To: Road Runner <roadrunner@acme.example.com>", b"To: all@acme.example.com"),
            ENVELOPE,
            "To, Cc or Bcc",
        ),
    ],
)
def test_no_reply_to_automated_or_impersonal_mail(message: bytes, envelope: Envelope, why: str) -> None:
    outcome = vacation_of('require "vacation"; vacation "x";', message, envelope)
    assert not any(isinstance(action, VacationAction) for action in outcome.actions)
    assert outcome.actions == (KeepAction(implicit=True),)
    assert any(why in note for note in outcome.notes), outcome.notes


def test_the_users_addresses_count_as_recipients() -> None:
    to_alias = ORIGINAL.replace(b"To: Road Runner <roadrunner@acme.example.com>", b"Cc: rr@acme.example.com")
    assert vacation_of('require "vacation"; vacation "x";', to_alias).notes  # not the user's
    # §4.5: an address the implementation knows, or one the script names with :addresses.
    reply(vacation_of('require "vacation"; vacation "x";', to_alias, user_addresses=("rr@acme.example.com",)))
    reply(vacation_of('require "vacation"; vacation :addresses ["RR@acme.example.com"] "x";', to_alias))
    assert vacation_of('require "vacation"; vacation "x";', b"Auto-Submitted: no\r\n" + ORIGINAL).notes == ()


def test_with_other_actions() -> None:
    outcome = vacation_of('require "vacation"; redirect "x@example.org"; vacation "x";')
    assert RedirectAction("x@example.org") in outcome.actions
    reply(outcome)
    for script, says in [
        ('require "vacation"; vacation "a"; vacation "b";', "vacation runs at most once"),
        ('require ["vacation", "reject"]; vacation "a"; reject "b";', "reject together with vacation"),
        ('require ["vacation", "reject"]; reject "b"; vacation "a";', "vacation together with reject"),
    ]:
        failed = vacation_of(script)
        assert failed.actions == (KeepAction(implicit=True),)
        assert failed.error is not None
        assert says in failed.error


@pytest.mark.parametrize(
    ("script", "says"),
    [
        ('vacation "x";', "'vacation' needs require \"vacation\""),
        ('require "vacation"; vacation :seconds 10 "x";', "':seconds' needs require \"vacation-seconds\""),
        (
            'require "vacation-seconds"; vacation :days 1 :seconds 10 "x";',
            "':seconds' conflicts with ':days'",
        ),
        ('require "vacation"; vacation :days 0 "x";', ":days must be at least 1"),
        ('require "vacation-seconds"; vacation :seconds 2147483648 "x";', ":seconds must be below 2^31"),
        ('require "vacation"; vacation :mime :mime "x";', "':mime' is given twice"),
        ('require "vacation"; vacation;', "'vacation' takes 1 positional argument (reason), got 0"),
    ],
)
def test_errors(script: str, says: str) -> None:
    assert_compile_error(script, says)


def limits(**settings: object) -> RunLimits:
    return RunLimits(**settings)  # type: ignore[arg-type]


def vacation_with(limits_: RunLimits, message: bytes = ORIGINAL, envelope: Envelope = ENVELOPE) -> Outcome:
    return run(
        compile_script('require "vacation"; vacation "Away.";'),
        SieveMessage.from_bytes(message),
        envelope,
        limits_,
        DeliveryContext(),
    )


def test_subject_template_default_and_cut() -> None:
    dutch = limits(
        vacation_subject_template="Automatisch bericht: %{subject}", vacation_default_subject="Weg"
    )
    assert reply(vacation_with(dutch)).subject == "Automatisch bericht: Cyrus bug"
    bare = ORIGINAL.replace(b"Subject: Cyrus bug\r\n", b"")
    assert reply(vacation_with(dutch, bare)).subject == "Weg"
    assert reply(vacation_with(RunLimits(), bare)).subject == "Automated reply"  # §5.3
    long = ORIGINAL.replace(b"Cyrus bug", b"word " * 100)
    subject = reply(vacation_with(RunLimits(), long)).subject
    assert len(subject) <= 256
    assert subject.startswith("Auto: word word")
    assert subject.endswith("\u2026")


def test_to_field_names_the_sender_as_the_header_does() -> None:
    sender = ORIGINAL.replace(b"Subject:", b'Sender: "Wile E." <wile@desert.example.org>\r\nSubject:')
    envelope = Envelope("wile@desert.example.org", ENVELOPE.recipient)
    assert reply(vacation_with(RunLimits(), sender, envelope)).to == '"Wile E." <wile@desert.example.org>'
    srs = Envelope("srs0=hmc8=v7=desert.example.org=coyote@fwd.example.net", ENVELOPE.recipient)
    assert reply(vacation_with(RunLimits(), ORIGINAL, srs)).to == (
        "<srs0=hmc8=v7=desert.example.org=coyote@fwd.example.net>"
    )
    ignoring = limits(vacation_to_header_ignore_envelope=True)
    action = reply(vacation_with(ignoring, ORIGINAL, srs))
    assert action.to == '"Coyote" <coyote@desert.example.org>'
    assert action.recipient == srs.sender  # the reply still goes where the envelope says


def test_recipient_check_and_sender_settings() -> None:
    elsewhere = ORIGINAL.replace(b"roadrunner@acme.example.com", b"everyone@acme.example.com")
    assert vacation_with(RunLimits(), elsewhere).actions == (KeepAction(implicit=True),)  # §4.5
    action = reply(vacation_with(limits(vacation_check_recipient=False), elsewhere))
    assert action.sender is None  # no address of the user's in the header: delivery's own
    sent = reply(vacation_with(limits(vacation_send_from_recipient=True)))
    assert sent.envelope_sender == ENVELOPE.recipient


def test_from_is_the_address_the_message_was_sent_to() -> None:
    # The user named a second address with :addresses; the reply comes from it (§5.4).
    outcome = run(
        compile_script('require "vacation"; vacation :addresses "rr@acme.example.com" "Away.";'),
        SieveMessage.from_bytes(ORIGINAL.replace(b"roadrunner@acme", b"RR@acme")),
        ENVELOPE,
    )
    assert reply(outcome).sender == "RR@acme.example.com"


def test_the_settings_reach_the_run() -> None:
    from pochta.config_sieve import SieveSettings

    run_limits = SieveSettings(
        vacation_subject_template="Abwesend: %{subject}",
        vacation_default_subject="Abwesend",
        vacation_check_recipient=False,
        vacation_send_from_recipient=True,
        vacation_to_header_ignore_envelope=True,
    ).run_limits()
    action = reply(vacation_with(run_limits))
    assert action.subject == "Abwesend: Cyrus bug"
    assert action.envelope_sender == ENVELOPE.recipient
    assert run_limits.vacation_default_subject == "Abwesend"
    assert not run_limits.vacation_check_recipient
    assert run_limits.vacation_to_header_ignore_envelope
