"""Small messages' bytes inside the database (revision 0011, table ``inline_blobs``).

A message up to ``store.inline_blob_max`` octets is not written to a blob file: its bytes travel with
the write that first refers to it (``NewBlob``) and are inserted (``INSERT OR IGNORE``: single
instance, keyed by the SHA-256 like the files) in the same transaction as the message or queue row.
The writer's group commit then makes the bytes and the metadata durable with its one WAL fsync
(``synchronous=FULL``): acknowledged = durable holds with no file, rename or directory fsync per
message, and no blob thread between the event loop and the writer.

Everything that refers to a blob by digest (``messages.sha256``, ``queue_messages.sha256``) finds it
either here or as a file (``blobs.BlobStore``); readers look in both (``BlobReader``), in the order
the size suggests, so a change of ``inline_blob_max`` leaves every stored message readable.

Collection needs no grace period here, unlike files: a row and its first reference are committed
together, and ``collect`` deletes unreferenced rows inside one write transaction, which no delivery
can interleave with (a delivery that refers to an existing row by digest checks it in its own write
transaction, ``ensure_stored``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import BinaryIO

from pochta.store.api import NotFound
from pochta.store.blobs import BlobStore
from pochta.store.model import BlobRef, NewBlob

_SQL_INSERT = "INSERT OR IGNORE INTO inline_blobs (sha256, data) VALUES (?, ?)"
_SQL_GET = "SELECT data FROM inline_blobs WHERE sha256 = ?"
_SQL_EXISTS = "SELECT 1 FROM inline_blobs WHERE sha256 = ?"
_SQL_NAMES = "SELECT sha256 FROM inline_blobs"
_SQL_ROWS_AFTER = "SELECT sha256, data FROM inline_blobs WHERE sha256 > ? ORDER BY sha256 LIMIT ?"
_SQL_UNREFERENCED = (
    "SELECT i.sha256 FROM inline_blobs AS i WHERE NOT EXISTS "
    "(SELECT 1 FROM messages AS m WHERE m.sha256 = i.sha256) AND NOT EXISTS "
    "(SELECT 1 FROM queue_messages AS q WHERE q.sha256 = i.sha256)"
)
_SQL_DELETE = "DELETE FROM inline_blobs WHERE sha256 = ?"
IN_LIST_MAX = 500  # digests per SELECT ... IN (...)
HASH_BATCH = 200  # rows re-hashed per read by verify


def new_blob(data: bytes) -> NewBlob:
    return NewBlob(hashlib.sha256(data).hexdigest(), len(data), data)


# Inside a write transaction


def ensure_stored(raw: sqlite3.Connection, blobs: BlobStore, blob: BlobRef) -> None:
    """Before a row refers to ``blob``: a ``NewBlob``'s bytes are inserted (nothing if that digest
    is here already); any other blob must be here or a file, else NotFound. Garbage collection
    removes rows and files only inside a write transaction too, so what is seen here stays until
    the reference commits."""
    if isinstance(blob, NewBlob):
        raw.execute(_SQL_INSERT, (blob.sha256, blob.data))
        return
    if raw.execute(_SQL_EXISTS, (blob.sha256,)).fetchone() is None and not blobs.exists_sync(blob.sha256):
        raise NotFound(f"blob {blob.sha256} is not stored")


def collect(raw: sqlite3.Connection) -> list[str]:
    """Delete every row no message or queue entry refers to; their digests. One write transaction."""
    names = [str(row[0]) for row in raw.execute(_SQL_UNREFERENCED)]
    raw.executemany(_SQL_DELETE, [(name,) for name in names])
    return names


# Reads (a reader job's connection, or ``BlobReader``'s own)


def get(raw: sqlite3.Connection, sha256: str) -> bytes | None:
    row = raw.execute(_SQL_GET, (sha256,)).fetchone()
    return None if row is None else bytes(row[0])


def get_many(raw: sqlite3.Connection, names: Sequence[str]) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for start in range(0, len(names), IN_LIST_MAX):
        part = names[start : start + IN_LIST_MAX]
        marks = ",".join("?" * len(part))  # placeholders only: the digests are bound parameters
        sql = f"SELECT sha256, data FROM inline_blobs WHERE sha256 IN ({marks})"  # noqa: S608
        found.update((str(name), bytes(data)) for name, data in raw.execute(sql, part))
    return found


def names(raw: sqlite3.Connection) -> set[str]:
    return {str(row[0]) for row in raw.execute(_SQL_NAMES)}


def corrupt_after(raw: sqlite3.Connection, after: str) -> tuple[list[str], str | None]:
    """Re-hash the next ``HASH_BATCH`` rows after digest ``after``: the corrupt ones (content no
    longer matching the digest), and where to go on (None at the end)."""
    rows = raw.execute(_SQL_ROWS_AFTER, (after, HASH_BATCH)).fetchall()
    bad = [str(name) for name, data in rows if hashlib.sha256(data).hexdigest() != name]
    return bad, (str(rows[-1][0]) if len(rows) == HASH_BATCH else None)


class BlobReader:
    """Blob bytes wherever they are: a row of ``inline_blobs`` or a file.

    ``open``/``read`` run on worker threads (never the event loop: they may query SQLite), each
    thread with its own read-only connection, opened on first use and closed by ``close``.
    ``read_many`` runs inside a reader job, on its connection.
    """

    def __init__(self, db_path: Path, blobs: BlobStore, inline_max: int, busy_timeout: float) -> None:
        self._db_path = db_path
        self.blobs = blobs
        self.inline_max = inline_max  # the current threshold: which place to look first
        self._timeout = busy_timeout
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self._db_path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA query_only = ON")
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    def open(self, blob: BlobRef) -> BinaryIO:
        """The row first for a blob of a size stored inline now, else the file first (a blob
        stored under another threshold is found in the other place). NotFound when it is nowhere."""
        if isinstance(blob, NewBlob):
            return io.BytesIO(blob.data)
        row_first = blob.size <= self.inline_max
        if row_first and (data := get(self._conn(), blob.sha256)) is not None:
            return io.BytesIO(data)
        with contextlib.suppress(FileNotFoundError):
            return self.blobs.open(blob.sha256)
        if not row_first and (data := get(self._conn(), blob.sha256)) is not None:
            return io.BytesIO(data)
        raise NotFound(f"blob {blob.sha256} is missing")

    def read(self, blob: BlobRef) -> bytes:
        if isinstance(blob, NewBlob):
            return blob.data
        if blob.size > self.inline_max:
            with contextlib.suppress(FileNotFoundError):
                return self.blobs.read(blob.sha256, blob.size)
        with self.open(blob) as file:
            return file.read(blob.size)

    def read_many(self, raw: sqlite3.Connection, refs: Iterable[BlobRef]) -> dict[str, bytes]:
        """Every blob of ``refs`` found: the rows in one query, the rest from their files (each whole,
        ``size`` octets). A blob that is nowhere is left out."""
        wanted = {ref.sha256: ref.size for ref in refs}
        found = get_many(raw, list(wanted))
        for sha256, size in wanted.items():
            if sha256 not in found:
                with contextlib.suppress(FileNotFoundError):
                    found[sha256] = self.blobs.read(sha256, size)
        return found

    def close(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            conn.close()
