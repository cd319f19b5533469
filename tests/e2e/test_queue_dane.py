"""DANE as a sender, end to end (RFC 7672): TLSA records of the MX host from a loopback DNS stub
that sets the AD bit (a validating resolver's word, trusted with ``queue.dns_dnssec``); the receiving
pochta's certificate comes from a CA the sender does not trust, so only the TLSA match vouches for it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pochta.store.queue_model import NewQueueEntry, NewQueueRecipient
from smtp_env import ALICE, message
from smtp_sink import Script, SmtpSink
from sts_env import FRIEND, MX, REMOTE, StsEnv, dane_ee, policy, server_certificate, sts_env

TLSA_NAME = f"_25._tcp.{MX}."


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[StsEnv]:
    async with sts_env(tmp_path) as made:
        yield made


async def enqueue(env: StsEnv, subject: str) -> None:
    blob = await env.local.store.new_blob(message(subject, sender=ALICE, to=FRIEND))
    await env.local.store.enqueue(
        NewQueueEntry(blob, ALICE, (NewQueueRecipient(FRIEND),), "submission", datetime.now(UTC))
    )


async def test_dane_ee_match_delivers_without_pkix(env: StsEnv, tmp_path: Path) -> None:
    record = dane_ee(await asyncio.to_thread(server_certificate, env.remote.port("smtp")))
    env.zone(MX, sts_id=None, extra={(TLSA_NAME, "TLSA"): [record]})
    env.dns.secure = True
    await enqueue(env, "dane")
    # No CA file: PKIX could not vouch for the certificate; the TLSA record does.
    await env.worker(dns_dnssec=True, tls_ca_file=None).run_until_idle(deadline=60)
    assert await env.local.store.queue_entries() == []
    [received] = await env.remote.messages(env.friend)
    assert b"with ESMTPS" in received.split(b"\r\n\r\n")[0]
    [row] = await env.local.store.tls_results_before("9999-12-31")
    assert (row.result.policy_type, row.result.result_type, row.result.policy) == ("tlsa", "", record)


async def test_dane_mismatch_defers(env: StsEnv) -> None:
    env.zone(MX, sts_id=None, extra={(TLSA_NAME, "TLSA"): ["3 1 1 " + "ab" * 32]})
    env.dns.secure = True
    await enqueue(env, "mismatch")
    await env.worker(dns_dnssec=True).run_until_idle(deadline=60)
    [entry] = await env.local.store.queue_entries()
    assert (entry.pending[0].last_reply or "").startswith("451 4.7.5 DANE: mx.remote.example[127.0.0.1]"), (
        entry.pending[0].last_reply
    )
    assert await env.remote.messages(env.friend) == []
    [row] = await env.local.store.tls_results_before("9999-12-31")
    assert row.result.result_type == "validation-failure"


async def test_tlsa_without_the_ad_bit_or_dnssec_setting_is_not_used(env: StsEnv) -> None:
    env.zone(MX, sts_id=None, extra={(TLSA_NAME, "TLSA"): ["3 1 1 " + "ab" * 32]})
    await enqueue(env, "unsigned")
    await env.worker(dns_dnssec=True).run_until_idle(deadline=60)  # no AD bit: as if no TLSA
    env.dns.secure = True
    await enqueue(env, "not declared")
    await env.worker(dns_dnssec=False).run_until_idle(deadline=60)  # AD bit, not trusted
    assert await env.local.store.queue_entries() == []
    assert len(await env.remote.messages(env.friend)) == 2
    # RFC 7672 section 2.2.1: an MX answer that is not authenticated gives no DANE; never asked.
    assert (TLSA_NAME, "TLSA") not in env.dns.queries


async def test_dane_takes_precedence_over_mta_sts(env: StsEnv) -> None:
    # The MTA-STS policy does not list the MX host, but the MX host has TLSA records (RFC 8461 section 2).
    record = dane_ee(await asyncio.to_thread(server_certificate, env.remote.port("smtp")))
    env.zone(MX, extra={(TLSA_NAME, "TLSA"): [record]})
    env.policy_host.body = policy("enforce", f"mx.elsewhere.{REMOTE}")
    env.dns.secure = True
    await enqueue(env, "both")
    await env.worker(dns_dnssec=True).run_until_idle(deadline=60)
    assert await env.local.store.queue_entries() == []
    assert len(await env.remote.messages(env.friend)) == 1


async def test_unusable_tlsa_records_still_require_tls(env: StsEnv) -> None:
    # RFC 7672 section 2.2: a secure TLSA RRset with no usable record (PKIX-EE here) means TLS
    # without authentication: delivered over TLS, deferred by a server that offers no STARTTLS.
    env.zone(MX, sts_id=None, extra={(TLSA_NAME, "TLSA"): ["1 1 1 " + "ab" * 32]})
    env.dns.secure = True
    await enqueue(env, "encrypted anyway")
    await env.worker(dns_dnssec=True, tls_ca_file=None).run_until_idle(deadline=60)
    [received] = await env.remote.messages(env.friend)
    assert b"with ESMTPS" in received.split(b"\r\n\r\n")[0]
    await enqueue(env, "no starttls")
    async with SmtpSink(Script()) as sink:  # no TLS context: STARTTLS not offered
        await env.worker(dns_dnssec=True, port=sink.port).run_until_idle(deadline=60)
    assert sink.transactions == []
    [entry] = await env.local.store.queue_entries()
    reply = entry.pending[0].last_reply or ""
    assert reply.startswith("451 4.7.10 mx.remote.example[127.0.0.1]"), reply
    assert "does not offer STARTTLS (DANE policy)" in reply
