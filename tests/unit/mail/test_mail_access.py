"""The other users' namespace over a real store (``pochta.mail.access``): where a name leads, the
rights there, and the rule of no leak (RFC 4314 §6); the store's ACL rows (revision 0018)."""

from __future__ import annotations

import pytest

from pochta.mail import acl
from pochta.mail.access import Access, is_public_name, is_shared_name, prefix_levels, public_name, shared_name
from pochta.mail.errors import Code, OpsError
from pochta.mail.ops import MailOps
from pochta.store.api import NotFound, Store
from pochta.store.model import Account


async def _bob(store: Store) -> Account:
    return await store.add_account("bob@example.org", "not-a-real-hash", None)


async def test_own_names_need_no_read_and_hold_every_right(ops: MailOps, account: Account) -> None:
    located = await ops.access.locate(account, "Anything/at all")
    assert (located.account_id, located.name, located.rights, located.own) == (
        account.id,
        "Anything/at all",
        acl.ALL,
        True,
    )


async def test_a_shared_mailbox_is_reached_with_the_rights_granted(
    store: Store, ops: MailOps, account: Account
) -> None:
    bob = await _bob(store)
    projects = await ops.create(account.id, "Projects")
    await store.set_mailbox_acl(projects.id, "bob@example.org", "lr")
    await store.set_mailbox_acl(projects.id, "anyone", "s")
    located = await ops.access.locate(bob, "Other Users/alice@example.org/Projects")
    assert (located.account_id, located.name, located.rights) == (account.id, "Projects", frozenset("lrs"))
    assert located.shown == shared_name("alice@example.org", "Projects")
    located.require("rs", "SELECT")
    with pytest.raises(OpsError) as refused:
        located.require("i", "APPEND")
    assert refused.value.code == Code.NOPERM
    listed = await ops.access.shared_with(bob)
    assert [(name, rights) for name, _info, rights in listed] == [
        ("Other Users/alice@example.org/Projects", frozenset("lrs"))
    ]
    assert await ops.access.shared_with(account) == []  # one's own mailboxes are not "shared with"
    assert await ops.access.rights_on(bob, projects.id, account.id) == frozenset("lrs")
    assert await ops.access.rights_on(account, projects.id, account.id) == acl.ALL


async def test_no_right_answers_as_no_mailbox(store: Store, ops: MailOps, account: Account) -> None:
    bob = await _bob(store)
    secret = await ops.create(account.id, "Secret")
    await ops.create(account.id, "Visible")
    names = [
        "Other Users/alice@example.org/Secret",  # exists, no right
        "Other Users/alice@example.org/Nothing",  # does not exist
        "Other Users/nobody@example.org/INBOX",  # no such user
        "Other Users/alice@example.org",  # a user level, not a mailbox
        "Other Users",
        "Other Users/bob@example.org/INBOX",  # oneself through the other users' namespace
    ]
    for name in names:
        with pytest.raises(OpsError) as refused:
            await ops.access.locate(bob, name)
        assert (refused.value.code, refused.value.message) == (Code.NONEXISTENT, "No such mailbox"), name
    # Rights without "l": a missing right still answers as no mailbox; with "l" it is NOPERM.
    await store.set_mailbox_acl(secret.id, "bob@example.org", "i")
    located = await ops.access.locate(bob, "Other Users/alice@example.org/Secret")
    with pytest.raises(OpsError) as refused:
        located.require("r", "SELECT")
    assert refused.value.code == Code.NONEXISTENT
    # A negative entry takes away what "anyone" gives.
    await store.set_mailbox_acl(secret.id, "anyone", "lr")
    await store.set_mailbox_acl(secret.id, "-bob@example.org", "lri")
    with pytest.raises(OpsError):
        await ops.access.locate(bob, "Other Users/alice@example.org/Secret")


