"""POP3 logins: USER/PASS and APOP (RFC 1939 §7), AUTH (RFC 5034), then the maildrop.

Every way in ends in ``_admit``: the authenticator's verdict becomes an RFC 3206 response code,
LOGIN-DELAY is enforced (RFC 2449 §8.1.2), the maildrop is locked (``[IN-USE]``, RFC 2449 §8.1.1)
and snapshotted, and the session enters TRANSACTION.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

from pochta.auth.authenticator import AuthFailed, AuthFailure, AuthResult
from pochta.plural import plural
from pochta.proto.pop3 import ApopLogin, AuthStart, PasswordLogin, SaslResponse
from pochta.proto.sasl import Cancel, Malformed
from pochta.server.pop3.maildrop import open_maildrop, policy_for
from pochta.server.sasl_driver import SaslExchange, SendChallenge, Verdict
from pochta.store.account_settings import POP3_APOP_SECRET, POP3_LAST_LOGIN
from pochta.store.api import StoreError

if TYPE_CHECKING:
    from pochta.server.pop3.handler import Pop3Handler, Session

__all__ = ["RECENT_PREFIX", "LoginFlow", "split_recent"]

# Gmail's "recent mode": log in as recent:ADDRESS to list the last 30 days of mail.
RECENT_PREFIX = "recent:"

# RFC 3206 §4 [AUTH]: a problem with the credentials or the account; [SYS/TEMP] try again later.
_FAILURES: dict[AuthFailure, tuple[str, str]] = {
    AuthFailure.BAD_CREDENTIALS: ("AUTH", "Authentication failed"),
    AuthFailure.LOCKED_OUT: ("AUTH", "Too many failed logins, try again later"),
    AuthFailure.PROTOCOL_DISABLED: ("AUTH", "POP3 access is disabled for this account"),
    AuthFailure.ACCOUNT_DISABLED: ("AUTH", "Account disabled"),
}


def split_recent(name: str) -> tuple[str, bool]:
    """``recent:alice@example.org`` -> ("alice@example.org", True)."""
    if name[: len(RECENT_PREFIX)].lower() == RECENT_PREFIX:
        return name[len(RECENT_PREFIX) :], True
    return name, False


def _address_of(name: str) -> str:
    return split_recent(name)[0]


class LoginFlow:
    def __init__(self, handler: Pop3Handler, scram_secret: bytes | None) -> None:
        self.handler = handler
        self.scram_secret = scram_secret

    async def handle(
        self, session: Session, event: PasswordLogin | ApopLogin | AuthStart | SaslResponse
    ) -> None:
        match event:
            case PasswordLogin(user, password):
                address, recent = split_recent(user)
                result = await self.handler.authenticator.check_password(
                    address, password, protocol="pop3", remote_ip=session.conn.peer_ip
                )
                await self._admit(session, result, recent)
            case ApopLogin(user, digest, timestamp):
                await self._apop(session, user, digest, timestamp)
            case AuthStart(mechanism, initial):
                await self._auth_start(session, mechanism, initial)
            case SaslResponse(data):
                await self._sasl_response(session, data)

    # -- APOP ----------------------------------------------------------------------------------------

    async def _apop(self, session: Session, user: str, digest: str, timestamp: str) -> None:
        """RFC 1939 §7 APOP: digest = MD5(timestamp + shared secret), in lower-case hex. Only an
        account with an APOP secret (``pochta user set --apop-secret-stdin``) can use it."""
        address, recent = split_recent(user)
        try:
            account = await self.handler.store.get_account(address)
        except (ValueError, StoreError):
            account = None
        verified = False
        secret = None if account is None else account.settings.optional(POP3_APOP_SECRET)
        if secret:
            expected = hashlib.md5((timestamp + secret).encode(), usedforsecurity=False).hexdigest()
            verified = hmac.compare_digest(expected, digest)
        result = await self.handler.authenticator.complete_login(
            address, verified, protocol="pop3", remote_ip=session.conn.peer_ip
        )
        await self._admit(session, result, recent)

    # -- AUTH (RFC 5034) -----------------------------------------------------------------------------

    async def _auth_start(
        self, session: Session, mechanism: str, initial: bytes | Cancel | Malformed | None
    ) -> None:
        if isinstance(initial, Cancel | Malformed):
            session.core.login_failed("Invalid initial response", None)
            return
        conn = session.conn
        session.sasl = exchange = SaslExchange(
            self.handler.authenticator,
            protocol="pop3",
            remote_ip=conn.peer_ip,
            log=conn.log,
            scram_secret=self.scram_secret,
            account_of=_address_of,
        )
        await self._outcome(session, await exchange.start(mechanism, initial))

    async def _sasl_response(self, session: Session, data: bytes | Cancel | Malformed) -> None:
        exchange = session.sasl
        assert exchange is not None
        if isinstance(data, Cancel):
            session.sasl = None
            # RFC 5034 §4: "*" cancels; the server answers -ERR.
            session.core.login_failed("Authentication cancelled", None)
            return
        if isinstance(data, Malformed):
            conn = session.conn
            conn.log.info("sasl failed", protocol="pop3", reason="Invalid base64 data")
            await self._outcome(session, await exchange.fail())
            return
        await self._outcome(session, await exchange.respond(data))

    async def _outcome(self, session: Session, out: SendChallenge | Verdict) -> None:
        if isinstance(out, SendChallenge):
            # POP3 has no "additional data with success": SCRAM's server-final goes out as a
            # challenge too, and the client's empty response completes (RFC 4422 §5 2b, RFC 5034 §4).
            session.core.sasl_challenge(out.data)
            return
        session.sasl = None
        _, recent = split_recent(out.authcid)
        await self._admit(session, out.result, recent)

    # -- after the secret was checked ----------------------------------------------------------------

    async def _admit(self, session: Session, result: AuthResult, recent: bool) -> None:
        handler, conn, core = self.handler, session.conn, session.core
        if isinstance(result, AuthFailed):
            code, text = _FAILURES[result.reason]
            conn.log.info("pop3 login failed", reason=result.reason.value)
            conn.metrics.logins.labels(protocol="pop3", result="failed").inc()
            core.login_failed(text, code)
            return
        account = result.account
        policy = policy_for(account, handler.settings.pop3)
        now = handler.now()
        last = account.settings.optional(POP3_LAST_LOGIN)
        since = None if last is None else (now - last).total_seconds()
        if policy.login_delay > 0 and since is not None and 0 <= since < policy.login_delay:
            # RFC 2449 §8.1.2: logged in too recently; the session stays in AUTHORIZATION.
            wait = int(policy.login_delay - since) + 1
            core.login_failed(
                f"Minimum time between mail checks is {plural(policy.login_delay, 'second')}; wait {wait}",
                "LOGIN-DELAY",
            )
            return
        if not await handler.locks.acquire(account.id, recent):
            # RFC 2449 §8.1.1: the maildrop is locked by another session.
            core.login_failed("Maildrop is locked by another POP3 session", "IN-USE")
            return
        session.locked = (account.id, recent)
        try:
            maildrop = await open_maildrop(
                handler.store, account, policy, handler.settings.pop3, recent=recent, now=handler.now()
            )
        except StoreError as exc:
            await handler.locks.release(account.id, recent)
            session.locked = None
            conn.log.error("pop3 maildrop unavailable", error=str(exc))
            core.login_failed("Maildrop unavailable, try again later", "SYS/TEMP")
            return
        if policy.login_delay > 0 and not recent:
            # Kept in the store, so that the delay holds across restarts (one commit per login, and
            # only for accounts with a delay). A recent: login does not count.
            try:
                await handler.store.record_account_setting(account.id, POP3_LAST_LOGIN.name, now)
            except StoreError as exc:
                conn.log.warning("pop3 last login not recorded", error=str(exc))
        session.maildrop = maildrop
        # RFC 1939 §3: the autologout timer is at least 10 minutes in TRANSACTION.
        conn.set_idle_timeout(handler.settings.pop3.autologout)
        conn.end_login_phase()  # server.login_timeout no longer applies
        conn.log.info("pop3 login", account=account.address, recent=recent, messages=len(maildrop))
        conn.metrics.logins.labels(protocol="pop3", result="ok").inc()
        core.login_succeeded(maildrop.listing(), handler.capabilities(conn, policy, recent))
