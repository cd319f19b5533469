"""Session locks on PostgreSQL (``MailStore.try_lock``): session-level advisory locks, one
dedicated database connection per held lock.

Why a connection of its own for each lock, outside the store's pool:
- a session-level advisory lock belongs to the database session that took it and lasts until that
  session unlocks it or ends. A pooled connection goes back to the pool and serves other jobs, so a
  lock on it would outlive its holder (or be released by an unrelated job). Here the lock's
  connection is opened for it and closed with it, so the lock lives exactly as long as its holder;
- when the holding process dies in any way (SIGKILL included), the kernel closes its socket, the
  server ends the session and drops the lock: no row saying "locked by pid N" to clean up. A whole
  node lost without a FIN (power cut, network partition) is noticed by the server's TCP keepalive,
  which each lock connection sets for its own session (``KEEPALIVE_*`` below; on a UNIX socket they
  do not apply and are not needed);
- advisory locks are re-entrant within one session: one session per lock makes a second
  ``try_lock`` of a held name, from this process too, refused as ``flock`` on a new open file
  description is on SQLite (``store/locks.py``).

The key is the first 8 octets of SHA-256 over a pochta prefix and the name, as a signed bigint
(``pg_try_advisory_lock(bigint)``). Two names colliding (odds about n²/2⁶⁵ among n names held at
once) would only make them exclusive of each other, a spurious "in use", never two holders of one
name. The prefix keeps pochta's keys apart from other applications' advisory locks on a shared
database by the same odds.

The connection runs in autocommit (never idle in a transaction) with ``idle_session_timeout`` off
for its session, so that an operator's idle timeout does not end it and silently free the lock.
A lock lost with its connection (the database server restarted) is not noticed by its holder
until it releases it; the holder's work is protected by what it writes (a queue lease, a UID
allocation), the lock only keeps a second session from starting.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

from pochta.store.locks import valid_lock_name

__all__ = ["PgLock", "PgLocks", "lock_key"]

log = logging.getLogger(__name__)

_KEY_PREFIX = b"pochta-lock\x00"
# Seconds: the server probes a silent lock connection after KEEPALIVE_IDLE, every
# KEEPALIVE_INTERVAL, and ends the session (freeing the lock) after KEEPALIVE_COUNT unanswered probes.
KEEPALIVE_IDLE = 30
KEEPALIVE_INTERVAL = 10
KEEPALIVE_COUNT = 3
_SESSION_SETUP = (
    f"SET tcp_keepalives_idle = {KEEPALIVE_IDLE}",
    f"SET tcp_keepalives_interval = {KEEPALIVE_INTERVAL}",
    f"SET tcp_keepalives_count = {KEEPALIVE_COUNT}",
    "SET idle_session_timeout = 0",
)
_TRY = text("SELECT pg_try_advisory_lock(:key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:key)")
_ALIVE = text("SELECT 1")


def lock_key(name: str) -> int:
    """The advisory lock key of a (valid) lock name: a stable signed 64-bit integer."""
    digest = hashlib.sha256(_KEY_PREFIX + name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PgLock:
    """One lock held by this process: its own open connection holding the advisory lock."""

    def __init__(self, name: str, key: int, conn: Connection) -> None:
        self._name = name
        self._key = key
        self._conn: Connection | None = conn

    @property
    def name(self) -> str:
        return self._name

    @property
    def held(self) -> bool:
        return self._conn is not None

    def release_sync(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            # Unlocked before the close returns: a try_lock right after release must find it free
            # (closing alone frees it too, but only once the server has noticed the closed socket).
            conn.execute(_UNLOCK, {"key": self._key})
        except Exception:
            log.warning("unlocking %s failed; closing its connection frees it", self._name, exc_info=True)
        finally:
            conn.close()

    async def release(self) -> None:
        """One round trip on a worker thread. Cancelling the caller does not stop it: the thread
        finishes the unlock and the close."""
        if self._conn is None:
            return
        await asyncio.shield(asyncio.to_thread(self.release_sync))

    def check_sync(self) -> bool:
        conn = self._conn
        if conn is None:
            return False
        try:
            # A session-level advisory lock lasts as long as its session: a live session holds it.
            conn.execute(_ALIVE)
        except Exception:
            log.warning("the connection holding lock %s is lost, and the lock with it", self._name)
            self._conn = None
            with contextlib.suppress(Exception):
                conn.invalidate()
                conn.close()
            return False
        return True

    async def check(self) -> bool:
        """One round trip on a worker thread: False once the lock's session has ended (the
        server restarted or ended it, the connection dropped), when another may hold it."""
        if self._conn is None:
            return False
        return await asyncio.to_thread(self.check_sync)

    def __del__(self) -> None:
        # A lock dropped without release (a bug) is still given back when collected.
        with contextlib.suppress(Exception):
            self.release_sync()


def _release_unwanted(attempt: asyncio.Future[PgLock | None]) -> None:
    if attempt.cancelled() or attempt.exception() is not None:
        return
    lock = attempt.result()
    if lock is not None:
        asyncio.get_running_loop().run_in_executor(None, lock.release_sync)


class PgLocks:
    """The session locks of one database: a connection per lock, never pooled (NullPool: closing
    a Connection closes the database session)."""

    def __init__(self, url: str) -> None:
        self._engine: Engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")

    def try_lock_sync(self, name: str) -> PgLock | None:
        key = lock_key(valid_lock_name(name))
        conn = self._engine.connect()
        try:
            for statement in _SESSION_SETUP:
                conn.exec_driver_sql(statement)
            taken = bool(conn.execute(_TRY, {"key": key}).scalar_one())
        except BaseException:
            conn.close()
            raise
        if not taken:
            conn.close()
            return None
        return PgLock(name, key, conn)

    async def try_lock(self, name: str) -> PgLock | None:
        """The lock, or None when any session (this process's or another's) holds it. A bad name
        is refused (ValueError) before any connection is made."""
        valid_lock_name(name)
        attempt = asyncio.ensure_future(asyncio.to_thread(self.try_lock_sync, name))
        try:
            return await asyncio.shield(attempt)
        except asyncio.CancelledError:
            # The caller is gone but the thread may still take the lock: give it back when it does.
            attempt.add_done_callback(_release_unwanted)
            raise

    def close(self) -> None:
        """Nothing pooled to close (locks still held keep their connections until released)."""
        self._engine.dispose()
