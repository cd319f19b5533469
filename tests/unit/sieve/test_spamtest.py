"""spamtest, spamtestplus and virustest (RFC 5235) over the verdicts scanners leave in header
fields, read as [sieve] spamtest_*/virustest_* configure (pochta.sieve.spamscore)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sieve_helpers import assert_compile_error

from pochta.config_sieve import SieveSettings
from pochta.sieve import Envelope, FileIntoAction, KeepAction, SieveMessage, compile_script, run

# RFC 5235 §3.2.2's example.
PLUS = (
    'require ["spamtestplus", "fileinto", "relational", "comparator-i;ascii-numeric"];\n'
    'if spamtest :value "eq" :comparator "i;ascii-numeric" "0" { fileinto "INBOX.unclassified"; }\n'
    'elsif spamtest :percent :value "eq" :comparator "i;ascii-numeric" "0" { fileinto "INBOX.not-spam"; }\n'
    'elsif spamtest :percent :value "lt" :comparator "i;ascii-numeric" "37" { fileinto "INBOX.spam-trap"; }\n'
    "else { discard; }\n"
)
# rspamd's X-Spam-Score is the score alone; the maximum is the administrator's reject threshold.
RSPAMD = SieveSettings(spamtest_header="X-Spam-Score", spamtest_max_score=15.0)
# ClamAV's milter as a text verdict.
CLAMAV = SieveSettings(
    virustest_header="X-Virus-Status:^(\\w+)",
    virustest_type="text",
    virustest_text_values={1: "Clean", 5: "Infected"},
)


def actions(script: str, header: str = "", settings: SieveSettings = RSPAMD) -> list[object]:
    result = run(
        compile_script(script),
        SieveMessage.from_bytes(f"{header}Subject: x\r\n\r\n".encode()),
        Envelope("", "b@example.org"),
        limits=settings.run_limits(),
    )
    assert result.error is None, result.error
    return list(result.actions)


def score(value: float) -> str:
    return f"X-Spam-Score: {value}\r\n"


@pytest.mark.parametrize(
    ("spam", "expected"),
    [
        ("", [FileIntoAction("INBOX.unclassified")]),
        (score(-2), [FileIntoAction("INBOX.not-spam")]),
        (score(0), [FileIntoAction("INBOX.not-spam")]),
        (score(5.4), [FileIntoAction("INBOX.spam-trap")]),  # 36%
        (score(5.55), []),  # 37%
        (score(40), []),
        ("X-Spam-Score: lots\r\n", [FileIntoAction("INBOX.unclassified")]),  # no number: no verdict
    ],
)
def test_the_percent_example_of_rfc_5235(spam: str, expected: list[object]) -> None:
    assert actions(PLUS, spam) == expected


def test_the_ten_point_scale_and_count() -> None:
    script = (
        'require ["spamtest", "fileinto", "relational", "comparator-i;ascii-numeric", "variables"];\n'
        'if spamtest :matches "*" { fileinto "score-${1}"; }\n'
        'if spamtest :count "eq" :comparator "i;ascii-numeric" "0" { fileinto "untested"; }\n'
    )
    # §3.2.1: 0 untested, 1 clear .. 10 definitely spam.
    assert actions(script) == [FileIntoAction("score-0"), FileIntoAction("untested")]
    assert actions(script, score(0)) == [FileIntoAction("score-1")]
    assert actions(script, score(7.5)) == [FileIntoAction("score-5")]  # 1 + 4.5, cut
    assert actions(script, score(15)) == [FileIntoAction("score-10")]
    # Not configured: every message is "not tested", whatever its header says.
    assert actions(script, score(15), SieveSettings()) == [
        FileIntoAction("score-0"),
        FileIntoAction("untested"),
    ]


def test_spamassassin_status_with_its_own_threshold_and_level_stars() -> None:
    script = (
        'require ["spamtestplus", "fileinto", "variables"];\n'
        'if spamtest :percent :matches "*" { fileinto "${1}"; }'
    )
    status = SieveSettings(
        spamtest_header="X-Spam-Status:score=(-?[0-9]+\\.[0-9]+)",
        spamtest_max_header="X-Spam-Status:required=([0-9]+\\.[0-9]+)",
    )
    header = "X-Spam-Status: Yes, score=4.0 required=5.0 tests=FOO\r\n"
    assert actions(script, header, status) == [FileIntoAction("80")]
    stars = SieveSettings(spamtest_header="X-Spam-Level", spamtest_type="strlen", spamtest_max_score=10)
    assert actions(script, "X-Spam-Level: ***\r\n", stars) == [FileIntoAction("30")]
    assert actions(script, "X-Spam-Level: " + "*" * 30 + "\r\n", stars) == [FileIntoAction("100")]


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"spamtest_header": "X-Spam-Score"}, "needs spamtest_max_score"),
        ({"virustest_header": "X-Virus", "virustest_type": "text"}, "needs virustest_text_values"),
        ({"virustest_header": "X", "virustest_text_values": {6: "x"}}, "levels are 1..5"),
        ({"spamtest_header": "X:(", "spamtest_max_score": 1}, "bad expression"),
        ({"spamtest_header": "X Y", "spamtest_max_score": 1}, "not a header field name"),
    ],
)
def test_settings_that_cannot_be_read_are_refused(settings: dict[str, object], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        SieveSettings.model_validate(settings)


def test_virustest() -> None:
    script = (
        'require ["virustest", "fileinto", "relational", "comparator-i;ascii-numeric"];\n'
        'if virustest :value "ge" :comparator "i;ascii-numeric" "4" { fileinto "quarantine"; }\n'
    )
    assert actions(script, "X-Virus-Status: Infected (Eicar-Signature)\r\n", CLAMAV) == [
        FileIntoAction("quarantine")
    ]
    assert actions(script, "X-Virus-Status: Clean\r\n", CLAMAV) == [KeepAction(implicit=True)]
    assert actions(script, "", CLAMAV) == [KeepAction(implicit=True)]  # 0: not checked


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
