"""Where a mailbox name leads and what the user may do there: the other users' namespace (RFC 2342
§2) and the shared one (RFC 2342 §2) over the store, with the rights of ``mail.acl`` (RFC 4314).

A user's own mailboxes keep their names (the personal namespace, prefix ""). Another account's
mailbox is named ``Other Users/<owner address>/<its name>`` (``OTHER_USERS``, delimiter "/"). A
public mailbox of the user's domain, one that belongs to no user, is named ``Shared/<its name>``
(``SHARED``): it is a mailbox of the domain's hidden owner account (``model.SHARED_KIND``, revision
0023), so mailboxes, UIDs, the quota root, ACL rows and the change feed are those of any account;
only the names differ, and only users of the same domain reach them (hosting keeps domains apart).
Both are reachable only by users their ACL grants rights to. The rule of no leak (RFC 4314 §6): a
mailbox of another user or a public one on which the user holds no right at all answers every
command exactly as a mailbox that does not exist (NONEXISTENT); a missing right is NOPERM only when
the user may see the mailbox (``l``), and NONEXISTENT otherwise. The prefixes themselves and
``Other Users/<address>`` are not mailboxes (``prefix_levels``). A user's own names under either
prefix cannot be created (they would be shadowed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pochta.mail import acl
from pochta.mail import names as namerules
from pochta.mail.errors import Code, OpsError
from pochta.store.api import NotFound, Store
from pochta.store.model import Account, AccountId, MailboxId, MailboxInfo, shared_owner_address

__all__ = [
    "OTHER_USERS",
    "SHARED",
    "Access",
    "Located",
    "is_public_name",
    "is_shared_name",
    "prefix_levels",
    "public_name",
    "shared_name",
]

OTHER_USERS = "Other Users"  # RFC 2342 §2 "Other Users' Namespace" prefix (before the delimiter)
SHARED = "Shared"  # RFC 2342 §2 "Shared Namespace" prefix (before the delimiter)
_PREFIX = OTHER_USERS + namerules.SEPARATOR
_SHARED_PREFIX = SHARED + namerules.SEPARATOR

_NO_SUCH = "No such mailbox"


def is_public_name(name: str) -> bool:
    """Whether a name is in the shared namespace (the prefix itself included)."""
    return name == SHARED or name.startswith(_SHARED_PREFIX)


def is_shared_name(name: str) -> bool:
    """Whether a name is in the other users' or the shared namespace (the prefixes included): a
    name of a mailbox that is not the user's own."""
    return name == OTHER_USERS or name.startswith(_PREFIX) or is_public_name(name)


def prefix_levels(name: str) -> int:
    """How many levels of the name are the namespace's, no mailbox: 2 for ``Other Users/<owner>``,
    1 for ``Shared``, 0 for one's own names."""
    if is_public_name(name):
        return 1
    return 2 if is_shared_name(name) else 0


def shared_name(owner: str, name: str) -> str:
    """How a user sees the mailbox ``name`` of the account ``owner``."""
    return f"{_PREFIX}{owner}{namerules.SEPARATOR}{name}"


def public_name(name: str) -> str:
    """How a user sees the public mailbox ``name`` of their domain."""
    return _SHARED_PREFIX + name


@dataclass(frozen=True)
class Located:
    """A mailbox name resolved for a user: the owning account, the name there, the name as the user
    writes it, and the user's rights (every right on the user's own mailboxes)."""

    account_id: AccountId
    name: str  # in the owner's account (canonical for another's mailbox; as given for one's own)
    shown: str
    rights: frozenset[str]
    owner: str  # the owning account's address (for a public mailbox, the domain's hidden owner)
    mailbox: MailboxInfo | None = None  # read for another's mailbox; None for one's own
    public: bool = False  # in the shared namespace: a mailbox of no user (no owner's ACL entry)

    @property
    def own(self) -> bool:
        return self.mailbox is None

    def require(self, rights: str, what: str) -> None:
        """NOPERM when a right of ``rights`` is missing, or NONEXISTENT when the user may not even
        see the mailbox (RFC 4314 §6)."""
        missing = set(rights) - self.rights
        if not missing:
            return
        if "l" not in self.rights:
            raise OpsError(Code.NONEXISTENT, _NO_SUCH)
        right = acl.format_rights(missing)
        raise OpsError(Code.NOPERM, f"Permission denied: {what} needs the {right!r} right")


