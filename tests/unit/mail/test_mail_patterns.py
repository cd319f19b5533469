"""LIST patterns (pochta.mail.patterns): RFC 9051 §6.3.9 semantics, matched without backtracking."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pochta.mail.patterns import NamePattern, count_wildcards


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("*", "a/b/c", True),
        ("%", "a", True),
        ("%", "a/b", False),
        ("a/%", "a/b", True),
        ("a/%", "a/b/c", False),
        ("a*c", "a/b/c", True),
        ("a%c", "a/b/c", False),
        ("%/%", "a/b", True),
        ("%*%", "a/b/c", True),  # a run holding "*" is "*"
        ("%%%", "a/b", False),  # a run of "%" is "%"
        ("*/", "a/b/", True),
        ("", "", True),
        ("", "a", False),
        ("*a", "ba", True),
        ("*a", "ab", False),
        ("inbox", "INBOX", True),
        ("Inbox/%", "INBOX/x", True),
        ("iNbOx*", "INBOX/x", True),
        ("inboxes", "INBOX", False),
        ("inbox", "inbox", False),  # names are canonical: the store holds INBOX
        ("a.b", "axb", False),  # regular-expression metacharacters are literal
        ("[x]", "[x]", True),
        ("a\\b", "a\\b", True),
        ("Entw%", "Entwürfe", True),
    ],
)
def test_patterns(pattern: str, name: str, matches: bool) -> None:
    assert NamePattern(pattern).matches(name) is matches


def _reference(pattern: str, name: str) -> bool:
    """What RFC 9051 §6.3.9 says, as a (backtracking) regular expression: fine on short inputs."""
    if pattern[:5].upper() == "INBOX" and (len(pattern) == 5 or pattern[5] in "/%*"):
        pattern = "INBOX" + pattern[5:]
    regex = "".join(".*" if c == "*" else "[^/]*" if c == "%" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name, re.DOTALL) is not None


@given(
    st.text(alphabet="ab/%*", max_size=12) | st.text(alphabet="inboxINBOX/%*", max_size=10),
    st.text(alphabet="ab/", max_size=12) | st.sampled_from(["INBOX", "INBOX/a", "INBOX/a/b", "inbox"]),
)
def test_agrees_with_the_regular_expression_reference(pattern: str, name: str) -> None:
    assert NamePattern(pattern).matches(name) is _reference(pattern, name)


def test_count_wildcards() -> None:
    assert count_wildcards("a/%/*%") == 3
    assert count_wildcards("INBOX") == 0


def _seconds(pattern: str, name: str) -> float:
    compiled = NamePattern(pattern)
    start = time.perf_counter()
    compiled.matches(name)
    return time.perf_counter() - start


@pytest.mark.parametrize(
    ("pattern", "name"),
    [
        ("%" * 1000 + "Z", "a" * 5000),  # the reported attack, far larger: runs collapse
        ("%a" * 1000 + "Z", "a" * 5000),  # no run to collapse: a thousand live states
        ("*a" * 1000 + "Z", "a/" * 2500),
        ("*a%" * 500 + "Z", "ab/" * 1700),
    ],
)
def test_time_is_linear_not_exponential(pattern: str, name: str) -> None:
    # A backtracking matcher takes hours on each of these (50 "%" and a 60-octet name took 13.7 s);
    # this one takes milliseconds. The bound is generous for a loaded machine, and no backtracking
    # matcher comes near it.
    assert _seconds(pattern, name) < 1.0
    # Linear in the name: twice the name, not four times the time (plus slack for noise).
    short, long = name[: len(name) // 2], name
    assert _seconds(pattern, long) < 4 * _seconds(pattern, short) + 0.05
