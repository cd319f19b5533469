"""Dovecot Pigeonhole's Sieve test suite (``../shared/conformance/pigeonhole/tests``) run against
``pochta.sieve`` through the harness in ``pochta.testing.sieve_testsuite``.

``pigeonhole_passing.txt`` lists every test that passes today: each must keep passing (a test that
starts to fail is a regression). When more pass, add them to the list:
``.venv/bin/python -m pochta.testing.sieve_testsuite ../shared/conformance/pigeonhole/tests >
tests/conformance/pigeonhole_passing.txt``. Tests that do not pass yet are those of extensions not
built, of Dovecot's own (vnd.dovecot.*, binaries, several scripts in sequence), and those that
differ from Pigeonhole in how many follow-up errors one wrong command gives.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pochta.testing.sieve_testsuite import passing, run_suite
from shared_dir import shared_path

pytestmark = pytest.mark.interop

SUITE = shared_path("conformance/pigeonhole/tests", "POCHTA_PIGEONHOLE_TESTS")
LIST = Path(__file__).with_name("pigeonhole_passing.txt")


def test_pigeonhole_suite_keeps_passing() -> None:
    if not SUITE.is_dir():
        pytest.skip(f"Pigeonhole's tests are not at {SUITE}")
    results = run_suite(SUITE)
    assert len(results) > 100  # the whole suite ran, not a stray directory
    now = set(passing(results))
    expected = {
        line for line in LIST.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")
    }
    regressed = sorted(expected - now)
    reasons = {
        f"{name} :: {outcome.name}": outcome.reason
        for name, outcomes in results.items()
        for outcome in outcomes
        if not outcome.passed
    }
    assert not regressed, "no longer passing:\n" + "\n".join(
        f"{test}: {reasons.get(test, '?')}" for test in regressed
    )
    total = sum(len(outcomes) for outcomes in results.values())
    print(f"Pigeonhole: {len(now)} of {total} tests pass in {len(results)} files")
