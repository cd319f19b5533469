"""Metrics of a supervised server: each worker counts its own; the supervisor's endpoint adds them up.

Every worker serves its exposition (``Metrics.render``) on a UNIX socket
``DATA/run/metrics/<index>.sock``: connect, read to the end. The supervisor's ``/metrics`` reads
every worker's and merges them into one exposition, as if one process had counted everything:
counters, and gauges of per-worker quantities (sessions open), are summed; a gauge every worker
holds whole (``Metrics.SHARED_GAUGES``: locked-out addresses, which each worker learns from the
others) takes the largest value; ``*_created`` the earliest. A worker that does not answer (being
restarted) is left out of that scrape; its counters start again from 0 in its successor, as a
restarted process's do.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from pochta.metrics import Metrics
from pochta.server.unix_address import unix_address

__all__ = ["METRICS_DIR", "gather", "merge", "serve_worker_metrics"]

METRICS_DIR = Path("run") / "metrics"
_READ_TIMEOUT = 5.0


async def serve_worker_metrics(metrics: Metrics, path: Path) -> asyncio.Server:
    """Answer every connection on ``path`` with this worker's exposition."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(metrics.render())
            await writer.drain()
        except OSError:
            pass  # the supervisor gave up on us: nothing to do
        finally:
            writer.close()

    await asyncio.to_thread(_clear, path)
    return await asyncio.start_unix_server(answer, unix_address(path))


def _clear(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a predecessor's, killed before it could remove it


async def gather(paths: Iterable[Path]) -> bytes:
    """Every worker's exposition, merged."""
    texts = await asyncio.gather(*(_read(path) for path in paths))
    return merge([text for text in texts if text is not None])


async def _read(path: Path) -> str | None:
    try:
        async with asyncio.timeout(_READ_TIMEOUT):
            reader, writer = await asyncio.open_unix_connection(unix_address(path))
            try:
                return (await reader.read()).decode("utf-8")
            finally:
                writer.close()
    except (OSError, TimeoutError, UnicodeDecodeError):
        return None


def merge(texts: list[str]) -> bytes:
    families: dict[str, Metric] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            families.setdefault(family.name, Metric(family.name, family.documentation, family.type))
            combine = _combiner(family)
            slots = values.setdefault(family.name, {})
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                slots[key] = combine(slots[key], sample.value) if key in slots else sample.value
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Merged(families, values))
    data: bytes = generate_latest(registry)
    return data


def _combiner(family: Metric) -> Callable[[float, float], float]:
    if family.name.endswith("_created"):
        return min
    if family.type == "gauge" and family.name in Metrics.SHARED_GAUGES:
        return max
    return _add


def _add(a: float, b: float) -> float:
    return a + b


class _Merged(Collector):
    def __init__(
        self,
        families: dict[str, Metric],
        values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]],
    ) -> None:
        self._families = families
        self._values = values

    def collect(self) -> Iterator[Metric]:
        for name, family in self._families.items():
            out = Metric(family.name, family.documentation, family.type)
            for (sample, labels), value in self._values[name].items():
                out.add_sample(sample, dict(labels), value)
            yield out
