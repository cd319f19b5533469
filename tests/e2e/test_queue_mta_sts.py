"""MTA-STS as a sender, end to end: a pochta (example.org) delivers through its queue to a pochta for
remote.example found through a loopback DNS stub, with the policy served by a loopback HTTPS host
(tests/sts_env.py). Enforce, testing, MX patterns, the policy cache, and what `pochta queue` shows."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trustme

from pochta.queue.tls_policy import TransportSecurity
from pochta.queue.worker import QueueWorker
from pochta.store.queue_model import NewQueueEntry, NewQueueRecipient, QueueEntry
from smtp_env import ALICE, message
from store_env import store_toml
from sts_env import FRIEND, MX, REMOTE, StsEnv, policy, sts_env


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[StsEnv]:
    async with sts_env(tmp_path) as made:
        yield made


async def enqueue(env: StsEnv, subject: str, *, requiretls: bool = False, data: bytes | None = None) -> str:
    blob = await env.local.store.new_blob(data or message(subject, sender=ALICE, to=FRIEND))
    entry = NewQueueEntry(
        blob, ALICE, (NewQueueRecipient(FRIEND),), "submission", datetime.now(UTC), requiretls=requiretls
    )
    return await env.local.store.enqueue(entry)


async def attempt(worker: QueueWorker) -> None:
    """One attempt of everything due (what `pochta queue flush` does)."""
    await worker.run_until_idle(deadline=60)


async def pending(env: StsEnv) -> list[QueueEntry]:
    return await env.local.store.queue_entries()


async def test_enforce_with_a_valid_certificate_delivers_and_caches(env: StsEnv) -> None:
    env.zone(MX)
    env.policy_host.body = policy("enforce", MX)
    await enqueue(env, "first")
    worker = env.worker()
    await attempt(worker)
    assert await pending(env) == []
    [received] = await env.remote.messages(env.friend)
    assert b"with ESMTPS" in received.split(b"\r\n\r\n")[0]
    cached = await env.local.store.mta_sts_policy(REMOTE)
    assert cached is not None
    assert cached.policy_id == "1"
    assert cached.expires - cached.fetched == 86400
    # The policy is cached: a second message fetches nothing while the TXT id stays the same.
    await enqueue(env, "second")
    await attempt(worker)
    assert len(await env.remote.messages(env.friend)) == 2
    assert len(env.policy_host.requests) == 1
    assert env.policy_host.requests[0].startswith(b"GET /.well-known/mta-sts.txt HTTP/1.1\r\n")
    # A new id refetches (RFC 8461 section 5.1).
    env.zone(MX, sts_id="2")
    await enqueue(env, "third")
    await attempt(worker)
    assert len(env.policy_host.requests) == 2
    cached = await env.local.store.mta_sts_policy(REMOTE)
    assert cached is not None
    assert cached.policy_id == "2"
    [row] = [r for r in await env.local.store.tls_results_before("9999-12-31") if r.result.result_type == ""]
    assert (row.result.domain, row.result.policy_type, row.result.mx_host, row.count) == (
        REMOTE,
        "sts",
        MX,
        3,
    )


async def test_enforce_with_a_certificate_for_another_name_defers(env: StsEnv) -> None:
    # The MX host matches the policy's wildcard, but the certificate names mx.remote.example only.
    other = f"other.{REMOTE}"
    env.zone(other)
    env.policy_host.body = policy("enforce", f"*.{REMOTE}")
    queue_id = await enqueue(env, "mismatch")
    await attempt(env.worker())
    [entry] = await pending(env)
    assert entry.id == queue_id
    [recipient] = entry.pending
    assert recipient.last_reply is not None
    assert recipient.last_reply.startswith("451 4.7.5 MTA-STS: certificate of other.remote.example")
    assert await env.remote.messages(env.friend) == []
    [row] = await env.local.store.tls_results_before("9999-12-31")
    assert (row.result.result_type, row.result.mx_host, row.result.receiving_ip, row.result.sending_ip) == (
        "certificate-host-mismatch",
        other,
        "127.0.0.1",
        "127.0.0.1",
    )


async def test_testing_mode_delivers_and_records_the_failure(env: StsEnv) -> None:
    other = f"other.{REMOTE}"
    env.zone(other)
    env.policy_host.body = policy("testing", f"*.{REMOTE}")
    await enqueue(env, "testing")
    await attempt(env.worker())
    assert await pending(env) == []
    assert len(await env.remote.messages(env.friend)) == 1
    [row] = await env.local.store.tls_results_before("9999-12-31")
    assert row.result.result_type == "certificate-host-mismatch"
    assert row.result.policy.startswith("version: STSv1\nmode: testing\n")


async def test_mx_not_in_the_policy_is_skipped(env: StsEnv) -> None:
    stranger = "mx.elsewhere.example"
    env.zone(stranger)
    env.policy_host.body = policy("enforce", MX)
    await enqueue(env, "skipped")
    await attempt(env.worker())
    [entry] = await pending(env)
    reply = entry.pending[0].last_reply or ""
    assert reply.startswith("451 4.7.5 MTA-STS: mx.elsewhere.example is not an MX host the policy")
    assert await env.remote.messages(env.friend) == []
    # With an allowed host at a worse preference, that one is used.
    env.zone(stranger, MX)
    await env.local.store.retry_queue(None, datetime.now(UTC))
    await attempt(env.worker())
    assert await pending(env) == []
    assert len(await env.remote.messages(env.friend)) == 1


SMALL = "version: STSv1\nmode: enforce\nmx: x.example\nmax_age: 1\n"


@pytest.mark.parametrize(
    ("status", "content_type", "body", "result_type"),
    [
        (301, "text/plain", "", "sts-policy-fetch-error"),  # redirects are not followed
        (404, "text/plain", "not found", "sts-policy-fetch-error"),
        (
            200,
            "text/html",
            "version: STSv1\nmode: enforce\nmx: x.example\nmax_age: 1\n",
            "sts-policy-fetch-error",
        ),
        (200, "text/plain", "garbage", "sts-policy-invalid"),
        (
            200,
            "text/plain",
            SMALL + "#" * 70000,
            "sts-policy-fetch-error",
        ),
    ],
)
async def test_no_policy_fetched_delivers_as_without_mta_sts(
    env: StsEnv, status: int, content_type: str, body: str, result_type: str
) -> None:
    env.zone("mx.elsewhere.example")  # an enforce policy would refuse this host
    env.policy_host.status, env.policy_host.content_type, env.policy_host.body = status, content_type, body
    env.policy_host.extra = "Location: https://mta-sts.remote.example/p.txt\r\n" if status == 301 else ""
    await enqueue(env, "fetch failed")
    await attempt(env.worker())
    assert await pending(env) == []  # RFC 8461 section 5.1: no policy, deliver as before
    assert await env.local.store.mta_sts_policy(REMOTE) is None
    [row] = await env.local.store.tls_results_before("9999-12-31")
    assert row.result.result_type == result_type


async def test_policy_host_with_an_untrusted_certificate(env: StsEnv, tmp_path: Path) -> None:
    env.zone(MX)
    env.policy_host.body = policy("enforce", "mx.elsewhere.example")
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    await enqueue(env, "webpki")
    await attempt(env.worker(tls_ca_file=str(other_ca)))  # trusts neither the policy host nor the MX
    assert await env.local.store.mta_sts_policy(REMOTE) is None
    [row] = await env.local.store.tls_results_before("9999-12-31")
    assert row.result.result_type == "sts-webpki-invalid"
    assert await pending(env) == []  # no policy: delivered opportunistically


async def test_cached_policy_outlives_a_failed_refresh(env: StsEnv) -> None:
    env.zone(MX)
    env.policy_host.body = policy("enforce", MX)
    await enqueue(env, "one")
    worker = env.worker()
    await attempt(worker)
    # A new id, but the host answers garbage now: the cached enforce policy still rules.
    env.zone(f"other.{REMOTE}", sts_id="2")
    env.policy_host.status = 500
    await enqueue(env, "two")
    await attempt(worker)
    [entry] = await pending(env)
    assert "is not an MX host the policy" in (entry.pending[0].last_reply or "")


async def test_queue_command_shows_the_policy_reason(env: StsEnv) -> None:
    env.zone(f"other.{REMOTE}")
    env.policy_host.body = policy("enforce", MX)
    queue_id = await enqueue(env, "shown")
    await attempt(env.worker())
    config = 'hostname = "mx.example.org"\n' + store_toml(env.local.settings)
    (env.local.data_dir / "pochta.toml").write_text(config, encoding="utf-8")
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "pochta", "queue", "show", queue_id, "--data", str(env.local.data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "POCHTA_DATA"},
    )
    assert result.returncode == 0, result.stderr
    assert "MTA-STS: other.remote.example is not an MX host the policy" in result.stdout


async def test_policy_expiry_refetch_and_withdrawal(env: StsEnv) -> None:
    # RFC 8461 section 5.1 on the planner alone (pochta.queue.tls_policy), with a clock moved on.
    env.zone(MX)
    env.policy_host.body = policy("enforce", MX, max_age=60)
    queue = env.settings().queue

    def at(offset: float) -> TransportSecurity:
        return TransportSecurity(env.local.store, queue, clock=lambda: time.time() + offset)

    plan = await at(0).plan(REMOTE, [MX])
    assert plan.requirements[MX].enforce
    await at(30).plan(REMOTE, [MX])  # fresh: from the cache
    assert len(env.policy_host.requests) == 1
    env.policy_host.body = policy("testing", MX)
    plan = await at(120).plan(REMOTE, [MX])  # expired, same id: fetched again
    assert len(env.policy_host.requests) == 2
    assert not plan.requirements[MX].enforce
    env.zone(MX, sts_id=None)
    plan = await at(10**6).plan(REMOTE, [MX])  # expired and the TXT record gone: no policy
    assert plan.requirements == {}
    env.zone(MX, sts_id="3")
    env.policy_host.body = "version: STSv1\nmode: none\nmax_age: 600\n"
    plan = await at(2 * 10**6).plan(REMOTE, [MX])  # mode none: nothing to apply
    assert plan.requirements == {}
    assert plan.refusals == {}
