"""``PgStore``'s blob methods (``Store.new_blob`` ... ``collect_blobs``) over ``PgBlobs``, and
``open_blobs``, which builds the place ``store.blobs`` names (``pg/blobs``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TypeVar

from sqlalchemy import Connection, create_engine
from sqlalchemy.pool import QueuePool

from pochta.config import BLOBS_IN_POSTGRESQL, Settings
from pochta.store.blobs import BlobStore
from pochta.store.model import BlobRef
from pochta.store.pg.blob_chunks import ChunkedBlobs
from pochta.store.pg.blob_files import FileBlobs
from pochta.store.pg.blobs import LargeBlobs, PgBlobs
from pochta.store.spool import spool_directory
from pochta.store.sqlite import inline

__all__ = ["BLOB_DIR_NAME", "PgBlobMethods", "open_blobs"]

T = TypeVar("T")

BLOB_DIR_NAME = "blobs"  # the data directory's, as on SQLite


def open_blobs(url: str, data_dir: Path, settings: Settings) -> PgBlobs:
    """The blob places of ``settings.store``: inline rows, and files in ``data_dir/blobs`` (``""``),
    in a shared directory (a path), or chunked rows (``"postgresql"``). Blocks (directories)."""
    store = settings.store
    # Blob reads and puts: a pool of their own (pg/blobs), connections opened when first used.
    engine = create_engine(
        url, poolclass=QueuePool, pool_size=store.blob_threads, max_overflow=0, pool_pre_ping=True,
        pool_timeout=60,
    )  # fmt: skip
    large: LargeBlobs
    if store.blobs == BLOBS_IN_POSTGRESQL:
        large = ChunkedBlobs(engine, spool_directory(data_dir), store.blob_threads)
    else:
        root = Path(store.blobs) if store.blobs else Path(data_dir) / BLOB_DIR_NAME
        large = FileBlobs(root, store.blob_threads)
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    # This node's own DATA/blobs/tmp, whatever the layout: spool files of messages being received
    # (store/spool) and read copies of chunked blobs go there; what a crash left is swept.
    local = BlobStore(Path(data_dir) / BLOB_DIR_NAME)
    local.ensure_dirs()
    local.sweep_tmp_sync()
    large.prepare_sync()
    return PgBlobs(large, engine, store.inline_blob_max)


class PgBlobMethods:
    """Mixed into ``PgStore``, which provides what is declared here."""

    settings: Settings
    blobs: PgBlobs

    if TYPE_CHECKING:  # PgStore's own job; declared for the type checker only, as sql/'s mixins do

        async def run_read(self, fn: Callable[[Connection], T]) -> T: ...

    async def put_blob(self, data: bytes) -> BlobRef:
        return await self.blobs.large.put(data)

    async def put_blob_file(self, path: str) -> BlobRef:
        return await self.blobs.large.put_file(path)

    async def new_blob(self, data: bytes) -> BlobRef:
        # Up to inline_blob_max: hashed (on this thread when small enough) and stored by the write
        # that refers to it (PgBlobs.ensure_stored). Larger: stored now, durable when this returns.
        if len(data) > self.settings.store.inline_blob_max:
            return await self.blobs.large.put(data)
        if len(data) <= self.settings.server.inline_message_max:
            return inline.new_blob(data)
        return await asyncio.to_thread(inline.new_blob, data)

    def open_blob(self, blob: BlobRef) -> BinaryIO:
        return self.blobs.open(blob)

    def read_blob(self, blob: BlobRef) -> bytes:
        return self.blobs.read(blob)

    async def read_blobs(self, blobs: Sequence[BlobRef]) -> dict[str, bytes]:
        refs = list(blobs)
        return await self.run_read(lambda c: self.blobs.read_many(c, refs))

    async def collect_blobs(self, grace_seconds: float | None = None) -> list[str]:
        """Delete blobs nothing refers to: rows of ``inline_blobs`` at once, larger blobs once older
        than the grace period (default ``store.blob_grace_seconds``); safe with several nodes
        collecting and delivering at once (``pg/blobs``)."""
        grace = self.settings.store.blob_grace_seconds if grace_seconds is None else grace_seconds
        return await asyncio.to_thread(self.blobs.collect_sync, grace)
