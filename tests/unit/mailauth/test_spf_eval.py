"""The SPF evaluator (RFC 7208) against zones in a dict: record selection, every mechanism with
its CIDR lengths, include/redirect/exp, macros, the processing limits, temperror vs permerror.
The cases follow the scenarios of the open SPF test suite (rfc7208-tests.yml), rewritten here."""

from __future__ import annotations

import pytest

from spf_zone import run_spf

HOST = {("mail.example.com", "A"): ["192.0.2.4"], ("mail.example.com", "AAAA"): ["2001:db8::4"]}


def _one(
    record: str | list[str],
    ip: str = "192.0.2.4",
    extra: dict[tuple[str, str], list[str]] | None = None,
    **kwargs: object,
) -> str:
    records = [record] if isinstance(record, str) else record
    zone = {**HOST, ("t.example.org", "TXT"): records, **(extra or {})}
    outcome, _ = run_spf(zone, ip, "user@t.example.org", **kwargs)  # type: ignore[arg-type]
    return outcome.result


# --- initial processing and record selection (RFC 7208 sections 4.3 to 4.5) ---------------------


@pytest.mark.parametrize(
    ("sender", "helo", "expected"),
    [
        ("x@" + "a" * 64 + ".example.org", "mail.example.com", "none"),  # label past 63
        ("x@a..example.org", "mail.example.com", "none"),  # empty label
        ("", "SINGLELABEL", "none"),  # postmaster@HELO, HELO not a FQDN
        ("", "[192.0.2.4]", "none"),  # a domain literal is no domain
        ("x@[192.0.2.4]", "mail.example.com", "none"),
    ],
)
def test_malformed_domains_are_none_without_a_lookup(sender: str, helo: str, expected: str) -> None:
    outcome, answers = run_spf({}, "192.0.2.4", sender, helo)
    assert outcome.result == expected
    assert answers.asked == []


def test_no_local_part_means_postmaster_and_exp_sees_it() -> None:
    zone = {
        ("t.example.org", "TXT"): ["v=spf1 -all exp=why.example.org"],
        ("why.example.org", "TXT"): ["%{l}"],
    }
    outcome, _ = run_spf(zone, "192.0.2.4", "@t.example.org")
    assert (outcome.result, outcome.explanation) == ("fail", "postmaster")


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        (["v=spf1 -all"], "fail"),
        (["v=spf1"], "neutral"),  # empty record: the default
        (["v=spf10"], "none"),  # the version must end with a space or the record
        (["v=spf1", "v=spf1 +all"], "permerror"),  # two records
        (["v=spf1 -all", "V=SpF1 +all"], "permerror"),  # case-insensitive version
        (["v=SpF1 ~all"], "softfail"),
        (["some other text", "v=spf1 -all"], "fail"),  # other TXT records are ignored
        (["v=spf1 a  -all"], "pass"),  # several spaces between terms
        (["v=spf1 a:t.example.org\rptr -all"], "permerror"),  # only spaces separate terms
        (["v=spf1 a:\ufeffbad.example.org -all"], "permerror"),  # 7-bit ASCII only
        (["v=spf1 -all", "\ufffd"], "fail"),  # non-ASCII in other records: none of our business
    ],
)
def test_record_selection(records: list[str], expected: str) -> None:
    extra = {("t.example.org", "A"): ["192.0.2.4"]}
    assert _one(records, extra=extra) == expected


def test_a_timeout_on_the_record_is_temperror_and_nxdomain_none() -> None:
    outcome, _ = run_spf({}, "192.0.2.4", "x@t.example.org", timeouts=["t.example.org"])
    assert outcome.result == "temperror"
    outcome, _ = run_spf({}, "192.0.2.4", "x@t.example.org")
    assert outcome.result == "none"


