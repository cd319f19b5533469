"""The housekeeper lease: of the processes serving one data directory, exactly one runs the jobs
that must run once (the outbound queue worker, the blob collector).

The lease is an exclusive ``flock`` on ``DATA/run/housekeeper.lock``, tried without blocking. The
kernel drops it when its holder dies in any way (SIGKILL included), and another process, trying
again every ``retry`` seconds, takes the jobs over; nobody has to notice the death. A process holds
it until it stops. On several machines (PostgreSQL) the same interface becomes a session-level
advisory lock, which the database likewise drops with its connection.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from pochta.log import get_logger
from pochta.server.tasks import cancel_and_wait

__all__ = ["HOUSEKEEPER_LOCK", "Lease", "hold_housekeeping"]

HOUSEKEEPER_LOCK = Path("run") / "housekeeper.lock"


class Lease:
    """An exclusive, non-blocking file lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the only descriptor drops the lock


async def hold_housekeeping(data_dir: Path, start: Callable[[], list[Awaitable[None]]], retry: float) -> None:
    """Run until cancelled: take the lease as soon as it is free, then run ``start()``'s jobs
    until cancelled (cancelling them too), and release it."""
    lease = Lease(data_dir / HOUSEKEEPER_LOCK)
    log = get_logger(task="housekeeper")
    tasks: list[asyncio.Task[None]] = []
    try:
        # Polled: a flock cannot be awaited, and the holder's death is noticed by nobody else.
        while True:
            if await asyncio.to_thread(lease.try_acquire):
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
        lease.release()
