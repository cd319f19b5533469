"""Where a mailbox name leads and what the user may do there: the other users' namespace (RFC 2342
§4, RFC 4314) over the store, with the rights of ``mail.acl``.

A user's own mailboxes keep their names (the personal namespace, prefix ""). Another account's
mailbox is named ``Other Users/<owner address>/<its name>`` (``OTHER_USERS``, delimiter "/"), and is
reachable only by users its ACL grants rights to. The rule of no leak (RFC 4314 §6): a mailbox of
another user on which the user holds no right at all answers every command exactly as a mailbox that
does not exist (NONEXISTENT); a missing right is NOPERM only when the user may see the mailbox
(``l``), and NONEXISTENT otherwise. The prefix itself and ``Other Users/<address>`` are not
mailboxes. A user's own names under the prefix cannot be created (they would be shadowed).

There is no "Shared" namespace of mailboxes owned by no user: every pochta mailbox belongs to an
account (and its quota root); a mailbox shared by an account, e.g. a role address, serves the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pochta.mail import acl
from pochta.mail import names as namerules
from pochta.mail.errors import Code, OpsError
from pochta.store.api import NotFound, Store
from pochta.store.model import Account, AccountId, MailboxId, MailboxInfo

__all__ = ["OTHER_USERS", "Access", "Located", "is_shared_name", "shared_name"]

OTHER_USERS = "Other Users"  # RFC 2342 §2 "Other Users' Namespace" prefix (before the delimiter)
_PREFIX = OTHER_USERS + namerules.SEPARATOR

_NO_SUCH = "No such mailbox"


def is_shared_name(name: str) -> bool:
    """Whether a name is in the other users' namespace (the prefix itself included)."""
    return name == OTHER_USERS or name.startswith(_PREFIX)


def shared_name(owner: str, name: str) -> str:
    """How a user sees the mailbox ``name`` of the account ``owner``."""
    return f"{_PREFIX}{owner}{namerules.SEPARATOR}{name}"


@dataclass(frozen=True)
class Located:
    """A mailbox name resolved for a user: the owning account, the name there, the name as the user
    writes it, and the user's rights (every right on the user's own mailboxes)."""

    account_id: AccountId
    name: str  # in the owner's account (canonical for another's mailbox; as given for one's own)
    shown: str
    rights: frozenset[str]
    owner: str  # the owning account's address
    mailbox: MailboxInfo | None = None  # read for another's mailbox; None for one's own

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
        rest = name[len(_PREFIX) :]
        owner_address, sep, local = rest.partition(namerules.SEPARATOR)
        if not sep or not local or not owner_address:
            raise OpsError(Code.NONEXISTENT, _NO_SUCH)  # the prefix and the user levels are no mailboxes
        owner = await self.store.get_account(owner_address)
        if owner is None or owner.id == account.id:
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
        return Located(
            owner.id, info.name, shared_name(owner.address, info.name), rights, owner.address, info
        )

    async def rights_on(self, account: Account, mailbox_id: MailboxId, owner_id: AccountId) -> frozenset[str]:
        """The user's rights on a mailbox now (a selected one, read again on each command)."""
        if owner_id == account.id:
            return acl.ALL
        entries = await self.store.mailbox_acl(mailbox_id)
        return acl.rights_for(account.address, owner=False, acl=entries)

    async def shared_with(self, account: Account) -> list[tuple[str, MailboxInfo, frozenset[str]]]:
        """The mailboxes of other accounts the user holds any right on: (shown name, row, rights)."""
        identifiers = [acl.identifier_key(account.address), acl.ANYONE]
        out = []
        for shared in await self.store.shared_mailboxes(identifiers, account.id):
            rights = acl.rights_for(account.address, owner=False, acl=shared.acl)
            if rights:
                out.append((shared_name(shared.owner, shared.mailbox.name), shared.mailbox, rights))
        return out

    # --- changing an ACL (IMAP SETACL/DELETEACL and ``pochta acl``) -------------------------------

    async def entries(self, mailbox_id: MailboxId, owner: str) -> list[tuple[str, str]]:
        """The ACL as GETACL and ``pochta acl list`` show it: the owner's implicit entry first, then
        the stored ones by identifier, rights with ``c``/``d`` (RFC 4314 §2.1.1)."""
        stored = await self.store.mailbox_acl(mailbox_id)
        listed = [(owner, acl.format_rights(acl.ALL, legacy=True))]
        listed += [
            (who, acl.format_rights(acl.parse_rights(r), legacy=True)) for who, r in sorted(stored.items())
        ]
        return listed

    async def check_identifier(self, owner: str, key: str) -> None:
        """CANNOT for the owner (whose rights are implicit) and for what is neither ``anyone`` nor
        the address of an account."""
        bare = key.removeprefix("-")
        if bare == owner.lower():
            raise OpsError(Code.CANNOT, "The owner's rights are implicit and cannot be changed")
        if bare != acl.ANYONE and await self.store.get_account(bare) is None:
            raise OpsError(Code.CANNOT, "An identifier is 'anyone' or the address of an account")

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
