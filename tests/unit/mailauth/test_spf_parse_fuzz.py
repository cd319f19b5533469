"""Hypothesis on the SPF record and macro parsers: any text gives a record or SpfSyntaxError, any
valid macro string expands, and an evaluation of any record ends in one of the seven results."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from pochta.mailauth.spf_macro import MacroValues, SpfSyntaxError, check_macro_string, expand, target_name
from pochta.mailauth.spf_record import parse_record
from spf_zone import run_spf

_PIECES = st.sampled_from(
    [
        "a",
        "mx",
        "ptr",
        "ip4:",
        "ip6:",
        "exists:",
        "include:",
        "all",
        "redirect=",
        "exp=",
        "-",
        "+",
        "~",
        "?",
        ":",
        "/",
        "//",
        "24",
        "0",
        "129",
        "%{",
        "}",
        "%%",
        "%_",
        "%-",
        "d",
        "i",
        "l",
        "r",
        "p",
        "H",
        "2",
        ".",
        "-",
        "=",
        "example.org",
        "192.0.2.1",
        "::1",
        " ",
        "  ",
        "\x00",
        "\u00e9",
        "%",
        "{ir}",
    ]
)
_RECORD_TEXT = st.lists(_PIECES, max_size=25).map(lambda parts: "v=spf1 " + "".join(parts))
_VALUES = MacroValues(
    "Some.One+tag@example.org", "example.org", ipaddress.ip_address("2001:db8::1"), "helo.example.org"
)


@given(st.one_of(_RECORD_TEXT, st.text(max_size=80).map(lambda t: "v=spf1 " + t)))
@settings(max_examples=400, deadline=None)
def test_any_record_text_parses_or_is_a_syntax_error(text: str) -> None:
    try:
        record = parse_record(text)
    except SpfSyntaxError:
        return
    assert all(m.qualifier in "+-~?" for m in record.mechanisms)


@given(st.lists(_PIECES, max_size=20).map("".join), st.booleans())
@settings(max_examples=400, deadline=None)
def test_valid_macro_strings_expand(text: str, exp: bool) -> None:
    try:
        check_macro_string(text, exp=exp)
    except SpfSyntaxError:
        return
    expanded = expand(text, _VALUES, exp=exp)
    assert isinstance(expanded, str)
    assert target_name(expanded * 20) in expanded * 20


@given(_RECORD_TEXT, st.sampled_from(["192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1"]))
@settings(max_examples=300, deadline=None)
def test_any_record_evaluates_to_a_result(text: str, ip: str) -> None:
    zone = {
        ("t.example.org", "TXT"): [text],
        ("example.org", "TXT"): [text],
        ("example.org", "A"): ["192.0.2.1"],
        ("example.org", "MX"): ["10 example.org."],
    }
    outcome, answers = run_spf(zone, ip, "x@t.example.org")
    assert outcome.result in ("none", "neutral", "pass", "fail", "softfail", "temperror", "permerror")
    assert len(answers.asked) < 200  # bounded work, whatever the record
