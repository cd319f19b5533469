"""Conformance tests for maintenance: reconstruct and verify."""

from __future__ import annotations

from pochta.store.api import Store
from pochta.store.model import (
    Account,
)
from pochta.testing.store_suite.support import (
    StoreBackdoor,
    deliver,
    mailbox,
    make_account,
    make_message,
)


async def _snapshot(store: Store, accounts: list[Account]) -> object:
    state: list[object] = []
    for account in accounts:
        boxes = await store.mailboxes(account.id)
        state.append((boxes, await store.quota_usage(account.id)))
        for box in boxes:
            view = await store.open_view(box.id)
            uids = [e.uid for e in view.messages]
            state.append((view, await store.cached(box.id, uids)))
            for word in ("alpha", "beta", "subject"):
                state.append(await store.search_text(box.id, word, "text"))
    return state


async def _populate(store: Store) -> list[Account]:
    alice = await make_account(store, "alice@example.org")
    bob = await make_account(store, "bob@example.org")
    inbox_a, inbox_b = await mailbox(store, alice), await mailbox(store, bob)
    archive = await mailbox(store, alice, "Archive")
    await deliver(store, make_message("alpha", "alpha body"), inbox_a.id, inbox_b.id, flags={"\\Seen"})
    await deliver(store, make_message("beta", "beta body"), inbox_a.id, archive.id, flags={"\\Deleted"})
    await deliver(store, make_message("gamma", "gamma body"), inbox_b.id)
    await store.expunge(inbox_b.id, [2])
    return [alice, bob]


async def test_reconstruct_restores_tampered_values(store: Store, backdoor: StoreBackdoor) -> None:
    accounts = await _populate(store)
    before = await _snapshot(store, accounts)
    clean = await store.reconstruct()
    assert (clean.caches_changed, clean.counters_changed, clean.quota_changed) == (0, 0, 0)
    assert clean.messages_reparsed == 2
    assert clean.missing_blobs == []
    assert len(clean.unreferenced_blobs) == 1  # gamma, expunged: collected later

    await backdoor.scramble_counters(store)
    await backdoor.scramble_caches(store)
    assert await _snapshot(store, accounts) != before
    report = await store.reconstruct()
    assert report.messages_reparsed == 2
    assert report.caches_changed == 2
    assert report.counters_changed > 0
    assert report.quota_changed == 2
    assert report.mailboxes_recounted == 12
    assert await _snapshot(store, accounts) == before
    again = await store.reconstruct()
    assert (again.caches_changed, again.counters_changed, again.quota_changed) == (0, 0, 0)

    # A missing blob is reported; its message keeps its (correct) cache.
    view = await store.open_view((await mailbox(store, accounts[0])).id)
    lost = view.messages[0].blob.sha256
    backdoor.blob_path(store, lost).unlink()
    report = await store.reconstruct()
    assert report.missing_blobs == [lost]
    assert report.messages_reparsed == 1


async def test_reconstruct_dry_run_changes_nothing(store: Store, backdoor: StoreBackdoor) -> None:
    accounts = await _populate(store)
    await backdoor.scramble_counters(store)
    await backdoor.scramble_caches(store)
    damaged = await _snapshot(store, accounts)
    report = await store.reconstruct(dry_run=True)
    assert report.caches_changed == 2
    assert report.counters_changed > 0
    assert report.quota_changed == 2
    assert await _snapshot(store, accounts) == damaged
    fixed = await store.reconstruct()
    assert (fixed.caches_changed, fixed.quota_changed) == (2, 2)


async def test_verify_detects_damage(store: Store, backdoor: StoreBackdoor) -> None:
    account = await make_account(store)
    inbox = await mailbox(store, account)
    clean = await store.verify()
    assert not clean.damaged
    assert clean.unreferenced_blobs == []
    assert clean.integrity_errors == []
    one = (await deliver(store, make_message("one"), inbox.id))[0]
    two = (await deliver(store, make_message("two"), inbox.id))[0]
    stray = await store.put_blob(b"stray bytes nobody refers to")
    view = {e.uid: e for e in (await store.open_view(inbox.id)).messages}
    missing, corrupt = view[one.uid].blob.sha256, view[two.uid].blob.sha256

    backdoor.blob_path(store, missing).unlink()
    path = backdoor.blob_path(store, corrupt)
    path.chmod(0o600)
    damaged = bytearray(path.read_bytes())
    damaged[len(damaged) // 2] ^= 0x01  # flip one bit
    path.write_bytes(bytes(damaged))

    report = await store.verify()
    assert report.missing_blobs == [missing]
    assert report.corrupt_blobs == [corrupt]
    assert report.unreferenced_blobs == [stray.sha256]
    assert report.integrity_errors == []
    assert report.damaged
