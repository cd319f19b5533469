"""DKIM verification verdicts (RFC 6376 §6, RFC 8601 section 2.7.1), over a loopback DNS server."""

from __future__ import annotations

import base64

import pytest

from dns_stub import DnsStub
from pochta.config import Settings
from pochta.config_dkim import DkimSettings
from pochta.mailauth.check import MailAuth
from pochta.mailauth.dkim_verify import verify_dkim
from pochta.queue import dkim_keys
from pochta.queue.dkim_sign import sign_message
from pochta.resolver import DnsResolver, Lookups
from pochta.store.dkim_model import DkimKey, KeyState

MESSAGE = (
    b"From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: hello\r\n"
    b"Date: Mon, 07 Dec 2026 05:00:00 +0000\r\nMessage-ID: <1@example.org>\r\n\r\nHello Bob.\r\n"
)


@pytest.fixture(scope="module")
def keys() -> list[DkimKey]:
    return dkim_keys.new_keys("example.org", DkimSettings(), KeyState.ACTIVE)


def _zone(keys: list[DkimKey]) -> dict[tuple[str, str], list[str]]:
    return {
        (f"{dkim_keys.dns_name(key)}.", "TXT"): [dkim_keys.txt_strings(dkim_keys.txt_record(key))]
        for key in keys
    }


def _key(keys: list[DkimKey], algorithm: str) -> DkimKey:
    return next(key for key in keys if key.algorithm == algorithm)


@pytest.mark.parametrize("algorithm", ["ed25519", "rsa"])
async def test_a_valid_signature_passes(keys: list[DkimKey], algorithm: str) -> None:
    key = _key(keys, algorithm)
    signed = sign_message(MESSAGE, [key]) + MESSAGE
    async with DnsStub(_zone(keys)) as dns:
        lookups = Lookups()
        results = await verify_dkim(signed, DnsResolver([dns.nameserver], 2.0), lookups=lookups)
    assert [(r.result, r.domain, r.selector) for r in results] == [("pass", "example.org", key.selector)]
    assert results[0].algorithm == f"{algorithm}-sha256"
    assert lookups.count == 1


async def test_a_changed_body_fails_and_an_unsigned_message_is_none(keys: list[DkimKey]) -> None:
    signed = sign_message(MESSAGE, keys) + MESSAGE
    async with DnsStub(_zone(keys)) as dns:
        resolver = DnsResolver([dns.nameserver], 2.0)
        changed = await verify_dkim(signed.replace(b"Hello Bob.", b"Hello Eve."), resolver)
        unsigned = await verify_dkim(MESSAGE, resolver)
        both = await verify_dkim(signed, resolver)
        assert len(dns.queries) == 2  # one per key record; the rest answered from the cache
    assert [r.result for r in changed] == ["fail", "fail"]
    assert "body hash" in changed[0].reason
    assert [r.result for r in unsigned] == ["none"]
    assert [r.result for r in both] == ["pass", "pass"]


async def test_a_missing_key_is_permerror_and_a_dns_timeout_temperror(keys: list[DkimKey]) -> None:
    ed, rsa = _key(keys, "ed25519"), _key(keys, "rsa")
    signed = sign_message(MESSAGE, keys) + MESSAGE
    # RFC 6376 §6.1.2: no key record -> PERMFAIL (permerror); no answer -> TEMPFAIL (temperror).
    zone = {
        (f"{dkim_keys.dns_name(rsa)}.", "TXT"): ["v=DKIM1; k=rsa; p=" + base64.b64encode(b"junk").decode()]
    }
    async with DnsStub(zone, silent={f"{dkim_keys.dns_name(ed)}."}) as dns:
        results = await verify_dkim(signed, DnsResolver([dns.nameserver], 0.5))
    by_selector = {r.selector: r for r in results}
    assert by_selector[ed.selector].result == "temperror"
    assert by_selector[rsa.selector].result == "permerror"
    assert "bad key record" in by_selector[rsa.selector].reason
    async with DnsStub({}) as dns:
        missing = await verify_dkim(signed, DnsResolver([dns.nameserver], 2.0))
    assert [(r.result, r.reason) for r in missing] == [("permerror", "no key for signature")] * 2


