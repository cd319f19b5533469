"""What ``pochta serve`` asks of ``PgStore`` beyond the mail interface: to open its job threads and
database connections before the server accepts (``start_readers``).

A mixin of ``PgStore`` (as ``pg/mail_methods`` is), which provides the jobs named in ``_Jobs``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import Connection

from pochta.config import Settings

__all__ = ["ServerHooks"]

T = TypeVar("T")

_START_WAIT = 30.0  # seconds each job waits for the others to have their thread and connection


class ServerHooks:
    if TYPE_CHECKING:  # provided by PgStore (declared for the type checker only)
        settings: Settings

        async def run_read(self, fn: Callable[[Connection], T]) -> T: ...

    async def start_readers(self) -> None:
        """Start every job thread with a pooled connection now. Left to first use, each of the
        first clients' commands would wait for a thread to start and for a connection's set-up (a
        TCP or socket connect, authentication, a round trip or more to the database): as many
        jobs as the pool has threads, each held until all run, make every thread connect once."""
        count = self.settings.store.pg_pool_size
        barrier = threading.Barrier(count)

        def hold(conn: Connection) -> None:
            conn.exec_driver_sql("SELECT 1")  # the connection is open and its session set up
            barrier.wait(_START_WAIT)  # every job on a thread of its own, with a connection of its own

        await asyncio.gather(*(self.run_read(hold) for _ in range(count)))
