"""REQUIRETLS (RFC 8689) on both sides, end to end: our SMTP server offers and takes it only over TLS
and queues the flag; the queue delivers such a message only over TLS that MTA-STS (enforce) or DANE
vouches for, to a server offering REQUIRETLS with the parameter passed on, else fails it with 5.7.x
and a DSN that does not return the message. "TLS-Required: No" sets recipient policies aside."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pochta.store.queue_model import NewQueueEntry, NewQueueRecipient
from smtp_env import ALICE, PASSWORD, message
from smtp_sink import DEFAULT_CAPABILITIES, Script, SmtpSink
from sts_env import FRIEND, MX, REMOTE, StsEnv, policy, sts_env


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[StsEnv]:
    async with sts_env(tmp_path) as made:
        yield made


def sink_tls(env: StsEnv) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    env.remote.ca.issue_cert(MX).configure_cert(context)
    return context


async def enqueue(env: StsEnv, data: bytes, *, requiretls: bool = True) -> None:
    blob = await env.local.store.new_blob(data)
    entry = NewQueueEntry(
        blob, ALICE, (NewQueueRecipient(FRIEND),), "submission", datetime.now(UTC), requiretls=requiretls
    )
    await env.local.store.enqueue(entry)


async def test_server_offers_and_takes_requiretls_only_over_tls(env: StsEnv) -> None:
    def session() -> tuple[bool, tuple[int, bytes], bool, int]:
        with smtplib.SMTP(*env.local.address("smtp"), timeout=10) as mx:  # the MX, in cleartext
            mx.ehlo("client.example.net")
            before = mx.has_extn("requiretls")
            refused = mx.docmd("MAIL FROM:<carol@example.net> REQUIRETLS")
        with smtplib.SMTP(*env.local.address("submission"), timeout=10) as client:
            client.ehlo("client.example.net")
            client.starttls(context=env.local.client_context())
            client.ehlo("client.example.net")
            after = client.has_extn("requiretls")
            client.login(ALICE, PASSWORD)
            code, _ = client.mail(ALICE, ["REQUIRETLS"])
            client.rcpt(FRIEND)
            client.data(message("secret", sender=ALICE, to=FRIEND))
            return before, refused, after, code

    before, refused, after, code = await asyncio.to_thread(session)
    assert not before
    assert refused[0] == 530
    assert refused[1].startswith(b"5.7.10 ")
    assert after
    assert code == 250
    [entry] = await env.local.store.queue_entries()
    assert entry.requiretls


async def test_carried_to_a_peer_that_offers_it(env: StsEnv) -> None:
    env.zone(MX)
    env.policy_host.body = policy("enforce", MX)
    await enqueue(env, message("secret", sender=ALICE, to=FRIEND))
    script = Script(capabilities=(*DEFAULT_CAPABILITIES, "REQUIRETLS"))
    async with SmtpSink(script, tls=sink_tls(env)) as sink:
        await env.worker(port=sink.port).run_until_idle(deadline=60)
    assert await env.local.store.queue_entries() == []
    [transaction] = sink.transactions
    assert transaction.tls
    assert transaction.mail.endswith(" REQUIRETLS")


async def test_real_peer_with_requiretls(env: StsEnv) -> None:
    # The receiving pochta offers REQUIRETLS inside TLS, so it takes the message.
    env.zone(MX)
    env.policy_host.body = policy("enforce", MX)
    await enqueue(env, message("secret", sender=ALICE, to=FRIEND))
    await env.worker().run_until_idle(deadline=60)
    assert await env.local.store.queue_entries() == []
    assert len(await env.remote.messages(env.friend)) == 1


async def test_peer_without_requiretls_fails_with_5_7_30_and_no_content(env: StsEnv) -> None:
    env.zone(MX)
    env.policy_host.body = policy("enforce", MX)
    await enqueue(env, message("top secret subject", sender=ALICE, to=FRIEND))
    async with SmtpSink(Script(), tls=sink_tls(env)) as sink:
        text = await _bounce_via(env, sink.port)
    assert sink.transactions == []  # no MAIL at all
    assert "Status: 5.7.30" in text
    assert "top secret subject" not in text  # RFC 8689 section 5: the message is not returned
    assert "text/rfc822-headers" not in text


async def _bounce_via(env: StsEnv, port: int | None = None) -> str:
    """Run the queue (the failure, then its DSN delivered locally); the DSN's text."""
    await env.worker(**({"port": port} if port else {})).run_until_idle(deadline=60)
    [notice] = await env.local.messages()
    return notice.decode()


async def test_without_an_authenticating_policy_fails_with_5_7_10(env: StsEnv) -> None:
    env.zone(MX, sts_id=None)  # no MTA-STS, no DANE: the MX host cannot be authenticated
    await enqueue(env, message("needs tls", sender=ALICE, to=FRIEND))
    text = await _bounce_via(env)
    assert "Status: 5.7.10" in text
    assert await env.remote.messages(env.friend) == []


async def test_tls_required_no_sets_the_policy_aside(env: StsEnv) -> None:
    # The enforce policy would refuse this MX host; the sender's "TLS-Required: No" asks otherwise.
    env.zone("mx.elsewhere.example")
    env.policy_host.body = policy("enforce", MX)
    data = b"TLS-Required: No\r\n" + message("anyway", sender=ALICE, to=FRIEND)
    await enqueue(env, data, requiretls=False)
    await env.worker().run_until_idle(deadline=60)
    assert await env.local.store.queue_entries() == []
    assert len(await env.remote.messages(env.friend)) == 1
    assert env.policy_host.requests == []  # not even looked up
    assert (f"_mta-sts.{REMOTE}.", "TXT") not in env.dns.queries


async def test_unfetchable_policy_makes_it_wait(env: StsEnv) -> None:
    # The domain publishes an MTA-STS record, but the policy cannot be had now: retried, not failed.
    env.zone(MX)
    env.policy_host.status = 503
    await enqueue(env, message("later", sender=ALICE, to=FRIEND))
    await env.worker().run_until_idle(deadline=60)
    [entry] = await env.local.store.queue_entries()
    assert (entry.pending[0].last_reply or "").startswith("451 4.7.10 REQUIRETLS: the MTA-STS policy")
    assert await env.local.messages() == []  # no bounce
