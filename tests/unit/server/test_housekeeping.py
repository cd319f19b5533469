"""The periodic blob sweep: runs at its interval with the configured grace, survives a failure."""

from __future__ import annotations

import asyncio
import contextlib

from pochta.config import StoreSettings
from pochta.server.housekeeping import collect_blobs_periodically


class FakeStore:
    def __init__(self) -> None:
        self.calls: list[float | None] = []

    async def collect_blobs(self, grace_seconds: float | None = None) -> list[str]:
        self.calls.append(grace_seconds)
        if len(self.calls) == 1:
            raise OSError("disk hiccup")
        return ["ab" * 32]


async def test_sweeps_repeatedly_and_survives_errors() -> None:
    store = FakeStore()
    settings = StoreSettings(blob_collect_interval=0.01, blob_grace_seconds=42.0)
    task = asyncio.create_task(collect_blobs_periodically(store, settings))
    for _ in range(200):
        if len(store.calls) >= 3:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert len(store.calls) >= 3
    assert set(store.calls) == {42.0}