# --- record syntax (RFC 7208 section 4.6) -----------------------------------------------------


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ("v=spf1 ip4:192.0.2.4 -all moo", "permerror"),  # a syntax error after a match counts
        ("v=spf1 moo.cow-far_out=man:dog/cat ip4:192.0.2.4 -all", "pass"),  # unknown modifier
        ("v=spf1 moo.cow/far_out=man:dog/cat ip4:192.0.2.4 -all", "permerror"),
        ("v=spf1 moo.cow:far_out=man:dog/cat ip4:192.0.2.4 -all", "permerror"),
        ("v=spf1 1up=foo", "permerror"),  # a modifier name starts with a letter
        ("v=spf1 =all", "permerror"),
        ("v=spf1 -all foo=%abc", "permerror"),  # unknown modifiers need valid macros too
        ("v=spf1 default=pass", "neutral"),  # unknown modifiers change nothing
        ("v=spf1 ip4:192.0.2.4 redirect:t2.example.org", "permerror"),  # redirect is a modifier
        ("v=spf1 -all.", "permerror"),
        ("v=spf1 -all:foobar", "permerror"),
        ("v=spf1 -all/8", "permerror"),
        ("v=spf1 ?all", "neutral"),
        ("v=spf1 all -all", "pass"),
        ("v=spf1 ip4:192.0.2.5", "neutral"),  # no match: neutral
    ],
)
def test_record_syntax(record: str, expected: str) -> None:
    assert _one(record) == expected


# --- mechanisms (RFC 7208 section 5) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "ip", "expected"),
    [
        ("v=spf1 ip4:192.0.2.0/24 -all", "192.0.2.4", "pass"),
        ("v=spf1 ip4:198.51.100.1/0 -all", "192.0.2.4", "pass"),
        ("v=spf1 ip4:192.0.2.4/32 -all", "192.0.2.4", "pass"),
        ("v=spf1 ip4:192.0.2.4/33 -all", "192.0.2.4", "permerror"),
        ("v=spf1 ip4:192.0.2.4/032 -all", "192.0.2.4", "permerror"),  # no leading zeros
        ("v=spf1 ip4", "192.0.2.4", "permerror"),
        ("v=spf1 ip4:192.0.2.4:8080", "192.0.2.4", "permerror"),
        ("v=spf1 ip4:192.0.2", "192.0.2.4", "permerror"),
        ("v=spf1 ip4:192.0.2.4//32", "192.0.2.4", "permerror"),
        ("v=spf1 -ip4:192.0.2.4 ip6:::ffff:192.0.2.4", "::ffff:192.0.2.4", "fail"),  # mapped is IPv4
        ("v=spf1 ip6:::1.1.1.1/0", "192.0.2.4", "neutral"),  # IPv4 clients never match ip6
        ("v=spf1 ip6:::1.1.1.1/0", "::ffff:192.0.2.4", "neutral"),
        ("v=spf1 ip6:::1.1.1.1/0", "2001:db8::9", "pass"),
        ("v=spf1 ip6:::1.1.1.1/129", "192.0.2.4", "permerror"),
        ("v=spf1 ip6:::1.1.1.1//33", "192.0.2.4", "permerror"),
        ("v=spf1 ip6:2001:db8:8000::/33", "2001:db8:8000::1", "pass"),
        ("v=spf1 ip6:2001:db8:8000::/33", "2001:db8::1", "neutral"),
        ("v=spf1 ip6::CAFE::BABE", "192.0.2.4", "permerror"),
        ("v=spf1 -all ip6", "192.0.2.4", "permerror"),
    ],
)
def test_ip4_and_ip6(record: str, ip: str, expected: str) -> None:
    assert _one(record, ip) == expected


A_ZONE = {
    ("e2.example.org", "A"): ["198.51.100.1"],
    ("e2.example.org", "AAAA"): ["2001:db8:1::2"],
    ("e2a.example.org", "AAAA"): ["2001:db8:1::1"],
    ("e8.example.org", "A"): ["192.0.2.5"],
    ("e8.example.org", "AAAA"): ["2001:db8:1234::dead:beef"],
    ("multi.example.org", "A"): ["198.51.100.1", "192.0.2.5"],
    ("foo:bar/baz.example.org", "A"): ["192.0.2.4"],
    ("foo.example.xn--zckzah", "A"): ["192.0.2.4"],
}


