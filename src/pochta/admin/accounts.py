"""Accounts: list, show, add, change the password, change quota/admin/state/switches/unit/settings,
delete. Passwords are hashed here (argon2 and SCRAM), off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

from pochta.admin.errors import AdminError, AdminErrorKind, store_errors
from pochta.auth.passwords import generate_password, hash_password, make_scram_credentials
from pochta.naming import normalize_address, normalize_domain
from pochta.store.account_settings import IMAP_ENABLED, POP3_ENABLED, SUBMISSION_ENABLED
from pochta.store.api import UNSET, Store, _Unset
from pochta.store.model import SWITCHABLE_PROTOCOLS, Account, QuotaLimits, QuotaUsage, ScramCredentials

__all__ = [
    "AccountChanges",
    "AccountView",
    "NewPassword",
    "add_account",
    "delete_account",
    "get_account",
    "list_accounts",
    "set_password",
    "update_account",
]

# A protocol switch is a spelling of a settings key (docs/units.md).
_SWITCH_KEYS = {"imap": IMAP_ENABLED.name, "pop3": POP3_ENABLED.name, "submission": SUBMISSION_ENABLED.name}


@dataclass(frozen=True)
class AccountView:
    """An account with its effective quota limits (its own, else its unit's) and usage."""

    account: Account
    limits: QuotaLimits
    used: QuotaUsage

    @property
    def address(self) -> str:
        return self.account.address

    @property
    def protocols(self) -> dict[str, bool]:
        """The effective switches: the account's own, else its unit's."""
        return {p: self.account.settings.allows(p) for p in SWITCHABLE_PROTOCOLS}


@dataclass(frozen=True)
class NewPassword:
    account: Account
    generated: str | None  # the password made for the account, to show once; None when given


@dataclass(frozen=True)
class AccountChanges:
    """What ``update_account`` changes; UNSET (or absent from the mappings) is left alone."""

    quota_bytes: int | _Unset | None = UNSET
    quota_messages: int | _Unset | None = UNSET
    admin: bool | _Unset = UNSET
    enabled: bool | _Unset = UNSET
    unit: str | None = None
    protocols: Mapping[str, bool | None] = field(default_factory=dict)  # "imap"... -> on/off
    settings: Mapping[str, object | None] = field(default_factory=dict)  # key -> value (None: remove)


async def _hash(password: str) -> tuple[str, ScramCredentials]:
    # argon2 and PBKDF2 are deliberately slow; keep them off the event loop.
    return await asyncio.to_thread(hash_password, password), await asyncio.to_thread(
        make_scram_credentials, password
    )


async def _view(store: Store, account: Account) -> AccountView:
    quota = await store.account_quota(account.id)
    used = QuotaUsage() if quota is None else quota.account_used
    limits = (
        QuotaLimits(account.quota_bytes, account.quota_messages) if quota is None else quota.account_limits
    )
    return AccountView(account, limits, used)


async def list_accounts(store: Store, domain: str | None = None) -> list[AccountView]:
    """User accounts (a domain's hidden owner of public mailboxes is ``pochta shared``'s)."""
    with store_errors():
        accounts = await store.list_accounts(normalize_domain(domain) if domain else None)
    return [await _view(store, a) for a in accounts if a.is_user]


async def _account(store: Store, address: str) -> Account:
    with store_errors():
        normalized = normalize_address(address)
        found = await store.get_account(normalized)
    if found is None or not found.is_user:
        raise AdminError(AdminErrorKind.NOT_FOUND, f"no such account: {normalized}")
    return found


async def get_account(store: Store, address: str) -> AccountView:
    return await _view(store, await _account(store, address))


async def add_account(
    store: Store, address: str, password: str | None, quota_bytes: int | None = None
) -> NewPassword:
    """A new account; without ``password`` one is generated (and returned, to show once)."""
    with store_errors():
        normalized = normalize_address(address)
    secret = generate_password() if password is None else password
    _require_password(secret)
    password_hash, scram = await _hash(secret)
    with store_errors():
        account = await store.add_account(normalized, password_hash, scram, quota_bytes)
    return NewPassword(account, secret if password is None else None)


def _require_password(password: str) -> None:
    if not password or password != password.strip("\r\n"):
        raise AdminError(AdminErrorKind.INVALID, "a password must not be empty nor end in a line break")


async def set_password(store: Store, address: str, password: str | None) -> NewPassword:
    """A new password (generated unless given)."""
    with store_errors():
        normalized = normalize_address(address)
    secret = generate_password() if password is None else password
    _require_password(secret)
    password_hash, scram = await _hash(secret)
    with store_errors():
        account = await store.update_account(normalized, password_hash=password_hash, scram=scram)
    return NewPassword(account, secret if password is None else None)


async def update_account(store: Store, address: str, changes: AccountChanges) -> Account:
    """Applies ``changes``: the account's fields, then its unit, then its settings (the protocol
    switches are settings keys: they go to the settings store with the others)."""
    current = await _account(store, address)
    unknown = set(changes.protocols) - set(_SWITCH_KEYS)
    if unknown:
        raise AdminError(AdminErrorKind.INVALID, f"no such protocol switch: {', '.join(sorted(unknown))}")
    values = dict(changes.settings)
    for protocol, switch in changes.protocols.items():
        if switch is not None:
            values[_SWITCH_KEYS[protocol]] = switch
    with store_errors():
        updated = await store.update_account(
            current.address,
            quota_bytes=changes.quota_bytes,
            quota_messages=changes.quota_messages,
            admin=changes.admin,
            enabled=changes.enabled,
        )
        if changes.unit is not None:
            updated = await store.set_account_unit(current.address, changes.unit)
        if values:
            try:
                updated = await store.set_account_settings(current.address, values)
            except ValueError as error:
                raise AdminError(AdminErrorKind.INVALID, str(error)) from None
    return updated


async def delete_account(store: Store, address: str) -> str:
    """Deletes an account and all its mail."""
    with store_errors():
        normalized = normalize_address(address)
        await store.delete_account(normalized)
    return normalized
