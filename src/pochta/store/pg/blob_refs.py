"""What refers to a blob on PostgreSQL, and the lock a collector takes on a blob file's digest.

Every reference to a blob is a digest in ``messages.sha256``, ``queue_messages.sha256`` or
``uploads.sha256`` (as on
SQLite, ``sqlite/maintenance.referenced_blobs``). A write that adds one first takes a reference
on the blob in its own transaction (``PgBlobs.ensure_stored``); a collector deletes a blob only
when, after taking the blob's lock, a statement started later still finds no reference. Rows
(``inline_blobs``, ``large_blobs``) are locked as rows; a file has no row, so its lock is a
transaction-level advisory lock on its digest (``FILE_LOCK_SPACE``, ``file_lock_key``).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

__all__ = ["FILE_LOCK_SPACE", "file_lock_key", "referenced_among"]

# The advisory locks of blob files: the two-key form (class, key), whose keys never meet the
# one-key form of session locks (pg/locks) and of the schema lock (pg/schema). "blob" in ASCII.
FILE_LOCK_SPACE = 0x626C6F62

_SQL_REFERENCED = (
    "SELECT sha256 FROM messages WHERE sha256 = ANY(%(names)s) "
    "UNION SELECT sha256 FROM queue_messages WHERE sha256 = ANY(%(names)s) "
    "UNION SELECT sha256 FROM uploads WHERE sha256 = ANY(%(names)s)"
)


def referenced_among(conn: Connection, names: Sequence[str]) -> set[str]:
    """The digests of ``names`` some message or queue entry names, as this statement sees them."""
    if not names:
        return set()
    rows = conn.exec_driver_sql(_SQL_REFERENCED, {"names": list(names)}).fetchall()
    return {str(row[0]) for row in rows}


def file_lock_key(sha256: str) -> int:
    """The advisory lock's second key: the digest's first 32 bits as a signed int4. Two digests
    sharing them only make a collector skip a file, or a delivery wait for a collection, a while."""
    return int(sha256[:8], 16) - 2**31
