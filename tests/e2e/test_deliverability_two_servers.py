"""The end-to-end proof of mail authentication (issue 13): two pochta servers on loopback, each
checking the other as a stranger, with a loopback DNS server publishing SPF, DKIM, DMARC and MTA-STS
records (tests/deliverability_env.py). Signed mail passes and is marked pass; forged mail gets the
DMARC action; a forward through an alias passes SPF through SRS and keeps DKIM and ARC; MTA-STS
enforce with a bad certificate defers; a forged Authentication-Results is stripped. Every assertion
is on what a server stored or queued."""

from __future__ import annotations

import asyncio
import re
import smtplib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import dkim
import pytest

from deliverability_env import FORWARDER, FRIEND, REMOTE, REMOTE_MX, TwoServers, two_servers
from smtp_env import ALICE, message
from sts_env import dane_ee, server_certificate

STRANGER = "127.0.0.2"  # outside both servers' trusted_networks and every SPF record


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[TwoServers]:
    async with two_servers(tmp_path) as made:
        yield made


def results(stored: bytes) -> list[str]:
    """The Authentication-Results fields of a stored message, unfolded, top first."""
    header = stored.split(b"\r\n\r\n", 1)[0].decode()
    fields = re.sub(r"\r\n[ \t]+", " ", header).split("\r\n")
    return [f for f in fields if f.lower().startswith("authentication-results:")]


async def test_signed_mail_from_a_passes_at_b(env: TwoServers) -> None:
    data = message("signed", sender=ALICE, to=FRIEND)
    await asyncio.to_thread(env.submit, data, [FRIEND])
    await env.worker("a").run_until_idle(deadline=60)
    assert await env.a.store.queue_entries() == []
    [stored] = await env.b.messages(env.friend)
    assert stored.endswith(data)
    # A found B through the MX record, under B's MTA-STS policy (enforce), over verified TLS.
    assert ("remote.example.", "MX") in env.dns.queries
    assert len(env.policy_host.requests) == 1
    assert b"with ESMTPS" in stored.split(b"\r\n\r\n")[0]
    [ours] = results(stored)
    assert ours.startswith("Authentication-Results: mx.remote.example;")
    assert "dkim=pass" in ours
    assert "header.d=example.org" in ours
    assert "header.d=example.org header.a=rsa-sha256" in ours  # both keys: Ed25519 and RSA
    assert "spf=pass smtp.mailfrom=alice@example.org" in ours
    assert "dmarc=pass (p=reject sp=reject dis=none) header.from=example.org" in ours
    # The signatures verify for a verifier nobody here wrote, with the published keys.
    assert dkim.DKIM(stored).verify(dnsfunc=env.dnsfunc)


def send_as_stranger(env: TwoServers, data: bytes, sender: str, recipient: str = FRIEND) -> None:
    """A client at 127.0.0.2 (neither server, not in example.org's SPF) talks to B's MX. Blocking."""
    with smtplib.SMTP(*env.b.address("smtp"), timeout=10, source_address=(STRANGER, 0)) as client:
        client.ehlo("client.example.net")
        assert client.sendmail(sender, [recipient], data) == {}


async def test_forged_mail_gets_the_dmarc_action_at_b(env: TwoServers) -> None:
    forged = message("wire the money", sender="ceo@example.org", to=FRIEND)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await asyncio.to_thread(send_as_stranger, env, forged, "ceo@example.org")
    assert refused.value.smtp_code == 550
    assert refused.value.smtp_error.startswith(b"5.7.1 Message refused: DMARC policy of example.org")
    assert await env.b.messages(env.friend) == []
    assert await env.b.messages(env.friend, "Junk") == []
    # example.org relaxes its policy to quarantine: the same forgery is filed into Junk, marked fail.
    env.dns.zone[("_dmarc.example.org.", "TXT")] = ['"v=DMARC1; p=quarantine"']
    await asyncio.to_thread(send_as_stranger, env, forged, "ceo@example.org")
    assert await env.b.messages(env.friend) == []
    [junk] = await env.b.messages(env.friend, "Junk")
    assert junk.endswith(forged)
    [ours] = results(junk)
    assert "dkim=none" in ours
    assert "spf=fail smtp.mailfrom=ceo@example.org" in ours
    assert "dmarc=fail (p=quarantine sp=quarantine dis=quarantine) header.from=example.org" in ours


