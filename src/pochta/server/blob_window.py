"""Small messages read ahead for a session's thread: one reader job for a run of them.

A small message may live in the database (``store.inline_blob_max``, ``sqlite/inline``), and the
event loop thread makes no SQLite call (DESIGN.md). IMAP FETCH of body sections and POP3 RETR/TOP
serve small messages on the session's thread (``imap.inline_read_max``, ``pop3.inline_read_max``),
so they read them ahead through ``Store.read_blobs``: the next messages in the order they will be
sent, up to ``store.blob_prefetch_bytes``, rows and files alike, in one trip to a reader thread.
"""

from __future__ import annotations

from collections.abc import Callable

from pochta.store.api import Store
from pochta.store.model import BlobRef

SCAN_MAX = 1024  # refs looked at per load (a run of large messages between small ones)


class BlobWindow:
    """The bytes of the small blobs of ``ref_at(0)`` .. ``ref_at(count - 1)`` (in the order a
    session will want them) from the one asked for last on; ``take`` answers from what is held,
    ``load`` reads the next run."""

    def __init__(
        self, store: Store, ref_at: Callable[[int], BlobRef], count: int, small_max: int, max_bytes: int
    ) -> None:
        """``small_max``: the largest blob held (larger ones are read otherwise by the caller);
        ``max_bytes``: most octets per load (at least one blob)."""
        self._store = store
        self._ref_at = ref_at
        self._count = count
        self._small_max = small_max
        self._max_bytes = max_bytes
        self._held: dict[str, bytes] = {}
        self._asked: set[str] = set()  # the digests the last load read or found missing

    def take(self, index: int) -> bytes | None:
        """The bytes of ``refs[index]`` if held (on any thread: no I/O)."""
        return self._held.get(self._ref_at(index).sha256)

    async def load(self, index: int) -> None:
        """Read ``refs[index]`` and the small blobs after it, up to ``max_bytes``, in one reader
        job; what was held before is dropped. A blob that is missing is left out."""
        batch: list[BlobRef] = []
        total = 0
        for position in range(index, min(self._count, index + SCAN_MAX)):
            ref = self._ref_at(position)
            if ref.size > self._small_max:
                continue
            if batch and total + ref.size > self._max_bytes:
                break
            batch.append(ref)
            total += ref.size
        self._held, self._asked = {}, set()  # before the read: one window's worth held at a time
        self._held = await self._store.read_blobs(batch)
        self._asked = {ref.sha256 for ref in batch}

    def tried(self, index: int) -> bool:
        """The last load looked for ``refs[index]`` (so if it is not held, it is missing)."""
        return self._ref_at(index).sha256 in self._asked

    async def get(self, index: int) -> bytes | None:
        """The bytes of ``refs[index]``, loading the run from there when not held; None if the
        blob is missing."""
        data = self.take(index)
        if data is None:
            await self.load(index)
            data = self.take(index)
        return data