@pytest.mark.parametrize(
    ("record", "ip", "expected"),
    [
        ("v=spf1 a -all", "192.0.2.4", "fail"),  # t.example.org has no A record
        ("v=spf1 a/0 -all", "192.0.2.4", "fail"),  # no addresses: no match even with /0
        ("v=spf1 a:e2.example.org/0 -all", "192.0.2.4", "pass"),
        ("v=spf1 a:e2.example.org/0 -all", "2001:db8:9::1", "fail"),  # /0 is IPv4's length
        ("v=spf1 a:e2a.example.org//0 -all", "192.0.2.4", "fail"),
        ("v=spf1 a:e2a.example.org//0 -all", "::ffff:192.0.2.4", "fail"),
        ("v=spf1 a:e2a.example.org//0 -all", "2001:db8:9::1", "pass"),
        ("v=spf1 a:e8.example.org/24//64 -all", "192.0.2.4", "pass"),
        ("v=spf1 a:e8.example.org/24//64 -all", "2001:db8:1234::cafe:babe", "pass"),
        ("v=spf1 a:e8.example.org/24 -all", "2001:db8:1234::cafe:babe", "fail"),
        ("v=spf1 a:e8.example.org//64 -all", "192.0.2.4", "fail"),
        ("v=spf1 a:e8.example.org/24/64 -all", "192.0.2.4", "permerror"),
        ("v=spf1 a//33 -all", "192.0.2.4", "fail"),  # valid IPv6 length
        ("v=spf1 a/33 -all", "192.0.2.4", "permerror"),
        ("v=spf1 a//129 -all", "192.0.2.4", "permerror"),
        ("v=spf1 a:multi.example.org/24 -all", "192.0.2.4", "pass"),  # any address matches
        ("v=spf1 a:example.org:8080", "192.0.2.4", "permerror"),  # ':' not in the top label
        ("v=spf1 a:foo.example.org\x00", "192.0.2.4", "permerror"),
        ("v=spf1 a:111.222.33.44", "192.0.2.4", "permerror"),  # numeric top label
        ("v=spf1 a:abc.123", "192.0.2.4", "permerror"),
        ("v=spf1 a:museum", "192.0.2.4", "permerror"),  # a top label alone
        ("v=spf1 a:museum.", "192.0.2.4", "permerror"),
        ("v=spf1 a:example.-com", "192.0.2.4", "permerror"),
        ("v=spf1 a:", "192.0.2.4", "permerror"),
        ("v=spf1 a:foo:bar/baz.example.org", "192.0.2.4", "pass"),  # any visible char but %
        ("v=spf1 a:foo:bar/baz.example.org", "::ffff:192.0.2.4", "pass"),
        ("v=spf1 a:foo.example.xn--zckzah -all", "192.0.2.4", "pass"),  # dashes in a top label
        ("v=spf1 a:foo-bar -all", "192.0.2.4", "permerror"),
        ("v=spf1 a:mail.example...org -all", "192.0.2.4", "fail"),  # empty label: no such name
        ("v=spf1 a:" + "a" * 64 + ".example.org -all", "192.0.2.4", "fail"),
    ],
)
def test_a(record: str, ip: str, expected: str) -> None:
    assert _one(record, ip, A_ZONE) == expected


MX_ZONE = {
    ("e2.example.org", "MX"): ["0 e2.example.org."],
    ("e2.example.org", "A"): ["198.51.100.1"],
    ("e2.example.org", "AAAA"): ["2001:db8:1::2"],
    ("e2a.example.org", "MX"): ["0 e2a.example.org."],
    ("e2a.example.org", "AAAA"): ["2001:db8:1::1"],
    ("foo.example.org", "MX"): ["0 foo1.example.org."],
    ("foo1.example.org", "A"): ["198.51.100.1", "192.0.2.5"],
    ("nomx.example.org", "A"): ["192.0.2.4"],
    ("null.example.org", "MX"): ["0 ."],
    ("many.example.org", "MX"): [f"{i} mail.example.com." for i in range(10)] + ["10 many.example.org."],
    ("many.example.org", "A"): ["192.0.2.5"],
    ("ten.example.org", "MX"): [f"{i} mail.example.com." for i in range(10)],
}


