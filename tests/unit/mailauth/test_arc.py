"""ARC (RFC 8617): our seal (pochta.queue.arc_seal) verified by dkimpy's own ``arc_verify`` and by
our validator (pochta.mailauth.arc_verify), chains of two hops, tampering, cv=fail, the 50-set
limit, garbage, and the arc= entry of our Authentication-Results field."""

from __future__ import annotations

import re
from dataclasses import replace

import dkim
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dns_stub import DnsStub
from pochta.config import Settings
from pochta.config_dkim import DkimSettings
from pochta.mailauth.arc_verify import ArcResult, newest_seal_failed, verify_arc, verify_arc_prefetched
from pochta.mailauth.check import MailAuth
from pochta.mailauth.results import AuthResults, authentication_results_field
from pochta.queue import dkim_keys
from pochta.queue.arc_seal import seal_message
from pochta.resolver import Answer, DnsResolver, Lookups
from pochta.store.dkim_model import DkimKey, KeyState

MESSAGE = (
    b"From: Carol <carol@example.net>\r\nTo: fwd@example.org\r\nSubject: hello\r\n"
    b"Date: Mon, 07 Dec 2026 05:00:00 +0000\r\nMessage-ID: <1@example.net>\r\n\r\nHello.\r\n"
)


def _rsa(domain: str) -> DkimKey:
    return dkim_keys.new_keys(domain, DkimSettings(algorithms=["rsa"]), KeyState.ACTIVE)[0]


@pytest.fixture(scope="module")
def hop1() -> DkimKey:
    return _rsa("example.org")


@pytest.fixture(scope="module")
def hop2() -> DkimKey:
    return _rsa("lists.example.com")


def _records(*keys: DkimKey) -> dict[str, Answer]:
    return {f"{dkim_keys.dns_name(k)}.".lower(): Answer("found", (dkim_keys.txt_record(k),)) for k in keys}


def _dnsfunc(*keys: DkimKey):  # type: ignore[no-untyped-def]
    records = _records(*keys)

    def lookup(name: bytes, timeout: float = 5) -> bytes | None:
        answer = records.get(name.decode().lower().rstrip(".") + ".")
        return answer.records[0].encode() if answer else None

    return lookup


def _checked(message: bytes, authserv_id: str, arc: str) -> bytes:
    """``message`` as our MX stores it: our Authentication-Results field on top."""
    return f"Authentication-Results: {authserv_id}; dkim=none; arc={arc}\r\n".encode() + message


def _sealed(message: bytes, key: DkimKey, authserv_id: str, arc: str) -> bytes:
    data = _checked(message, authserv_id, arc)
    return seal_message(data, key, authserv_id) + data


def test_our_seal_verifies_with_dkimpy_and_ours(hop1: DkimKey) -> None:
    sealed = _sealed(MESSAGE, hop1, "mx.example.org", "none")
    fields = re.findall(rb"(?m)^(ARC-[A-Za-z-]+):", sealed)
    assert fields == [b"ARC-Seal", b"ARC-Message-Signature", b"ARC-Authentication-Results"]
    assert b"cv=none" in sealed
    unfolded = sealed.replace(b"\r\n ", b" ")
    assert b"ARC-Authentication-Results: i=1; mx.example.org; dkim=none; arc=none\r\n" in unfolded
    cv, results, reason = dkim.arc_verify(sealed, dnsfunc=_dnsfunc(hop1))
    assert cv == dkim.CV_Pass, reason
    assert results[0]["as-domain"] == b"example.org"
    ours = verify_arc_prefetched(sealed, _records(hop1))
    assert ours == ArcResult("pass", 1, 0, "example.org")


def test_a_second_hop_continues_the_chain(hop1: DkimKey, hop2: DkimKey) -> None:
    first = _sealed(MESSAGE, hop1, "mx.example.org", "none")
    assert verify_arc_prefetched(first, _records(hop1)).result == "pass"
    second = _sealed(first, hop2, "mx.lists.example.com", "pass")
    assert second.startswith(b"ARC-Seal: i=2; cv=pass;")
    cv, _, reason = dkim.arc_verify(second, dnsfunc=_dnsfunc(hop1, hop2))
    assert cv == dkim.CV_Pass, reason
    assert verify_arc_prefetched(second, _records(hop1, hop2)) == ArcResult("pass", 2, 0, "lists.example.com")


