"""``directory_version()`` on PostgreSQL: the one-row read that lets delivery's and authentication's
caches keep what they looked up (``api.Directory.directory_version``).

The contract is a blocking but cheap call on the event loop. On SQLite that is a local read; here
it is one round trip on a connection kept for this alone (not the pool's: a pool checkout could
wait behind the jobs, and a job's connection is busy in its transaction). Its cost is bounded so:
- read at most once per turn of the event loop (``PgStore`` memoises the answer until the loop's
  next turn, as SqliteStore does), so a burst of sessions served in one turn shares one read;
- autocommit, so each read sees every commit before it (a write this process awaited is seen:
  the version a cache keeps is never older than what it then reads);
- a short ``statement_timeout`` and ``connect_timeout``: a slow or unreachable database answers
  None ("cache nothing": the caller reads the directory the usual way, off the loop), and after a
  failure no new connection is tried for ``RETRY_AFTER`` seconds, so the loop never stalls on a
  database that is down.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import Connection, Engine, create_engine, select
from sqlalchemy.pool import NullPool

from pochta.store.schema import directory_version

__all__ = ["VersionReader"]

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 2  # seconds (libpq's connect_timeout is whole seconds)
STATEMENT_TIMEOUT_MS = 200
RETRY_AFTER = 1.0  # seconds without a new connection after a failure
_QUERY = select(directory_version.c.version).where(directory_version.c.id == 1)


class VersionReader:
    """Reads ``directory_version.version`` on a connection of its own (opened on first use)."""

    def __init__(self, url: str) -> None:
        self._engine: Engine = create_engine(
            url,
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",
            connect_args={
                "connect_timeout": CONNECT_TIMEOUT,
                "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
            },
        )
        self._conn: Connection | None = None
        self._failed_at = 0.0
        self._lock = threading.Lock()  # the loop thread, and a CLI or test thread off any loop

    def read(self) -> int | None:
        """The version, or None when it cannot be read at once."""
        with self._lock:
            if self._conn is None and time.monotonic() - self._failed_at < RETRY_AFTER:
                return None
            try:
                if self._conn is None:
                    self._conn = self._engine.connect()
                value = self._conn.execute(_QUERY).scalar()
            except Exception:
                log.warning("reading the directory version failed", exc_info=True)
                self._drop()
                self._failed_at = time.monotonic()
                return None
            return None if value is None else int(value)

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except Exception:
                log.debug("closing the directory version's connection failed", exc_info=True)

    def close(self) -> None:
        with self._lock:
            self._drop()
        self._engine.dispose()
