"""The housekeeper: of the processes serving one data directory, exactly one runs the jobs that must
run once (the outbound queue worker, the blob collector, the search indexer).

It is whoever holds the store lock ``housekeeper`` (``MailStore.try_lock``: a ``flock`` on SQLite,
an advisory lock on PostgreSQL), tried without blocking. The lock dies with its holder (SIGKILL
included), and another process, trying again every ``retry`` seconds, takes the jobs over; nobody has
to notice the death. A process holds it until it stops.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

from pochta.log import get_logger
from pochta.server.tasks import cancel_and_wait
from pochta.store.api import HeldLock

__all__ = ["HOUSEKEEPER_LOCK", "hold_housekeeping"]

HOUSEKEEPER_LOCK = "housekeeper"


async def hold_housekeeping(
    try_lock: Callable[[str], Awaitable[HeldLock | None]],
    start: Callable[[], list[Awaitable[None]]],
    retry: float,
) -> None:
    """Run until cancelled: take the lock as soon as it is free, then run ``start()``'s jobs until
    cancelled (cancelling them too), and release it."""
    log = get_logger(task="housekeeper")
    tasks: list[asyncio.Task[None]] = []
    lock: HeldLock | None = None
    try:
        # Polled: a lock that must die with its holder cannot be waited for across machines.
        while True:
            lock = await try_lock(HOUSEKEEPER_LOCK)
            if lock is not None:
                break
            await asyncio.sleep(retry)
        log.info("housekeeper", pid=os.getpid())
        tasks = [asyncio.ensure_future(job) for job in start()]
        if tasks:
            await asyncio.gather(*tasks)
        else:
            await asyncio.Event().wait()
    finally:
        await cancel_and_wait(tasks)
        if lock is not None:
            await lock.release()