async def test_acl_rows_set_replace_delete_and_go_with_the_mailbox(
    store: Store, ops: MailOps, account: Account
) -> None:
    box = await ops.create(account.id, "Box")
    await store.set_mailbox_acl(box.id, "anyone", "lr")
    await store.set_mailbox_acl(box.id, "anyone", "lrs")
    await store.set_mailbox_acl(box.id, "bob@example.org", "l")
    assert await store.mailbox_acl(box.id) == {"anyone": "lrs", "bob@example.org": "l"}
    await store.set_mailbox_acl(box.id, "bob@example.org", None)
    assert await store.mailbox_acl(box.id) == {"anyone": "lrs"}
    # RENAME keeps the ACL (RFC 4314 §4: SHOULD NOT change it); DELETE deletes it (MUST).
    [renamed] = await ops.rename(account.id, "Box", "Crate")
    assert await store.mailbox_acl(renamed.id) == {"anyone": "lrs"}
    await ops.delete(account.id, "Crate")
    assert await store.mailbox_acl(renamed.id) == {}
    with pytest.raises(NotFound):
        await store.set_mailbox_acl(renamed.id, "anyone", "l")


def test_access_is_the_one_ops_uses(ops: MailOps) -> None:
    assert isinstance(ops.access, Access)


# --- the shared namespace: public mailboxes of a domain's hidden owner (revision 0023) -------------


def test_namespace_names_and_levels() -> None:
    assert [is_shared_name(n) for n in ("Shared", "Shared/x", "Other Users/a@b/c", "Sharedx", "x")] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert [is_public_name(n) for n in ("Shared", "Shared/x", "Other Users/a@b/c", "Shared2/x")] == [
        True,
        True,
        False,
        False,
    ]
    assert [prefix_levels(n) for n in ("Shared/x/y", "Other Users/a@b/c", "INBOX/x")] == [1, 2, 0]
    assert public_name("support/tier2") == "Shared/support/tier2"


async def test_a_public_mailbox_is_reached_by_its_domain_with_the_rights_granted(
    store: Store, ops: MailOps, account: Account
) -> None:
    bob = await _bob(store)
    owner = await store.add_shared_owner("example.org")
    support = await ops.create(owner.id, "support")
    await store.set_mailbox_acl(support.id, "bob@example.org", "lrs")
    located = await ops.access.locate(bob, "Shared/support")
    assert (located.account_id, located.name, located.shown, located.rights, located.public) == (
        owner.id,
        "support",
        "Shared/support",
        frozenset("lrs"),
        True,
    )
    assert not located.own
    assert [(name, rights) for name, _info, rights in await ops.access.shared_with(bob)] == [
        ("Shared/support", frozenset("lrs"))
    ]
    assert await ops.access.rights_on(bob, support.id, owner.id) == frozenset("lrs")
    # No owner's entry in the ACL a public mailbox shows.
    assert await ops.access.entries(support.id, None) == [("bob@example.org", "lrs")]
    # alice holds no right: the public mailbox answers as one that does not exist, as do the
    # prefix, a missing name and the hidden owner named through the other users' namespace.
    await store.set_mailbox_acl(support.id, "anyone", "")
    for name in (
        "Shared/support",
        "Shared",
        "Shared/",
        "Shared/none",
        "Other Users/(shared)@example.org/support",
    ):
        with pytest.raises(OpsError) as refused:
            await ops.access.locate(account, name)
        assert refused.value.code == Code.NONEXISTENT, name
    # The hidden owner is no identifier.
    with pytest.raises(OpsError) as refused:
        await ops.access.check_identifier(owner.address, owner.address)
    assert refused.value.code == Code.CANNOT


async def test_another_domains_public_mailboxes_are_not_there(
    store: Store, ops: MailOps, account: Account
) -> None:
    del account  # example.org and alice
    await store.add_domain("example.net")
    carol = await store.add_account("carol@example.net", "not-a-real-hash", None)
    bob = await _bob(store)
    owner = await store.add_shared_owner("example.org")
    support = await ops.create(owner.id, "support")
    await store.set_mailbox_acl(support.id, "anyone", "lr")
    await store.set_mailbox_acl(support.id, "carol@example.net", "lr")  # even named: not there
    assert [name for name, _info, _rights in await ops.access.shared_with(bob)] == ["Shared/support"]
    assert await ops.access.shared_with(carol) == []
    with pytest.raises(OpsError) as refused:
        await ops.access.locate(carol, "Shared/support")
    assert refused.value.code == Code.NONEXISTENT
