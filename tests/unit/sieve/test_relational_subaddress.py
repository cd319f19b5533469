"""Relational tests (RFC 5231) and subaddresses (RFC 5233)."""

from __future__ import annotations

import pytest
from sieve_helpers import assert_compile_error

from pochta.sieve import Envelope, FileIntoAction, SieveMessage, compile_script, run
from pochta.sieve.comparators import COMPARATORS, relate
from pochta.sieve.message import DeliveryContext

# RFC 5231 §6's message.
MESSAGE = SieveMessage.from_bytes(
    b"received: ...\r\nreceived: ...\r\nsubject: example\r\n"
    b"to: foo@example.com, baz@example.com\r\ncc: qux@example.com\r\n\r\n"
)
HEAD = 'require ["relational", "comparator-i;ascii-numeric", "fileinto", "envelope", "subaddress"];\n'


def true(test: str, envelope: Envelope | None = None, separator: str = "+") -> bool:
    script = compile_script(HEAD + f'if {test} {{ fileinto "yes"; }}')
    result = run(
        script,
        MESSAGE,
        envelope or Envelope("a@example.org", "b@example.org"),
        context=DeliveryContext(subaddress_separator=separator),
    )
    assert result.error is None
    return FileIntoAction("yes") in result.actions


def test_the_examples_of_rfc_5231() -> None:
    numeric = ':comparator "i;ascii-numeric"'
    assert true(f'address :count "ge" {numeric} ["to", "cc"] ["3"]')
    assert not true(
        f'anyof (address :count "ge" {numeric} ["to"] ["3"], address :count "ge" {numeric} ["cc"] ["3"])'
    )
    assert not true(f'header :count "ge" {numeric} ["received"] ["3"]')
    assert true(f'header :count "ge" {numeric} ["received", "subject"] ["3"]')
    assert not true(f'header :count "ge" {numeric} ["to", "cc"] ["3"]')


def test_value_and_count() -> None:
    assert true('header :value "gt" "subject" "abc"')  # "example" > "abc" in i;ascii-casemap
    assert not true('header :value "lt" "subject" "abc"')
    assert true('header :value "eq" "subject" "EXAMPLE"')  # casemap folds
    assert not true('header :value "eq" :comparator "i;octet" "subject" "EXAMPLE"')
    assert true('header :count "eq" :comparator "i;ascii-numeric" "nope" "0"')
    null = Envelope("", "b@example.org")
    assert true('envelope :count "eq" :comparator "i;ascii-numeric" "from" "0"', envelope=null)
    assert true('envelope :count "eq" :comparator "i;ascii-numeric" ["from", "to"] "2"')


@pytest.mark.parametrize(
    ("relation", "left", "right", "expected"),
    [
        ("gt", "10", "9", True),  # numerically, not as text
        ("lt", "9", "10", True),
        ("eq", "007", "7", True),
        ("gt", "abc", "99999", True),  # RFC 4790 §9.1.1: no digit first is positive infinity
        ("eq", "abc", "xyz", True),
        ("ne", "abc", "5", True),
        ("le", "5", "5", True),
        ("ge", "4", "5", False),
    ],
)
def test_numeric_order(relation: str, left: str, right: str, expected: bool) -> None:
    assert relate(COMPARATORS["i;ascii-numeric"], relation, left, right) is expected  # type: ignore[arg-type]


def test_the_example_of_rfc_5233() -> None:
    ken = Envelope("x@example.org", "ken+mta-filters@example.com")
    assert true('envelope :detail "to" "mta-filters"', envelope=ken)
    assert true('envelope :user "to" "ken"', envelope=ken)
    postmaster = Envelope("x@example.org", "postmaster@example.com")
    assert true('envelope :user "to" "postmaster"', envelope=postmaster)
    # RFC 5233 §4: no separator, no detail to match (not even ""); an empty detail is "".
    assert not true('envelope :detail "to" ""', envelope=postmaster)
    assert true('envelope :detail "to" ""', envelope=Envelope("x@example.org", "ken+@example.com"))
    # The server's separator decides.
    assert true(
        'envelope :detail "to" "lists"', envelope=Envelope("x@e.org", "ken-lists@e.org"), separator="-"
    )
    assert true('address :user "to" "foo"')


@pytest.mark.parametrize(
    ("script", "says"),
    [
        ('require "fileinto"; if header :count "ge" "a" "1" {}', "':count' needs require \"relational\""),
        ('require "relational"; if header :count "gte" "a" "1" {}', "unknown relation 'gte'"),
        ('require "relational"; if header :count 1 "a" "1" {}', "':count' must be followed by a string"),
        ('require "envelope"; if envelope :user "to" "a" {}', "':user' needs require \"subaddress\""),
        ('require "subaddress"; if address :user :domain "to" "a" {}', "':domain' conflicts with ':user'"),
    ],
)
def test_errors(script: str, says: str) -> None:
    assert_compile_error(script, says)
