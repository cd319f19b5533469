"""The login decision every protocol asks: may this address log in with this secret, here, now?

Order of checks, the same for every protocol and mechanism:
1. a locked-out IP or account is refused at once, without looking at the password;
2. after earlier failures the attempt waits (``ratelimit``), whatever its outcome;
3. the password is verified -- against the account's hash, then its app passwords; an unknown address
   verifies a dummy hash, so it costs the same time -- in a worker thread (argon2 is CPU-heavy);
4. only a correct password learns that the account or the protocol is switched off, so that these
   replies tell nothing to someone guessing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pochta.auth import passwords
from pochta.auth.ratelimit import Clock, LoginRateLimiter
from pochta.config import LoginSettings
from pochta.store.api import Directory, StoreError
from pochta.store.model import SWITCHABLE_PROTOCOLS, Account, AppPassword, ScramCredentials

LoginProtocol = Literal["imap", "pop3", "submission", "managesieve"]


class AuthFailure(StrEnum):
    BAD_CREDENTIALS = "bad-credentials"
    LOCKED_OUT = "locked-out"
    PROTOCOL_DISABLED = "protocol-disabled"  # for the account or its domain: POP3's "[AUTH] ... disabled"
    ACCOUNT_DISABLED = "account-disabled"


@dataclass(frozen=True)
class AuthOk:
    account: Account
    app_password: str | None = None  # the name of the app password used, None for the account password


@dataclass(frozen=True)
class AuthFailed:
    reason: AuthFailure


AuthResult = AuthOk | AuthFailed


def plaintext_allowed(settings: LoginSettings, secure: bool, remote_ip: str) -> bool:
    """May a mechanism that sends the password itself (PLAIN, LOGIN, USER/PASS) be used here?"""
    if secure or settings.plaintext_on_insecure == "always":
        return True
    if settings.plaintext_on_insecure == "never":
        return False
    try:  # "loopback": 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104, as Dovecot allows
        address = ipaddress.ip_address(remote_ip.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


@dataclass(frozen=True)
class _Match:
    ok: bool
    app_password: AppPassword | None = None
    rehash: str | None = None  # a fresh hash of the account password, when its parameters are old


def _verify_account_password(account: Account | None, password: str) -> _Match:
    """Runs in a worker thread."""
    if account is None:
        passwords.verify_dummy(password)
        return _Match(ok=False)
    result = passwords.verify_password(account.password_hash, password)
    if not result.ok:
        return _Match(ok=False)
    return _Match(ok=True, rehash=passwords.hash_password(password) if result.needs_rehash else None)


def _verify_app_passwords(candidates: list[AppPassword], password: str) -> _Match:
    """Runs in a worker thread."""
    for candidate in candidates:
        if passwords.verify_password(candidate.password_hash, password).ok:
            return _Match(ok=True, app_password=candidate)
    return _Match(ok=False)


def _wall_clock() -> datetime:
    return datetime.now(UTC)


class Authenticator:
    def __init__(
        self,
        directory: Directory,
        settings: LoginSettings,
        clock: Clock = time.monotonic,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        now: Callable[[], datetime] = _wall_clock,
    ) -> None:
        self._directory = directory
        self.settings = settings
        self.limiter = LoginRateLimiter(settings, clock)
        self._sleep = sleep
        self._now = now

    def reconfigure(self, settings: LoginSettings) -> None:
        """Login settings from a reload; failures counted so far are kept."""
        self.settings = settings
        self.limiter.reconfigure(settings)

    async def check_password(
        self, address: str, password: str, *, protocol: LoginProtocol, remote_ip: str
    ) -> AuthResult:
        """A login with the account password or one of its app passwords."""
        refused = await self._gate(address, remote_ip)
        if refused is not None:
            return refused
        account = await self._lookup(address)
        match = await asyncio.to_thread(_verify_account_password, account, password)
        if account is not None and not match.ok:
            try:
                candidates = await self._directory.list_app_passwords(account.address)
            except StoreError:  # deleted meanwhile
                candidates = []
            if candidates:
                match = await asyncio.to_thread(_verify_app_passwords, candidates, password)
        if account is None or not match.ok:
            self.limiter.record_failure(remote_ip, address)
            return AuthFailed(AuthFailure.BAD_CREDENTIALS)
        self.limiter.record_success(remote_ip, address)
        await self._after_success(account, match)
        return await self._admit(account, protocol, match.app_password)

    async def scram_credentials(self, address: str) -> ScramCredentials | None:
        """The SCRAM-SHA-256 keys of an account; None for an unknown one or one without keys."""
        account = await self._lookup(address)
        return None if account is None else account.scram

    async def complete_login(
        self, address: str, verified: bool, *, protocol: LoginProtocol, remote_ip: str
    ) -> AuthResult:
        """Ends a login whose secret was checked elsewhere (a SCRAM proof, say) through the same
        lockout, delays, failure counting and switches as ``check_password``."""
        refused = await self._gate(address, remote_ip)
        if refused is not None:
            return refused
        account = await self._lookup(address) if verified else None
        if account is None:
            self.limiter.record_failure(remote_ip, address)
            return AuthFailed(AuthFailure.BAD_CREDENTIALS)
        self.limiter.record_success(remote_ip, address)
        return await self._admit(account, protocol, None)

    def record_failure(self, address: str, *, remote_ip: str) -> None:
        """Counts a failure that happened outside the methods above (a client cancelling, say)."""
        self.limiter.record_failure(remote_ip, address)

    def record_success(self, address: str, *, remote_ip: str) -> None:
        self.limiter.record_success(remote_ip, address)

    async def _lookup(self, address: str) -> Account | None:
        """The account, or None when there is none -- also when the name is not an address at all
        (the store raises ValueError for a name without '@'): such a login fails like any other."""
        try:
            return await self._directory.get_account(address)
        except (ValueError, StoreError):
            return None

    async def _gate(self, address: str, remote_ip: str) -> AuthFailed | None:
        verdict = self.limiter.check(remote_ip, address)
        if verdict.locked_out:
            return AuthFailed(AuthFailure.LOCKED_OUT)
        if verdict.delay > 0:
            await self._sleep(verdict.delay)
        return None

    async def _after_success(self, account: Account, match: _Match) -> None:
        """Book-keeping that must not fail a correct login."""
        try:
            if match.rehash is not None:
                await self._directory.update_account(account.address, password_hash=match.rehash)
            if match.app_password is not None:
                await self._directory.touch_app_password(match.app_password.id, self._now())
        except StoreError:
            pass

    async def _admit(
        self, account: Account, protocol: LoginProtocol, app_password: AppPassword | None
    ) -> AuthResult:
        if not account.enabled:
            return AuthFailed(AuthFailure.ACCOUNT_DISABLED)
        if protocol in SWITCHABLE_PROTOCOLS:  # managesieve has no switch of its own
            if not account.protocols.allows(protocol):
                return AuthFailed(AuthFailure.PROTOCOL_DISABLED)
            domain = await self._directory.get_domain(account.address.rpartition("@")[2].lower())
            if domain is not None and not domain.protocols.allows(protocol):
                return AuthFailed(AuthFailure.PROTOCOL_DISABLED)
        return AuthOk(account, None if app_password is None else app_password.name)
