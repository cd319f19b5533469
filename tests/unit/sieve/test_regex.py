"""The regex match type (draft-ietf-sieve-regex) on RE2: POSIX syntax, leftmost-longest, match
variables, :quoteregex, and patterns that cannot make matching slow."""

from __future__ import annotations

import pytest
from sieve_helpers import assert_compile_error

from pochta.sieve import Envelope, FileIntoAction, Outcome, SieveMessage, compile_script, run
from pochta.sieve.regex import quote_regex, regex_search

MESSAGE = b"From: Joe Example <joe@example.org>\r\nSubject: [list] Release 2.3.19 is out\r\n\r\nx\r\n"
HEAD = 'require ["regex", "variables", "fileinto"];\n'


def outcome(script: str) -> Outcome:
    return run(
        compile_script(HEAD + script),
        SieveMessage.from_bytes(MESSAGE),
        Envelope("a@example.org", "b@example.org"),
    )


def filed(script: str) -> list[str]:
    result = outcome(script)
    assert result.error is None, result.error
    return [action.mailbox for action in result.actions if isinstance(action, FileIntoAction)]


def test_match_and_groups() -> None:
    assert filed(
        'if header :regex "subject" "^\\\\[([a-z]+)\\\\] Release ([0-9.]+)" { fileinto "${1}-${2}"; }'
    ) == ["list-2.3.19"]
    # Anywhere in the value (POSIX regexec), case folded under i;ascii-casemap only.
    assert filed('if header :regex "subject" "RELEASE" { fileinto "fold"; }') == ["fold"]
    assert filed('if header :regex :comparator "i;octet" "subject" "RELEASE" { fileinto "octet"; }') == []
    assert filed('if address :regex :domain "from" "^example\\\\.(org|net)$" { fileinto "${0}"; }') == [
        "example.org"
    ]
    # POSIX classes, and the leftmost-longest match.
    assert regex_search("[[:digit:]]+", "abc 123 4567", False) == ("123",)
    assert regex_search("(a|ab)(c|bcd)(d*)", "abcd", False) == ("abcd", "a", "bcd", "")


def test_quoteregex() -> None:
    assert quote_regex("a.b*c(d)|[e]$") == "a\\.b\\*c\\(d\\)\\|\\[e\\]\\$"
    assert filed(
        'set :quoteregex "v" "2.3.19"; if header :regex "subject" "${v}" { fileinto "literal"; }'
    ) == ["literal"]


def test_a_pathological_pattern_stays_linear() -> None:
    # (a+)+b backtracks exponentially in a backtracking engine; RE2 answers at once.
    assert regex_search("(a+)+b", "a" * 50_000, False) is None


def test_a_bad_pattern_from_variables_fails_when_it_runs() -> None:
    result = outcome('set "p" "(open"; if header :regex "subject" "${p}" { fileinto "x"; }')
    assert result.error is not None
    assert "regular expression" in result.error


@pytest.mark.parametrize(
    ("script", "says"),
    [
        ('if header :regex "subject" "x" {}', "':regex' needs require \"regex\""),
        ('require "regex"; if header :regex "subject" "(open" {}', "the regular expression '(open'"),
        (
            'require ["regex", "comparator-i;ascii-numeric"];\n'
            'if header :regex :comparator "i;ascii-numeric" "subject" "1" {}',
            "cannot be used with :regex",
        ),
        ('require "variables"; set :quoteregex "a" "b";', "':quoteregex' needs require \"regex\""),
    ],
)
def test_errors(script: str, says: str) -> None:
    assert_compile_error(script, says)
