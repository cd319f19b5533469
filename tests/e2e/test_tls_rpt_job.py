"""The TLS-RPT job end to end (RFC 8460): counts recorded by real deliveries under an MTA-STS policy,
reported the next day to the rua of the domain's _smtp._tls record: mailed through the outbound queue
to the receiving pochta, or POSTed to a loopback HTTPS endpoint; the day's rows then go."""

from __future__ import annotations

import email
import email.policy
import gzip
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pochta.config import Settings
from pochta.queue.tls_rpt_job import TlsReporter
from pochta.store.queue_model import NewQueueEntry, NewQueueRecipient
from pochta.store.transport_model import TlsResult
from smtp_env import ALICE, message
from sts_env import FRIEND, MX, POLICY_HOST, REMOTE, StsEnv, policy, sts_env

YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[StsEnv]:
    async with sts_env(tmp_path) as made:
        yield made


def reporter(env: StsEnv, settings: Settings) -> TlsReporter:
    return TlsReporter(env.local.store, settings)


async def test_a_day_of_results_is_mailed_through_the_queue(env: StsEnv) -> None:
    env.zone(MX, extra={(f"_smtp._tls.{REMOTE}.", "TXT"): [f'"v=TLSRPTv1; rua=mailto:{FRIEND}"']})
    env.policy_host.body = policy("enforce", MX)
    blob = await env.local.store.new_blob(message("counted", sender=ALICE, to=FRIEND))
    await env.local.store.enqueue(
        NewQueueEntry(blob, ALICE, (NewQueueRecipient(FRIEND),), "submission", datetime.now(UTC))
    )
    settings = env.settings()
    # A delivery today counts one success; a failure from yesterday is in the store already.
    await env.worker().run_until_idle(deadline=60)
    failure = TlsResult(
        REMOTE, "sts", "version: STSv1\nmode: enforce", MX, "certificate-expired", "127.0.0.1"
    )
    await env.local.store.count_tls_results(YESTERDAY, [failure, failure])
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert await reporter(env, settings).run_once() == 1  # yesterday only
    [remaining] = await env.local.store.tls_results_before("9999-12-31")
    assert remaining.day == today
    [queued] = await env.local.store.queue_entries()
    assert queued.origin == "report"
    assert queued.sender == ""
    assert [r.address for r in queued.recipients] == [FRIEND]
    # The queue delivers it to the receiving pochta like any mail (under the same policy).
    await env.worker().run_until_idle(deadline=60)
    assert await env.local.store.queue_entries() == []
    [_counted, received] = await env.remote.messages(env.friend)
    parsed = email.message_from_bytes(received, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    assert parsed["TLS-Report-Domain"] == REMOTE
    assert parsed["TLS-Report-Submitter"] == "mx.example.org"
    [_, attachment] = list(parsed.iter_parts())
    payload = attachment.get_payload(decode=True)
    assert isinstance(payload, bytes)
    document = json.loads(gzip.decompress(payload))
    [entry] = document["policies"]
    assert entry["policy"]["policy-domain"] == REMOTE
    assert entry["summary"] == {"total-successful-session-count": 0, "total-failure-session-count": 2}
    assert entry["failure-details"][0]["result-type"] == "certificate-expired"
    # Nothing is left of yesterday: a second run sends nothing.
    assert await reporter(env, settings).run_once() == 0


async def test_https_rua_gets_a_post(env: StsEnv) -> None:
    # The policy host doubles as the report endpoint (same CA, same loopback server).
    rua = f"https://{POLICY_HOST}:{env.policy_host.port}/tlsrpt"
    env.zone(MX, extra={(f"_smtp._tls.{REMOTE}.", "TXT"): [f'"v=TLSRPTv1; rua={rua}"']})
    failure = TlsResult(REMOTE, "tlsa", "3 1 1 ab", MX, "validation-failure", "127.0.0.1")
    await env.local.store.count_tls_results(YESTERDAY, [failure])
    assert await reporter(env, env.settings()).run_once() == 1
    [request] = env.policy_host.requests
    head, _, body = request.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /tlsrpt HTTP/1.1\r\n")
    assert b"Content-Type: application/tlsrpt+gzip" in head
    document = json.loads(gzip.decompress(body))
    assert document["policies"][0]["policy"]["policy-type"] == "tlsa"
    assert await env.local.store.tls_results_before("9999-12-31") == []
    assert await env.local.store.queue_entries() == []


async def test_domain_without_a_record_is_not_reported_and_rows_go(env: StsEnv) -> None:
    env.zone(MX)
    await env.local.store.count_tls_results(YESTERDAY, [TlsResult(REMOTE, "sts", "x", MX)])
    assert await reporter(env, env.settings()).run_once() == 0
    assert await env.local.store.tls_results_before("9999-12-31") == []
    assert await env.local.store.queue_entries() == []