@pytest.mark.parametrize(
    ("record", "ip", "expected"),
    [
        ("v=spf1 mx/0 -all", "192.0.2.4", "fail"),  # no MX at all
        ("v=spf1 mx:e2.example.org/0 -all", "192.0.2.4", "pass"),
        ("v=spf1 mx:e2.example.org/0 -all", "2001:db8:9::1", "fail"),
        ("v=spf1 mx:e2a.example.org//0 -all", "192.0.2.4", "fail"),
        ("v=spf1 mx:e2a.example.org//0 -all", "2001:db8:9::1", "pass"),
        ("v=spf1 mx:foo.example.org/24 -all", "192.0.2.4", "pass"),
        ("v=spf1 mx//33 -all", "192.0.2.4", "fail"),
        ("v=spf1 mx/33 -all", "192.0.2.4", "permerror"),
        ("v=spf1 mx//129 -all", "192.0.2.4", "permerror"),
        ("v=spf1 mx:example.org:8080", "192.0.2.4", "permerror"),
        ("v=spf1 mx:abc.123", "192.0.2.4", "permerror"),
        ("v=spf1 mx: -all", "192.0.2.4", "permerror"),
        ("v=spf1 mx:nomx.example.org", "192.0.2.4", "neutral"),  # no implicit MX, no A fallback
        ("v=spf1 mx:null.example.org", "192.0.2.4", "neutral"),  # a null MX names no host
        ("v=spf1 mx:many.example.org", "192.0.2.5", "permerror"),  # 11 MX names
        ("v=spf1 mx:ten.example.org", "192.0.2.4", "pass"),  # 10 is the limit
    ],
)
def test_mx(record: str, ip: str, expected: str) -> None:
    assert _one(record, ip, MX_ZONE) == expected


PTR_ZONE = {
    ("4.2.0.192.in-addr.arpa", "PTR"): ["e3.example.org.", "e4.example.org.", "mail.example.com."],
    ("e3.example.org", "A"): ["192.0.2.4"],
    ("e3.example.org", "AAAA"): ["2001:db8:cafe::1"],
    ("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.e.f.a.c.8.b.d.0.1.0.0.2.ip6.arpa", "PTR"): ["e3.example.org."],
    ("5.2.0.192.in-addr.arpa", "PTR"): [f"h{i}.example.net." for i in range(10)] + ["t.example.org."],
    ("t.example.org", "A"): ["192.0.2.5"],
    ("9.2.0.192.in-addr.arpa", "PTR"): ["MAIL.Example.COM."],
    ("mail.example.com", "A"): ["192.0.2.9", "192.0.2.4"],
}


@pytest.mark.parametrize(
    ("record", "ip", "expected"),
    [
        ("v=spf1 ptr/0 -all", "192.0.2.4", "permerror"),
        ("v=spf1 ptr:example.org -all", "192.0.2.4", "pass"),  # e3 validates
        ("v=spf1 ptr:e4.example.org -all", "192.0.2.4", "fail"),  # e4 has no address: not valid
        ("v=spf1 ptr:e3.example.org -all", "2001:db8:cafe::1", "pass"),
        ("v=spf1 ptr:", "192.0.2.4", "permerror"),
        ("v=spf1 ptr", "192.0.2.5", "neutral"),  # t.example.org is the 11th name: ignored
        ("v=spf1 ptr:example.com -all", "192.0.2.9", "pass"),  # case does not matter
        ("v=spf1 ptr:example.com -all", "192.0.2.77", "fail"),  # no PTR record
    ],
)
def test_ptr(record: str, ip: str, expected: str) -> None:
    assert _one(record, ip, PTR_ZONE) == expected


@pytest.mark.parametrize(
    ("record", "ip", "expected"),
    [
        ("v=spf1 exists:", "192.0.2.4", "permerror"),
        ("v=spf1 exists", "192.0.2.4", "permerror"),
        ("v=spf1 exists:mail.example.com/24", "192.0.2.4", "permerror"),
        ("v=spf1 exists:mail.example.com", "192.0.2.4", "pass"),
        ("v=spf1 exists:mail.example.com", "2001:db8::77", "pass"),  # always an A lookup
        ("v=spf1 exists:mail6.example.org -all", "2001:db8::77", "fail"),
        ("v=spf1 exists:err.example.org -all", "2001:db8::77", "temperror"),
    ],
)
def test_exists(record: str, ip: str, expected: str) -> None:
    extra = {("mail6.example.org", "AAAA"): ["2001:db8::77"]}
    assert _one(record, ip, extra, timeouts=["err.example.org"]) == expected


