"""Quota (RFC 9208): THE rule, the quota roots of an account's mailboxes, and who may see and set them.

Resources: STORAGE (octets stored, the RFC822.SIZE of every message summed; IMAP reports it in units
of 1024 octets, RFC 9208 §5.1) and MESSAGE (messages stored, §5.2). A message in two mailboxes counts
twice (each copy is a message the user sees; the blob is stored once all the same), a MOVE within the
account counts nothing, an expunge or a deleted mailbox gives its messages back.

Quota roots (RFC 9208 §3.2): every mailbox of an account is under two roots,
- the account's own, named ``""`` for its owner (``ACCOUNT_ROOT``) and by the account's address for an
  administrator naming another account's root (``Shared``, ``PUBLIC_ROOT``, for the hidden owner of
  the domain's public mailboxes); GETQUOTAROOT of another's mailbox the user may read names it so;
- its domain's, named by the domain (``example.org``): it bounds the sum over the domain's accounts.
GETQUOTAROOT lists the roots with at least one limit (an unlimited root is not shown; RFC 9208 §4.2.2
allows a mailbox with no root); GETQUOTA of a root without limits answers its empty list (§4.2.1).

Who: any user reads the roots of their own mailboxes (RFC 9208 §6: GETQUOTA needs no right), hence
also their domain's usage; another account's or domain's root exists only for an administrator
(``Account.admin``, set by ``pochta user set --admin``): to anyone else it is "no such quota root", so
that its existence does not leak. Only an administrator sets limits (SETQUOTA, RFC 9208 §4.1.3).

Enforcement is the store's: ``exceeds`` is applied inside the write transaction that adds messages
(``sqlite_quota.enforce_quota``), so concurrent writers in any process never overshoot together;
``MailOps.check_quota`` and delivery's RCPT check apply the same rule earlier to usage read before.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pochta.mail.errors import Code, OpsError
from pochta.store.api import Store
from pochta.store.model import Account, AccountQuota, QuotaLimits, QuotaUsage, shared_owner_address

__all__ = [
    "ACCOUNT_ROOT",
    "PUBLIC_ROOT",
    "QuotaRoot",
    "Quotas",
    "Resource",
    "exceeds",
    "over_limit",
    "quota_exceeded",
    "refusal",
]

ACCOUNT_ROOT = ""  # the name of a user's own quota root, for that user
# The account root of the domain's hidden owner of public mailboxes (docs/imap.md "Shared mailboxes").
PUBLIC_ROOT = "Shared"


class Resource(StrEnum):
    """RFC 9208 §5: the resources this server counts and limits."""

    STORAGE = "STORAGE"
    MESSAGE = "MESSAGE"


def over_limit(limit: int | None, used: int, additional: int) -> bool:
    """THE quota rule (RFC 9208 §3.1.2): would adding ``additional`` (octets or messages) to ``used``
    take it past ``limit`` (None: unlimited; 0: nothing may be added)? Removing never fails, and a
    lowered limit refuses more but never takes anything away."""
    return limit is not None and additional > 0 and used + additional > limit


def exceeds(limits: QuotaLimits, used: QuotaUsage, octets: int, messages: int) -> Resource | None:
    """The first resource of one root that adding ``octets`` in ``messages`` messages would exceed."""
    if over_limit(limits.bytes, used.bytes, octets):
        return Resource.STORAGE
    if over_limit(limits.messages, used.messages, messages):
        return Resource.MESSAGE
    return None


def refusal(resource: Resource, domain: bool) -> str:
    """The text of an OVERQUOTA refusal: which root and resource (RFC 9208 §4.3.1)."""
    return f"{'Domain quota' if domain else 'Quota'} exceeded ({resource})"


def quota_exceeded(quota: AccountQuota, octets: int, messages: int) -> str | None:
    """``exceeds`` for both roots of an account's mailboxes (its own, then its domain's): the
    ``refusal`` text, or None when both roots hold the addition."""
    own = exceeds(quota.account_limits, quota.account_used, octets, messages)
    if own is not None:
        return refusal(own, domain=False)
    domain = exceeds(quota.domain_limits, quota.domain_used, octets, messages)
    return None if domain is None else refusal(domain, domain=True)


@dataclass(frozen=True)
class QuotaRoot:
    """One quota root as a client sees it: its name, limits and usage."""

    name: str
    limits: QuotaLimits
    used: QuotaUsage


class Quotas:
    """The quota roots an account sees and (as an administrator) changes, over the store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def _current(self, account_id: int) -> Account:
        # Read afresh: the admin flag and the limits may have changed since the login.
        account = await self.store.get_account_by_id(account_id)
        if account is None:
            raise OpsError(Code.NONEXISTENT, "No such account")
        return account

    async def _account_quota(self, account: Account) -> AccountQuota:
        quota = await self.store.account_quota(account.id)
        if quota is None:
            raise OpsError(Code.NONEXISTENT, "No such account")
        return quota

    async def roots(self, account_id: int) -> list[QuotaRoot]:
        """The roots with a limit over the account's mailboxes (RFC 9208 §4.1.2 GETQUOTAROOT), the
        account's first. Every mailbox of the account, existing or not, has the same ones."""
        account = await self._current(account_id)
        quota = await self._account_quota(account)
        roots = [
            QuotaRoot(ACCOUNT_ROOT, quota.account_limits, quota.account_used),
            QuotaRoot(quota.domain, quota.domain_limits, quota.domain_used),
        ]
        return [root for root in roots if not root.limits.unlimited]

    async def mailbox_roots(self, account_id: int, owner_id: int) -> list[QuotaRoot]:
        """GETQUOTAROOT of a mailbox of the account ``owner_id`` that the user ``account_id`` holds
        the right to read (``mail.access``): the roots with a limit over the owner's mailboxes, the
        owner's root named by the owner's address (``PUBLIC_ROOT`` for the domain's public mailboxes)."""
        if owner_id == account_id:
            return await self.roots(account_id)
        owner = await self._current(owner_id)
        quota = await self._account_quota(owner)
        roots = [
            QuotaRoot(
                owner.address if owner.is_user else PUBLIC_ROOT, quota.account_limits, quota.account_used
            ),
            QuotaRoot(quota.domain, quota.domain_limits, quota.domain_used),
        ]
        return [root for root in roots if not root.limits.unlimited]

    async def _target(self, account: Account, name: str) -> Account | str:
        """The account or the domain name a root name means to this account (NONEXISTENT: none, or
        one it may not see)."""
        missing = OpsError(Code.NONEXISTENT, "No such quota root")
        if name == ACCOUNT_ROOT:
            return account
        if name == PUBLIC_ROOT:
            # The administrator's own domain's public mailboxes; to anyone else, as another's root.
            owner = await self.store.get_account(shared_owner_address(account.domain_name))
            if not account.admin or owner is None or owner.is_user:
                raise missing
            return owner
        if "@" in name:
            if name.lower() == account.address.lower():
                return account
            if not account.admin:
                raise missing
            try:
                other = await self.store.get_account(name)
            except ValueError:  # not an address at all
                raise missing from None
            if other is None:
                raise missing
            return other
        domain = name.lower()
        own = account.address.rpartition("@")[2].lower()
        if domain != own and not account.admin:
            raise missing
        try:
            found = await self.store.get_domain(domain)
        except ValueError:
            raise missing from None
        if found is None:
            raise missing
        return found.name

    async def root(self, account_id: int, name: str) -> QuotaRoot:
        """GETQUOTA (RFC 9208 §4.1.1): one root by name, as ``name`` was given."""
        account = await self._current(account_id)
        target = await self._target(account, name)
        if isinstance(target, Account):
            quota = await self._account_quota(target)
            return QuotaRoot(name, quota.account_limits, quota.account_used)
        found = await self.store.domain_quota(target)
        if found is None:
            raise OpsError(Code.NONEXISTENT, "No such quota root")
        return QuotaRoot(name, found[0], found[1])

    async def require_admin(self, account_id: int) -> Account:
        """The account, or NOPERM when it is no administrator."""
        account = await self._current(account_id)
        if not account.admin:
            raise OpsError(Code.NOPERM, "Only administrators may set quotas")
        return account

    async def set_root(self, account_id: int, name: str, limits: QuotaLimits) -> QuotaRoot:
        """SETQUOTA (RFC 9208 §4.1.3): administrators only; the limits replace every earlier one."""
        account = await self.require_admin(account_id)
        target = await self._target(account, name)
        if isinstance(target, Account):
            await self.store.update_account(
                target.address, quota_bytes=limits.bytes, quota_messages=limits.messages
            )
        else:
            await self.store.set_domain_quota(
                target, quota_bytes=limits.bytes, quota_messages=limits.messages
            )
        return await self.root(account_id, name)
