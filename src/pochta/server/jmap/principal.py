"""Who a JMAP request is made by, and the accounts it may use (RFC 8620 section 1.6.2: a user may
reach several accounts; here, for now, its own)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from pochta.proto.jmap import SessionAccount, account_id
from pochta.proto.jmap.admin import ADMIN_CAPABILITY
from pochta.store.model import Account

__all__ = ["JmapAccount", "Principal", "principal_of"]


@dataclass(frozen=True)
class JmapAccount:
    """An account as JMAP shows it: its id ("A" + accounts.id), and the capabilities whose methods
    it may be used with."""

    id: str
    account: Account
    is_personal: bool
    is_read_only: bool
    capabilities: frozenset[str]

    def session_account(
        self,
        advertised: Collection[str] | None = None,
        information: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> SessionAccount:
        """The account in the Session, with the capabilities of ``advertised`` (None: all), each
        with its object from ``information`` (``{}`` for one not there)."""
        shown = self.capabilities if advertised is None else self.capabilities & frozenset(advertised)
        known = information or {}
        return SessionAccount(
            self.id,
            self.account.address,
            self.is_personal,
            self.is_read_only,
            {uri: dict(known.get(uri, {})) for uri in sorted(shown)},
        )


@dataclass(frozen=True)
class Principal:
    """The authenticated user (its login account) and the accounts it may use by JMAP id."""

    account: Account
    accounts: Mapping[str, JmapAccount]

    @property
    def username(self) -> str:
        return self.account.address

    @property
    def own_id(self) -> str:
        return account_id(self.account.id)


def principal_of(account: Account, capabilities: Collection[str]) -> Principal:
    """The principal of a logged-in account: its own account, with ``capabilities`` (the admin
    capability only for an account with the admin role: docs/admin.md)."""
    usable = frozenset(capabilities) - (frozenset() if account.admin else {ADMIN_CAPABILITY})
    own = JmapAccount(account_id(account.id), account, True, False, usable)
    return Principal(account, {own.id: own})
