"""Conformance tests for JMAP uploads (revision 0040)."""

from __future__ import annotations

from pochta.store.api import Store
from pochta.store.model import AccountId
from pochta.store.upload_model import Upload
from pochta.testing.store_suite.support import make_account


async def test_uploads_are_kept_per_account_and_pruned(store: Store) -> None:
    alice = await make_account(store)
    bob = await make_account(store, "bob@example.org")
    blob = await store.put_blob(b"uploaded octets")
    first = Upload(AccountId(alice.id), blob.sha256, "text/plain", blob.size, 100)
    await store.add_upload(first)
    assert await store.upload_of(alice.id, blob.sha256, since=0) == first
    assert await store.upload_of(alice.id, blob.sha256, since=101) is None  # expired
    assert await store.upload_of(bob.id, blob.sha256, since=0) is None  # not bob's
    again = Upload(AccountId(alice.id), blob.sha256, "application/octet-stream", blob.size, 200)
    await store.add_upload(again)
    assert await store.upload_of(alice.id, blob.sha256, since=0) == again  # the latest
    # An upload keeps its blob from collection, as a message does.
    assert blob.sha256 not in (await store.verify()).unreferenced_blobs
    assert await store.prune_uploads(before=150) == 1
    assert await store.upload_of(alice.id, blob.sha256, since=0) == again
    assert await store.prune_uploads(before=201) == 1
    assert await store.upload_of(alice.id, blob.sha256, since=0) is None
    assert blob.sha256 in (await store.verify()).unreferenced_blobs
    await store.add_upload(Upload(AccountId(bob.id), blob.sha256, "text/plain", blob.size, 300))
    await store.delete_account("bob@example.org")  # an account's uploads go with it
    assert await store.prune_uploads(before=10_000) == 0
