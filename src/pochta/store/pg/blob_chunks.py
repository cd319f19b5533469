"""Blobs inside PostgreSQL (``store.blobs = "postgresql"``): ``large_blobs`` and ``large_blob_chunks``.

A blob larger than ``store.inline_blob_max`` is a row of ``large_blobs`` (digest, size, ``touched``)
and its bytes rows of ``large_blob_chunks`` of ``CHUNK`` octets each, numbered from 0. Nothing is
kept on any node's disk: every node reads every blob from the database, and the database's backup
holds them.

- **Writing** (``put_sync``, ``put_file_sync``): the head row and every chunk in one READ COMMITTED
  transaction of their own, committed (so durable: the store warns when the server does not flush
  commits, ``pg/store``) before the write that refers to the blob begins, as a blob file is
  fsync'ed before. Single instance by digest: a blob already here is not written again, only its
  ``touched`` moved to now (the database's clock), which keeps it from collection a grace period
  longer, as a file's refreshed modification time does. Two nodes writing the same new blob at
  once: the second's INSERT waits on the first's key and then finds the row.
- **Reading** streams: ``open`` copies a blob of more than one chunk into an unnamed temporary file
  of the data directory's ``blobs/tmp/`` chunk by chunk (one chunk in memory at a time), so that
  callers that map or ``sendfile`` a message file (POP3, the MIME parser) get a real file; a blob
  of one chunk comes as a BytesIO, as an inline blob does.
- **References and collection**: ``take_reference`` and ``collect_sync`` below (the argument is on
  ``collect_sync``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import io
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO, TypeVar

from sqlalchemy import Connection, Engine

from pochta.store.model import BlobRef

__all__ = ["CHUNK", "ChunkedBlobs"]

T = TypeVar("T")

CHUNK = 1024 * 1024  # octets per row of large_blob_chunks (TOAST stores each row's bytes apart)
COLLECT_BATCH = 500  # blobs claimed per collecting transaction

_SQL_INSERT_HEAD = (
    "INSERT INTO large_blobs (sha256, size, touched) VALUES "
    "(%s, %s, CAST(extract(epoch FROM statement_timestamp()) AS bigint)) "
    "ON CONFLICT (sha256) DO NOTHING RETURNING sha256"
)
_SQL_TOUCH = (
    "UPDATE large_blobs SET touched = CAST(extract(epoch FROM statement_timestamp()) AS bigint) "
    "WHERE sha256 = %s RETURNING size"
)
_SQL_INSERT_CHUNK = "INSERT INTO large_blob_chunks (sha256, seq, data) VALUES (%s, %s, %s)"
_SQL_SIZE = "SELECT size FROM large_blobs WHERE sha256 = %s"
_SQL_CHUNK = "SELECT data FROM large_blob_chunks WHERE sha256 = %s AND seq = %s"
_SQL_CHUNKS = "SELECT data FROM large_blob_chunks WHERE sha256 = %s ORDER BY seq"
_SQL_CHUNKS_OF = (
    "SELECT c.sha256, c.data FROM large_blob_chunks AS c JOIN large_blobs AS b ON b.sha256 = c.sha256 "
    "WHERE c.sha256 = ANY(%s) ORDER BY c.sha256, c.seq"
)
_SQL_TAKE = "SELECT 1 FROM large_blobs WHERE sha256 = %s FOR KEY SHARE"
_SQL_NAMES = "SELECT sha256 FROM large_blobs"
_SQL_CLAIM = (
    "SELECT b.sha256 FROM large_blobs AS b "
    "WHERE b.touched <= CAST(extract(epoch FROM statement_timestamp()) AS bigint) - %(grace)s AND "
    "NOT EXISTS (SELECT 1 FROM messages AS m WHERE m.sha256 = b.sha256) AND "
    "NOT EXISTS (SELECT 1 FROM uploads AS u WHERE u.sha256 = b.sha256) AND "
    "NOT EXISTS (SELECT 1 FROM queue_messages AS q WHERE q.sha256 = b.sha256) "
    "LIMIT %(limit)s FOR UPDATE OF b SKIP LOCKED"
)
_SQL_DELETE = (
    "DELETE FROM large_blobs AS b WHERE b.sha256 = ANY(%(names)s) "
    "AND b.touched <= CAST(extract(epoch FROM statement_timestamp()) AS bigint) - %(grace)s AND "
    "NOT EXISTS (SELECT 1 FROM messages AS m WHERE m.sha256 = b.sha256) AND "
    "NOT EXISTS (SELECT 1 FROM uploads AS u WHERE u.sha256 = b.sha256) AND "
    "NOT EXISTS (SELECT 1 FROM queue_messages AS q WHERE q.sha256 = b.sha256) RETURNING b.sha256"
)
_SQL_DELETE_CHUNKS = "DELETE FROM large_blob_chunks WHERE sha256 = ANY(%s)"


def _file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK):
            yield chunk


def _hash_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    for chunk in _file_chunks(path):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _data_chunks(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(data), CHUNK):
        yield bytes(view[start : start + CHUNK])


class ChunkedBlobs:
    """``LargeBlobs`` (``pg/blobs``) as rows of the database behind ``engine``."""

    def __init__(self, engine: Engine, tmp_dir: Path, write_threads: int) -> None:
        """``engine``: the blob store's own pool (``pg/blobs``); ``tmp_dir``: where ``open`` puts
        the temporary copy of a blob of several chunks (this node's ``blobs/tmp``)."""
        self._committed = engine.execution_options(isolation_level="READ COMMITTED")
        self._read = engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        self.tmp_dir = tmp_dir
        self._writers = concurrent.futures.ThreadPoolExecutor(write_threads, thread_name_prefix="pochta-blob")

    def prepare_sync(self) -> None:
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    def close(self) -> None:
        self._writers.shutdown(wait=True)

    async def _in_writer(self, fn: Callable[[T], BlobRef], arg: T) -> BlobRef:
        return await asyncio.get_running_loop().run_in_executor(self._writers, fn, arg)

    # Writing

    def _store(self, sha256: str, size: int, chunks: Callable[[], Iterator[bytes]]) -> BlobRef:
        with self._committed.connect() as conn, conn.begin():
            while True:
                if conn.exec_driver_sql(_SQL_INSERT_HEAD, (sha256, size)).first() is not None:
                    for seq, chunk in enumerate(chunks()):
                        conn.exec_driver_sql(_SQL_INSERT_CHUNK, (sha256, seq, chunk))
                    break
                # Here already: touched again (the grace period starts over). Its row went between
                # the two statements (a collector committed): insert it after all.
                if conn.exec_driver_sql(_SQL_TOUCH, (sha256,)).first() is not None:
                    break
        return BlobRef(sha256, size)

    def put_sync(self, data: bytes) -> BlobRef:
        return self._store(hashlib.sha256(data).hexdigest(), len(data), lambda: _data_chunks(data))

    def put_file_sync(self, path: str | Path) -> BlobRef:
        """Adopt a finished file: its bytes become rows, then the file is removed."""
        source = Path(path)
        sha256, size = _hash_file(source)
        ref = self._store(sha256, size, lambda: _file_chunks(source))
        source.unlink()
        return ref

    async def put(self, data: bytes) -> BlobRef:
        return await self._in_writer(self.put_sync, data)

    async def put_file(self, path: str | Path) -> BlobRef:
        return await self._in_writer(self.put_file_sync, path)

    # Reading

    def open(self, sha256: str) -> BinaryIO:
        """The blob as a file object, copied from its chunks one at a time (a blob of one chunk in
        memory). Raises FileNotFoundError when it is missing, as a missing file does."""
        with self._read.connect() as conn, conn.begin():
            row = conn.exec_driver_sql(_SQL_SIZE, (sha256,)).first()
            if row is None:
                raise FileNotFoundError(sha256)
            size = int(row[0])
            if size <= CHUNK:
                return io.BytesIO(self._whole(conn, sha256))
            # Unnamed: nothing is left after a crash. Returned open, so no context manager here.
            copy = tempfile.TemporaryFile(dir=self.tmp_dir)  # noqa: SIM115
            try:
                for seq in range((size + CHUNK - 1) // CHUNK):
                    chunk = conn.exec_driver_sql(_SQL_CHUNK, (sha256, seq)).first()
                    if chunk is None:
                        break  # a damaged blob reads short, as a truncated file does
                    copy.write(chunk[0])
                copy.seek(0)
            except BaseException:
                copy.close()
                raise
            return copy

    @staticmethod
    def _whole(conn: Connection, sha256: str) -> bytes:
        return b"".join(bytes(row[0]) for row in conn.exec_driver_sql(_SQL_CHUNKS, (sha256,)))

    def read(self, sha256: str, size: int) -> bytes:
        """The first ``size`` octets (the whole blob: callers read small ones this way)."""
        with self._read.connect() as conn, conn.begin():
            if conn.exec_driver_sql(_SQL_SIZE, (sha256,)).first() is None:
                raise FileNotFoundError(sha256)
            return self._whole(conn, sha256)[:size]

    def read_many(self, conn: Connection, wanted: Mapping[str, int]) -> dict[str, bytes]:
        """Whole blobs among ``wanted`` (digest -> size), in the caller's read transaction."""
        if not wanted:
            return {}
        parts: dict[str, list[bytes]] = {}
        for sha256, data in conn.exec_driver_sql(_SQL_CHUNKS_OF, (list(wanted),)):
            parts.setdefault(str(sha256), []).append(bytes(data))
        return {sha256: b"".join(chunks)[: wanted[sha256]] for sha256, chunks in parts.items()}

    def names_sync(self) -> set[str]:
        with self._read.connect() as conn, conn.begin():
            return {str(row[0]) for row in conn.exec_driver_sql(_SQL_NAMES)}

    # References and collection

    def take_reference(self, conn: Connection, sha256: str) -> bool:
        """Inside the (SERIALIZABLE) write that is about to refer to the blob: True if it is here,
        its row then locked (FOR KEY SHARE) until that write ends."""
        return conn.exec_driver_sql(_SQL_TAKE, (sha256,)).first() is not None

    def collect_sync(self, engine: Engine, grace_seconds: float) -> list[str]:
        """Delete every blob untouched for the grace period that nothing refers to; their digests.

        Why no node loses a blob it is about to refer to. A write W (SERIALIZABLE) that refers to
        blob B locks B's row FOR KEY SHARE (``take_reference``) and holds the lock until it
        commits its reference. This collector, in a READ COMMITTED transaction, locks the rows it
        means to delete FOR UPDATE SKIP LOCKED (which conflicts with W's lock, and never waits),
        then deletes them in a second statement that asks again whether they are referenced
        (and old enough): that statement's snapshot is taken after the locks, so it sees every
        commit made before them. Either
        - W locked B first: the collector skips B while W is open, and if W has committed, the
          second statement sees W's reference and keeps B; or
        - the collector locked B first: W's lock waits until the collector's transaction ends.
          If B was deleted, a SERIALIZABLE transaction cannot lock a row deleted by a commit
          after its snapshot: W fails with a serialization error and runs again from the start
          (``PgStore.run_write``), now finding no B (NotFound for a reference by digest). If B
          was kept, W goes on.
        So no committed reference names a deleted blob. A blob stored by ``put`` but not yet
        referenced (the moment between a delivery's spool file becoming a blob and its
        transaction) is kept by the grace period, on the database's clock (``touched``).
        """
        del engine  # this store's own pool (the same database)
        removed: list[str] = []
        grace = int(grace_seconds)
        while True:
            with self._committed.connect() as conn, conn.begin():
                claimed = [
                    str(row[0])
                    for row in conn.exec_driver_sql(_SQL_CLAIM, {"grace": grace, "limit": COLLECT_BATCH})
                ]
                if claimed:
                    params = {"names": claimed, "grace": grace}
                    deleted = [str(row[0]) for row in conn.exec_driver_sql(_SQL_DELETE, params)]
                    if deleted:
                        conn.exec_driver_sql(_SQL_DELETE_CHUNKS, (deleted,))
                    removed.extend(deleted)
            if len(claimed) < COLLECT_BATCH:
                return removed
