"""Conformance tests of the ACL rows (RFC 4314): set, replace, delete, follow the mailbox through
RENAME and go with it on DELETE, and the mailboxes shared with a user, seen by a second handle."""

from __future__ import annotations

import pytest

from pochta.store.api import NotFound, Store
from pochta.store.model import SharedMailbox
from pochta.testing.store_suite.support import StoreFactory, make_account


async def test_acl_entries_and_shared_mailboxes(store: Store, store_factory: StoreFactory) -> None:
    alice = await make_account(store)
    bob = await make_account(store, "bob@example.org")
    team = await store.create_mailbox(alice.id, "Team")
    await store.create_mailbox(alice.id, "Private")
    await store.set_mailbox_acl(team.id, "bob@example.org", "lr")
    await store.set_mailbox_acl(team.id, "bob@example.org", "lrs")  # replaces
    await store.set_mailbox_acl(team.id, "-anyone", "w")
    assert await store.mailbox_acl(team.id) == {"bob@example.org": "lrs", "-anyone": "w"}
    other = await store_factory()
    shared = await other.shared_mailboxes(["bob@example.org", "anyone"], bob.id)
    assert [(s.mailbox.id, s.owner, s.acl) for s in shared] == [
        (team.id, alice.address, {"bob@example.org": "lrs", "-anyone": "w"})
    ]
    assert all(isinstance(s, SharedMailbox) for s in shared)
    # The owner's own mailboxes are not "shared with" the owner, whatever their entries say.
    assert await store.shared_mailboxes([alice.address, "anyone"], alice.id) == []
    await store.set_mailbox_acl(team.id, "-anyone", None)
    [renamed] = await store.rename_mailbox(alice.id, "Team", "Crew")
    assert await store.mailbox_acl(renamed.id) == {"bob@example.org": "lrs"}
    await store.delete_mailbox(alice.id, "Crew")
    assert await store.mailbox_acl(renamed.id) == {}
    assert await store.shared_mailboxes(["bob@example.org"], bob.id) == []
    with pytest.raises(NotFound):
        await store.set_mailbox_acl(renamed.id, "anyone", "l")