INCLUDED = {
    ("ip5.example.org", "TXT"): ["v=spf1 ip4:192.0.2.5 -all"],
    ("ip6.example.org", "TXT"): ["v=spf1 ip4:192.0.2.6 ~all"],
    ("ip7.example.org", "TXT"): ["v=spf1 ip4:192.0.2.7 ?all"],
    ("ip9.example.org", "TXT"): ["v=spf1 ip4:192.0.2.4 -all"],
    ("broken.example.org", "TXT"): ["v=spf1 include +all"],
    ("notspf.example.org", "TXT"): ["v=spfl am not an SPF record"],
}


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ("v=spf1 include:ip5.example.org ~all", "softfail"),  # inner fail: no match
        ("v=spf1 include:ip6.example.org all", "pass"),  # inner softfail: no match
        ("v=spf1 include:ip7.example.org -all", "fail"),  # inner neutral: no match
        ("v=spf1 include:ip9.example.org -all", "pass"),  # inner pass: match
        ("v=spf1 include:ip8.example.org -all", "temperror"),  # inner temperror
        ("v=spf1 include:broken.example.org -all", "permerror"),  # inner permerror
        ("v=spf1 include:notspf.example.org -all", "permerror"),  # inner none
        ("v=spf1 include: -all", "permerror"),
        ("v=spf1 include:ip5.example.org/24 -all", "permerror"),
    ],
)
def test_include(record: str, expected: str) -> None:
    assert _one(record, extra=INCLUDED, timeouts=["ip8.example.org"]) == expected


# --- modifiers: redirect and exp (RFC 7208 section 6) ----------------------------------------------

MODIFIERS = {
    ("e1.example.org", "TXT"): ["v=spf1 exp=exp1.example.org redirect=e2.example.org"],
    ("e2.example.org", "TXT"): ["v=spf1 -all"],
    ("e3.example.org", "TXT"): ["v=spf1 exp=exp1.example.org redirect=e4.example.org"],
    ("e4.example.org", "TXT"): ["v=spf1 -all exp=exp2.example.org"],
    ("exp1.example.org", "TXT"): ["No-see-um"],
    ("exp2.example.org", "TXT"): ["See me."],
    ("exp3.example.org", "TXT"): ["Correct!"],
    ("e7.example.org", "TXT"): ["v=spf1 include:e3.example.org -all exp=exp3.example.org"],
    ("e10.example.org", "TXT"): ["v=spf1 redirect=nowhere.example.org"],
    ("e11.example.org", "TXT"): ["v=spf1 -all exp=two.example.org"],
    ("two.example.org", "TXT"): ["one", "two"],
    ("e12.example.org", "TXT"): ["v=spf1 exp= -all"],
    ("e13.example.org", "TXT"): ["v=spf1 exp=bad.example.org -all"],
    ("bad.example.org", "TXT"): ["The %{x}-files."],
    ("e14.example.org", "TXT"): ["v=spf1 exp=exp1.example.org -all exp=exp2.example.org"],
    ("e15.example.org", "TXT"): ["v=spf1 redirect=e2.example.org -all redirect=e2.example.org"],
    ("e16.example.org", "TXT"): ["v=spf1 exp=-all"],
    ("e17.example.org", "TXT"): ["v=spf1 redirect=-all ?all"],
    ("e18.example.org", "TXT"): ["v=spf1 ?all redirect="],
    ("e21.example.org", "TXT"): ["v=spf1 exp=slow.example.org -all"],
    ("e22.example.org", "TXT"): ["v=spf1 exp=mail.example.com -all"],
    ("e23.example.org", "TXT"): ["v=spf1 a:nx1.example.org a:nx2.example.org exp=nx3.example.org -all"],
    ("e24.example.org", "TXT"): ["v=spf1 redirect=implicit.example.org"],
    ("e24.example.org", "A"): ["192.0.2.1"],
    ("implicit.example.org", "TXT"): ["v=spf1 a -all"],
    ("implicit.example.org", "A"): ["192.0.2.4"],
    ("e25.example.org", "TXT"): ["v=spf1 redirect=e25.example.org ~all"],  # never used: has all
    ("nonascii.example.org", "TXT"): ["v=spf1 exp=badexp.example.org -all"],
    ("badexp.example.org", "TXT"): ["\ufffdExplanation"],
}