async def test_several_signatures_and_the_limit(keys: list[DkimKey]) -> None:
    other = dkim_keys.new_keys("example.com", DkimSettings(algorithms=["ed25519"]), KeyState.ACTIVE)
    signed = sign_message(MESSAGE, other) + sign_message(MESSAGE, keys) + MESSAGE
    async with DnsStub(_zone(keys) | _zone(other)) as dns:
        resolver = DnsResolver([dns.nameserver], 2.0)
        every = await verify_dkim(signed, resolver)
        limited = await verify_dkim(signed, resolver, max_signatures=1)
    assert [(r.result, r.domain) for r in every] == [
        ("pass", "example.com"),
        ("pass", "example.org"),
        ("pass", "example.org"),
    ]
    assert [(r.result, r.domain) for r in limited] == [("pass", "example.com")]


async def test_unknown_algorithm_is_permerror_and_bad_syntax_neutral(keys: list[DkimKey]) -> None:
    key = _key(keys, "rsa")
    signature = sign_message(MESSAGE, [key])
    unknown = signature.replace(b"a=rsa-sha256", b"a=rsa-sha512")
    broken = signature.replace(b"bh=", b"xx=")
    async with DnsStub(_zone(keys)) as dns:
        resolver = DnsResolver([dns.nameserver], 2.0)
        assert [r.result for r in await verify_dkim(unknown + MESSAGE, resolver)] == ["permerror"]
        assert [r.result for r in await verify_dkim(broken + MESSAGE, resolver)] == ["neutral"]


async def test_mailauth_writes_the_field_and_strips_forged_ones(keys: list[DkimKey]) -> None:
    key = _key(keys, "ed25519")
    signed = sign_message(MESSAGE, [key]) + MESSAGE
    async with DnsStub(_zone(keys)) as dns:
        settings = Settings(hostname="mx.example.net", queue={"dns_nameservers": [dns.nameserver]})
        mailauth = MailAuth(settings)
        results = await mailauth.check(signed)
    field = mailauth.field(results).decode()
    assert field.startswith("Authentication-Results: mx.example.net;")
    unfolded = field.replace("\r\n\t", " ")
    assert "dkim=pass" in unfolded
    assert "header.d=example.org" in unfolded
    assert f"header.s={key.selector}" in unfolded
    assert results.dkim[0].b[:8] in unfolded
    assert results.dkim_pass_domains() == ["example.org"]
    header = (
        b"Authentication-Results: MX.example.net; dkim=pass\r\n"
        b"Authentication-Results: (forged)\r\n mx.example.net 1;\r\n spf=pass\r\n"
        b"Authentication-Results: other.example; dkim=fail\r\n"
        b"Subject: x\r\n"
    )
    assert (
        mailauth.strip_forged(header) == b"Authentication-Results: other.example; dkim=fail\r\nSubject: x\r\n"
    )


async def test_a_header_dkimpy_cannot_split_is_neutral_when_signed(keys: list[DkimKey]) -> None:
    """The MX accepts a line without a colon in the header (RFC 7103 §7.2); no traceback."""
    malformed = MESSAGE.replace(b"Subject: hello\r\n", b"Subject: hello\r\nnot a field\r\n")
    signed = sign_message(MESSAGE, [_key(keys, "rsa")]) + malformed
    async with DnsStub(_zone(keys)) as dns:
        resolver = DnsResolver([dns.nameserver], 2.0)
        assert [(r.result, r.reason) for r in await verify_dkim(signed, resolver)] == [
            ("neutral", "malformed header section")
        ]
        assert [r.result for r in await verify_dkim(malformed, resolver)] == ["none"]
        assert dns.queries == []
