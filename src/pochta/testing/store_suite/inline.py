"""Suite: small messages' bytes kept inside the database (``store.inline_blob_max``, ``NewBlob``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from pochta.config import Settings
from pochta.mime import parse_message
from pochta.store.api import NotFound, Store
from pochta.store.model import BlobRef, NewBlob, Target
from pochta.store.queue_model import NewQueueEntry, NewQueueRecipient
from pochta.testing.store_suite.support import (
    MIME,
    StoreBackdoor,
    StoreFactory,
    mailbox,
    make_account,
    make_message,
)

__all__ = [
    "test_inline_blob_collected_once_unreferenced_and_not_before",
    "test_inline_blob_stored_by_its_delivery_and_read_back",
    "test_inline_blobs_are_single_instance",
    "test_inline_blobs_readable_after_the_threshold_changes",
    "test_inline_blobs_seen_by_verify_and_reconstruct",
    "test_large_new_blob_is_a_file",
]


def _queued(blob: BlobRef) -> NewQueueEntry:
    return NewQueueEntry(
        blob, "alice@example.org", (NewQueueRecipient("bob@remote.example"),), "submission", datetime.now(UTC)
    )


async def _read_all_ways(store: Store, ref: BlobRef) -> tuple[bytes, bytes, bytes | None]:
    plain = BlobRef(ref.sha256, ref.size)  # as a view gives it: no bytes attached

    def on_a_worker_thread() -> tuple[bytes, bytes]:
        with store.open_blob(plain) as f:
            opened = f.read()
        return opened, store.read_blob(plain)

    opened, read = await asyncio.to_thread(on_a_worker_thread)
    return opened, read, (await store.read_blobs([plain])).get(ref.sha256)


async def test_inline_blob_stored_by_its_delivery_and_read_back(
    store: Store, backdoor: StoreBackdoor
) -> None:
    inbox = await mailbox(store, await make_account(store))
    data = make_message("kept in the database")
    blob = await store.new_blob(data)
    assert isinstance(blob, NewBlob)
    assert await backdoor.inline_blobs(store) == {}  # nothing stored before the delivery
    with pytest.raises(NotFound):
        await asyncio.to_thread(store.read_blob, BlobRef(blob.sha256, blob.size))
    placed = await store.deliver(blob, parse_message(data, MIME), [Target(inbox.id)])
    assert await backdoor.inline_blobs(store) == {blob.sha256: data}
    assert blob.sha256 not in backdoor.blob_files(store)  # no file
    assert await _read_all_ways(store, blob) == (data, data, data)
    view = await store.open_view(inbox.id)
    assert view.blob(0) == BlobRef(blob.sha256, len(data))
    assert placed[0].uid == view.uids[0]
    # read_blobs leaves a blob that is nowhere out; files come with rows in one call.
    file_data = make_message("a file")
    file_blob = await store.put_blob(file_data)
    both = await store.read_blobs([BlobRef(blob.sha256, blob.size), file_blob, BlobRef("e" * 64, 5)])
    assert both == {blob.sha256: data, file_blob.sha256: file_data}


async def test_large_new_blob_is_a_file(store_factory: StoreFactory, backdoor: StoreBackdoor) -> None:
    store = await store_factory(Settings.model_validate({"store": {"inline_blob_max": 100}}))
    data = make_message("larger than the threshold")
    blob = await store.new_blob(data)
    assert not isinstance(blob, NewBlob)
    assert blob.sha256 in backdoor.blob_files(store)  # durable already, as put_blob
    assert (await _read_all_ways(store, blob))[1] == data


async def test_inline_blobs_are_single_instance(store: Store, backdoor: StoreBackdoor) -> None:
    account = await make_account(store)
    inbox, archive = await mailbox(store, account), await mailbox(store, account, "Archive")
    data = make_message("twice")
    parsed = parse_message(data, MIME)
    await store.deliver(await store.new_blob(data), parsed, [Target(inbox.id)])
    await store.deliver(await store.new_blob(data), parsed, [Target(archive.id), Target(inbox.id)])
    await store.enqueue(_queued(await store.new_blob(data)))
    assert list(await backdoor.inline_blobs(store)) == [(await store.new_blob(data)).sha256]
    assert len((await store.open_view(inbox.id)).uids) == 2


async def test_inline_blob_collected_once_unreferenced_and_not_before(
    store: Store, backdoor: StoreBackdoor
) -> None:
    inbox = await mailbox(store, await make_account(store))
    data = make_message("collected")
    blob = await store.new_blob(data)
    await store.deliver(blob, parse_message(data, MIME), [Target(inbox.id)])
    queue_id = await store.enqueue(_queued(BlobRef(blob.sha256, blob.size)))  # by digest: it is stored
    other = await store.new_blob(make_message("kept"))
    await store.deliver(other, parse_message(make_message("kept"), MIME), [Target(inbox.id)])
    # Referenced by a message and a queue entry: kept, whatever the grace period.
    assert await store.collect_blobs(grace_seconds=0) == []
    await store.expunge(inbox.id, [1])
    assert await store.collect_blobs(grace_seconds=0) == []  # the queue entry still holds it
    assert blob.sha256 in await backdoor.inline_blobs(store)
    assert await store.delete_queue_entry(queue_id)
    assert await store.collect_blobs(grace_seconds=0) == [blob.sha256]
    assert list(await backdoor.inline_blobs(store)) == [other.sha256]
    with pytest.raises(NotFound):
        await asyncio.to_thread(store.read_blob, BlobRef(blob.sha256, blob.size))
    # Once gone, a reference by digest is refused; the same bytes as a NewBlob are stored again.
    with pytest.raises(NotFound):
        await store.enqueue(_queued(BlobRef(blob.sha256, blob.size)))
    await store.enqueue(_queued(await store.new_blob(data)))
    assert blob.sha256 in await backdoor.inline_blobs(store)


async def test_inline_blobs_seen_by_verify_and_reconstruct(store: Store, backdoor: StoreBackdoor) -> None:
    inbox = await mailbox(store, await make_account(store))
    blobs = []
    for subject in ("missing", "corrupt", "fine"):
        data = make_message(subject)
        blob = await store.new_blob(data)
        await store.deliver(blob, parse_message(data, MIME), [Target(inbox.id)])
        blobs.append(blob)
    stray = await store.new_blob(make_message("stray"))
    await store.enqueue(_queued(stray))
    queued = (await store.queue_entries())[0]
    await store.delete_queue_entry(queued.id)  # its row is left for collection
    clean = await store.verify()
    assert (clean.missing_blobs, clean.corrupt_blobs, clean.unreferenced_blobs) == ([], [], [stray.sha256])
    assert (await store.reconstruct()).missing_blobs == []

    missing, corrupt = blobs[0].sha256, blobs[1].sha256
    await backdoor.set_inline_blob(store, missing, None)
    await backdoor.set_inline_blob(store, corrupt, make_message("corrupt") + b"!")
    report = await store.verify()
    assert report.missing_blobs == [missing]
    assert report.corrupt_blobs == [corrupt]
    assert report.unreferenced_blobs == [stray.sha256]
    assert report.damaged
    rebuilt = await store.reconstruct()
    assert rebuilt.missing_blobs == [missing]
    assert rebuilt.messages_reparsed == 2
    assert rebuilt.unreferenced_blobs == [stray.sha256]


async def test_inline_blobs_readable_after_the_threshold_changes(
    store_factory: StoreFactory, backdoor: StoreBackdoor
) -> None:
    first = await store_factory(Settings.model_validate({"store": {"inline_blob_max": 64 * 1024}}))
    inbox = await mailbox(first, await make_account(first))
    data = make_message("stored under a threshold of 64 KiB")
    inline = await first.new_blob(data)
    await first.deliver(inline, parse_message(data, MIME), [Target(inbox.id)])
    file_data = make_message("stored under a threshold of 0")
    # Lower the threshold to 0: the row stays readable, new messages are files.
    second = await store_factory(Settings.model_validate({"store": {"inline_blob_max": 0}}))
    assert await _read_all_ways(second, inline) == (data, data, data)
    file_blob = await second.new_blob(file_data)
    assert not isinstance(file_blob, NewBlob)
    await second.deliver(file_blob, parse_message(file_data, MIME), [Target(inbox.id)])
    # And up again: the file stays readable too.
    third = await store_factory(Settings.model_validate({"store": {"inline_blob_max": 1024 * 1024}}))
    assert await _read_all_ways(third, file_blob) == (file_data, file_data, file_data)
    assert await _read_all_ways(third, inline) == (data, data, data)
    assert set(await backdoor.inline_blobs(third)) == {inline.sha256}
    assert file_blob.sha256 in backdoor.blob_files(third)
    assert not (await third.verify()).damaged
