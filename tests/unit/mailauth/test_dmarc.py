"""DMARC (RFC 7489): record tags and defaults, the organizational domain from the public suffix
list, the From domain rules of section 6.6.1, discovery through the resolver (a loopback DNS
server), relaxed and strict alignment, and the disposition with pct, overrides and the allowlist."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dns_stub import DnsStub
from pochta.mailauth.dkim_verify import DkimResult
from pochta.mailauth.dmarc import DmarcResult, aligned, check_dmarc, from_domains
from pochta.mailauth.dmarc_policy import decide
from pochta.mailauth.dmarc_record import (
    DmarcSyntaxError,
    ReportUri,
    organizational_domain,
    parse_dmarc,
    select_dmarc,
)
from pochta.mailauth.spf import SpfCheck, SpfResult
from pochta.resolver import DnsResolver, Lookups


def test_tags_and_defaults() -> None:
    record = parse_dmarc("v=DMARC1; p=reject")
    assert (record.p, record.sp, record.pct, record.adkim, record.aspf, record.ri, record.fo) == (
        "reject", "reject", 100, "r", "r", 86400, "0",
    )  # fmt: skip
    record = parse_dmarc(
        "v=DMARC1;p=quarantine; sp=none ; pct=25; adkim=s; aspf=s; ri=3600; fo=1:d; x-new=1;"
        " rua=mailto:a@example.org!10m, mailto:b%2Cc@example.net,https://x.example/; ruf=mailto:f@example.org"
    )
    assert (record.p, record.sp, record.pct, record.adkim, record.aspf, record.ri, record.fo) == (
        "quarantine", "none", 25, "s", "s", 3600, "1:d",
    )  # fmt: skip
    assert record.rua == (
        ReportUri("mailto:a@example.org", "a@example.org", 10 << 20),
        ReportUri("mailto:b%2Cc@example.net", "b,c@example.net"),
        ReportUri("https://x.example/", ""),
    )
    assert record.ruf[0].address == "f@example.org"
    # Bad values take their defaults; no p= with a rua= is p=none (RFC 7489 section 6.6.3).
    record = parse_dmarc("v=DMARC1; p=reject; sp=bogus; pct=500; adkim=x")
    assert (record.sp, record.pct, record.adkim) == ("reject", 100, "r")
    assert parse_dmarc("v=DMARC1; rua=mailto:a@example.org").p == "none"
    for bad in ("v=DMARC1", "v=DMARC1; p=maybe", "p=reject; v=DMARC1", "v=DMARC2; p=none"):
        with pytest.raises(DmarcSyntaxError):
            parse_dmarc(bad)


def test_record_selection() -> None:
    assert select_dmarc(["v=spf1 -all", "v=DMARC1; p=none"]) == "v=DMARC1; p=none"
    assert select_dmarc(["v=DMARC1; p=none", "v=DMARC1; p=reject"]) is None  # two: not applied
    assert select_dmarc(["v=DMARC10; p=none"]) is None


@given(st.text(max_size=120))
def test_any_record_text_parses_or_is_an_error(text: str) -> None:
    try:
        record = parse_dmarc("v=DMARC1; " + text)
    except DmarcSyntaxError:
        return
    assert 0 <= record.pct <= 100
    assert record.p in ("none", "quarantine", "reject")


@pytest.mark.parametrize(
    ("domain", "organizational"),
    [
        ("mail.example.com", "example.com"),
        ("a.b.example.co.uk", "example.co.uk"),
        ("example.org", "example.org"),
        ("co.uk", "co.uk"),  # a public suffix is its own
        ("Mail.Example.COM.", "example.com"),
    ],
)
def test_organizational_domain(domain: str, organizational: str) -> None:
    assert organizational_domain(domain) == organizational


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (b"From: A <a@Example.COM>\r\nTo: b@x.example\r\n\r\nbody", ["example.com"]),
        (b"To: b@x.example\r\n\r\nbody", "no From field"),
        (b"From: a@one.example\r\nFrom: a@two.example\r\n\r\n", "several From fields"),
        (b"From: a@one.example,\r\n b@two.example, c@one.example\r\n\r\n", ["one.example", "two.example"]),
        (b"From: undisclosed\r\n\r\n", "no domain in the From field"),
        (b"From: =?utf-8?q?J=C3=B6rg?= <j@example.de>\r\n\r\n", ["example.de"]),
        ("From: j@b\u00fccher.example\r\n\r\n".encode(), ["xn--bcher-kva.example"]),  # A-label
    ],
)
def test_from_domains(header: bytes, expected: list[str] | str) -> None:
    assert from_domains(header) == expected


def _spf(domain: str, result: str = "pass") -> SpfCheck:
    return SpfCheck(None, SpfResult("mailfrom", result, domain, f"x@{domain}"))  # type: ignore[arg-type]


def _dkim(domain: str, result: str = "pass") -> DkimResult:
    return DkimResult(result, domain, "s")  # type: ignore[arg-type]


def test_alignment_relaxed_and_strict() -> None:
    relaxed = parse_dmarc("v=DMARC1; p=reject")
    strict = parse_dmarc("v=DMARC1; p=reject; adkim=s; aspf=s")
    assert aligned("example.com", relaxed, _spf("bounces.example.com"), []) == ("", True)
    assert aligned("example.com", strict, _spf("bounces.example.com"), []) == ("", False)
    assert aligned("example.com", strict, _spf("example.com"), []) == ("", True)
    assert aligned("example.com", relaxed, _spf("example.com", "softfail"), []) == ("", False)
    assert aligned("news.example.com", relaxed, None, [_dkim("example.com")]) == ("example.com", False)
    assert aligned("news.example.com", strict, None, [_dkim("example.com")]) == ("", False)
    assert aligned("example.com", relaxed, None, [_dkim("example.com", "fail"), _dkim("other.example")]) == (
        "",
        False,
    )
    # Different registrable domains under one public suffix are not aligned.
    assert aligned("example.co.uk", relaxed, _spf("other.co.uk"), []) == ("", False)


ZONE = {
    ("_dmarc.example.com.", "TXT"): ['"v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.com"'],
    ("_dmarc.twice.example.", "TXT"): ['"v=DMARC1; p=none"', '"v=DMARC1; p=reject"'],
    ("_dmarc.bad.example.", "TXT"): ['"v=DMARC1; p=whatever"'],
}


async def test_discovery_and_evaluation() -> None:
    async with DnsStub(ZONE, servfail={"_dmarc.broken.example."}) as dns:
        resolver = DnsResolver([dns.nameserver], 2.0)

        async def check(
            from_: str, spf: SpfCheck | None = None, dkim: list[DkimResult] | None = None
        ) -> DmarcResult:
            lookups = Lookups()
            return await check_dmarc(f"From: {from_}\r\n\r\n".encode(), resolver, spf, dkim or [], lookups)

        result = await check("a@example.com", _spf("example.com"))
        assert (result.result, result.policy, result.policy_domain, result.spf_aligned) == (
            "pass", "reject", "example.com", True,
        )  # fmt: skip
        # A subdomain without a record: the organizational domain's, with its sp=.
        result = await check("a@news.example.com", _spf("elsewhere.example"))
        assert (result.result, result.policy, result.policy_domain) == ("fail", "quarantine", "example.com")
        assert ("_dmarc.news.example.com.", "TXT") in dns.queries
        result = await check("a@news.example.com", None, [_dkim("example.com")])
        assert (result.result, result.dkim_domain) == ("pass", "example.com")
        assert (await check("a@nothing.example")).result == "none"
        assert (await check("a@twice.example")).result == "none"  # two records: DMARC not applied
        assert (await check("a@bad.example")).result == "none"  # unusable record
        assert (await check("a@broken.example")).result == "temperror"
        # Several From domains: the failing one with the strictest policy is reported.
        result = await check("a@nothing.example, b@example.com", _spf("nothing.example"))
        assert (result.result, result.from_domain) == ("fail", "example.com")
        result = await check_dmarc(b"Subject: x\r\n\r\n", resolver, None, [])
        assert (result.result, result.reason) == ("permerror", "no From field")


def _failed(policy: str = "reject", pct: int = 100, domain: str = "bank.example") -> DmarcResult:
    record = parse_dmarc(f"v=DMARC1; p={policy}; pct={pct}")
    return DmarcResult("fail", domain, domain, record, record.p)


def test_disposition() -> None:
    def run(result: DmarcResult, **kwargs: object) -> tuple[str, str]:
        options: dict[str, object] = {"overrides": {}, "allow": [], "enforce": True, "sample": 0.5} | kwargs
        disposition = decide(result, _spf("list.example"), [], **options)  # type: ignore[arg-type]
        return disposition.action, disposition.override

    assert run(_failed()) == ("reject", "")
    assert run(DmarcResult("pass", "bank.example")) == ("none", "")
    assert run(DmarcResult("temperror", "bank.example")) == ("none", "")
    assert run(_failed("quarantine")) == ("quarantine", "")
    # pct: 50 and a draw of 0.5 is not selected: the next weaker policy (RFC 7489 section 6.6.4).
    assert run(_failed(pct=50)) == ("quarantine", "sampled_out")
    assert run(_failed(pct=50), sample=0.49) == ("reject", "")
    assert run(_failed("quarantine", pct=0)) == ("none", "sampled_out")
    assert run(_failed(), overrides={"bank.example": "none"}) == ("none", "local_policy")
    assert run(_failed(domain="mail.bank.example"), overrides={"bank.example": "quarantine"}) == (
        "quarantine",
        "local_policy",
    )
    assert run(_failed(), overrides={"bank.example": "reject"}) == ("reject", "")  # the same: no override
    assert run(_failed(), allow=["list.example"]) == ("none", "trusted_forwarder")
    assert run(_failed(), allow=["bank.example"]) == ("reject", "")  # From alone is no authentication
    assert run(_failed(), enforce=False) == ("none", "local_policy")
