"""Conformance tests for the webmail's signed-in sessions (revision 0037)."""

from __future__ import annotations

from pochta.store.api import Store
from pochta.store.model import AccountId
from pochta.store.web_session_model import WebSession
from pochta.testing.store_suite.support import make_account


def _session(account_id: int, token: str, seen: int, *, expires: int = 10_000) -> WebSession:
    return WebSession(token, AccountId(account_id), f"csrf-{token}", 100, seen, expires, "127.0.0.1", "test")


async def test_web_sessions_are_kept_touched_and_ended(store: Store) -> None:
    alice = await make_account(store)
    bob = await make_account(store, "bob@example.org")
    first = _session(alice.id, "a1", 100)
    assert await store.add_web_session(first, keep=10) == []
    await store.add_web_session(_session(bob.id, "b1", 100), keep=10)
    assert await store.web_session("a1") == first
    assert await store.web_session("nope") is None
    await store.touch_web_session("a1", 150)
    await store.touch_web_session("a1", 120)  # never back
    touched = await store.web_session("a1")
    assert touched is not None
    assert touched.seen == 150
    assert await store.delete_web_session("a1") is True
    assert await store.delete_web_session("a1") is False
    assert await store.web_session("a1") is None
    assert [s.token_hash for s in await store.web_sessions(bob.id)] == ["b1"]


async def test_web_sessions_past_the_limit_end_the_least_recently_seen(store: Store) -> None:
    alice = await make_account(store)
    for n, seen in enumerate((300, 100, 200)):
        await store.add_web_session(_session(alice.id, f"s{n}", seen), keep=10)
    ended = await store.add_web_session(_session(alice.id, "new", 400), keep=2)
    assert sorted(ended) == ["s1", "s2"]
    assert [s.token_hash for s in await store.web_sessions(alice.id)] == ["new", "s0"]
    assert await store.delete_web_sessions(alice.id) == 2
    assert await store.web_sessions(alice.id) == []


async def test_web_sessions_are_pruned_and_go_with_their_account(store: Store) -> None:
    alice = await make_account(store)
    bob = await make_account(store, "bob@example.org")
    await store.add_web_session(_session(alice.id, "expired", 900, expires=1000), keep=10)
    await store.add_web_session(_session(alice.id, "idle", 400), keep=10)
    await store.add_web_session(_session(alice.id, "live", 950), keep=10)
    await store.add_web_session(_session(bob.id, "bob", 950), keep=10)
    # now 1000, idle 500: "expired" reached its end, "idle" was last seen at 400 <= 500.
    assert await store.prune_web_sessions(1000, 500) == 2
    assert [s.token_hash for s in await store.web_sessions(alice.id)] == ["live"]
    await store.delete_account("bob@example.org")
    assert await store.web_session("bob") is None