async def test_forward_through_an_alias_passes_spf_by_srs_and_keeps_dkim_and_arc(env: TwoServers) -> None:
    data = message("pass it on", sender=ALICE, to=FORWARDER)
    await asyncio.to_thread(env.submit, data, [FORWARDER])
    await env.worker("a").run_until_idle(deadline=60)
    assert await env.a.store.queue_entries() == []
    # B checked the mail (a stranger's) and queued the forward with an SRS envelope sender of its own.
    [entry] = await env.b.store.queue_entries()
    assert entry.origin == "checked-forward"
    assert entry.sender.startswith("SRS0=")
    assert entry.sender.endswith("@remote.example")
    assert env.b.unsrs(entry.sender) == ALICE
    # From here on example.org's SPF no longer names 127.0.0.1 (where B connects from as well):
    # only the SRS sender can pass SPF at the next hop.
    env.dns.zone[("example.org.", "TXT")] = ['"v=spf1 ip4:192.0.2.1 -all"']
    await env.worker("b").run_until_idle(deadline=60)
    assert await env.b.store.queue_entries() == []
    [stored] = await env.a.messages(env.carol)
    assert stored.endswith(data)
    head = stored.split(b"\r\n\r\n")[0].decode()
    assert "with ESMTPS" in head
    # A's own on top; B's below it (another authserv-id: kept), and in B's ARC set.
    ours, bs = results(stored)
    assert bs.startswith("Authentication-Results: mx.remote.example;")
    assert ours.startswith("Authentication-Results: mx.example.org;")
    assert f"spf=pass smtp.mailfrom={entry.sender}" in ours
    assert "header.d=example.org header.a=ed25519-sha256" in ours  # the original signature still holds
    assert "header.d=remote.example" in ours  # B's own, for the SRS sender's domain
    assert "dkim=fail" not in ours
    assert "arc=pass" in ours
    assert "dmarc=pass (p=reject sp=reject dis=none) header.from=example.org" in ours
    # B's ARC set, and every DKIM signature, checked by dkimpy with the published keys.
    aar = re.search(r"(?ms)^ARC-Authentication-Results: (.*?)\r\n(?=\S)", head)
    assert aar is not None
    assert aar.group(1).startswith("i=1; mx.remote.example;")
    assert "spf=pass smtp.mailfrom=alice@example.org" in aar.group(1)
    cv, _, reason = dkim.arc_verify(stored, dnsfunc=env.dnsfunc)
    assert cv == dkim.CV_Pass, reason
    signatures = len(re.findall(r"(?mi)^DKIM-Signature:", head))
    assert signatures == 4  # B's two (Ed25519, RSA) above A's two
    verifier = dkim.DKIM(stored)
    domains = []
    for index in range(signatures):
        assert verifier.verify(idx=index, dnsfunc=env.dnsfunc), index
        domains.append(verifier.domain)
    assert domains == [b"remote.example", b"remote.example", b"example.org", b"example.org"]


def present_certificate(env: TwoServers, name: str) -> None:
    """B's smtp listener presents, from its next handshake on, a certificate of its CA for ``name``."""
    context = env.b.server.ssl_context
    assert context is not None
    env.b.ca.issue_cert(name).configure_cert(context)


