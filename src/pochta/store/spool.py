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

A spool file made with ``memory_max`` keeps a message of up to that many octets in memory and
creates its file only when the message grows past it. A message that stays small costs no file of
its own: ``finish`` and ``discard`` do nothing, ``parse`` runs on the calling (loop) thread - a
few KiB parse in less time than a trip to a worker thread takes, and DESIGN.md keeps large messages
off the loop, which ``memory_max`` bounds - and ``adopt`` hands the bytes to ``Store.new_blob``: up
to ``store.inline_blob_max`` a ``NewBlob`` that the delivery's own transaction stores in the
database (no file, no thread, no fsync of its own), else a blob file written by a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import mmap
import os
import secrets
import shutil
from collections.abc import AsyncIterator
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
    drop again, never a private copy of the whole message (which may be max_message_size). A blob
    kept in the database comes as a BytesIO (``Store.open_blob``): small, parsed from memory."""
    if isinstance(file, io.BytesIO):
        return parse_message(file.getvalue(), settings)
    if os.fstat(file.fileno()).st_size == 0:
        return parse_message(b"", settings)
    with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        return parse_message(mapped, settings)


def _parse_path(path: Path, settings: MimeSettings) -> ParsedMessage:
    with open(path, "rb") as file:
        return parse_file(file, settings)


def _prepend_file(path: Path, data: bytes) -> None:
    """``data`` then the file's contents, in a new file renamed over the old one."""
    fresh = path.with_name(path.name + ".new")
    with open(path, "rb") as source, open(fresh, "xb") as target:
        target.write(data)
        shutil.copyfileobj(source, target, 1 << 20)
    os.replace(fresh, path)


class SpoolFile:
    """One message on its way in: ``write`` pieces, ``finish``, then ``adopt`` it or ``discard`` it."""

    def __init__(self, directory: Path, label: str, *, memory_max: int = 0) -> None:
        """``label`` names the protocol and transaction in the file name, for an operator looking at
        ``blobs/tmp``. With ``memory_max`` 0 the file is created now (``directory`` is made if
        missing); otherwise once the message outgrows ``memory_max`` octets held in memory."""
        self.directory = directory
        self.label = label
        self.memory_max = memory_max
        self.path: Path | None = None
        self._file: BinaryIO | None = None
        self._memory: bytearray | None = bytearray()
        self._finished = False
        self.size = 0
        if memory_max <= 0:
            self._open_file()

    def _open_file(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / f"{self.label}-{os.getpid()}-{secrets.token_hex(6)}.spool"
        self._file = open(self.path, "xb")  # noqa: SIM115 - closed by finish/discard
        held, self._memory = self._memory, None
        if held:
            self._file.write(held)

    @property
    def in_memory(self) -> bool:
        """The message is held in memory (no file was needed)."""
        return self._memory is not None

    def write(self, data: bytes | bytearray) -> None:
        assert not self._finished, "write after finish"
        self.size += len(data)
        if self._memory is not None:
            if self.size <= self.memory_max:
                self._memory += data
                return
            self._open_file()  # past memory_max: what was held goes to the file first
        assert self._file is not None
        self._file.write(data)

    @property
    def finished(self) -> bool:
        return self._finished

    async def finish(self) -> None:
        """No more octets: flushes and closes the file (in a worker thread)."""
        self._finished = True
        file, self._file = self._file, None
        if file is not None:
            await asyncio.to_thread(file.close)

    async def parse(self, settings: MimeSettings) -> ParsedMessage:
        """The finished message, parsed once: in memory on this thread, a file off the event loop."""
        assert self._finished, "parse of an unfinished spool file"
        if self._memory is not None:
            return parse_message(bytes(self._memory), settings)
        assert self.path is not None, "parse of an adopted spool file"
        return await asyncio.to_thread(_parse_path, self.path, settings)

    async def read(self) -> bytes:
        """The finished message's octets (Sieve at delivery reads them): from memory, or the file
        off the event loop."""
        assert self._finished, "read of an unfinished spool file"
        if self._memory is not None:
            return bytes(self._memory)
        assert self.path is not None, "read of an adopted spool file"
        return await asyncio.to_thread(self.path.read_bytes)

    async def chunks(self, size: int) -> AsyncIterator[bytes]:
        """The finished message's octets, ``size`` at a time: a virus scanner streams them without
        holding a second copy of the whole message in memory."""
        assert self._finished, "chunks of an unfinished spool file"
        if self._memory is not None:
            held = self._memory
            for start in range(0, len(held), size):
                yield bytes(held[start : start + size])
            return
        assert self.path is not None, "chunks of an adopted spool file"
        file = await asyncio.to_thread(open, self.path, "rb")
        try:
            while chunk := await asyncio.to_thread(file.read, size):
                yield chunk
        finally:
            await asyncio.to_thread(file.close)

    async def prepend(self, data: bytes) -> None:
        """Put ``data`` before the finished message (a header field known only once the whole
        message was read: Authentication-Results). A file is rewritten off the event loop."""
        assert self._finished, "prepend to an unfinished spool file"
        self.size += len(data)
        if self._memory is not None:
            self._memory[:0] = data
            return
        assert self.path is not None, "prepend to an adopted spool file"
        await asyncio.to_thread(_prepend_file, self.path, data)

    async def adopt(self, store: Store) -> BlobRef:
        """The finished message becomes a blob; the spool is empty. A file is moved (durable when
        this returns); a message held in memory may come back as a ``NewBlob``, stored by the
        ``deliver``/``enqueue`` it is given to (``Store.new_blob``)."""
        assert self._finished, "adopt of an unfinished spool file"
        if self._memory is not None:
            held, self._memory = self._memory, None
            return await store.new_blob(bytes(held))
        assert self.path is not None, "adopt of an adopted spool file"
        blob = await store.put_blob_file(str(self.path))
        self.path = None
        return blob

    async def discard(self) -> None:
        """Removes the file unless it was adopted; safe to call more than once."""
        self._finished = True
        self._memory = None
        file, self._file = self._file, None
        path, self.path = self.path, None
        if file is not None:
            with contextlib.suppress(OSError):
                file.close()
        if path is not None:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(path.unlink, True)