def test_a_changed_body_or_chain_fails(hop1: DkimKey, hop2: DkimKey) -> None:
    sealed = _sealed(MESSAGE, hop1, "mx.example.org", "none")
    changed = sealed.replace(b"Hello.", b"Hello!")
    result = verify_arc_prefetched(changed, _records(hop1))
    assert (result.result, result.reason) == ("fail", "Most recent ARC-Message-Signature did not validate")
    assert dkim.arc_verify(changed, dnsfunc=_dnsfunc(hop1))[0] == dkim.CV_Fail
    # Hop 2 seals a message whose first set was altered: its AMS is fine, the older seal is not.
    second = _sealed(first_altered(sealed), hop2, "mx.lists.example.com", "pass")
    assert verify_arc_prefetched(second, _records(hop1, hop2)).result == "fail"
    assert dkim.arc_verify(second, dnsfunc=_dnsfunc(hop1, hop2))[0] == dkim.CV_Fail


def first_altered(sealed: bytes) -> bytes:
    changed = sealed.replace(
        b"ARC-Authentication-Results: i=1; mx.example.org;",
        b"ARC-Authentication-Results: i=1; mx.evil.example;",
    )
    assert changed != sealed
    return changed


def test_a_failed_chain_is_sealed_once_with_cv_fail(hop1: DkimKey, hop2: DkimKey) -> None:
    """RFC 8617 §5.1.2: the hop that finds the chain broken seals cv=fail over its own set only;
    §5.1 step 2: after that nobody seals again."""
    broken = first_altered(_sealed(MESSAGE, hop1, "mx.example.org", "none"))
    marked = _sealed(broken, hop2, "mx.lists.example.com", "fail")
    assert b"cv=fail" in marked
    assert newest_seal_failed(marked)
    assert verify_arc_prefetched(marked, _records(hop1, hop2)).result == "fail"
    third = _checked(marked, "mx.third.example", "fail")
    assert seal_message(third, _rsa("third.example"), "mx.third.example") == b""


def test_no_results_of_ours_no_seal_and_rsa_only(hop1: DkimKey) -> None:
    assert seal_message(_checked(MESSAGE, "other.example", "none"), hop1, "mx.example.org") == b""
    ed25519 = dkim_keys.new_keys("example.org", DkimSettings(algorithms=["ed25519"]), KeyState.ACTIVE)[0]
    with pytest.raises(ValueError, match="RSA"):
        seal_message(_checked(MESSAGE, "mx.example.org", "none"), ed25519, "mx.example.org")


def test_none_missing_key_and_the_limit(hop1: DkimKey) -> None:
    assert verify_arc_prefetched(MESSAGE, {}) == ArcResult("none")
    sealed = _sealed(MESSAGE, hop1, "mx.example.org", "none")
    # RFC 8617 §5.2.1: a key that cannot be had (no record, a DNS failure) is a fail.
    assert verify_arc_prefetched(sealed, {}).result == "fail"
    temp = {k: Answer("temperror", reason="timeout") for k in _records(hop1)}
    assert verify_arc_prefetched(sealed, temp).result == "fail"
    # RFC 8617 §5.2 step 1: more than 50 sets is a fail, decided before any lookup.
    sets = b"".join(
        b"ARC-Seal: i=%d; cv=pass; a=rsa-sha256; d=x.example; s=s; b=AAAA\r\n"
        b"ARC-Message-Signature: i=%d; a=rsa-sha256; d=x.example; s=s; h=from; bh=AA; b=AAAA\r\n"
        b"ARC-Authentication-Results: i=%d; x.example; arc=pass\r\n" % (i, i, i)
        for i in range(51, 0, -1)
    )
    result = verify_arc_prefetched(sets + MESSAGE, {})
    assert (result.result, result.instances, result.reason) == ("fail", 51, "more than 50 ARC sets")
    assert verify_arc_prefetched(sets + MESSAGE, {}, max_instances=60).result == "fail"  # unverifiable


