"""The supervisor's merge of its workers' metrics: sums, the largest value of shared gauges, the
earliest creation time, and a worker that is not there."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from pochta.metrics import Metrics
from pochta.server.worker_metrics import gather, merge, serve_worker_metrics


def value(text: str, sample: str) -> float:
    found = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
    assert found is not None, text
    return float(found.group(1))


def workers() -> tuple[Metrics, Metrics]:
    a, b = Metrics(), Metrics()
    for metrics, opened, active in ((a, 3, 1), (b, 4, 2)):
        metrics.init_listener("imap")
        metrics.connections_opened.labels(listener="imap").inc(opened)
        metrics.connections_active.labels(listener="imap").set(active)
        metrics.login("imap", ok=False)
    a.login_lockouts.inc()
    a.watch_locked_addresses(lambda: 2)  # both workers know both locked addresses
    b.watch_locked_addresses(lambda: 2)
    return a, b


def test_counters_and_per_worker_gauges_add_up_shared_gauges_do_not() -> None:
    a, b = workers()
    text = merge([a.render().decode(), b.render().decode()]).decode()
    assert value(text, 'pochta_connections_opened_total{listener="imap"}') == 7.0
    assert value(text, 'pochta_connections_active{listener="imap"}') == 3.0
    assert value(text, 'pochta_logins_total{protocol="imap",result="failed"}') == 2.0
    assert value(text, "pochta_login_lockouts_total") == 1.0
    assert value(text, "pochta_login_locked_addresses") == 2.0
    created_a = value(a.render().decode(), "pochta_login_lockouts_created")
    created_b = value(b.render().decode(), "pochta_login_lockouts_created")
    assert value(text, "pochta_login_lockouts_created") == min(created_a, created_b)
    # One HELP/TYPE per family, as the exposition format demands.
    assert text.count("# TYPE pochta_connections_opened_total counter") == 1


@pytest.mark.parametrize("depth", ["", "d" * 100], ids=["short", "deeper-than-a-socket-address"])
def test_gather_reads_each_worker_socket_and_skips_a_missing_one(tmp_path: Path, depth: str) -> None:
    run = tmp_path / depth / "run"  # the deep one is past unix(7)'s 107 bytes: reached via /proc/self/fd

    async def scenario() -> str:
        a, b = workers()
        servers = [
            await serve_worker_metrics(a, run / "0.sock"),
            await serve_worker_metrics(b, run / "1.sock"),
        ]
        try:
            paths = [run / f"{i}.sock" for i in range(3)]  # worker 2 is restarting
            return (await gather(paths)).decode()
        finally:
            for server in servers:
                server.close()
                await server.wait_closed()

    text = asyncio.run(scenario())
    assert value(text, 'pochta_connections_opened_total{listener="imap"}') == 7.0
