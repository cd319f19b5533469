"""The server's status: version, whether a ``pochta serve`` runs on the data directory and since
when, its workers, the outbound queue's size, and the counters the ``/metrics`` endpoint shows.

The counters are every worker's, merged as ``/metrics`` merges them (``server.worker_metrics``):
each worker serves its own on ``DATA/run/metrics/<index>.sock`` while ``[metrics] listen`` is
set. Without them (metrics off), a caller inside a server process passes its own ``Metrics``
(that worker's counters only); the command line has none."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from pochta import __version__
from pochta.metrics import Metrics
from pochta.server.pidfile import PID_FILE_NAME, server_state
from pochta.server.worker_metrics import METRICS_DIR, gather, merge
from pochta.store.api import Store

__all__ = ["Sample", "ServerStatus", "server_status"]


@dataclass(frozen=True)
class Sample:
    name: str
    labels: tuple[tuple[str, str], ...]
    value: float


@dataclass(frozen=True)
class ServerStatus:
    version: str
    running: bool
    pid: int | None
    started: float | None  # epoch seconds the running server took the data directory
    workers: int | None  # workers whose counters answered; None: metrics off (unknown)
    metrics_source: str  # "workers", "this worker" or "none"
    queue_messages: int
    queue_recipients_pending: int
    metrics: tuple[Sample, ...]

    @property
    def uptime(self) -> float | None:
        return None if self.started is None else max(time.time() - self.started, 0.0)


def _samples(text: str) -> tuple[Sample, ...]:
    return tuple(
        Sample(sample.name, tuple(sorted(sample.labels.items())), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.name.endswith("_created")
    )


async def server_status(store: Store, data_dir: Path, own: Metrics | None = None) -> ServerStatus:
    state = server_state(data_dir)
    started = None
    if state.running:
        try:
            started = (data_dir / PID_FILE_NAME).stat().st_mtime  # written when the server took it
        except OSError:
            started = None
    sockets = sorted((data_dir / METRICS_DIR).glob("*.sock")) if state.running else []
    # One read per worker: those that answer (one being restarted does not) are counted.
    answered = [text for path in sockets if (text := (await gather([path])).decode("utf-8")).strip()]
    if answered:
        metrics, source, workers = _samples(merge(answered).decode("utf-8")), "workers", len(answered)
    elif own is not None:
        metrics, source, workers = _samples(own.render().decode("utf-8")), "this worker", None
    else:
        metrics, source, workers = (), "none", None
    entries = await store.queue_entries()
    return ServerStatus(
        version=__version__,
        running=state.running,
        pid=state.pid if state.running else None,
        started=started,
        workers=workers,
        metrics_source=source,
        queue_messages=len(entries),
        queue_recipients_pending=sum(len(entry.pending) for entry in entries),
        metrics=metrics,
    )