@pytest.mark.parametrize(
    ("domain", "expected", "explanation"),
    [
        ("e10", "permerror", None),  # redirect to a domain without a record
        ("e1", "fail", None),  # redirect: the original exp= is not used
        ("e3", "fail", "See me."),  # ... the target's is
        ("e7", "fail", "Correct!"),  # include: the included record's exp= is not used
        ("e11", "fail", None),  # two explanation records: ignored
        ("e22", "fail", None),  # no TXT record: ignored
        ("e21", "fail", None),  # DNS error: ignored
        ("e12", "permerror", None),  # exp= with nothing
        ("e13", "fail", None),  # explanation with a macro syntax error: ignored
        ("e14", "permerror", None),  # exp twice
        ("e15", "permerror", None),  # redirect twice
        ("e16", "permerror", None),
        ("e17", "permerror", None),
        ("e18", "permerror", None),
        ("e23", "fail", None),  # the exp lookup is no void lookup
        ("e24", "pass", None),  # redirect changes <domain> for a
        ("e25", "softfail", None),  # redirect ignored when there is an all
        ("nonascii", "fail", None),
    ],
)
def test_redirect_and_exp(domain: str, expected: str, explanation: str | None) -> None:
    zone = {**HOST, **MODIFIERS}
    outcome, _ = run_spf(zone, "192.0.2.4", f"foo@{domain}.example.org", timeouts=["slow.example.org"])
    assert (outcome.result, outcome.explanation) == (expected, explanation)


# --- macros (RFC 7208 section 7) -------------------------------------------------------------------

MACROS = {
    ("msgbas2x.cos.example.com", "A"): ["192.168.218.40"],
    ("example.com", "TXT"): ["v=spf1 redirect=%{d}.d.spf.example.com."],
    ("example.com.d.spf.example.com", "TXT"): ["v=spf1 redirect=a.spf.example.com"],
    ("a.spf.example.com", "TXT"): ["v=spf1 include:o.spf.example.com. ~all"],
    ("o.spf.example.com", "TXT"): ["v=spf1 ip4:192.168.218.40"],
    ("exp.example.com", "TXT"): ["v=spf1 exp=msg.example.com. -all"],
    ("msg.example.com", "TXT"): ["This is a test."],
    ("e1.example.com", "TXT"): ["v=spf1 -exists:%(ir).sbl.example.com ?all"],
    ("e1e.example.com", "TXT"): ["v=spf1 exists:foo%(ir).sbl.example.com ?all"],
    ("e1t.example.com", "TXT"): ["v=spf1 exists:foo%.sbl.example.com ?all"],
    ("e1a.example.com", "TXT"): ["v=spf1 a:macro%%percent%_%_space%-url-space.example.com -all"],
    ("macro%percent  space%20url-space.example.com", "A"): ["1.2.3.4"],
    ("e2.example.com", "TXT"): ["v=spf1 -all exp=%{r}.example.com"],
    ("e3.example.com", "TXT"): ["v=spf1 -all exp=%{ir}.example.com"],
    ("40.218.168.192.example.com", "TXT"): ["Connections from %{c} not authorized."],
    ("somewhat.long.exp.example.com", "TXT"): [
        "v=spf1 -all exp=foobar.%{o}.%{o}.%{o}.%{o}.%{o}.%{o}.%{o}.%{o}.example.com"
    ],
    (".".join(["somewhat.long.exp.example.com"] * 8) + ".example.com", "TXT"): [
        "Congratulations!  That was tricky."
    ],
    ("e4.example.com", "TXT"): ["v=spf1 -all exp=e4msg.example.com"],
    ("e4msg.example.com", "TXT"): ["%{c} is queried as %{ir}.%{v}.arpa"],
    ("e5.example.com", "TXT"): ["v=spf1 a:%{a}.example.com -all"],
    ("e6.example.com", "TXT"): ["v=spf1 -all exp=e6msg.example.com"],
    ("e6msg.example.com", "TXT"): ["connect from %{p}"],
    ("mx.example.com", "A"): ["192.168.218.41", "192.168.218.42"],
    ("mx.example.com", "AAAA"): ["cafe:babe::2", "cafe:babe::3"],
    ("40.218.168.192.in-addr.arpa", "PTR"): ["mx.example.com."],
    ("41.218.168.192.in-addr.arpa", "PTR"): ["mx.example.com."],
    ("42.218.168.192.in-addr.arpa", "PTR"): ["mx.example.com.", "mx.e7.example.com."],
    ("3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.e.b.a.b.e.f.a.c.ip6.arpa", "PTR"): ["mx.example.com."],
    ("mx.e7.example.com", "A"): ["192.168.218.42"],
    ("mx.e7.example.com.should.example.com", "A"): ["127.0.0.2"],
    ("e7.example.com", "TXT"): ["v=spf1 exists:%{p}.should.example.com ~exists:%{p}.ok.example.com"],
    ("e8.example.com", "TXT"): ["v=spf1 -all exp=msg8.%{D2}"],
    ("msg8.example.com", "TXT"): ["http://example.com/why.html?l=%{L}"],
    ("e9.example.com", "TXT"): ["v=spf1 a:%{H} -all"],
    ("e10.example.com", "TXT"): ["v=spf1 -include:_spfh.%{d2} ip4:1.2.3.0/24 -all"],
    ("_spfh.example.com", "TXT"): ["v=spf1 -a:%{h} +all"],
    ("e11.example.com", "TXT"): ["v=spf1 exists:%{i}.%{l2r-}.user.%{d2}"],
    ("1.2.3.4.gladstone.philip.user.example.com", "A"): ["127.0.0.2"],
    ("e12.example.com", "TXT"): ["v=spf1 exists:%{l2r+-}.user.%{d2}"],
    ("bar.foo.user.example.com", "A"): ["127.0.0.2"],
    ("e13.example.com", "TXT"): ["v=spf1 -all exp=e13msg.example.com"],
    ("e13msg.example.com", "TXT"): ["%{s} %{o} %{d} %{t} %{r} %{h} %{v}"],
}


