"""Conformance tests for Sieve scripts: per-account storage, the one active script, rename and
delete rules (RFC 5804 §2.8, §2.10, §2.11), and the quota kept in the write."""

from __future__ import annotations

import asyncio

import pytest

from pochta.store.api import AlreadyExists, NotFound, ScriptActive, SieveQuotaExceeded, Store
from pochta.store.sieve_model import SieveQuota
from pochta.testing.store_suite.support import make_account

__all__ = [
    "test_sieve_one_active_script_per_account",
    "test_sieve_quota_is_checked_in_the_write",
    "test_sieve_rename_and_delete_rules",
    "test_sieve_scripts_per_account_and_replaced_in_place",
]

ROOMY = SieveQuota(max_scripts=10, max_storage=10_000)


async def test_sieve_scripts_per_account_and_replaced_in_place(store: Store) -> None:
    alice = await make_account(store)
    bob = await make_account(store, "bob@example.org")
    assert await store.sieve_scripts(alice.id) == []
    assert await store.sieve_script(alice.id, "main") is None
    await store.put_sieve_script(alice.id, "main", "keep;\n", ROOMY)
    await store.put_sieve_script(alice.id, "été", 'require "fileinto"; fileinto "Été";', ROOMY)
    await store.put_sieve_script(bob.id, "main", "discard;", ROOMY)
    listed = await store.sieve_scripts(alice.id)
    assert [(i.name, i.size, i.active) for i in listed] == [
        ("main", 6, False),
        ("été", len('require "fileinto"; fileinto "Été";'.encode()), False),
    ]
    assert all(i.updated > 0 for i in listed)
    script = await store.sieve_script(alice.id, "main")
    assert script is not None
    assert script.source == "keep;\n"
    await store.activate_sieve_script(alice.id, "main")
    await store.put_sieve_script(alice.id, "main", "stop;", ROOMY)
    active = await store.active_sieve_script(alice.id)
    assert active is not None
    assert (active.info.name, active.source, active.info.size) == ("main", "stop;", 5)
    assert active.info.active
    bobs = await store.sieve_script(bob.id, "main")
    assert bobs is not None
    assert bobs.source == "discard;"
    assert await store.active_sieve_script(bob.id) is None
    # An account's scripts go with it.
    await store.delete_account("alice@example.org")
    assert await store.sieve_scripts(alice.id) == []
    assert len(await store.sieve_scripts(bob.id)) == 1


async def test_sieve_one_active_script_per_account(store: Store) -> None:
    alice = await make_account(store)
    for name in ("a", "b"):
        await store.put_sieve_script(alice.id, name, "keep;", ROOMY)
    await store.activate_sieve_script(alice.id, "a")
    await store.activate_sieve_script(alice.id, "b")
    assert [(i.name, i.active) for i in await store.sieve_scripts(alice.id)] == [("a", False), ("b", True)]
    with pytest.raises(NotFound):
        await store.activate_sieve_script(alice.id, "missing")
    # A failed activation changes nothing.
    active = await store.active_sieve_script(alice.id)
    assert active is not None
    assert active.info.name == "b"
    await store.activate_sieve_script(alice.id, None)
    await store.activate_sieve_script(alice.id, None)  # RFC 5804 §2.8: not an error when none is
    assert await store.active_sieve_script(alice.id) is None


async def test_sieve_rename_and_delete_rules(store: Store) -> None:
    alice = await make_account(store)
    await store.put_sieve_script(alice.id, "a", "keep;", ROOMY)
    await store.put_sieve_script(alice.id, "b", "discard;", ROOMY)
    await store.activate_sieve_script(alice.id, "a")
    with pytest.raises(NotFound):
        await store.rename_sieve_script(alice.id, "missing", "c")
    with pytest.raises(AlreadyExists):
        await store.rename_sieve_script(alice.id, "a", "b")
    await store.rename_sieve_script(alice.id, "a", "c")  # the active script stays active renamed
    active = await store.active_sieve_script(alice.id)
    assert active is not None
    assert (active.info.name, active.source) == ("c", "keep;")
    with pytest.raises(ScriptActive):
        await store.delete_sieve_script(alice.id, "c")
    with pytest.raises(NotFound):
        await store.delete_sieve_script(alice.id, "a")
    await store.delete_sieve_script(alice.id, "b")
    assert [i.name for i in await store.sieve_scripts(alice.id)] == ["c"]


async def test_sieve_quota_is_checked_in_the_write(store: Store) -> None:
    alice = await make_account(store)
    quota = SieveQuota(max_scripts=2, max_storage=20)
    await store.put_sieve_script(alice.id, "a", "x" * 10, quota)
    await store.put_sieve_script(alice.id, "b", "y" * 10, quota)
    with pytest.raises(SieveQuotaExceeded) as count:
        await store.put_sieve_script(alice.id, "c", "z", quota)
    assert count.value.code == "QUOTA/MAXSCRIPTS"
    with pytest.raises(SieveQuotaExceeded) as size:
        await store.put_sieve_script(alice.id, "b", "y" * 11, quota)
    assert size.value.code == "QUOTA/MAXSIZE"
    # Replacing a script counts its new size instead of the old one; a refusal keeps the old source.
    await store.put_sieve_script(alice.id, "b", "w" * 10, quota)
    b = await store.sieve_script(alice.id, "b")
    assert b is not None
    assert b.source == "w" * 10
    # Two uploads at once cannot both pass: the check is in the write.
    await store.delete_sieve_script(alice.id, "b")
    results = await asyncio.gather(
        store.put_sieve_script(alice.id, "c", "1" * 10, quota),
        store.put_sieve_script(alice.id, "d", "2" * 10, quota),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["NoneType", "SieveQuotaExceeded"]
    assert len(await store.sieve_scripts(alice.id)) == 2
