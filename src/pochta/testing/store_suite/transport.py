"""Conformance tests for outbound transport security: the MTA-STS policy cache, TLS-RPT counts and
the REQUIRETLS flag of queued messages."""

from __future__ import annotations

from datetime import UTC, datetime

from pochta.store.api import Store
from pochta.store.queue_model import NewQueueEntry, NewQueueRecipient
from pochta.store.transport_model import CachedPolicy, TlsResult
from pochta.testing.store_suite.support import make_message, put


async def test_mta_sts_policy_cache_replaces_per_domain(store: Store) -> None:
    assert await store.mta_sts_policy("example.net") is None
    first = CachedPolicy("example.net", "1", "version: STSv1\r\nmode: testing\r\n", 100, 200)
    await store.put_mta_sts_policy(first)
    await store.put_mta_sts_policy(CachedPolicy("other.example", "9", "x", 1, 2))
    assert await store.mta_sts_policy("example.net") == first
    second = CachedPolicy("example.net", "2", "version: STSv1\r\nmode: enforce\r\n", 300, 400)
    await store.put_mta_sts_policy(second)
    assert await store.mta_sts_policy("example.net") == second
    assert (await store.mta_sts_policy("other.example")) == CachedPolicy("other.example", "9", "x", 1, 2)


async def test_tls_results_count_per_day_and_row(store: Store) -> None:
    ok = TlsResult("example.net", "sts", "p", "mx.example.net")
    bad = TlsResult(
        "example.net", "sts", "p", "mx.example.net", "certificate-expired", "192.0.2.1", "d1", "198.51.100.1"
    )
    await store.count_tls_results("2026-12-05", [ok, ok, bad])
    await store.count_tls_results("2026-12-05", [ok, TlsResult(**{**bad.__dict__, "detail": "d2"})])
    await store.count_tls_results("2026-12-06", [ok])
    await store.count_tls_results("2026-12-07", [])  # nothing: no write
    rows = await store.tls_results_before("2026-12-06")
    assert [(r.day, r.result.result_type, r.count) for r in rows] == [
        ("2026-12-05", "", 3),
        ("2026-12-05", "certificate-expired", 2),
    ]
    assert rows[1].result.detail == "d2"  # the latest detail is kept
    assert rows[1].result.sending_ip == "198.51.100.1"
    assert len(await store.tls_results_before("2026-12-07")) == 3
    assert await store.delete_tls_results("2026-12-05", "example.net") == 2
    assert [r.day for r in await store.tls_results_before("9999-12-31")] == ["2026-12-06"]


async def test_queue_keeps_the_requiretls_flag(store: Store) -> None:
    blob, _ = await put(store, make_message("requiretls"))
    now = datetime(2026, 12, 7, tzinfo=UTC)
    recipients = (NewQueueRecipient("bob@remote.example"),)
    await store.enqueue(NewQueueEntry(blob, "a@example.org", recipients, "submission", now, requiretls=True))
    await store.enqueue(NewQueueEntry(blob, "a@example.org", recipients, "submission", now))
    assert [e.requiretls for e in await store.queue_entries()] == [True, False]