@pytest.mark.parametrize(
    ("sender", "ip", "helo", "expected", "explanation"),
    [
        ("test@example.com", "192.168.218.40", "msgbas2x.cos.example.com", "pass", None),  # trailing dots
        ("test@exp.example.com", "192.168.218.40", "h.example.com", "fail", "This is a test."),
        ("test@e2.example.com", "192.168.218.40", "h.example.com", "permerror", None),  # r only in exp
        ("test@e1.example.com", "192.168.218.40", "h.example.com", "permerror", None),
        ("test@e1e.example.com", "192.168.218.40", "h.example.com", "permerror", None),
        ("test@e1t.example.com", "192.168.218.40", "h.example.com", "permerror", None),
        ("test@e1a.example.com", "1.2.3.4", "h.example.com", "pass", None),  # %% %_ %-
        (
            "test@e3.example.com",
            "192.168.218.40",
            "h.example.com",
            "fail",
            "Connections from 192.168.218.40 not authorized.",
        ),
        (
            "test@somewhat.long.exp.example.com",
            "192.168.218.40",
            "h.example.com",
            "fail",
            "Congratulations!  That was tricky.",
        ),  # truncated to 253 characters from the left
        (
            "test@e4.example.com",
            "192.168.218.40",
            "h.example.com",
            "fail",
            "192.168.218.40 is queried as 40.218.168.192.in-addr.arpa",
        ),
        (
            "test@e4.example.com",
            "cafe:babe::1",
            "h.example.com",
            "fail",
            "cafe:babe::1 is queried as "
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.e.b.a.b.e.f.a.c.ip6.arpa",
        ),
        ("test@e5.example.com", "192.168.218.40", "h.example.com", "permerror", None),  # no %{a}
        ("test@e6.example.com", "192.168.218.40", "h.example.com", "fail", "connect from unknown"),
        ("test@e6.example.com", "192.168.218.41", "h.example.com", "fail", "connect from mx.example.com"),
        ("test@e6.example.com", "cafe:babe::1", "h.example.com", "fail", "connect from unknown"),
        ("test@e6.example.com", "cafe:babe::3", "h.example.com", "fail", "connect from mx.example.com"),
        (
            "~jack&jill=up-a_b3.c@e8.example.com",
            "192.168.218.42",
            "h.example.com",
            "fail",
            "http://example.com/why.html?l=~jack%26jill%3Dup-a_b3.c",
        ),  # upper case: URL-escaped
        ("test@e9.example.com", "192.168.218.40", "msgbas2x.cos.example.com", "pass", None),
        ("test@e9.example.com", "192.168.218.40", "JUMPIN' JUPITER", "fail", None),
        ("test@e9.example.com", "192.168.218.40", "[192.168.218.40]", "fail", None),
        ("test@e10.example.com", "1.2.3.4", "OEMCOMPUTER", "fail", None),
        ("philip-gladstone-test@e11.example.com", "1.2.3.4", "h.example.com", "pass", None),
        ("foo-bar+zip+quux@e12.example.com", "1.2.3.4", "h.example.com", "pass", None),
        (
            "a.b@e13.example.com",
            "192.0.2.1",
            "h.example.com",
            "fail",
            "a.b@e13.example.com e13.example.com e13.example.com 1700000000 mx.example.org"
            " h.example.com in-addr",
        ),
    ],
)
def test_macros(sender: str, ip: str, helo: str, expected: str, explanation: str | None) -> None:
    outcome, _ = run_spf(MACROS, ip, sender, helo)
    assert (outcome.result, outcome.explanation) == (expected, explanation)


