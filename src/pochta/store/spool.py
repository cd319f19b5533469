"""Spool files: a message being received is written to disk as it arrives, never held in memory.

SMTP DATA/BDAT (``delivery.DeliveryTransaction``) and IMAP APPEND literals (``server.imap.uploads``)
both write here. A spool file lives in the blob store's temporary directory (``spool_directory``),
on the same filesystem as the blobs, so that ``adopt`` turns it into a blob by a rename
(``Store.put_blob_file`` hashes, fsyncs and moves it) instead of a copy. Whatever is not adopted is
removed by ``discard``; files a crash left behind are swept when the store opens
(``BlobStore.sweep_tmp_sync``).

Writes go to the page cache from the event loop thread (buffered, cheap); the fsync happens once,
in a worker thread, when the store adopts the file. Parsing reads the file through a read-only
memory map (``parse_file``): pages the kernel may drop again, never a private copy of the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import mmap
import os
import secrets
from pathlib import Path
from typing import BinaryIO

from pochta.config import MimeSettings
from pochta.mime import ParsedMessage, parse_message
from pochta.store.api import Store
from pochta.store.model import BlobRef

__all__ = ["SpoolFile", "parse_file", "spool_directory"]


def spool_directory(data_dir: Path) -> Path:
    """Where spool files go: the blob store's temporary directory (``blobs/tmp``)."""
    return Path(data_dir) / "blobs" / "tmp"


def parse_file(file: BinaryIO, settings: MimeSettings) -> ParsedMessage:
    """Parses a message file through a read-only memory map: the parser reads pages the kernel may
    drop again, never a private copy of the whole message (which may be max_message_size)."""
    if os.fstat(file.fileno()).st_size == 0:
        return parse_message(b"", settings)
    with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        return parse_message(mapped, settings)


def _parse_path(path: Path, settings: MimeSettings) -> ParsedMessage:
    with open(path, "rb") as file:
        return parse_file(file, settings)


class SpoolFile:
    """One message on its way in: ``write`` pieces, ``finish``, then ``adopt`` it or ``discard`` it."""

    def __init__(self, directory: Path, label: str) -> None:
        """Creates the file (``directory`` is made if missing); ``label`` names the protocol and
        transaction in the file name, for an operator looking at ``blobs/tmp``."""
        directory.mkdir(parents=True, exist_ok=True)
        self.path: Path | None = directory / f"{label}-{os.getpid()}-{secrets.token_hex(6)}.spool"
        self._file: BinaryIO | None = open(self.path, "xb")  # noqa: SIM115 - closed by finish/discard
        self.size = 0

    def write(self, data: bytes | bytearray) -> None:
        assert self._file is not None, "write after finish"
        self._file.write(data)
        self.size += len(data)

    @property
    def finished(self) -> bool:
        return self._file is None

    async def finish(self) -> None:
        """No more octets: flushes and closes the file (in a worker thread)."""
        file, self._file = self._file, None
        if file is not None:
            await asyncio.to_thread(file.close)

    async def parse(self, settings: MimeSettings) -> ParsedMessage:
        """The finished message, parsed once, off the event loop."""
        assert self.path is not None, "parse of an adopted spool file"
        assert self._file is None, "parse of an unfinished spool file"
        return await asyncio.to_thread(_parse_path, self.path, settings)

    async def adopt(self, store: Store) -> BlobRef:
        """The finished file becomes a blob (moved, durable when this returns); the spool is empty."""
        assert self.path is not None, "adopt of an adopted spool file"
        assert self._file is None, "adopt of an unfinished spool file"
        blob = await store.put_blob_file(str(self.path))
        self.path = None
        return blob

    async def discard(self) -> None:
        """Removes the file unless it was adopted; safe to call more than once."""
        file, self._file = self._file, None
        path, self.path = self.path, None
        if file is not None:
            with contextlib.suppress(OSError):
                file.close()
        if path is not None:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(path.unlink, True)