class Access:
    """Names to mailboxes and rights, for one store. Stateless: share one instance."""

    def __init__(self, store: Store, canonical_name: Callable[[str], str]) -> None:
        self.store = store
        self.canonical_name = canonical_name  # MailOps.canonical_name: its limits, INBOX spelling

    async def locate(self, account: Account, name: str) -> Located:
        """Where ``name`` leads for ``account``. No read for one's own names; for another's, three
        small reads (owner, mailbox, ACL). NONEXISTENT when the user holds no right there."""
        if not is_shared_name(name):
            return Located(account.id, name, name, acl.ALL, account.address)
        if is_public_name(name):
            local = name[len(_SHARED_PREFIX) :]
            if not local:
                raise OpsError(Code.NONEXISTENT, _NO_SUCH)  # the prefix is no mailbox
            # The user's own domain only: another domain's public mailboxes have no name here.
            owner = await self.store.get_account(shared_owner_address(account.domain_name))
            if owner is None or owner.is_user:
                raise OpsError(Code.NONEXISTENT, _NO_SUCH)
        else:
            rest = name[len(_PREFIX) :]
            owner_address, sep, local = rest.partition(namerules.SEPARATOR)
            if not sep or not local or not owner_address:
                raise OpsError(Code.NONEXISTENT, _NO_SUCH)  # the prefix and the user levels are no mailboxes
            owner = await self._account(owner_address)
            # A hidden owner's mailboxes are named under Shared/ alone.
            if owner is None or owner.id == account.id or not owner.is_user:
                raise OpsError(Code.NONEXISTENT, _NO_SUCH)
        try:
            local_name = self.canonical_name(local)
        except OpsError:
            raise OpsError(Code.NONEXISTENT, _NO_SUCH) from None
        info = await self.store.get_mailbox(owner.id, local_name)
        if info is None:
            raise OpsError(Code.NONEXISTENT, _NO_SUCH)
        rights = acl.rights_for(account.address, owner=False, acl=await self.store.mailbox_acl(info.id))
        if not rights:
            raise OpsError(Code.NONEXISTENT, _NO_SUCH)  # RFC 4314 §6: as if it did not exist
        if not owner.is_user:
            return Located(owner.id, info.name, public_name(info.name), rights, owner.address, info, True)
        return Located(
            owner.id, info.name, shared_name(owner.address, info.name), rights, owner.address, info
        )

    async def _account(self, address: str) -> Account | None:
        try:
            return await self.store.get_account(address)
        except ValueError:  # not an address at all
            return None

    async def rights_on(self, account: Account, mailbox_id: MailboxId, owner_id: AccountId) -> frozenset[str]:
        """The user's rights on a mailbox now (a selected one, read again on each command)."""
        if owner_id == account.id:
            return acl.ALL
        entries = await self.store.mailbox_acl(mailbox_id)
        return acl.rights_for(account.address, owner=False, acl=entries)

    async def shared_with(self, account: Account) -> list[tuple[str, MailboxInfo, frozenset[str]]]:
        """The mailboxes of other accounts and the public mailboxes of the user's domain the user
        holds any right on: (shown name, row, rights)."""
        identifiers = [acl.identifier_key(account.address), acl.ANYONE]
        domain = account.domain_name
        out = []
        for shared in await self.store.shared_mailboxes(identifiers, account.id):
            if shared.public and shared.owner.rpartition("@")[2].lower() != domain:
                continue  # another domain's public mailbox: not there for this user
            rights = acl.rights_for(account.address, owner=False, acl=shared.acl)
            if not rights:
                continue
            name = shared.mailbox.name
            shown = public_name(name) if shared.public else shared_name(shared.owner, name)
            out.append((shown, shared.mailbox, rights))
        return out

    # --- changing an ACL (IMAP SETACL/DELETEACL and ``pochta acl``) -------------------------------

    async def entries(self, mailbox_id: MailboxId, owner: str | None) -> list[tuple[str, str]]:
        """The ACL as GETACL and ``pochta acl list`` show it: the owner's implicit entry first (none
        for a public mailbox, ``owner`` None: it has no user for an owner), then the stored ones by
        identifier, rights with ``c``/``d`` (RFC 4314 §2.1.1)."""
        stored = await self.store.mailbox_acl(mailbox_id)
        listed = [] if owner is None else [(owner, acl.format_rights(acl.ALL, legacy=True))]
        listed += [
            (who, acl.format_rights(acl.parse_rights(r), legacy=True)) for who, r in sorted(stored.items())
        ]
        return listed

    async def check_identifier(self, owner: str, key: str) -> None:
        """CANNOT for the owner (whose rights are implicit) and for what is neither ``anyone`` nor
        the address of a user (a hidden owner of public mailboxes is none)."""
        bare = key.removeprefix("-")
        if bare == acl.ANYONE:
            return
        named = await self._account(bare)
        if named is None or not named.is_user:
            raise OpsError(Code.CANNOT, "An identifier is 'anyone' or the address of an account")
        if bare == owner.lower():
            raise OpsError(Code.CANNOT, "The owner's rights are implicit and cannot be changed")

    async def change(
        self, mailbox_id: MailboxId, owner: str, key: str, op: str, rights: frozenset[str]
    ) -> frozenset[str]:
        """SETACL (RFC 4314 §3.1): the identifier's rights after the change, stored (an entry left
        with no right is deleted). NONEXISTENT when the mailbox went away meanwhile."""
        await self.check_identifier(owner, key)
        current = acl.parse_rights((await self.store.mailbox_acl(mailbox_id)).get(key, ""))
        after = acl.apply_change(current, op, rights)
        await self._write(mailbox_id, key, acl.format_rights(after) or None)
        return after

    async def delete(self, mailbox_id: MailboxId, owner: str, key: str) -> None:
        """DELETEACL (RFC 4314 §3.2); an identifier without an entry is no error."""
        await self.check_identifier(owner, key)
        await self._write(mailbox_id, key, None)

    async def _write(self, mailbox_id: MailboxId, key: str, rights: str | None) -> None:
        try:
            await self.store.set_mailbox_acl(mailbox_id, key, rights)
        except NotFound:
            raise OpsError(Code.NONEXISTENT, _NO_SUCH) from None
