"""Spool files held in memory up to ``memory_max`` (server.inline_message_max), on disk beyond."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pochta.config import Settings
from pochta.store.model import BlobRef, NewBlob, Target
from pochta.store.spool import SpoolFile
from pochta.store.sqlite.store import SqliteStore, open_sqlite_store

MESSAGE = b"Subject: spooled\r\n\r\n" + b"a line of the body\r\n" * 50  # 1,020 octets


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    handle = await open_sqlite_store(tmp_path / "data", Settings())
    try:
        yield handle
    finally:
        await handle.close()


def blob_bytes(store: SqliteStore, sha256: str) -> bytes:
    return (store.blobs.path_for(sha256)).read_bytes()


@pytest.mark.parametrize("memory_max", [0, 100, len(MESSAGE) - 1, len(MESSAGE), 1 << 20])
async def test_spool_adopts_the_same_blob_in_memory_or_on_disk(
    store: SqliteStore, tmp_path: Path, memory_max: int
) -> None:
    """However the message was held, the blob is its exact octets; a file exists exactly when the
    message outgrew ``memory_max`` (what was held goes to the file first, in order). A message held
    in memory is a NewBlob: no file, its bytes stored by the delivery that refers to it."""
    directory = tmp_path / "spool"
    spool = SpoolFile(directory, "test", memory_max=memory_max)
    for start in range(0, len(MESSAGE), 7):
        spool.write(MESSAGE[start : start + 7])
    on_disk = memory_max < len(MESSAGE)
    assert spool.in_memory is not on_disk
    assert (directory.is_dir() and any(directory.iterdir())) is on_disk
    await spool.finish()
    parsed = await spool.parse(Settings().mime)
    assert "spooled" in (parsed.header_text or "")
    blob = await spool.adopt(store)
    assert (blob.sha256, blob.size) == (hashlib.sha256(MESSAGE).hexdigest(), len(MESSAGE))
    assert not directory.is_dir() or list(directory.iterdir()) == []
    await spool.discard()  # after adopt: nothing left to remove, and no error
    assert isinstance(blob, NewBlob) is not on_disk
    assert store.blobs.exists_sync(blob.sha256) is on_disk
    if on_disk:
        assert blob_bytes(store, blob.sha256) == MESSAGE
    else:
        await store.add_domain("example.org")
        account = await store.add_account("spool@example.org", "x", None)
        inbox = await store.get_mailbox(account.id, "INBOX")
        assert inbox is not None
        await store.deliver(blob, parsed, [Target(inbox.id)])
        assert await asyncio.to_thread(store.read_blob, BlobRef(blob.sha256, blob.size)) == MESSAGE


@pytest.mark.parametrize("memory_max", [0, 1 << 20])
async def test_discarded_spool_leaves_nothing(store: SqliteStore, tmp_path: Path, memory_max: int) -> None:
    directory = tmp_path / "spool"
    spool = SpoolFile(directory, "test", memory_max=memory_max)
    spool.write(MESSAGE)
    await spool.discard()
    await spool.discard()
    assert not directory.is_dir() or list(directory.iterdir()) == []
    assert store.blobs.list_sync() == set()


@pytest.mark.parametrize("memory_max", [0, 1 << 20])
async def test_prepend_puts_a_field_before_the_finished_message(
    store: SqliteStore, tmp_path: Path, memory_max: int
) -> None:
    """Authentication-Results is known only once the message is read: it goes in front, in memory
    or by rewriting the file, and the size follows."""
    spool = SpoolFile(tmp_path / "spool", "test", memory_max=memory_max)
    spool.write(MESSAGE)
    await spool.finish()
    field = b"Authentication-Results: mx.example; dkim=none\r\n"
    await spool.prepend(field)
    assert spool.size == len(field) + len(MESSAGE)
    assert await spool.read() == field + MESSAGE
    assert list((tmp_path / "spool").glob("*.new")) == []
    blob = await spool.adopt(store)
    if isinstance(blob, NewBlob):
        assert blob.data == field + MESSAGE
    else:
        assert blob_bytes(store, blob.sha256) == field + MESSAGE
