"""spamtest, spamtestplus and virustest (RFC 5235) over the verdicts delivery gives."""

from __future__ import annotations

import pytest
from sieve_helpers import assert_compile_error

from pochta.sieve import Envelope, FileIntoAction, KeepAction, SieveMessage, compile_script, run
from pochta.sieve.message import DeliveryContext

# RFC 5235 §3.2.2's example.
PLUS = (
    'require ["spamtestplus", "fileinto", "relational", "comparator-i;ascii-numeric"];\n'
    'if spamtest :value "eq" :comparator "i;ascii-numeric" "0" { fileinto "INBOX.unclassified"; }\n'
    'elsif spamtest :percent :value "eq" :comparator "i;ascii-numeric" "0" { fileinto "INBOX.not-spam"; }\n'
    'elsif spamtest :percent :value "lt" :comparator "i;ascii-numeric" "37" { fileinto "INBOX.spam-trap"; }\n'
    "else { discard; }\n"
)


def actions(script: str, spam: int | None = None, virus: int | None = None) -> list[object]:
    context = DeliveryContext(spam_percent=spam, virus_status=virus)
    result = run(
        compile_script(script),
        SieveMessage.from_bytes(b"Subject: x\r\n\r\n"),
        Envelope("", "b@example.org"),
        context=context,
    )
    assert result.error is None, result.error
    return list(result.actions)


@pytest.mark.parametrize(
    ("spam", "expected"),
    [
        (None, [FileIntoAction("INBOX.unclassified")]),
        (0, [FileIntoAction("INBOX.not-spam")]),
        (36, [FileIntoAction("INBOX.spam-trap")]),
        (37, []),
        (100, []),
    ],
)
def test_the_percent_example_of_rfc_5235(spam: int | None, expected: list[object]) -> None:
    assert actions(PLUS, spam) == expected


def test_the_ten_point_scale_and_count() -> None:
    script = (
        'require ["spamtest", "fileinto", "relational", "comparator-i;ascii-numeric", "variables"];\n'
        'if spamtest :matches "*" { fileinto "score-${1}"; }\n'
        'if spamtest :count "eq" :comparator "i;ascii-numeric" "0" { fileinto "untested"; }\n'
    )
    # §3.2.1: 0 untested, 1 clear .. 10 definitely spam.
    assert actions(script) == [FileIntoAction("score-0"), FileIntoAction("untested")]
    assert actions(script, 0) == [FileIntoAction("score-1")]
    assert actions(script, 50) == [FileIntoAction("score-6")]
    assert actions(script, 100) == [FileIntoAction("score-10")]


def test_virustest() -> None:
    script = (
        'require ["virustest", "fileinto", "relational", "comparator-i;ascii-numeric"];\n'
        'if virustest :value "ge" :comparator "i;ascii-numeric" "4" { fileinto "quarantine"; }\n'
    )
    assert actions(script, virus=5) == [FileIntoAction("quarantine")]
    assert actions(script, virus=1) == [KeepAction(implicit=True)]
    assert actions(script) == [KeepAction(implicit=True)]  # 0: not checked


@pytest.mark.parametrize(
    ("script", "says"),
    [
        ('if spamtest "1" {}', "'spamtest' needs require \"spamtest\""),
        ('require "spamtest"; if spamtest :percent "1" {}', "':percent' needs require \"spamtestplus\""),
        ('require "virustest"; if virustest :percent "1" {}', "'virustest' has no argument ':percent'"),
        ('if virustest "1" {}', "'virustest' needs require \"virustest\""),
    ],
)
def test_errors(script: str, says: str) -> None:
    assert_compile_error(script, says)
