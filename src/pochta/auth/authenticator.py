"""The login decision every protocol asks: may this address log in with this secret, here, now?

Order of checks, the same for every protocol and mechanism:
1. a locked-out source address is refused at once, without looking at the password;
2. after earlier failures the attempt waits, whatever its outcome (``ratelimit`` has the rules: per
   address, and per account only for addresses that failed for it themselves);
3. the password is verified with exactly one argon2 check, in a worker thread (argon2 is
   CPU-heavy): the app password whose keyed digest matches (``passwords.app_password_lookup``), else
   the account's own hash, else -- for an unknown address -- a dummy hash. The work, and so the
   time, of a failed login is the same whether the account exists and however many app passwords it
   has;
4. only a correct password learns that the account or the protocol is switched off, so that these
   replies tell nothing to someone guessing.

One Authenticator serves every protocol of a server process (``pochta.server.main``), so failures
over IMAP, POP3 and SMTP AUTH count together. Before a delay or a refusal it reads the unblocks that
`pochta auth unblock` recorded in the store since it last looked: a normal login costs no query,
and an unblock lifts a lockout at the next attempt.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pochta.auth import passwords
from pochta.auth.ratelimit import Clock, Lockout, LoginRateLimiter, Verdict
from pochta.auth.verified import VerifiedPasswords
from pochta.config import LoginSettings
from pochta.log import get_logger
from pochta.metrics import METRICS, Metrics
from pochta.store.api import Directory, DirectoryReader, StoreError
from pochta.store.model import SWITCHABLE_PROTOCOLS, Account, AppPassword, Domain, ScramCredentials

LoginProtocol = Literal["imap", "pop3", "submission", "managesieve", "jmap"]

# Seconds between two reads of the unblock table: refusals of a locked-out address cost no more than
# ten queries a second however fast it knocks, and an unblock still acts within a tenth of a second.
UNBLOCK_POLL_INTERVAL = 0.1


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
    return _loopback(remote_ip)


@functools.lru_cache(maxsize=256)
def _loopback(remote_ip: str) -> bool:
    """ "loopback": 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104, as Dovecot allows. Cached: every
    greeting and CAPABILITY asks (a parse of the address, some 2.5 us, for the same few peers)."""
    try:
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


def _verify(account: Account | None, app_password: AppPassword | None, password: str) -> _Match:
    """Exactly one argon2 verification, whatever the account has. Runs in a worker thread."""
    if account is None:
        passwords.verify_dummy(password)
        return _Match(ok=False)
    if app_password is not None:  # the digest matched: this hash, and no other, decides
        return _Match(
            ok=passwords.verify_password(app_password.password_hash, password).ok, app_password=app_password
        )
    result = passwords.verify_password(account.password_hash, password)
    if not result.ok:
        return _Match(ok=False)
    return _Match(ok=True, rehash=passwords.hash_password(password) if result.needs_rehash else None)


def _stored_hash(account: Account, app_password: AppPassword | None, match: _Match) -> str:
    """The hash a successful check matched (the fresh one when the account password is rehashed:
    that is the hash the store holds from now on)."""
    if app_password is not None:
        return app_password.password_hash
    return match.rehash if match.rehash is not None else account.password_hash


def _wall_clock() -> datetime:
    return datetime.now(UTC)


def _domain_of(account: Account) -> str:
    return account.address.rpartition("@")[2].lower()


# ``Authenticator._admit``'s "the caller did not read the domain" (None is "there is none").
_UNREAD: Any = object()


class Authenticator:
    def __init__(
        self,
        directory: Directory,
        settings: LoginSettings,
        clock: Clock = time.monotonic,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        now: Callable[[], datetime] = _wall_clock,
        server_secret: bytes | None = None,
        metrics: Metrics = METRICS,
    ) -> None:
        """``server_secret`` keys the digest app passwords are found by (the data directory's
        server-secret); without it no app password logs in."""
        self._directory = directory
        self.settings = settings
        self.limiter = LoginRateLimiter(settings, clock)
        self.verified = VerifiedPasswords(
            settings.verified_cache_seconds, settings.verified_cache_size, clock
        )
        self._sleep = sleep
        self._now = now
        self._server_secret = server_secret
        self._metrics = metrics
        self._log = get_logger()
        # Hears every attempt counted here: (remote_ip, address, failed). The server shares them
        # with its other worker processes, which ``apply_shared`` them to their own limiter.
        self.share: Callable[[str, str, bool], None] | None = None
        # Hears that this process applied unblocks: the others then read them at once too
        # (``catch_up_unblocks``), so that none keeps a lockout (and its metric) an admin lifted.
        self.unblocked: Callable[[], None] | None = None
        # With peers (``share`` set), each process locks an address out on its own count of the
        # shared failures, and the failure that reaches the limit in one process's count may be
        # another's in the next: no process's own failure need be the one. So one process reports
        # lockouts (log line, counter), on whichever failure reached the limit in its count: the
        # housekeeper (``server.lease``), which sets this when it takes the lease. Alone (no
        # ``share``), this process reports its own.
        self.reports_lockouts = False
        self._unblocks_seen = 0  # the id of the last unblock applied
        self._applying_shared = False
        self._next_unblock_poll = float("-inf")

    def reconfigure(self, settings: LoginSettings) -> None:
        """Login settings from a reload; failures counted so far are kept."""
        self.settings = settings
        self.limiter.reconfigure(settings)
        self.verified.reconfigure(settings.verified_cache_seconds, settings.verified_cache_size)

    async def check_password(
        self, address: str, password: str, *, protocol: LoginProtocol, remote_ip: str
    ) -> AuthResult:
        """A login with the account password or one of its app passwords."""
        refused = await self._gate(address, remote_ip)
        if refused is not None:
            return refused
        account, app_password, domain = await self._candidates(address, password)
        match = self._remembered(account, app_password, password)
        if match is None:
            match = await asyncio.to_thread(_verify, account, app_password, password)
            if match.ok and account is not None:
                self.verified.remember(_stored_hash(account, app_password, match), password)
        if account is None or not match.ok:
            self._record_failure(remote_ip, address)
            return AuthFailed(AuthFailure.BAD_CREDENTIALS)
        self._record_success(remote_ip, address)
        await self._after_success(account, match)
        return await self._admit(account, protocol, match.app_password, domain)

    def _remembered(
        self, account: Account | None, app_password: AppPassword | None, password: str
    ) -> _Match | None:
        """A match without argon2 if this password was verified lately (``auth.verified``)."""
        if account is None:
            return None
        stored = app_password.password_hash if app_password is not None else account.password_hash
        if not self.verified.known(stored, password):
            return None
        return _Match(ok=True, app_password=app_password)

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
            self._record_failure(remote_ip, address)
            return AuthFailed(AuthFailure.BAD_CREDENTIALS)
        self._record_success(remote_ip, address)
        return await self._admit(account, protocol, None)

    def record_failure(self, address: str, *, remote_ip: str) -> None:
        """Counts a failure that happened outside the methods above (a client cancelling, say)."""
        self._record_failure(remote_ip, address)

    def record_success(self, address: str, *, remote_ip: str) -> None:
        self._record_success(remote_ip, address)

    def apply_shared(self, remote_ip: str, address: str, failed: bool) -> None:
        """An attempt another process counted: into our limiter too (``reports_lockouts`` says
        whether a lockout it causes here is ours to report)."""
        if failed:
            lockout = self.limiter.record_failure(remote_ip, address)
            if lockout is not None and self.reports_lockouts:
                self._report_lockout(lockout)
        else:
            self.limiter.record_success(remote_ip, address)

    def _record_success(self, remote_ip: str, address: str) -> None:
        # Every process counted the same failures (they are shared), so a success with none to
        # forget here has none to forget anywhere: nothing to tell the others.
        if self.limiter.record_success(remote_ip, address) and self.share is not None:
            self.share(remote_ip, address, False)

    async def _lookup(self, address: str) -> Account | None:
        """The account, or None when there is none -- also when the name is not an address at all
        (the store raises ValueError for a name without '@'): such a login fails like any other."""
        try:
            return await self._directory.get_account(address)
        except (ValueError, StoreError):
            return None

    async def _candidates(
        self, address: str, password: str
    ) -> tuple[Account | None, AppPassword | None, Domain | None]:
        """The account, its app password whose digest matches ``password``, and its domain (for
        ``_admit``): one read."""
        lookup = None
        if self._server_secret is not None:
            lookup = passwords.app_password_lookup(self._server_secret, password)

        def read(reader: DirectoryReader) -> tuple[Account | None, AppPassword | None, Domain | None]:
            account = reader.account(address)
            if account is None:
                return None, None, None
            domain = reader.domain(_domain_of(account))
            if lookup is None:
                return account, None, domain
            return account, reader.app_password(account.id, lookup), domain

        try:
            return await self._directory.read_directory(read)
        except (ValueError, StoreError):  # not an address at all: fails like an unknown one
            return None, None, None

    def _record_failure(self, remote_ip: str, address: str) -> None:
        lockout = self.limiter.record_failure(remote_ip, address)
        if self.share is not None:
            self.share(remote_ip, address, True)
        if lockout is not None and (self.share is None or self.reports_lockouts):
            self._report_lockout(lockout)

    def _report_lockout(self, lockout: Lockout) -> None:
        self._metrics.login_lockouts.inc()
        self._log.warning(
            "login lockout",
            address=lockout.address,
            account=lockout.account,
            failures=lockout.failures,
            seconds=lockout.seconds,
        )

    async def _verdict(self, address: str, remote_ip: str) -> Verdict:
        verdict = self.limiter.check(remote_ip, address)
        if (verdict.locked_out or verdict.delay > 0) and await self._apply_unblocks():
            verdict = self.limiter.check(remote_ip, address)
        return verdict

    async def _apply_unblocks(self) -> bool:
        """Applies the unblocks recorded since the last look; True if there were any."""
        clock = self.limiter.clock()
        if clock < self._next_unblock_poll:
            return False
        self._next_unblock_poll = clock + UNBLOCK_POLL_INTERVAL
        try:
            unblocks = await self._directory.login_unblocks_after(self._unblocks_seen)
        except StoreError as exc:
            self._log.warning("login unblocks unreadable", error=str(exc))
            return False
        if not unblocks:
            return False
        clock, wall = self.limiter.clock(), self._now()
        for unblock in unblocks:
            self._unblocks_seen = max(self._unblocks_seen, unblock.id)
            # Forget what happened up to the unblock, not what came after it.
            before = clock - max((wall - unblock.created).total_seconds(), 0.0)
            try:
                entries = self.limiter.unblock(unblock.target, before)
            except ValueError:
                self._log.warning("login unblock ignored", target=unblock.target)
                continue
            self._log.info("login unblock", target=unblock.target, entries=entries)
        if self.unblocked is not None and not self._applying_shared:
            self.unblocked()
        return True

    async def catch_up_unblocks(self) -> None:
        """Apply the unblocks recorded so far now (another process applied them)."""
        self._next_unblock_poll = float("-inf")
        self._applying_shared = True
        try:
            await self._apply_unblocks()
        finally:
            self._applying_shared = False

    async def _gate(self, address: str, remote_ip: str) -> AuthFailed | None:
        verdict = await self._verdict(address, remote_ip)
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
        self,
        account: Account,
        protocol: LoginProtocol,
        app_password: AppPassword | None,
        domain: Domain | None = _UNREAD,
    ) -> AuthResult:
        """``domain``: the account's domain when the caller read it already (with the account)."""
        if not account.is_user:
            # A domain's hidden owner of public mailboxes never logs in (docs/imap.md "Shared
            # mailboxes"); its hash verifies nothing anyway. Told apart from no account by nothing.
            return AuthFailed(AuthFailure.BAD_CREDENTIALS)
        if not account.enabled:
            return AuthFailed(AuthFailure.ACCOUNT_DISABLED)
        if not account.settings.allows(protocol):
            # The account's effective switch: its own, else its unit chain's (docs/units.md).
            return AuthFailed(AuthFailure.PROTOCOL_DISABLED)
        if protocol in SWITCHABLE_PROTOCOLS:  # a domain switches IMAP, POP3 and submission
            if domain is _UNREAD:
                domain = await self._directory.get_domain(_domain_of(account))
            if domain is not None and not domain.protocols.allows(protocol):
                return AuthFailed(AuthFailure.PROTOCOL_DISABLED)
        return AuthOk(account, None if app_password is None else app_password.name)
