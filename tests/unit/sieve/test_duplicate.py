"""duplicate (RFC 7352): the unique ID, the handle, :seconds/:last, one answer per run, records."""

from __future__ import annotations

import pytest
from sieve_helpers import assert_compile_error

from pochta.sieve import Envelope, FileIntoAction, Outcome, RunLimits, SieveMessage, compile_script, run
from pochta.sieve.actions import DuplicateRecord
from pochta.sieve.message import DeliveryContext

MESSAGE = (
    b"Message-ID:  <m1@example.org>  \r\nSubject: ALERT: disk full\r\nX-Id: abc\r\nX-Id: def\r\n\r\nx\r\n"
)


def outcome(script: str, seen: set[str] | None = None) -> Outcome:
    known = seen or set()
    context = DeliveryContext(duplicate_seen=known.__contains__)
    return run(
        compile_script(script),
        SieveMessage.from_bytes(MESSAGE),
        Envelope("a@example.org", "b@example.org"),
        RunLimits(),
        context,
    )


def filed(result: Outcome) -> list[object]:
    assert result.error is None, result.error
    return [action for action in result.actions if isinstance(action, FileIntoAction)]


def test_example_1_of_rfc_7352() -> None:
    script = (
        'require ["duplicate", "fileinto", "mailbox"]; if duplicate { fileinto :create "Trash/Duplicate"; }'
    )
    first = outcome(script)
    assert filed(first) == []
    # §3.1: the Message-ID unfolded and trimmed is the ID; tracked for 7 days by default.
    assert first.duplicates == (DuplicateRecord("-:<m1@example.org>", 7 * 86400, False),)
    again = outcome(script, {"-:<m1@example.org>"})
    assert filed(again) == [FileIntoAction("Trash/Duplicate", create=True)]


def test_example_2_of_rfc_7352() -> None:
    script = (
        'require ["duplicate", "variables", "imap4flags", "fileinto"];\n'
        'if header :matches "subject" "ALERT: *" {\n'
        '  if duplicate :seconds 60 :uniqueid "${1}" { setflag "\\\\seen"; }\n'
        '  fileinto "Alerts";\n'
        "}"
    )
    assert filed(outcome(script)) == [FileIntoAction("Alerts")]
    assert outcome(script).duplicates == (DuplicateRecord("-:disk full", 60, False),)
    assert filed(outcome(script, {"-:disk full"})) == [FileIntoAction("Alerts", ("\\Seen",))]


def test_ids_handles_and_periods() -> None:
    head = 'require ["duplicate", "fileinto"];\n'
    # The first field of :header; a missing field or bad name is false and tracks nothing.
    assert outcome(head + 'if duplicate :header "x-id" {}').duplicates[0].key == "-:abc"
    assert outcome(head + 'if duplicate :header "x-nope" { fileinto "x"; }').duplicates == ()
    assert outcome(head + 'if duplicate :header "bad name" {}').duplicates == ()
    # A handle keeps its own entries; one list whatever the source of the ID (§3.2).
    assert outcome(head + 'if duplicate :handle "h" :uniqueid "abc" {}').duplicates[0].key == "1:h:abc"
    assert filed(
        outcome(head + 'if duplicate :uniqueid "<m1@example.org>" { fileinto "x"; }', {"-:<m1@example.org>"})
    )
    # §3.3: the maximum replaces a longer period silently; zero is false and tracks nothing.
    assert outcome(head + "if duplicate :seconds 99999999 :last {}").duplicates[0] == DuplicateRecord(
        "-:<m1@example.org>", 30 * 86400, True
    )
    assert (
        outcome(head + 'if duplicate :seconds 0 { fileinto "x"; }', {"-:<m1@example.org>"}).duplicates == ()
    )


def test_one_answer_per_run_and_none_after_an_error() -> None:
    # §3: the same ID is not a duplicate of itself within one run.
    script = (
        'require ["duplicate", "fileinto"]; if duplicate { fileinto "a"; } if duplicate { fileinto "b"; }'
    )
    assert filed(outcome(script)) == []
    failed = outcome('require ["duplicate", "ihave"]; if duplicate {} error "x";')
    assert failed.error is not None
    assert failed.duplicates == ()  # §3: only a run that finished tracks


@pytest.mark.parametrize(
    ("script", "says"),
    [
        ("if duplicate {}", "'duplicate' needs require \"duplicate\""),
        ('require "duplicate"; if duplicate :header "a" :uniqueid "b" {}', "conflicts with ':header'"),
        ('require "duplicate"; if duplicate :seconds "1" {}', "':seconds' must be followed by a number"),
    ],
)
def test_errors(script: str, says: str) -> None:
    assert_compile_error(script, says)
