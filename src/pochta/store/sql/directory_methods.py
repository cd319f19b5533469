"""The directory half of ``SqliteStore``: domains, accounts, aliases, app passwords and login
unblocks, each method one read or one write job over the functions of ``sql/directory``.

A mixin, so that ``sqlite.py`` keeps the store's plumbing and its mail side; ``SqliteStore``
provides the jobs (``run_read``, ``run_write``) that ``_Jobs`` names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Protocol, TypeVar

from sqlalchemy import Connection

from pochta.store.api import UNSET, DirectoryReader, _Unset
from pochta.store.model import (
    Account,
    AccountId,
    Alias,
    AppPassword,
    Change,
    Domain,
    LoginUnblock,
    ProtocolSwitches,
    ScramCredentials,
    Unit,
)
from pochta.store.sql import directory, units
from pochta.store.sqlite.reader import SqliteDirectoryReader

T = TypeVar("T")


class _Jobs(Protocol):
    async def run_read(self, fn: Callable[[Connection], T]) -> T: ...
    async def run_write(self, fn: Callable[[Connection, list[Change]], T]) -> T: ...


class DirectoryMethods:
    # Directory: several lookups in one read

    async def read_directory(self: _Jobs, fn: Callable[[DirectoryReader], T]) -> T:
        return await self.run_read(lambda c: fn(SqliteDirectoryReader(c)))

    # Directory: domains

    async def add_domain(self: _Jobs, name: str) -> Domain:
        return await self.run_write(lambda c, e: directory.add_domain(c, e, name))

    async def get_domain(self: _Jobs, name: str) -> Domain | None:
        return await self.run_read(lambda c: directory.get_domain(c, name))

    async def list_domains(self: _Jobs) -> list[Domain]:
        return await self.run_read(directory.list_domains)

    async def delete_domain(self: _Jobs, name: str) -> None:
        await self.run_write(lambda c, e: directory.delete_domain(c, e, name))

    async def set_domain_protocols(self: _Jobs, name: str, switches: ProtocolSwitches) -> Domain:
        return await self.run_write(lambda c, e: directory.set_domain_protocols(c, e, name, switches))

    async def set_domain_quota(
        self: _Jobs,
        name: str,
        *,
        quota_bytes: int | _Unset | None = UNSET,
        quota_messages: int | _Unset | None = UNSET,
    ) -> Domain:
        return await self.run_write(
            lambda c, e: directory.set_domain_quota(c, e, name, quota_bytes, quota_messages)
        )

    # Directory: accounts

    async def add_account(
        self: _Jobs,
        address: str,
        password_hash: str,
        scram: ScramCredentials | None,
        quota_bytes: int | None = None,
        quota_messages: int | None = None,
    ) -> Account:
        return await self.run_write(
            lambda c, e: directory.add_account(
                c, e, address, password_hash, scram, quota_bytes, quota_messages
            )
        )

    async def add_shared_owner(self: _Jobs, domain: str) -> Account:
        return await self.run_write(lambda c, e: directory.add_shared_owner(c, e, domain))

    async def get_account(self: _Jobs, address: str) -> Account | None:
        return await self.run_read(lambda c: directory.get_account(c, address))

    async def get_account_by_id(self: _Jobs, account_id: AccountId) -> Account | None:
        return await self.run_read(lambda c: directory.get_account_by_id(c, account_id))

    async def list_accounts(self: _Jobs, domain: str | None = None) -> list[Account]:
        return await self.run_read(lambda c: directory.list_accounts(c, domain))

    async def update_account(
        self: _Jobs,
        address: str,
        *,
        password_hash: str | _Unset = UNSET,
        scram: ScramCredentials | _Unset | None = UNSET,
        quota_bytes: int | _Unset | None = UNSET,
        enabled: bool | _Unset = UNSET,
        quota_messages: int | _Unset | None = UNSET,
        admin: bool | _Unset = UNSET,
    ) -> Account:
        return await self.run_write(
            lambda c, e: directory.update_account(
                c,
                e,
                address,
                password_hash=password_hash,
                scram=scram,
                quota_bytes=quota_bytes,
                enabled=enabled,
                quota_messages=quota_messages,
                admin=admin,
            )
        )

    # Directory: the settings store and organisational units

    async def set_account_settings(self: _Jobs, address: str, values: Mapping[str, object | None]) -> Account:
        given = dict(values)
        return await self.run_write(lambda c, e: directory.set_account_settings(c, e, address, given))

    async def record_account_setting(
        self: _Jobs, account_id: AccountId, key: str, value: object | None
    ) -> None:
        await self.run_write(lambda c, e: directory.record_account_setting(c, e, account_id, key, value))

    async def set_account_unit(self: _Jobs, address: str, unit: str) -> Account:
        return await self.run_write(lambda c, e: directory.set_account_unit(c, e, address, unit))

    async def add_unit(self: _Jobs, name: str, parent: str | None = None) -> Unit:
        return await self.run_write(lambda c, e: units.add_unit(c, e, name, parent))

    async def get_unit(self: _Jobs, name: str) -> Unit | None:
        return await self.run_read(lambda c: units.get_unit(c, name))

    async def list_units(self: _Jobs) -> list[Unit]:
        return await self.run_read(units.list_units)

    async def set_unit_settings(self: _Jobs, name: str, values: Mapping[str, object | None]) -> Unit:
        given = dict(values)
        return await self.run_write(lambda c, e: units.set_unit_settings(c, e, name, given))

    async def set_unit_parent(self: _Jobs, name: str, parent: str) -> Unit:
        return await self.run_write(lambda c, e: units.set_unit_parent(c, e, name, parent))

    async def delete_unit(self: _Jobs, name: str) -> None:
        await self.run_write(lambda c, e: units.delete_unit(c, e, name))

    async def delete_account(self: _Jobs, address: str) -> None:
        await self.run_write(lambda c, e: directory.delete_account(c, e, address))

    # Directory: aliases and app passwords

    async def add_alias(self: _Jobs, source: str, targets: Iterable[str]) -> Alias:
        target_list = list(targets)
        return await self.run_write(lambda c, e: directory.add_alias(c, e, source, target_list))

    async def list_aliases(self: _Jobs, domain: str | None = None) -> list[Alias]:
        return await self.run_read(lambda c: directory.list_aliases(c, domain))

    async def get_alias(self: _Jobs, source: str) -> Alias | None:
        return await self.run_read(lambda c: directory.get_alias(c, source))

    async def delete_alias(self: _Jobs, source: str, targets: Iterable[str] | None = None) -> None:
        target_list = None if targets is None else list(targets)
        await self.run_write(lambda c, e: directory.delete_alias(c, e, source, target_list))

    async def add_app_password(
        self: _Jobs, address: str, name: str, password_hash: str, lookup: bytes
    ) -> AppPassword:
        return await self.run_write(
            lambda c, e: directory.add_app_password(c, e, address, name, password_hash, lookup)
        )

    async def list_app_passwords(self: _Jobs, address: str) -> list[AppPassword]:
        return await self.run_read(lambda c: directory.list_app_passwords(c, address))

    async def revoke_app_password(self: _Jobs, address: str, name: str) -> None:
        await self.run_write(lambda c, e: directory.revoke_app_password(c, e, address, name))

    async def touch_app_password(self: _Jobs, app_password_id: int, when: datetime) -> None:
        await self.run_write(lambda c, e: directory.touch_app_password(c, e, app_password_id, when))

    # Directory: login unblocks

    async def add_login_unblock(self: _Jobs, target: str, keep_seconds: float) -> LoginUnblock:
        return await self.run_write(lambda c, e: directory.add_login_unblock(c, e, target, keep_seconds))

    async def login_unblocks_after(self: _Jobs, unblock_id: int) -> list[LoginUnblock]:
        return await self.run_read(lambda c: directory.login_unblocks_after(c, unblock_id))