@pytest.mark.parametrize(
    "fields",
    [
        b"ARC-Seal: garbage\r\n",
        b"ARC-Seal: i=x; cv=none\r\n",
        b"ARC-Seal: i=1; cv=none; a=rsa-sha256; d=example.org; s=s; b=!!\r\n",
        b"ARC-Authentication-Results: i=1; x\r\nARC-Seal: i=1; cv=none; d=a; s=b; b=\r\n",
        b"ARC-Seal: i=1; i=1\r\nARC-Seal: i=1; cv=none; d=a; s=b; b=AA\r\n",
        b"ARC-Seal: i=0; cv=none; d=a; s=b; b=AA\r\n",
        b"ARC-Seal: i=1; cv=none; a=rsa-sha256; d=a; s=b; b=AA\r\nnot a field\r\n",
    ],
)
def test_garbage_is_a_fail_never_a_traceback(fields: bytes) -> None:
    assert verify_arc_prefetched(fields + MESSAGE, {}).result == "fail"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([b"ARC-Seal", b"ARC-Message-Signature", b"ARC-Authentication-Results"])),
    st.binary(),
)
def test_fuzz(names: list[bytes], value: bytes) -> None:
    header = b"".join(
        name + b": " + value.replace(b"\r", b"").replace(b"\n", b" ") + b"\r\n" for name in names
    )
    assert verify_arc_prefetched(header + MESSAGE, {}).result in ("none", "fail")


async def test_through_the_resolver_and_in_our_field(hop1: DkimKey, hop2: DkimKey) -> None:
    second = _sealed(_sealed(MESSAGE, hop1, "mx.example.org", "none"), hop2, "mx.lists.example.com", "pass")
    zone = {
        (f"{dkim_keys.dns_name(k)}.", "TXT"): [dkim_keys.txt_strings(dkim_keys.txt_record(k))]
        for k in (hop1, hop2)
    }
    async with DnsStub(zone) as dns:
        lookups = Lookups()
        result = await verify_arc(second, DnsResolver([dns.nameserver], 2.0), lookups=lookups)
        assert lookups.count == 2  # one per key record, looked up together
        auth = await MailAuth(
            Settings(hostname="mx.example.org", queue={"dns_nameservers": [dns.nameserver]})
        ).check(second, peer_ip="192.0.2.7")
    assert result == ArcResult("pass", 2, 0, "lists.example.com")
    assert auth.arc == replace(result, remote_ip="192.0.2.7")
    field = authentication_results_field(auth).decode()
    unfolded = field.replace("\r\n\t", " ")
    assert "arc=pass (i=2 as.d=lists.example.com) header.oldest-pass=0 smtp.remote-ip=192.0.2.7" in unfolded
    off = MailAuth(Settings(arc={"verify": False}))
    assert (await off.check(MESSAGE)).arc is None
    failed = AuthResults("mx.example.org", (), ArcResult("fail", 1, None, "", "bad seal", "192.0.2.7"))
    assert 'arc=fail reason="bad seal" smtp.remote-ip=192.0.2.7' in authentication_results_field(
        failed
    ).decode().replace("\r\n\t", " ")


async def test_the_max_instances_setting(hop1: DkimKey, hop2: DkimKey) -> None:
    second = _sealed(_sealed(MESSAGE, hop1, "mx.example.org", "none"), hop2, "mx.lists.example.com", "pass")
    async with DnsStub({}) as dns:
        settings = Settings(arc={"max_instances": 1}, queue={"dns_nameservers": [dns.nameserver]})
        auth = await MailAuth(settings).check(second)
        # Decided before any key lookup (the message has no DKIM signature; DMARC asks for its record).
        assert not [name for name, _ in dns.queries if "._domainkey." in name]
    assert auth.arc is not None
    assert (auth.arc.result, auth.arc.reason) == ("fail", "more than 1 ARC sets")
