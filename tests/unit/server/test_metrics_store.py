"""The store's commit counter is exported at scrape time."""

from __future__ import annotations

from pochta.metrics import Metrics


def test_store_commits_are_read_when_scraped() -> None:
    metrics = Metrics()
    assert b"pochta_store_commits_total 0.0" in metrics.render()
    commits = [7]
    metrics.watch_store_commits(lambda: commits[0])
    assert b"pochta_store_commits_total 7.0" in metrics.render()
    commits[0] = 12
    assert b"pochta_store_commits_total 12.0" in metrics.render()
