"""MTA-STS policy text, TXT records and MX patterns (pochta.queue.mta_sts, RFC 8461)."""

from __future__ import annotations

import pytest

from pochta.queue.mta_sts import MAX_AGE_LIMIT, Policy, PolicyError, mx_matches, parse_policy, parse_txt

GOOD = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 86400\r\n"


@pytest.mark.parametrize("text", [GOOD, GOOD.replace("\r\n", "\n"), GOOD.rstrip("\r\n")])
def test_good_policy_with_crlf_or_lf(text: str) -> None:
    policy = parse_policy(text)
    assert policy == Policy("enforce", 86400, ("mail.example.com", "*.example.net"))
    assert parse_policy(policy.text()) == policy  # the cached form reads back the same


def test_unknown_keys_are_ignored_and_order_is_free() -> None:
    text = "max_age: 600\nmx: MX.Example.COM.\nfuture_key: anything at all\nmode: testing\nversion: STSv1\n"
    assert parse_policy(text) == Policy("testing", 600, ("mx.example.com",))


def test_mode_none_needs_no_mx() -> None:
    assert parse_policy("version: STSv1\nmode: none\nmax_age: 0\n") == Policy("none", 0, ())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mode: enforce\nmx: a.example\nmax_age: 1\n", "'version' must appear exactly once"),
        ("version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n", "unsupported version"),
        ("version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n", "unknown mode"),
        ("version: STSv1\nmode: enforce\nmx: a.example\n", "'max_age' must appear exactly once"),
        ("version: STSv1\nmode: enforce\nmax_age: 1\n", "no 'mx' pattern"),
        ("version: STSv1\nmode: enforce\nmode: testing\nmx: a.example\nmax_age: 1\n", "'mode' must"),
        (f"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: {MAX_AGE_LIMIT + 1}\n", "max_age"),
        ("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -5\n", "max_age"),
        ("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 12345678901\n", "max_age"),
        ("version: STSv1\nmode: enforce\nmx: *.*.example\nmax_age: 1\n", "mx pattern"),
        ("version: STSv1\nmode: enforce\nmx: mail*.example\nmax_age: 1\n", "mx pattern"),
        ("version: STSv1\nmode: enforce\nmx: localhost\nmax_age: 1\n", "mx pattern"),
        ("version: STSv1\nmode enforce\nmx: a.example\nmax_age: 1\n", "line 2"),
        ("<html>not a policy</html>", "line 1"),
    ],
)
def test_bad_policies(text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy(text)


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        (["v=STSv1; id=20260101T000000;"], "20260101T000000"),
        (["v=STSv1;id=abc"], "abc"),
        (["v=STSv1; id=abc; ext=1"], "abc"),
        (["v=spf1 -all", "v=STSv1; id=abc"], "abc"),  # other records are discarded
        (["v=STSv1; id=abc", "v=STSv1; id=def"], None),  # not exactly one: no policy
        (["v=STSv1; id=" + "a" * 33], None),  # 1*32 characters
        (["v=STSv1; id=a-b"], None),
        (["v=STSv1"], None),
        (["v=STSv1; id=abc; id=def"], None),
        ([], None),
    ],
)
def test_txt_records(records: list[str], expected: str | None) -> None:
    assert parse_txt(records) == expected


@pytest.mark.parametrize(
    ("pattern", "host", "expected"),
    [
        ("mail.example.com", "mail.example.com", True),
        ("mail.example.com", "MAIL.Example.com.", True),
        ("mail.example.com", "mail2.example.com", False),
        ("*.example.com", "mx1.example.com", True),
        ("*.example.com", "example.com", False),  # the wildcard is one whole label
        ("*.example.com", "a.b.example.com", False),  # ... and only one
        ("*.example.com", "mx1.example.com.evil.test", False),
    ],
)
def test_mx_patterns(pattern: str, host: str, expected: bool) -> None:
    assert mx_matches(pattern, host) is expected
