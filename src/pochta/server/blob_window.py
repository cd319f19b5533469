"""Small messages read ahead for a session's thread: one reader job for a run of them.

A small message may live in the database (``store.inline_blob_max``, ``sqlite/inline``), and the
event loop thread makes no SQLite call (DESIGN.md). IMAP FETCH of body sections and POP3 RETR/TOP
serve small messages on the session's thread (``imap.inline_read_max``, ``pop3.inline_read_max``),
so they read them ahead through ``Store.read_blobs``: the next messages in the order they will be
sent, up to ``store.blob_prefetch_bytes``, rows and files alike, in one trip to a reader thread.

A POP3 session downloading its maildrop also reads the run after the held one in the background
(``read_ahead``), while its client is still taking the held messages: the client then never waits
for a load (issue 10: each load of ~1 MB took ~1.4 ms, once per ~100 RETRs).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pochta.store.api import Store, StoreError
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
        # By index, not by digest: ``take`` then makes no BlobRef (a hex digest) per message.
        self._held: dict[int, bytes] = {}
        self._asked: set[int] = set()  # the indexes the loads behind ``_held`` read or found missing
        self._end = 0  # the first index after the run the last load looked at
        self._middle = 0  # ``read_ahead`` starts the next run once a take passes this index
        self._ahead: asyncio.Task[None] | None = None

    def take(self, index: int) -> bytes | None:
        """The bytes of ``refs[index]`` if held (on any thread: no I/O)."""
        return self._held.get(index)

    def _run(self, index: int) -> tuple[list[tuple[int, BlobRef]], int]:
        """The small blobs from ``index`` on, up to ``max_bytes`` (at least one), and the index after
        the last one looked at."""
        batch: list[tuple[int, BlobRef]] = []
        total = 0
        position = index
        for position in range(index, min(self._count, index + SCAN_MAX)):
            ref = self._ref_at(position)
            if ref.size > self._small_max:
                continue
            if batch and total + ref.size > self._max_bytes:
                return batch, position
            batch.append((position, ref))
            total += ref.size
        return batch, min(self._count, index + SCAN_MAX)

    async def _read(self, batch: list[tuple[int, BlobRef]]) -> dict[int, bytes]:
        found = await self._store.read_blobs([ref for _, ref in batch])
        return {position: found[ref.sha256] for position, ref in batch if ref.sha256 in found}

    async def load(self, index: int) -> None:
        """Read ``refs[index]`` and the small blobs after it, up to ``max_bytes``, in one reader
        job; what was held before is dropped. A blob that is missing is left out."""
        await self.settle()
        batch, end = self._run(index)
        self._held, self._asked = {}, set()  # before the read: one window's worth held at a time
        self._held = await self._read(batch)
        self._asked = {position for position, _ in batch}
        self._end = end
        self._middle = (index + end) // 2

    def read_ahead(self, index: int) -> None:
        """``index`` was just taken: once it passes the middle of the held run, read the run after
        it in a background task (one reader job), merged in when it arrives. At most one at a time;
        a failed read is left to the next ``load``, which reports it."""
        if self._ahead is not None or index < self._middle or self._end >= self._count:
            return
        self._ahead = asyncio.get_running_loop().create_task(self._load_ahead(index))

    async def _load_ahead(self, index: int) -> None:
        start = self._end
        batch, end = self._run(start)
        try:
            found = await self._read(batch)
        except (OSError, StoreError):
            return  # ``load`` reads the run again when it is wanted, and reports the error
        finally:
            self._ahead = None
        # What the session may still take (from ``index`` on) stays: at most about two runs held.
        self._held = {position: data for position, data in self._held.items() if position >= index}
        self._held.update(found)
        self._asked = {position for position in self._asked if position >= index}
        self._asked.update(position for position, _ in batch)
        self._end = end
        self._middle = (start + end) // 2

    async def settle(self) -> None:
        """Wait for a read ahead in progress (a failed read is left to the next ``load``)."""
        ahead = self._ahead
        if ahead is not None:
            await asyncio.wait([ahead])  # not cancelled with the caller: the window's own task
            if not ahead.cancelled():
                ahead.result()  # a bug in it surfaces here (read errors were taken care of)

    def close(self) -> None:
        """The session ends: stop a read ahead in progress and drop what is held."""
        if self._ahead is not None:
            self._ahead.cancel()
            self._ahead = None
        self._held, self._asked = {}, set()

    def tried(self, index: int) -> bool:
        """A load looked for ``refs[index]`` (so if it is not held, it is missing)."""
        return index in self._asked

    async def get(self, index: int) -> bytes | None:
        """The bytes of ``refs[index]``, loading the run from there when not held; None if the
        blob is missing."""
        data = self.take(index)
        if data is None:
            await self.load(index)
            data = self.take(index)
        return data
