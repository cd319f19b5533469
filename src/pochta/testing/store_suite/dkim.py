"""Conformance tests for DKIM keys: per domain, unique selectors, state changes in one write, and
the keys going with their domain."""

from __future__ import annotations

import pytest

from pochta.store.api import AlreadyExists, NotFound, Store
from pochta.store.dkim_model import DkimKey, KeyState

__all__ = [
    "test_dkim_keys_per_domain_and_selector",
    "test_dkim_state_changes_are_one_write",
]


def _key(domain: str, selector: str, state: KeyState = KeyState.ACTIVE, created: int = 100) -> DkimKey:
    return DkimKey(domain, selector, "ed25519", "c2VlZA==", "cHVibGlj", state, created)


async def test_dkim_keys_per_domain_and_selector(store: Store) -> None:
    await store.add_domain("example.org")
    await store.add_domain("example.net")
    assert await store.dkim_keys() == []
    with pytest.raises(NotFound):
        await store.add_dkim_keys("missing.example", [_key("missing.example", "a")])
    await store.add_dkim_keys(
        "example.org", [_key("example.org", "b", created=200), _key("example.org", "a")]
    )
    await store.add_dkim_keys("Example.NET", [_key("example.net", "a")])
    assert [(k.domain, k.selector) for k in await store.dkim_keys()] == [
        ("example.net", "a"),
        ("example.org", "a"),  # oldest first within a domain
        ("example.org", "b"),
    ]
    assert await store.dkim_keys("example.org") == [
        _key("example.org", "a"),
        _key("example.org", "b", created=200),
    ]
    with pytest.raises(AlreadyExists):  # nothing of the batch is added
        await store.add_dkim_keys("example.org", [_key("example.org", "c"), _key("example.org", "a")])
    assert len(await store.dkim_keys("example.org")) == 2
    await store.delete_dkim_key("example.org", "a")
    with pytest.raises(NotFound):
        await store.delete_dkim_key("example.org", "a")
    await store.delete_domain("example.net")  # its keys go with it
    assert [(k.domain, k.selector) for k in await store.dkim_keys()] == [("example.org", "b")]


async def test_dkim_state_changes_are_one_write(store: Store) -> None:
    await store.add_domain("example.org")
    await store.add_dkim_keys(
        "example.org", [_key("example.org", "old"), _key("example.org", "new", KeyState.PENDING)]
    )
    version = store.directory_version()
    with pytest.raises(NotFound):  # one selector missing: nothing changes
        await store.set_dkim_states("example.org", {"new": KeyState.ACTIVE, "gone": KeyState.RETIRING})
    assert {k.selector: k.state for k in await store.dkim_keys("example.org")} == {
        "old": KeyState.ACTIVE,
        "new": KeyState.PENDING,
    }
    await store.set_dkim_states("example.org", {"new": KeyState.ACTIVE, "old": KeyState.RETIRING})
    keys = {k.selector: k for k in await store.dkim_keys("example.org")}
    assert (keys["new"].state, keys["old"].state) == (KeyState.ACTIVE, KeyState.RETIRING)
    assert keys["new"].activated is not None
    assert keys["old"].activated is None
    assert store.directory_version() != version  # signers reload their keys
