"""The periodic blob sweep, view snapshot rounds and expunge record pruning: run at their interval
(the sweep with the configured grace, the pruning with the configured age), survive a failure."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from pydantic import ValidationError

from pochta.config import GreylistSettings, StoreSettings
from pochta.server.housekeeping import (
    collect_blobs_periodically,
    prune_expunged_periodically,
    prune_greylist_periodically,
    prune_send_counts_periodically,
    refresh_snapshots_periodically,
)


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


class SnapshotStore:
    def __init__(self) -> None:
        self.rounds = 0

    async def refresh_snapshots(self, limit: int = 100) -> int:
        self.rounds += 1
        if self.rounds == 1:
            raise OSError("database is locked")
        return 1


async def test_snapshot_rounds_repeat_and_survive_errors() -> None:
    store = SnapshotStore()
    task = asyncio.create_task(
        refresh_snapshots_periodically(store, StoreSettings(view_snapshot_interval=0.01))
    )
    for _ in range(200):
        if store.rounds >= 3:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert store.rounds >= 3


class PruningStore:
    def __init__(self) -> None:
        self.ages: list[float] = []

    async def prune_expunged(self, older_than_seconds: float) -> int:
        self.ages.append(older_than_seconds)
        if len(self.ages) == 1:
            raise OSError("database is locked")
        return 5


async def test_expunge_records_are_pruned_at_their_age_and_survive_errors() -> None:
    store = PruningStore()
    settings = StoreSettings(blob_collect_interval=0.01, expunge_record_days=2.5)
    task = asyncio.create_task(prune_expunged_periodically(store, settings))
    for _ in range(200):
        if len(store.ages) >= 3:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert len(store.ages) >= 3
    assert set(store.ages) == {2.5 * 86400}  # store.expunge_record_days, in seconds


def test_expunge_record_days_default_and_bounds() -> None:
    assert StoreSettings().expunge_record_days == 30.0
    assert StoreSettings(expunge_record_days=0).expunge_record_days == 0  # 0: kept forever
    with pytest.raises(ValidationError):
        StoreSettings(expunge_record_days=-1)


class GreylistStore:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    async def prune_greylist(self, unconfirmed_before: int, passed_before: int) -> int:
        self.calls.append((unconfirmed_before, passed_before))
        if len(self.calls) == 1:
            raise OSError("disk hiccup")
        return 1


async def test_greylist_triplets_are_pruned_by_expiry_and_retain_and_survive_errors() -> None:
    store = GreylistStore()
    settings = GreylistSettings(enabled=True, expiry=100, retain=1000, prune_interval=0.01)
    task = asyncio.create_task(prune_greylist_periodically(store, settings))
    for _ in range(200):
        if len(store.calls) >= 2:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert len(store.calls) >= 2
    now = int(time.time())
    unconfirmed, passed = store.calls[-1]
    assert now - 102 <= unconfirmed <= now - 100
    assert now - 1002 <= passed <= now - 1000


class SendCountStore:
    def __init__(self) -> None:
        self.calls: list[int] = []

    async def prune_send_counts(self, now: int) -> int:
        self.calls.append(now)
        if len(self.calls) == 1:
            raise OSError("disk hiccup")
        return 2


async def test_send_counts_are_pruned_and_survive_errors() -> None:
    store = SendCountStore()
    task = asyncio.create_task(
        prune_send_counts_periodically(store, StoreSettings(blob_collect_interval=0.01))
    )
    for _ in range(200):
        if len(store.calls) >= 2:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert len(store.calls) >= 2
    assert abs(store.calls[-1] - time.time()) < 5
