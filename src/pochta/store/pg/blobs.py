"""``PgBlobs``: where ``PgStore``'s blobs live, behind one face for the mail core and the queue.

Two places, as on SQLite (``sqlite/inline``):

- **small blobs** (up to ``store.inline_blob_max``) are rows of ``inline_blobs``, whatever
  ``store.blobs`` says: a ``NewBlob``'s bytes are inserted by the write that first refers to them,
  in its transaction (``ensure_stored``), and the commit makes bytes and metadata durable together;
- **larger blobs** are ``LargeBlobs``: files (``pg/blob_files``: the data directory's ``blobs/``,
  or a directory every node mounts) or chunked rows of the database (``pg/blob_chunks``), by
  ``store.blobs``. They are written before the write that refers to them, durably (``put``).

Readers look in both places, in the order the size suggests, so a change of ``inline_blob_max``
leaves every stored blob readable; a change of ``store.blobs`` does not move stored blobs (a
blob in the other large place is not found).

References and collection across nodes: a write that refers to a blob takes a reference on it in
its own transaction (``ensure_stored``: a row lock, or a file's advisory lock), and a collector
deletes a blob only under the conflicting lock, after asking again whether it is referenced. The
argument for each place is written where it is enforced: ``collect_inline`` here,
``FileBlobs.collect_sync`` and ``ChunkedBlobs.collect_sync``.

Blob reads (``open``, ``read``) run on worker threads, each on a connection of this object's own
pool (``engine``: ``store.blob_threads`` connections at most, opened when first needed), never the
store's job pool, whose connections are one per job thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import BinaryIO, Protocol

from sqlalchemy import Connection, Engine

from pochta.store.api import NotFound
from pochta.store.model import BlobRef, NewBlob

__all__ = ["LargeBlobs", "PgBlobs"]

COLLECT_BATCH = 500  # inline rows claimed per collecting transaction
_STORE_TRIES = 3  # ensure_stored's rounds for a NewBlob: each lost only to a collector's commit
_HASH_CHUNK = 1 << 20  # octets read at a time when verify hashes a large blob

_SQL_PUT = "INSERT INTO inline_blobs (sha256, data) VALUES (%s, %s) ON CONFLICT (sha256) DO NOTHING"
_SQL_TAKE = "SELECT 1 FROM inline_blobs WHERE sha256 = %s FOR KEY SHARE"
_SQL_GET = "SELECT data FROM inline_blobs WHERE sha256 = %s"
_SQL_GET_MANY = "SELECT sha256, data FROM inline_blobs WHERE sha256 = ANY(%s)"
_SQL_NAMES = "SELECT sha256 FROM inline_blobs"
_SQL_CLAIM = (
    "SELECT b.sha256 FROM inline_blobs AS b WHERE NOT EXISTS (SELECT 1 FROM messages AS m WHERE "
    "m.sha256 = b.sha256) AND "
    "NOT EXISTS (SELECT 1 FROM uploads AS u WHERE u.sha256 = b.sha256) AND "
    "NOT EXISTS (SELECT 1 FROM queue_messages AS q WHERE q.sha256 = b.sha256) "
    "LIMIT %s FOR UPDATE OF b SKIP LOCKED"
)
_SQL_DELETE = (
    "DELETE FROM inline_blobs AS b WHERE b.sha256 = ANY(%s) AND NOT EXISTS (SELECT 1 FROM messages AS m "
    "WHERE m.sha256 = b.sha256) AND "
    "NOT EXISTS (SELECT 1 FROM uploads AS u WHERE u.sha256 = b.sha256) AND "
    "NOT EXISTS (SELECT 1 FROM queue_messages AS q WHERE "
    "q.sha256 = b.sha256) RETURNING b.sha256"
)


class LargeBlobs(Protocol):
    """Blobs larger than ``store.inline_blob_max``: ``FileBlobs`` or ``ChunkedBlobs``."""

    def prepare_sync(self) -> None: ...
    def close(self) -> None: ...
    async def put(self, data: bytes) -> BlobRef: ...
    async def put_file(self, path: str | Path) -> BlobRef: ...
    def put_sync(self, data: bytes) -> BlobRef: ...

    def open(self, sha256: str) -> BinaryIO:
        """Raises FileNotFoundError when the blob is missing."""

    def read(self, sha256: str, size: int) -> bytes:
        """Raises FileNotFoundError when the blob is missing."""

    def read_many(self, conn: Connection, wanted: Mapping[str, int]) -> dict[str, bytes]: ...
    def names_sync(self) -> set[str]: ...

    def take_reference(self, conn: Connection, sha256: str) -> bool:
        """In the write about to refer to the blob: whether it is stored, and if so a lock that
        keeps every collector from it until that write ends."""

    def collect_sync(self, engine: Engine, grace_seconds: float) -> list[str]: ...


class PgBlobs:
    def __init__(self, large: LargeBlobs, engine: Engine, inline_max: int) -> None:
        self.large = large
        self.engine = engine  # this object's own pool (module docstring)
        self._read = engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        self._committed = engine.execution_options(isolation_level="READ COMMITTED")
        self.inline_max = inline_max  # the current threshold: which place to look first

    def close(self) -> None:
        self.large.close()
        self.engine.dispose()

    # Inside a write transaction (the mail core's and the queue's)

    def ensure_stored(self, conn: Connection, blob: BlobRef) -> None:
        """Before a row refers to ``blob``, in that row's transaction: a ``NewBlob``'s bytes are
        inserted (nothing if that digest is here already), and the blob is referenced
        (``collect_inline``, ``LargeBlobs.take_reference``) so that no collector deletes it before
        this transaction ends. NotFound when a blob named by digest is stored nowhere.

        At READ COMMITTED (the mail writes, the queue's) a collector may delete the row between the
        insert that found it and the lock that would keep it: the lock then finds nothing, and a
        ``NewBlob`` is inserted again (a serializable write fails instead, and runs again)."""
        for _ in range(_STORE_TRIES):
            if isinstance(blob, NewBlob):
                conn.exec_driver_sql(_SQL_PUT, (blob.sha256, blob.data))
            if conn.exec_driver_sql(_SQL_TAKE, (blob.sha256,)).first() is not None:
                return
            if not isinstance(blob, NewBlob):
                if self.large.take_reference(conn, blob.sha256):
                    return
                break
        raise NotFound(f"blob {blob.sha256} is not stored")

    # Reads

    def _row(self, sha256: str) -> bytes | None:
        with self._read.connect() as conn, conn.begin():
            row = conn.exec_driver_sql(_SQL_GET, (sha256,)).first()
        return None if row is None else bytes(row[0])

    def open(self, blob: BlobRef) -> BinaryIO:
        """The row first for a blob of a size stored inline now, else the large place first (a
        blob stored under another threshold is found in the other). NotFound when it is nowhere."""
        if isinstance(blob, NewBlob):
            return io.BytesIO(blob.data)
        row_first = blob.size <= self.inline_max
        if row_first and (data := self._row(blob.sha256)) is not None:
            return io.BytesIO(data)
        with contextlib.suppress(FileNotFoundError):
            return self.large.open(blob.sha256)
        if not row_first and (data := self._row(blob.sha256)) is not None:
            return io.BytesIO(data)
        raise NotFound(f"blob {blob.sha256} is not stored")

    def read(self, blob: BlobRef) -> bytes:
        if isinstance(blob, NewBlob):
            return blob.data
        if blob.size > self.inline_max:
            with contextlib.suppress(FileNotFoundError):
                return self.large.read(blob.sha256, blob.size)
        with self.open(blob) as file:
            return file.read(blob.size)

    def read_many(self, conn: Connection, refs: Iterable[BlobRef]) -> dict[str, bytes]:
        """Every blob of ``refs`` found, whole, in the caller's read transaction: the rows in one
        query, the rest from the large place. A blob that is nowhere is left out."""
        wanted = {ref.sha256: ref.size for ref in refs}
        if not wanted:
            return {}
        rows = conn.exec_driver_sql(_SQL_GET_MANY, (list(wanted),))
        found = {str(name): bytes(data) for name, data in rows}
        rest = {name: size for name, size in wanted.items() if name not in found}
        found.update(self.large.read_many(conn, rest))
        return found

    def inline_names_sync(self) -> set[str]:
        with self._read.connect() as conn, conn.begin():
            return {str(row[0]) for row in conn.exec_driver_sql(_SQL_NAMES)}

    # What reconstruct and verify look at

    def names_sync(self) -> set[str]:
        """Every stored blob's digest, in both places."""
        return self.inline_names_sync() | self.large.names_sync()

    async def list_all(self) -> set[str]:
        return await asyncio.to_thread(self.names_sync)

    def intact_sync(self, sha256: str) -> bool | None:
        """Whether the stored bytes still hash to their name (None: stored nowhere any more, as
        after a collection since the listing), read as a stream in either place."""
        data = self._row(sha256)
        if data is not None:
            return hashlib.sha256(data).hexdigest() == sha256
        try:
            file = self.large.open(sha256)
        except FileNotFoundError:
            return None
        digest = hashlib.sha256()
        with file:
            while chunk := file.read(_HASH_CHUNK):
                digest.update(chunk)
        return digest.hexdigest() == sha256

    # Collection

    def collect_inline(self) -> list[str]:
        """Delete every ``inline_blobs`` row nothing refers to, at once (no grace period: a row and
        its first reference commit together); their digests.

        Why no node loses a row it is about to refer to. A write W (SERIALIZABLE) that refers to
        row R (a ``NewBlob`` it inserted or found, or a digest) locks R FOR KEY SHARE
        (``ensure_stored``) and holds the lock until it commits its reference. This collector, in
        a READ COMMITTED transaction, locks the rows it means to delete FOR UPDATE SKIP LOCKED
        (which conflicts with W's lock and never waits), then deletes them in a second statement
        that asks again whether they are referenced, with a snapshot taken after the locks (it
        sees every commit made before them). Either
        - W locked R first: the collector skips R while W is open, and if W has committed, the
          second statement sees W's reference and keeps R; or
        - the collector locked R first: W waits until the collector's transaction ends. If R was
          deleted, W (SERIALIZABLE) cannot lock a row deleted by a commit after its snapshot: it
          fails with a serialization error and runs again (``PgStore.run_write``), finding no R:
          a ``NewBlob`` inserts it again, a reference by digest gets NotFound. If R was kept, W
          goes on.
        So no committed reference names a deleted row.
        """
        removed: list[str] = []
        while True:
            with self._committed.connect() as conn, conn.begin():
                claimed = [str(row[0]) for row in conn.exec_driver_sql(_SQL_CLAIM, (COLLECT_BATCH,))]
                if claimed:
                    removed.extend(str(row[0]) for row in conn.exec_driver_sql(_SQL_DELETE, (claimed,)))
            if len(claimed) < COLLECT_BATCH:
                return removed

    def collect_sync(self, grace_seconds: float) -> list[str]:
        """Unreferenced rows at once, large blobs once older than the grace period; their digests."""
        return self.collect_inline() + self.large.collect_sync(self.engine, grace_seconds)
