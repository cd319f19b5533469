"""Blob files on PostgreSQL (``store.blobs`` = "" or a path): ``BlobStore``'s files, in the data
directory's ``blobs/`` (one node) or in a directory every node mounts (several nodes), with the
reference and collection protocol that stays safe when several nodes share them.

The files' own rules hold (``store/blobs``: written to ``tmp/``, fsync'ed, renamed, directory
fsync'ed; a write of an existing blob refreshes its modification time). What is added is the lock
between a write that refers to a file and a collector that removes it, for nodes that do not share
SQLite's one writer: see ``take_reference`` and ``collect_sync``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import Connection, Engine

from pochta.store.blobs import BlobStore
from pochta.store.model import BlobRef
from pochta.store.pg.blob_refs import FILE_LOCK_SPACE, file_lock_key, referenced_among

__all__ = ["FileBlobs"]

COLLECT_BATCH = 500  # files looked at per collecting transaction

_SQL_SHARE = "SELECT pg_advisory_xact_lock_shared(%s, %s)"
_SQL_TRY = "SELECT pg_try_advisory_xact_lock(%s, %s)"


class FileBlobs:
    """``LargeBlobs`` (``pg/blobs``) as files under one directory."""

    def __init__(self, root: Path, write_threads: int) -> None:
        self.files = BlobStore(root, write_threads=write_threads)

    def prepare_sync(self) -> None:
        self.files.ensure_dirs()
        self.files.sweep_tmp_sync()

    def close(self) -> None:
        self.files.close()

    async def put(self, data: bytes) -> BlobRef:
        return await self.files.put(data)

    async def put_file(self, path: str | Path) -> BlobRef:
        return await self.files.put_file(path)

    def put_sync(self, data: bytes) -> BlobRef:
        return self.files.put_sync(data)

    def open(self, sha256: str) -> BinaryIO:
        return self.files.open(sha256)

    def read(self, sha256: str, size: int) -> bytes:
        return self.files.read(sha256, size)

    def read_many(self, conn: Connection, wanted: Mapping[str, int]) -> dict[str, bytes]:
        del conn  # files: read from the directory
        found: dict[str, bytes] = {}
        for sha256, size in wanted.items():
            try:
                found[sha256] = self.files.read(sha256, size)
            except FileNotFoundError:
                continue
        return found

    def names_sync(self) -> set[str]:
        return self.files.list_sync()

    def take_reference(self, conn: Connection, sha256: str) -> bool:
        """Inside the write that is about to refer to the file: True if it is there. The shared
        lock is held until that write ends, so no collector removes the file in between; it waits
        while a collector holds the lock, and the file is then looked for afresh (a look at the
        directory, not at a snapshot: it sees a removal committed a moment ago)."""
        conn.exec_driver_sql(_SQL_SHARE, (FILE_LOCK_SPACE, file_lock_key(sha256)))
        return self.files.exists_sync(sha256)

    def collect_sync(self, engine: Engine, grace_seconds: float) -> list[str]:
        """Remove every file older than the grace period that nothing refers to; their digests.

        Why no node loses a file it is about to refer to. A write W that refers to file F takes
        F's lock shared (``take_reference``) before it looks for F, and keeps it until it commits
        its reference. This collector, in a READ COMMITTED transaction, tries F's lock exclusive
        (never waiting), and only then asks again whether F is referenced, in a statement started
        after the lock was taken (so it sees every commit made before), and removes F before it
        ends its transaction. The two locks exclude each other, so either
        - W took the lock first: while W is open the collector's try fails and F stays; if W has
          committed, the collector's later statement sees W's reference and F stays; or
        - the collector took it first: W waits until the collector's transaction ends, then looks
          at the directory: F is there (kept) or gone (W fails with NotFound, it commits no
          reference to a missing file).
        A blob written by ``put``/``put_file`` and not yet referenced (the time between a
        delivery's spool file becoming a blob and its transaction) is kept by the grace period:
        the write refreshed the file's modification time. On a directory several machines mount,
        that time is the file server's, compared with this node's clock: keep the clocks
        synchronised to well within ``store.blob_grace_seconds``.
        """
        candidates = self.files.collectable_sync((), grace_seconds)
        committed = engine.execution_options(isolation_level="READ COMMITTED")
        removed: list[str] = []
        for start in range(0, len(candidates), COLLECT_BATCH):
            names = candidates[start : start + COLLECT_BATCH]
            with committed.connect() as conn, conn.begin():
                # A first look without locks: most old files are referenced and stay.
                loose = [name for name in names if name not in referenced_among(conn, names)]
                locked = [
                    name
                    for name in loose
                    if conn.exec_driver_sql(_SQL_TRY, (FILE_LOCK_SPACE, file_lock_key(name))).scalar()
                ]
                still = referenced_among(conn, locked)  # a statement after the locks: it sees W
                for name in locked:
                    if name not in still and self.files.remove_if_old_sync(name, grace_seconds):
                        removed.append(name)
        return removed
