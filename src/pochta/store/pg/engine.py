"""The PostgreSQL engine: psycopg 3 under SQLAlchemy, one pool of connections per process, and the
transaction discipline of the store's reads and writes (``PgStore.run_read`` / ``run_write``).

- Reads run in one REPEATABLE READ, READ ONLY transaction: every statement of a read job sees one
  snapshot, as a SQLite read transaction does (the store's read jobs make several queries whose
  answers must agree: a mailbox's counters and its rows, a directory lookup and its domain). A
  read-only transaction at this level never fails with a serialization error, so reads need no
  retry.
- Writes run in one SERIALIZABLE transaction each. The portable write functions were written for
  SQLite, where one writer at a time makes every transaction serial (read a counter, then write
  it; look for a row, then insert it). SERIALIZABLE gives PostgreSQL's concurrent writers the same
  guarantee: the database aborts one of two transactions whose interleaving would differ from
  every serial order (SQLSTATE 40001), and the store runs it again (``store.pg_write_retries``)
  rather than let a lost update through. Deadlocks (40P01) are retried the same way.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import QueuePool

__all__ = ["RETRIED_SQLSTATES", "is_retryable", "make_engines"]

# serialization_failure, deadlock_detected: PostgreSQL rolled the transaction back; run it again.
RETRIED_SQLSTATES = frozenset({"40001", "40P01"})


def make_engines(url: str, pool_size: int) -> tuple[Engine, Engine, Engine]:
    """(base, read, write) engines sharing one pool: ``read`` and ``write`` carry the isolation
    levels above. ``pool_pre_ping``: a connection the server closed (a restart, a failover) is
    replaced at checkout instead of failing the job that took it."""
    # As many connections as job threads (PgStore), each job holding one for its transaction: a
    # checkout never waits, and pool_timeout is only the bound for a caller outside the jobs.
    base = create_engine(
        url, poolclass=QueuePool, pool_size=pool_size, max_overflow=0, pool_pre_ping=True, pool_timeout=60
    )
    read = base.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    write = base.execution_options(isolation_level="SERIALIZABLE")
    return base, read, write


def is_retryable(error: BaseException) -> bool:
    """A write lost a race PostgreSQL resolves by aborting it: running it again is safe."""
    if not isinstance(error, DBAPIError):
        return False
    original: Any = error.orig
    return getattr(original, "sqlstate", None) in RETRIED_SQLSTATES
