"""Recipient resolution: an RCPT address -> the local accounts (and folders) it reaches.

Order for ``local@domain`` in a local domain (Postfix virtual(5) order, as operators expect):
1. an account with that exact address;
2. an alias with that exact source (its targets resolved in turn, up to ``MAX_ALIAS_DEPTH``);
3. with a subaddress separator: ``user+tag`` -> the account/alias ``user``, filed into folder
   ``tag`` when the account has one and policy allows (RFC 5233 §1: the detail part);
4. the domain's catch-all alias ``@domain``.

Before them, ``<smtp.shared_post_local_part>+NAME@domain`` (``shared+support@example.org``) posts
into the domain's public mailbox ``Shared/NAME`` (docs/imap.md "Shared mailboxes"): the sender is
not authenticated, so only when the identifier ``anyone`` holds the post right ``p`` there (RFC 4314
§2.1; Cyrus's "post" model). A public mailbox that is missing or not open to anyone's posting goes
on through the rules above, exactly as any unknown address does (no leak of its existence). The
hidden owner account of the public mailboxes is never a recipient by its own address. Neither
answer is kept in the cache: an ACL change does not move the directory version.

Postmaster (RFC 5321 §4.5.1: mail to ``postmaster`` at every domain served, and to ``<Postmaster>``
without a domain, MUST be accepted): ``<Postmaster>`` is ``postmaster@`` the *primary domain* (the
host name when it is a local domain, else its nearest local parent, ``mx.example.org`` ->
``example.org``, else the first domain added). A ``postmaster@domain`` that the rules above do not
resolve goes to ``smtp.postmaster`` when set, else to the primary domain's postmaster.
A domain that is not ours is "remote": the caller decides (relay denied on the MX, the outbound
queue on submission). Relay tricks never reach another domain from here: source routes are ignored
(RFC 5321 §4.1.2, §C: the route is dropped and the mailbox domain used), and ``%``, ``!``, quoted
``@`` stay inside the local part, where they name no account (so: unknown user, or the catch-all).

The rules are plain synchronous functions over a ``DirectoryReader``: one resolution is one
``Directory.read_directory`` job (one thread hop, one snapshot), however many lookups the alias
chains take. Each destination carries its account's quota (the limits and usage of the account and
of its domain, ``AccountQuota``) from that snapshot, so the RCPT quota check needs no further read;
``Resolver.refresh`` reads what a commit needs (accounts, quotas, mailboxes) for a whole
transaction in one job as well.

Each process keeps (``smtp.recipient_cache`` entries) the resolutions and the refreshed accounts
and mailbox ids it read, tagged with ``Directory.directory_version``: a number that every change
to domains, aliases, accounts' delivery fields or mailbox names moves, in whichever process it is
made (database triggers). A lookup reads that number (a one-row read on the loop, no thread hop)
and answers from the cache while it is the one the entry was read under; the number is read
before the lookup it tags, so a change committed meanwhile only makes the entry look stale. Only
what involves no quota is kept: a destination whose account or domain has a quota needs its usage
read fresh, so those resolutions and refreshes always read (the store's write transaction stays the
authority on quota in any case).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Literal

from pochta.config import SmtpSettings
from pochta.mail import acl
from pochta.mail.quota import quota_exceeded
from pochta.mime.address import SmtpPath
from pochta.store.api import Directory, DirectoryReader, StoreError
from pochta.store.model import Account, AccountId, AccountQuota, MailboxId, shared_owner_address

MAX_ALIAS_DEPTH = 8  # alias -> alias chains followed; deeper (or circular) ones resolve to nothing

ResolutionKind = Literal["local", "remote", "unknown", "external"]


@dataclass(frozen=True)
class Destination:
    """One local account and the folder the address asked for (None: INBOX).

    ``quota``: the account's and its domain's quota limits and usage, read in the same snapshot as
    ``account`` (None: not read; the quota check then asks the store). Not part of equality.
    """

    account: Account
    folder: str | None = None
    quota: AccountQuota | None = field(default=None, compare=False)

    def exceeds_quota(self, additional: int) -> bool | None:
        """Would one message of ``additional`` octets take the account or its domain past a limit,
        by the usage read with it (the rule of ``pochta.mail.quota``)? None when it was not read."""
        if self.quota is None:
            return None
        return quota_exceeded(self.quota, additional, 1) is not None


@dataclass(frozen=True)
class Resolution:
    kind: ResolutionKind
    destinations: tuple[Destination, ...] = ()
    external: tuple[str, ...] = field(default=())  # alias targets outside our domains (need the queue)


@dataclass(frozen=True)
class Refreshed:
    """Accounts (with quota usage) and mailbox ids as of one snapshot: what a commit files by."""

    accounts: dict[AccountId, tuple[Account, AccountQuota]]  # an account deleted since is missing
    mailboxes: dict[tuple[AccountId, str], MailboxId]  # a mailbox that does not exist is missing

    def current(self, destinations: Iterable[Destination]) -> tuple[Destination, ...]:
        """The destinations with their account and usage as of this snapshot; one whose account is
        gone keeps its old record and loses its usage (the quota check asks the store, and refuses)."""
        out: list[Destination] = []
        for destination in destinations:
            found = self.accounts.get(destination.account.id)
            if found is None:
                out.append(replace(destination, quota=None))
            else:
                out.append(replace(destination, account=found[0], quota=found[1]))
        return tuple(out)


def public_post_name(settings: SmtpSettings, local: str) -> str | None:
    """The public mailbox a local part posts into (``shared+NAME``: ``NAME``), or None when it is
    not of that form (or the form is turned off)."""
    part, sep = settings.shared_post_local_part, settings.subaddress_separator
    if not part or not sep:
        return None
    base, found, name = local.partition(sep)
    if not found or not name or base.lower() != part.lower():
        return None
    return name


def _split(address: str) -> tuple[str, str] | None:
    local, at, domain = address.rpartition("@")
    if not at or not domain:
        return None
    return local, domain.lower()


class _Cache:
    """What one process looked up, valid while ``Directory.directory_version`` stays the same."""

    def __init__(self, directory: Directory, capacity: int) -> None:
        self.directory = directory
        self.capacity = capacity
        self.version: int | None = None
        self.resolutions: dict[tuple[str, str], Resolution] = {}
        # Accounts whose quota roots (own and domain) are both unlimited only: their usage is never
        # looked at, so the one kept with them may be stale.
        self.accounts: dict[AccountId, tuple[Account, AccountQuota]] = {}
        self.mailboxes: dict[tuple[AccountId, str], MailboxId | None] = {}  # None: no such mailbox
        self.hits = 0
        self.misses = 0

    def current(self) -> int | None:
        """The directory version now, the cache emptied if it moved; None: do not use the cache."""
        if self.capacity <= 0:
            return None
        version = self.directory.directory_version()
        if version != self.version:
            self.clear()
            self.version = version
        return version

    def clear(self) -> None:
        self.resolutions.clear()
        self.accounts.clear()
        self.mailboxes.clear()

    def room(self, version: int) -> bool:
        """May entries read under ``version`` be kept? (Emptied when full.)"""
        if version != self.version:
            return False  # moved while the read ran: the entry may already be stale
        if len(self.resolutions) + len(self.accounts) + len(self.mailboxes) >= self.capacity:
            self.clear()
        return True


def _unlimited(destinations: Iterable[Destination]) -> bool:
    return all(d.quota is not None and d.quota.unlimited for d in destinations)


class Resolver:
    def __init__(self, directory: Directory, settings: SmtpSettings, hostname: str) -> None:
        self.directory = directory
        self.settings = settings
        self.hostname = hostname
        self.cache = _Cache(directory, settings.recipient_cache)

    async def is_local_domain(self, domain: str) -> bool:
        return await self.directory.read_directory(lambda reader: _Lookups(reader).is_local_domain(domain))

    def resolve_cached(self, path: SmtpPath) -> Resolution | None:
        """The resolution this process keeps for ``path`` under the current directory version, or
        None (then ``resolve`` reads it): what an answer without a thread hop can use."""
        cache = self.cache
        if cache.current() is None:
            return None
        found = cache.resolutions.get((path.local, path.domain))
        if found is not None:
            cache.hits += 1
        return found

    async def primary_domain(self) -> str | None:
        """The primary domain (module docstring), read from the directory."""
        settings, hostname = self.settings, self.hostname
        return await self.directory.read_directory(
            lambda reader: _Rules(_Lookups(reader), settings).primary_domain(hostname)
        )

    async def resolve(self, path: SmtpPath) -> Resolution:
        """One read job: every lookup the rules need, in one snapshot (or none: the cache)."""
        cache = self.cache
        version = cache.current()
        key = (path.local, path.domain)
        if version is not None:
            found = cache.resolutions.get(key)
            if found is not None:
                cache.hits += 1
                return found
            cache.misses += 1
        settings, hostname = self.settings, self.hostname
        resolution = await self.directory.read_directory(
            lambda reader: _Rules(_Lookups(reader), settings).resolve(path, hostname)
        )
        # An account or domain with a quota: its usage must be read afresh each time. A post into
        # a public mailbox (or its refusal) hangs on an ACL, which moves no directory version.
        public = public_post_name(settings, path.local) is not None
        if version is not None and not public and _unlimited(resolution.destinations) and cache.room(version):
            cache.resolutions[key] = resolution
        return resolution

    async def refresh(
        self, accounts: Iterable[AccountId], mailboxes: Iterable[tuple[AccountId, str]]
    ) -> Refreshed:
        """The accounts with their quota usage, and the ids of the named mailboxes, in one read job
        (or none, when the cache knows them all and none of the accounts has a quota)."""
        account_ids = list(dict.fromkeys(accounts))
        names = list(dict.fromkeys(mailboxes))
        cache = self.cache
        version = cache.current()
        if version is not None:
            kept = self._refresh_cached(account_ids, names)
            if kept is not None:
                cache.hits += 1
                return kept
            cache.misses += 1
        refreshed = await self._refresh_read(account_ids, names)
        if version is not None and cache.room(version):
            for account, quota in refreshed.accounts.values():
                if quota.unlimited:
                    cache.accounts[account.id] = (account, quota)
            for name in names:
                cache.mailboxes[name] = refreshed.mailboxes.get(name)
        return refreshed

    def _refresh_cached(
        self, account_ids: list[AccountId], names: list[tuple[AccountId, str]]
    ) -> Refreshed | None:
        cache = self.cache
        found: dict[AccountId, tuple[Account, AccountQuota]] = {}
        for account_id in account_ids:
            kept = cache.accounts.get(account_id)
            if kept is None:
                return None
            found[account_id] = kept  # no quota: the usage is never looked at
        boxes: dict[tuple[AccountId, str], MailboxId] = {}
        for name in names:
            if name not in cache.mailboxes:
                return None
            mailbox_id = cache.mailboxes[name]
            if mailbox_id is not None:
                boxes[name] = mailbox_id
        return Refreshed(found, boxes)

    async def _refresh_read(
        self, account_ids: list[AccountId], names: list[tuple[AccountId, str]]
    ) -> Refreshed:

        def read(reader: DirectoryReader) -> Refreshed:
            found: dict[AccountId, tuple[Account, AccountQuota]] = {}
            for account_id in account_ids:
                account = reader.account_by_id(account_id)
                quota = reader.quota(account_id)
                if account is not None and quota is not None:
                    found[account_id] = (account, quota)
            boxes: dict[tuple[AccountId, str], MailboxId] = {}
            for account_id, name in names:
                mailbox_id = reader.mailbox_id(account_id, name)
                if mailbox_id is not None:
                    boxes[account_id, name] = mailbox_id
            return Refreshed(found, boxes)

        return await self.directory.read_directory(read)


class _Lookups:
    """The directory as the rules see it: a lookup that fails (a malformed name) finds nothing."""

    def __init__(self, reader: DirectoryReader) -> None:
        self.reader = reader

    def is_local_domain(self, domain: str) -> bool:
        if not domain or domain.startswith("["):
            return False  # an address literal is never one of our domains (no relaying by IP)
        try:
            return self.reader.domain(domain.lower()) is not None
        except (ValueError, StoreError):
            return False

    def domains(self) -> list[str]:
        """Our domains, the first added first."""
        try:
            return [d.name for d in sorted(self.reader.domains(), key=lambda d: d.id)]
        except StoreError:
            return []

    def account(self, address: str) -> Destination | None:
        """An enabled account, with its quota usage from the same snapshot."""
        try:
            account = self.reader.account(address)
            # A hidden owner of public mailboxes receives nothing by its own address.
            if account is None or not account.enabled or not account.is_user:
                return None
            return Destination(account, quota=self.reader.quota(account.id))
        except (ValueError, StoreError):
            return None

    def public_mailbox(self, domain: str, name: str) -> Destination | None:
        """The domain's public mailbox ``name`` when anyone may post into it (RFC 4314 §2.1 "p":
        the SMTP sender is nobody authenticated), as a destination filing into it."""
        try:
            owner = self.reader.account(shared_owner_address(domain))
            if owner is None or owner.is_user:
                return None
            mailbox_id = self.reader.mailbox_id(owner.id, name)
            if mailbox_id is None:
                return None
            rights = acl.rights_for(acl.ANYONE, owner=False, acl=self.reader.mailbox_acl(mailbox_id))
            if "p" not in rights:
                return None
            return Destination(owner, folder=name, quota=self.reader.quota(owner.id))
        except (ValueError, StoreError):
            return None

    def alias_targets(self, source: str) -> tuple[str, ...] | None:
        try:
            alias = self.reader.alias(source)
        except (ValueError, StoreError):
            return None
        return None if alias is None else alias.targets


class _Rules:
    """The resolution rules of the module docstring, over one snapshot of the directory."""

    def __init__(self, lookups: _Lookups, settings: SmtpSettings) -> None:
        self.lookups = lookups
        self.settings = settings

    def resolve(self, path: SmtpPath, hostname: str) -> Resolution:
        local, domain = path.local, path.domain
        postmaster = local.lower() == "postmaster"
        if not domain and postmaster:
            # RFC 5321 §4.1.1.3, §4.5.1: <Postmaster> without a domain MUST be accepted: the
            # primary domain's postmaster.
            return self._postmaster(self.primary_domain(hostname), hostname)
        if not self.lookups.is_local_domain(domain):
            return Resolution("remote")
        if "@" in local or not local:
            # '"v@remote"@ours' or 'v@remote@ours': never an address of ours, never relayed.
            return Resolution("unknown")
        public = public_post_name(self.settings, local)
        if public is not None:
            destination = self.lookups.public_mailbox(domain, public)
            if destination is not None:
                return Resolution("local", (destination,))
        found = self._resolve_local(local, domain, depth=0, seen=set())
        if found.kind == "unknown" and postmaster:
            # RFC 5321 §4.5.1: postmaster at any of our domains MUST be accepted.
            return self._postmaster(None, hostname)
        return found

    def primary_domain(self, hostname: str) -> str | None:
        """The host name if it is one of our domains, else its nearest parent that is, else the
        first domain added; None without any domain."""
        labels = hostname.lower().split(".")
        for start in range(max(1, len(labels) - 1)):  # never a top-level domain alone
            candidate = ".".join(labels[start:])
            if self.lookups.is_local_domain(candidate):
                return candidate
        domains = self.lookups.domains()
        return domains[0] if domains else None

    def _postmaster(self, domain: str | None, hostname: str) -> Resolution:
        """Postmaster of ``domain`` (None: already tried), else ``smtp.postmaster``, else the primary
        domain's postmaster: the first that resolves."""
        chain: list[str] = [f"postmaster@{domain}"] if domain else []
        if self.settings.postmaster:
            chain.append(self.settings.postmaster)
        primary = self.primary_domain(hostname)
        if primary is not None:
            chain.append(f"postmaster@{primary}")
        for address in dict.fromkeys(chain):
            local, target_domain = address.rsplit("@", 1)
            if not self.lookups.is_local_domain(target_domain):
                return Resolution("external", (), (address,))  # smtp.postmaster elsewhere: forwarded
            found = self._resolve_local(local, target_domain, depth=0, seen=set())
            if found.kind != "unknown":
                return found
        return Resolution("unknown")

    def _resolve_local(self, local: str, domain: str, *, depth: int, seen: set[str]) -> Resolution:
        folder: str | None = None
        found = self._exact(local, domain, depth, seen)
        sep = self.settings.subaddress_separator
        if found is None and sep and sep in local:
            base, _, tag = local.partition(sep)
            if base:
                found = self._exact(base, domain, depth, seen)
                folder = tag or None
        if found is None:
            targets = self.lookups.alias_targets(f"@{domain}")  # the catch-all
            if targets is not None:
                found = self._expand(targets, depth, seen | {f"@{domain}"})
        if found is None:
            return Resolution("unknown")
        if folder is not None and self.settings.subaddress_folder:
            found = Resolution(
                found.kind,
                tuple(replace(d, folder=d.folder or folder) for d in found.destinations),
                found.external,
            )
        return found

    def _exact(self, local: str, domain: str, depth: int, seen: set[str]) -> Resolution | None:
        address = f"{local}@{domain}"
        key = address.lower()
        if key in seen:
            return None  # a loop of aliases
        account = self.lookups.account(address)
        if account is not None:
            return Resolution("local", (account,))
        targets = self.lookups.alias_targets(address)
        if targets is None:
            return None
        return self._expand(targets, depth, seen | {key})

    def _expand(self, targets: tuple[str, ...], depth: int, seen: set[str]) -> Resolution | None:
        if depth >= MAX_ALIAS_DEPTH:
            return None
        destinations: list[Destination] = []
        external: list[str] = []
        for target in targets:
            parts = _split(target)
            if parts is None:
                continue
            local, domain = parts
            if not self.lookups.is_local_domain(domain):
                external.append(target)
                continue
            found = self._exact(local, domain, depth + 1, seen)
            if found is not None:
                destinations.extend(found.destinations)
                external.extend(found.external)
        if not destinations and not external:
            return None
        unique = tuple({(d.account.id, d.folder): d for d in destinations}.values())
        return Resolution("external" if external else "local", unique, tuple(dict.fromkeys(external)))
