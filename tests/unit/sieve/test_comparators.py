"""Comparators (RFC 4790 §9) and match types (RFC 5228 §2.7.1, RFC 5229 §3.2 captures)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pochta.sieve.comparators import COMPARATORS, MatchType, match

OCTET = COMPARATORS["i;octet"]
CASEMAP = COMPARATORS["i;ascii-casemap"]
NUMERIC = COMPARATORS["i;ascii-numeric"]


@pytest.mark.parametrize(
    ("match_type", "value", "key", "expected"),
    [
        # RFC 5228 §2.7.1's own examples.
        ("contains", "frobnitzm", "frob", True),
        ("contains", "frobnitzm", "nit", True),
        ("contains", "frobnitzm", "fbm", False),
        ("contains", "anything", "", True),
        ("is", "frobnitzm", "frobnitzm", True),
        ("is", "frobnitzm", "frob", False),
        ("is", "", "", True),
        ("is", "x", "", False),
        ("matches", "frobnitzm", "frob*", True),
        ("matches", "frobnitzm", "*nit*", True),
        ("matches", "frobnitzm", "f?obnitzm", True),
        ("matches", "frobnitzm", "f?bnitzm", False),
        ("matches", "", "*", True),
        ("matches", "", "?", False),
        ("matches", "a*b", "a\\*b", True),  # an escaped star matches only a star
        ("matches", "axb", "a\\*b", False),
        ("matches", "a?b", "a\\?b", True),
        ("matches", "axb", "a\\?b", False),
        ("matches", "a\\b", "a\\\\b", True),
    ],
)
def test_match_types(match_type: MatchType, value: str, key: str, expected: bool) -> None:
    assert (match(OCTET, match_type, value, key) is not None) is expected


def test_ascii_casemap_folds_ascii_only() -> None:
    assert match(CASEMAP, "is", "Frobnitzm", "FROBNITZM") is not None
    assert match(CASEMAP, "contains", "Hello World", "WORLD") is not None
    assert match(CASEMAP, "matches", "Meeting AGENDA", "*agenda") is not None
    assert match(CASEMAP, "is", "Ä", "ä") is None  # RFC 4790 §9.2: only a-z and A-Z fold
    assert match(OCTET, "is", "Frob", "frob") is None


def test_question_mark_is_one_octet_under_these_comparators() -> None:
    # RFC 5228 §2.7.1: i;octet and i;ascii-casemap define a character as one octet.
    assert match(OCTET, "matches", "ä", "??") is not None
    assert match(OCTET, "matches", "ä", "?") is None


def test_ascii_numeric() -> None:
    # RFC 4790 §9.1.1: the leading digits are the value; no digit first is positive infinity.
    assert match(NUMERIC, "is", "0042", "42") is not None
    assert match(NUMERIC, "is", "42abc", "42") is not None
    assert match(NUMERIC, "is", "abc", "xyz") is not None  # infinity equals infinity
    assert match(NUMERIC, "is", "abc", "42") is None
    with pytest.raises(ValueError, match="cannot do :contains"):
        match(NUMERIC, "contains", "42", "4")


def test_captures_are_shortest_first() -> None:
    # RFC 5229 §3.2's examples.
    assert match(CASEMAP, "matches", "[acme-users] [fwd] version 1.0 is out", "[*] *") == (
        "[acme-users] [fwd] version 1.0 is out",
        "acme-users",
        "[fwd] version 1.0 is out",
    )
    captures = match(CASEMAP, "matches", "Acme Users <acme-users@example.org>", "*<*@*")
    assert captures == ("Acme Users <acme-users@example.org>", "Acme Users ", "acme-users", "example.org>")
    assert match(CASEMAP, "matches", "abc", "a?c") == ("abc", "b")
    # Captures keep the value's own case, though the comparison folded it.
    assert match(CASEMAP, "matches", "HeLLo", "h*o") == ("HeLLo", "eLL")


def test_many_stars_do_not_explode() -> None:
    value = "a" * 3000
    assert match(OCTET, "matches", value, "*a*a*a*a*a*a*a*a*b") is None
    assert match(OCTET, "matches", value + "b", "*a*a*a*a*a*a*a*a*b") is not None


def _reference(value: str, key: str) -> bool:
    pattern = ""
    index = 0
    while index < len(key):
        char = key[index]
        if char == "\\" and index + 1 < len(key):
            pattern += re.escape(key[index + 1])
            index += 2
            continue
        pattern += ".*" if char == "*" else "." if char == "?" else re.escape(char)
        index += 1
    return re.fullmatch(pattern, value, re.DOTALL) is not None


@given(st.text("ab*?\\", max_size=12), st.text("ab*?\\", max_size=12))
def test_matches_agrees_with_a_regular_expression(value: str, key: str) -> None:
    found = match(OCTET, "matches", value, key)
    assert (found is not None) is _reference(value, key)
    if found is not None:
        assert found[0] == value
        wildcards = [star for star in re.findall(r"\\.|([*?])", key) if star]  # not the escaped ones
        assert len(found) == 1 + len(wildcards)