async def test_mta_sts_enforce_defers_on_a_certificate_for_another_name(env: TwoServers) -> None:
    present_certificate(env, "mail.elsewhere.example")  # valid chain, wrong name for mx.remote.example
    data = message("secure or not at all", sender=ALICE, to=FRIEND)
    await asyncio.to_thread(env.submit, data, [FRIEND])
    worker = env.worker("a")
    await worker.run_until_idle(deadline=60)
    [entry] = await env.a.store.queue_entries()
    [recipient] = entry.pending
    assert recipient.last_reply is not None
    assert recipient.last_reply.startswith(f"451 4.7.5 MTA-STS: certificate of {REMOTE_MX}")
    assert await env.b.messages(env.friend) == []
    [row] = await env.a.store.tls_results_before("9999-12-31")
    assert (row.result.domain, row.result.result_type, row.result.mx_host) == (
        REMOTE,
        "certificate-host-mismatch",
        REMOTE_MX,
    )
    # B fixes its certificate: the next attempt delivers under the same (cached) policy.
    present_certificate(env, REMOTE_MX)
    await env.a.store.retry_queue(None, datetime.now(UTC))
    await worker.run_until_idle(deadline=60)
    assert await env.a.store.queue_entries() == []
    [stored] = await env.b.messages(env.friend)
    assert stored.endswith(data)
    assert len(env.policy_host.requests) == 1


async def test_a_forged_authentication_results_of_b_is_stripped_at_b(env: TwoServers) -> None:
    # Alice's message claims results from B's authserv-id (twice: one folded, one in other case)
    # beside one of another server; A signs it all and delivers it to B.
    forged = (
        b"Authentication-Results: mx.remote.example; dkim=pass header.d=bank.example;\r\n"
        b" spf=pass smtp.mailfrom=ceo@bank.example; dmarc=pass header.from=bank.example\r\n"
        b"Authentication-Results: MX.Remote.Example; dmarc=pass header.from=bank.example\r\n"
        b"Authentication-Results: mx.elsewhere.example; dkim=none\r\n"
    )
    data = forged + message("trust me", sender=ALICE, to=FRIEND)
    await asyncio.to_thread(env.submit, data, [FRIEND])
    await env.worker("a").run_until_idle(deadline=60)
    assert await env.a.store.queue_entries() == []
    [stored] = await env.b.messages(env.friend)
    fields = results(stored)
    assert len(fields) == 2
    ours, other = fields
    assert other == "Authentication-Results: mx.elsewhere.example; dkim=none"
    assert ours.startswith("Authentication-Results: mx.remote.example;")
    assert "bank.example" not in ours
    assert "dmarc=pass (p=reject sp=reject dis=none) header.from=example.org" in ours
    assert b"bank.example" not in stored.split(b"\r\n\r\n")[0]


async def test_dane_pins_b_certificate_key(env: TwoServers) -> None:
    # B publishes a DANE-EE record of its key (TLSA 3 1 1) in a zone the resolver vouches for (AD
    # bit). A trusts no CA for B: only the TLSA match vouches for B's certificate.
    record = dane_ee(await asyncio.to_thread(server_certificate, env.b.port("smtp")))
    env.dns.zone[(f"_25._tcp.{REMOTE_MX}.", "TLSA")] = [record]
    env.dns.secure = True
    worker = env.worker("a", dns_dnssec=True, tls_ca_file=None)
    data = message("pinned", sender=ALICE, to=FRIEND)
    await asyncio.to_thread(env.submit, data, [FRIEND])
    await worker.run_until_idle(deadline=60)
    assert await env.a.store.queue_entries() == []
    [stored] = await env.b.messages(env.friend)
    assert "dmarc=pass" in results(stored)[0]
    # B changes its key without updating the TLSA record: A defers.
    present_certificate(env, REMOTE_MX)
    await asyncio.to_thread(env.submit, message("key changed", sender=ALICE, to=FRIEND), [FRIEND])
    await worker.run_until_idle(deadline=60)
    [entry] = await env.a.store.queue_entries()
    reply = entry.pending[0].last_reply or ""
    assert reply.startswith(f"451 4.7.5 DANE: {REMOTE_MX}[127.0.0.1]"), reply
    assert len(await env.b.messages(env.friend)) == 1
