"""server/blob_window.py: small messages read ahead in runs, and (POP3) the next run read in the
background once the session is past the middle of the held one."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Any, cast

from pochta.server.blob_window import BlobWindow
from pochta.store.api import Store, StoreError
from pochta.store.model import BlobRef


class _Blobs:
    """The one store method a window uses, counting its calls; ``missing`` digests are not found,
    ``gate`` (when set) holds each read until it is set."""

    def __init__(self, messages: Sequence[bytes]) -> None:
        self.by_digest = {hashlib.sha256(m).hexdigest(): m for m in messages}
        self.reads: list[list[str]] = []
        self.missing: set[str] = set()
        self.gate: asyncio.Event | None = None
        self.fail = False

    async def read_blobs(self, refs: Sequence[BlobRef]) -> dict[str, bytes]:
        self.reads.append([ref.sha256 for ref in refs])
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise StoreError("disk on fire")
        return {ref.sha256: self.by_digest[ref.sha256] for ref in refs if ref.sha256 not in self.missing}


def _window(
    messages: list[bytes], max_bytes: int, small_max: int = 1000
) -> tuple[BlobWindow, _Blobs, list[BlobRef]]:
    blobs = _Blobs(messages)
    refs = [BlobRef(hashlib.sha256(m).hexdigest(), len(m)) for m in messages]
    store = cast(Store, cast(Any, blobs))
    return BlobWindow(store, refs.__getitem__, len(refs), small_max, max_bytes), blobs, refs


async def test_load_holds_a_run_and_read_ahead_brings_the_next() -> None:
    messages = [b"message %02d\r\n" % n for n in range(40)]  # 12 octets each
    window, blobs, refs = _window(messages, max_bytes=12 * 10)
    await window.load(0)
    assert [window.take(i) for i in range(10)] == messages[:10]
    assert window.take(10) is None
    assert not window.tried(10)
    window.read_ahead(3)  # before the middle of 0..9: nothing yet
    assert len(blobs.reads) == 1
    window.read_ahead(5)
    window.read_ahead(6)  # one at a time
    await window.settle()
    assert len(blobs.reads) == 2
    assert blobs.reads[1] == [ref.sha256 for ref in refs[10:20]]
    # What the session may still take stays, the next run is added, what it passed is dropped.
    assert window.take(4) is None
    assert [window.take(i) for i in range(5, 20)] == messages[5:20]
    assert window.tried(15)
    window.read_ahead(14)  # before the middle of 10..19
    await window.settle()
    assert len(blobs.reads) == 2
    window.read_ahead(15)
    await window.settle()
    assert [window.take(i) for i in range(15, 30)] == messages[15:30]
    assert window.take(14) is None


async def test_read_ahead_stops_at_the_end_and_marks_missing_blobs_tried() -> None:
    messages = [b"m%d\r\n" % n for n in range(6)]
    window, blobs, refs = _window(messages, max_bytes=4 * 3)
    blobs.missing.add(refs[4].sha256)
    await window.load(0)
    window.read_ahead(2)
    await window.settle()
    assert window.take(4) is None
    assert window.tried(4)  # looked for and not found: the caller reports it missing
    assert window.take(5) == messages[5]
    window.read_ahead(5)  # nothing after the last message
    await window.settle()
    assert len(blobs.reads) == 2


async def test_large_blobs_are_skipped_and_a_failed_read_ahead_is_left_to_load() -> None:
    messages = [b"x" * 5, b"y" * 50, b"z" * 5, b"w" * 5, b"v" * 5]
    window, blobs, _ = _window(messages, max_bytes=10, small_max=10)
    await window.load(0)
    assert window.take(0) == messages[0]
    assert window.take(1) is None  # larger than small_max: the caller reads it otherwise
    assert window.take(2) == messages[2]
    blobs.fail = True
    window.read_ahead(1)
    await window.settle()  # the error is not raised here
    assert window.take(3) is None
    assert not window.tried(3)
    blobs.fail = False
    assert await window.get(3) == messages[3]


async def test_load_waits_for_a_read_ahead_and_close_cancels_one() -> None:
    messages = [b"n%d\r\n" % n for n in range(8)]
    window, blobs, _ = _window(messages, max_bytes=4 * 2)
    await window.load(0)
    blobs.gate = asyncio.Event()
    window.read_ahead(1)
    await asyncio.sleep(0)
    assert len(blobs.reads) == 2  # the read ahead of 2..3 is under way
    loading = asyncio.create_task(window.load(4))
    await asyncio.sleep(0)
    assert len(blobs.reads) == 2  # load waits for it first
    blobs.gate.set()
    await loading
    assert [window.take(i) for i in range(8)] == [None] * 4 + messages[4:6] + [None, None]
    blobs.gate = asyncio.Event()
    window.read_ahead(5)
    await asyncio.sleep(0)
    window.close()
    await window.settle()
    assert window.take(4) is None
    assert window.take(6) is None
