"""The housekeeper: of the processes serving one store (the workers of one data directory, and on
PostgreSQL every node's), exactly one runs the jobs that must run once (the outbound queue worker,
the blob collector, the search indexer, the fetch scheduler).

It is whoever holds the store lock ``housekeeper`` (``MailStore.try_lock``: a ``flock`` on SQLite,
an advisory lock on PostgreSQL, which holds across nodes), tried without blocking. The lock dies
with its holder (SIGKILL included: on PostgreSQL its database session ends with the process's
connection), and another process, trying again every ``retry`` seconds, takes the jobs over;
nobody has to notice the death.

On PostgreSQL a lock can also be lost while its holder lives: its session ended (the database
restarted, an operator ended it, the connection dropped). Then another process may take it, so
the holder checks its lock every ``retry`` seconds (``HeldLock.check``) and, when it is lost, stops
its jobs and goes back to trying. Two housekeepers can so overlap for at most about ``retry``
seconds after such a loss; the jobs' own writes keep that safe (a queue entry is leased in its
row, a fetch account's run holds its own lock).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

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
    cancelled (cancelling them too) or until the lock is lost (then take it again, and call
    ``start()`` again), and release it. Returns when every job has returned."""
    log = get_logger(task="housekeeper")
    while True:
        lock = await _take(try_lock, retry)
        tasks: list[asyncio.Task[None]] = []
        jobs: asyncio.Future[Any] | None = None
        try:
            log.info("housekeeper", pid=os.getpid())
            tasks = [asyncio.ensure_future(job) for job in start()]
            gathered: asyncio.Future[Any] = (
                asyncio.gather(*tasks) if tasks else asyncio.get_running_loop().create_future()
            )
            jobs = gathered
            # Cancelled with its jobs, a gathering future ends with CancelledError as its exception,
            # which nobody awaits then: read here, so that asyncio does not log it as lost.
            gathered.add_done_callback(_outcome_read)
            while True:
                done, _ = await asyncio.wait({gathered}, timeout=retry)
                if done:
                    gathered.result()  # a job's failure ends the housekeeping, as it always did
                    return
                if not await lock.check():
                    break
            log.error("housekeeper lock lost (its database session ended): jobs stopped, taking it again")
        finally:
            if jobs is not None:
                jobs.cancel()
            await cancel_and_wait(tasks)
            await lock.release()


def _outcome_read(jobs: asyncio.Future[Any]) -> None:
    if not jobs.cancelled():
        jobs.exception()


async def _take(try_lock: Callable[[str], Awaitable[HeldLock | None]], retry: float) -> HeldLock:
    # Polled: a lock that must die with its holder cannot be waited for across machines.
    while True:
        lock = await try_lock(HOUSEKEEPER_LOCK)
        if lock is not None:
            return lock
        await asyncio.sleep(retry)