def test_p_macro_prefers_a_validated_subdomain() -> None:
    outcome, _ = run_spf(MACROS, "192.168.218.42", "test@e7.example.com", "h.example.com")
    assert outcome.result in ("pass", "softfail")  # either validated name is allowed


# --- processing limits (RFC 7208 section 4.6.4) ------------------------------------------------------

LIMITS = {
    ("e1.example.org", "TXT"): ["v=spf1 ip4:192.0.2.1 redirect=e1.example.org"],
    ("e2.example.org", "TXT"): ["v=spf1 include:e3.example.org"],
    ("e3.example.org", "TXT"): ["v=spf1 include:e2.example.org"],
    ("e6.example.org", "TXT"): ["v=spf1 a mx a mx a mx a mx a ptr ip4:192.0.2.4 -all"],
    ("e6.example.org", "MX"): ["10 e6.example.org."],
    ("e6.example.org", "A"): ["192.0.2.8"],
    ("4.2.0.192.in-addr.arpa", "PTR"): ["ptr.example.net."],
    ("e7.example.org", "TXT"): ["v=spf1 a mx a mx a mx a mx a ptr a ip4:192.0.2.4 -all"],
    ("e8.example.org", "TXT"): ["v=spf1 a include:inc.example.org ip4:192.0.2.4 mx -all"],
    ("inc.example.org", "TXT"): ["v=spf1 a a a a a a a a"],
    ("inc.example.org", "A"): ["192.0.2.10"],
    ("e8.example.org", "A"): ["192.0.2.8"],
    ("e9.example.org", "TXT"): ["v=spf1 a include:inc.example.org a ip4:192.0.2.4 -all"],
    ("e9.example.org", "A"): ["192.0.2.9"],
    ("e10.example.org", "TXT"): ["v=spf1 a -all"],
    ("e10.example.org", "A"): [f"192.0.2.{i}" for i in range(1, 13)],
    ("e11.example.org", "TXT"): ["v=spf1 a:nx1.example.org a:nx2.example.org a:nx3.example.org ?all"],
    ("e12.example.org", "TXT"): ["v=spf1 a:nx1.example.org a:nx2.example.org ?all"],
}


@pytest.mark.parametrize(
    ("domain", "ip", "expected"),
    [
        ("e1", "192.0.2.4", "permerror"),  # redirect loop
        ("e2", "192.0.2.4", "permerror"),  # include loop
        ("e6", "192.0.2.4", "pass"),  # 10 DNS terms: at the limit
        ("e7", "192.0.2.4", "permerror"),  # 11
        ("e8", "192.0.2.4", "pass"),  # 10, counting those of the include
        ("e9", "192.0.2.4", "permerror"),
        ("e10", "192.0.2.12", "pass"),  # no limit on the A records of one name
        ("e11", "192.0.2.4", "permerror"),  # 3 void lookups
        ("e12", "192.0.2.4", "neutral"),  # 2 void lookups: at the limit
    ],
)
def test_processing_limits(domain: str, ip: str, expected: str) -> None:
    outcome, _ = run_spf(LIMITS, ip, f"foo@{domain}.example.org")
    assert outcome.result == expected


def test_a_dns_error_in_a_mechanism_is_temperror_but_after_a_match_none_is_asked() -> None:
    zone = {("t.example.org", "TXT"): ["v=spf1 ip4:192.0.2.4 a:slow.example.org -all"]}
    outcome, answers = run_spf(zone, "192.0.2.4", "x@t.example.org", timeouts=["slow.example.org"])
    assert outcome.result == "pass"
    assert [q.name for q in answers.asked] == ["t.example.org"]
    outcome, _ = run_spf(zone, "192.0.2.5", "x@t.example.org", timeouts=["slow.example.org"])
    assert outcome.result == "temperror"
