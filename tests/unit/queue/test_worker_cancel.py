"""The queue worker ends when cancelled, even at the instant something wakes it."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from pochta.config import QueueSettings, Settings
from pochta.delivery import Delivery
from pochta.queue.worker import QueueWorker
from pochta.store.sqlite.store import open_sqlite_store


async def test_a_worker_cancelled_as_it_is_woken_stops(tmp_path: Path) -> None:
    # The cancellation and the wake-up land in one loop iteration: the wake completes the wait the
    # worker sleeps in just before the cancellation reaches it. asyncio.wait_for (Python 3.11)
    # returned the wait's result then and lost the cancellation: the worker polled on for ever.
    data = tmp_path / "data"
    store = await open_sqlite_store(data, Settings())
    try:
        settings = Settings(queue=QueueSettings(poll_interval=30.0))
        worker = QueueWorker(store, settings, Delivery(store, settings, data))
        task = asyncio.create_task(worker.run())
        await asyncio.sleep(0.5)  # nothing is queued: it claims nothing and sleeps for the poll
        assert not task.done()
        worker.wake()
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=5)
        if not done:  # the cancellation was lost: end it for the clean-up, then fail
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert task in done
        assert task.cancelled()
    finally:
        await store.close()
