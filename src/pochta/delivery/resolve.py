"""Recipient resolution: an RCPT address -> the local accounts (and folders) it reaches.

Order for ``local@domain`` in a local domain (Postfix virtual(5) order, as operators expect):
1. an account with that exact address;
2. an alias with that exact source (its targets resolved in turn, up to ``MAX_ALIAS_DEPTH``);
3. with a subaddress separator: ``user+tag`` -> the account/alias ``user``, filed into folder
   ``tag`` when the account has one and policy allows (RFC 5233 §1: the detail part);
4. the domain's catch-all alias ``@domain``.
A domain that is not ours is "remote": the caller decides (relay denied on the MX, the outbound
queue on submission). Relay tricks never reach another domain from here: source routes are ignored
(RFC 5321 §4.1.2, §C: the route is dropped and the mailbox domain used), and ``%``, ``!``, quoted
``@`` stay inside the local part, where they name no account (so: unknown user, or the catch-all).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Literal

from pochta.config import SmtpSettings
from pochta.mime.address import SmtpPath
from pochta.store.api import Directory, StoreError
from pochta.store.model import Account

MAX_ALIAS_DEPTH = 8  # alias -> alias chains followed; deeper (or circular) ones resolve to nothing

ResolutionKind = Literal["local", "remote", "unknown", "external"]


@dataclass(frozen=True)
class Destination:
    """One local account and the folder the address asked for (None: INBOX)."""

    account: Account
    folder: str | None = None


@dataclass(frozen=True)
class Resolution:
    kind: ResolutionKind
    destinations: tuple[Destination, ...] = ()
    external: tuple[str, ...] = field(default=())  # alias targets outside our domains (need the queue)


def _split(address: str) -> tuple[str, str] | None:
    local, at, domain = address.rpartition("@")
    if not at or not domain:
        return None
    return local, domain.lower()


class Resolver:
    def __init__(self, directory: Directory, settings: SmtpSettings, hostname: str) -> None:
        self.directory = directory
        self.settings = settings
        self.hostname = hostname

    async def is_local_domain(self, domain: str) -> bool:
        if not domain or domain.startswith("["):
            return False  # an address literal is never one of our domains (no relaying by IP)
        try:
            return await self.directory.get_domain(domain.lower()) is not None
        except (ValueError, StoreError):
            return False

    async def resolve(self, path: SmtpPath) -> Resolution:
        local, domain = path.local, path.domain
        if not domain and local.lower() == "postmaster":
            # RFC 5321 §4.1.1.3: <Postmaster> without a domain must be accepted.
            return await self._postmaster()
        if not await self.is_local_domain(domain):
            return Resolution("remote")
        if "@" in local or not local:
            # '"v@remote"@ours' or 'v@remote@ours': never an address of ours, never relayed.
            return Resolution("unknown")
        return await self._resolve_local(local, domain, depth=0, seen=set())

    async def _postmaster(self) -> Resolution:
        domains = [self.hostname]
        with contextlib.suppress(StoreError):
            domains += [d.name for d in await self.directory.list_domains()]
        for domain in domains:
            if await self.is_local_domain(domain):
                found = await self._resolve_local("postmaster", domain, depth=0, seen=set())
                if found.kind != "unknown":
                    return found
        return Resolution("unknown")

    async def _account(self, address: str) -> Account | None:
        try:
            account = await self.directory.get_account(address)
        except (ValueError, StoreError):
            return None
        return account if account is not None and account.enabled else None

    async def _alias_targets(self, source: str) -> tuple[str, ...] | None:
        try:
            alias = await self.directory.get_alias(source)
        except (ValueError, StoreError):
            return None
        return None if alias is None else alias.targets

    async def _resolve_local(self, local: str, domain: str, *, depth: int, seen: set[str]) -> Resolution:
        folder: str | None = None
        found = await self._exact(local, domain, depth, seen)
        sep = self.settings.subaddress_separator
        if found is None and sep and sep in local:
            base, _, tag = local.partition(sep)
            if base:
                found = await self._exact(base, domain, depth, seen)
                folder = tag or None
        if found is None:
            targets = await self._alias_targets(f"@{domain}")  # the catch-all
            if targets is not None:
                found = await self._expand(targets, depth, seen | {f"@{domain}"})
        if found is None:
            return Resolution("unknown")
        if folder is not None and self.settings.subaddress_folder:
            found = Resolution(
                found.kind,
                tuple(Destination(d.account, d.folder or folder) for d in found.destinations),
                found.external,
            )
        return found

    async def _exact(self, local: str, domain: str, depth: int, seen: set[str]) -> Resolution | None:
        address = f"{local}@{domain}"
        key = address.lower()
        if key in seen:
            return None  # a loop of aliases
        account = await self._account(address)
        if account is not None:
            return Resolution("local", (Destination(account),))
        targets = await self._alias_targets(address)
        if targets is None:
            return None
        return await self._expand(targets, depth, seen | {key})

    async def _expand(self, targets: tuple[str, ...], depth: int, seen: set[str]) -> Resolution | None:
        if depth >= MAX_ALIAS_DEPTH:
            return None
        destinations: list[Destination] = []
        external: list[str] = []
        for target in targets:
            parts = _split(target)
            if parts is None:
                continue
            local, domain = parts
            if not await self.is_local_domain(domain):
                external.append(target)
                continue
            found = await self._exact(local, domain, depth + 1, seen)
            if found is not None:
                destinations.extend(found.destinations)
                external.extend(found.external)
        if not destinations and not external:
            return None
        unique = tuple({(d.account.id, d.folder): d for d in destinations}.values())
        return Resolution("external" if external else "local", unique, tuple(dict.fromkeys(external)))
