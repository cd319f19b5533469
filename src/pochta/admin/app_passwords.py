"""App passwords: per-device passwords, usable wherever the account password is. The password is
made here and shown once; a login finds it by a digest keyed with the server's secret
(docs/authentication.md)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from pochta.admin.errors import store_errors
from pochta.auth.passwords import app_password_lookup, generate_password, hash_password
from pochta.naming import normalize_address
from pochta.store.api import Store
from pochta.store.model import AppPassword

__all__ = ["NewAppPassword", "add_app_password", "list_app_passwords", "revoke_app_password"]


@dataclass(frozen=True)
class NewAppPassword:
    address: str
    app_password: AppPassword
    password: str  # shown once, never stored


async def add_app_password(store: Store, server_secret: bytes, address: str, name: str) -> NewAppPassword:
    """A new app password for ``address`` (``server_secret``: the data directory's, from
    ``pochta.bootstrap.ensure_server_secret``)."""
    with store_errors():
        normalized = normalize_address(address)
    password = generate_password()
    password_hash = await asyncio.to_thread(hash_password, password)
    lookup = app_password_lookup(server_secret, password)
    with store_errors():
        created = await store.add_app_password(normalized, name, password_hash, lookup)
    return NewAppPassword(normalized, created, password)


async def list_app_passwords(store: Store, address: str) -> list[AppPassword]:
    """An account's app passwords; one whose ``lookup`` is None was made before app passwords were
    found by a keyed digest: it no longer logs in and must be re-issued."""
    with store_errors():
        return await store.list_app_passwords(normalize_address(address))


async def revoke_app_password(store: Store, address: str, name: str) -> str:
    with store_errors():
        normalized = normalize_address(address)
        await store.revoke_app_password(normalized, name)
    return normalized
