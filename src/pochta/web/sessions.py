"""The webmail's signed-in sessions: signing in and out, the session cookie, and the CSRF token
(docs/webmail.md "Sessions").

- **Sign-in** takes the account's own password (never an app password: those are for mail
  programs, and a signed-in session can change the password and make app passwords), through the
  server's ``Authenticator``: the same login rate limits and lockouts as IMAP, and a password only
  over TLS or from loopback (``plaintext_allowed``).
- **The cookie** holds 32 random octets (base64url); the store keeps only their SHA-256, so a copy
  of the database signs no one in. It is ``HttpOnly`` and ``SameSite=Strict``; over HTTPS it is
  ``Secure`` with the ``__Host-`` prefix (no Domain, Path=/: no other host can set or read it).
- **Lifetime**: ``webmail.session_lifetime`` from sign-in, and ``webmail.session_idle`` between
  requests (``seen`` is written at most once a minute); every worker and node reads the same rows,
  so signing out ends the session everywhere at once.
- **CSRF**: a request that changes something with the session cookie must carry the session's own
  CSRF token (a form field or the ``X-CSRF-Token`` header, compared in constant time) and, when the
  browser sends one, an ``Origin`` equal to the page's own. SameSite=Strict already keeps the
  cookie off other sites' requests; the token also covers a browser that ignores SameSite.
- **The sign-in form** is itself protected against login CSRF (an attacker signing a victim into
  the attacker's account) by a double-submit token: a short-lived cookie and a hidden field that
  must match.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from pochta.auth.authenticator import AuthFailed, AuthFailure, AuthOk, plaintext_allowed
from pochta.config import WebmailSettings
from pochta.store.model import Account
from pochta.store.web_session_model import WebSession
from pochta.web.services import WebServices

__all__ = ["HTTPS_ONLY", "SignInRefused", "SignedIn", "WebSessions", "client_ip"]

# Seconds between two writes of a session's ``seen``: idle time is measured to this precision.
TOUCH_EVERY = 60
# Seconds the sign-in form's token lives: long enough to type a password, short enough to be stale.
LOGIN_TOKEN_AGE = 3600
HTTPS_ONLY = "Sign in over HTTPS: a password is only taken over an encrypted connection."
USER_AGENT_KEPT = 200  # characters of User-Agent kept with a session (shown in the session list)


@dataclass(frozen=True)
class SignedIn:
    session: WebSession
    account: Account


@dataclass(frozen=True)
class SignInRefused:
    """Why a sign-in failed, in words the page shows; ``status`` is the page's HTTP status."""

    message: str
    status: int


def client_ip(request: HTTPConnection) -> str:
    return request.client.host if request.client is not None else ""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def _is_https(request: HTTPConnection) -> bool:
    return request.url.scheme in ("https", "wss")  # wss: a WebSocket handshake over TLS (JMAP's)


def _cookie_name(request: HTTPConnection, base: str) -> str:
    # RFC 6265bis section 4.1.3.2: a __Host- cookie is Secure, has Path=/ and no Domain.
    return f"__Host-{base}" if _is_https(request) else base


class WebSessions:
    """The rules above, over the store's ``web_sessions`` (``WebSessionStore``)."""

    SESSION = "pochta_session"
    LOGIN = "pochta_login"

    def __init__(self, services: WebServices, clock: Callable[[], float] = time.time) -> None:
        self._services = services
        self._clock = clock

    @property
    def _settings(self) -> WebmailSettings:
        return self._services.settings.webmail

    def _now(self) -> int:
        return int(self._clock())

    # -- signing in and out ------------------------------------------------------------------------

    def may_take_password(self, request: Request) -> bool:
        return plaintext_allowed(self._services.settings.login, _is_https(request), client_ip(request))

    async def sign_in(
        self, request: Request, address: str, password: str
    ) -> tuple[str, SignedIn] | SignInRefused:
        """A new session for the account (its token for the cookie), or why not."""
        if not self.may_take_password(request):
            return SignInRefused(HTTPS_ONLY, 403)
        result = await self._services.authenticator.check_password(
            address.strip(), password, protocol="jmap", remote_ip=client_ip(request)
        )
        if isinstance(result, AuthFailed):
            return _refusal(result.reason)
        assert isinstance(result, AuthOk)
        if result.app_password is not None:
            return SignInRefused(
                "That is an app password, for a mail program. Sign in with the account's own password.", 403
            )
        token = secrets.token_urlsafe(32)
        now = self._now()
        session = WebSession(
            token_hash=_hash(token),
            account_id=result.account.id,
            csrf=secrets.token_urlsafe(32),
            created=now,
            seen=now,
            expires=now + self._settings.session_lifetime,
            remote_ip=client_ip(request),
            user_agent=request.headers.get("user-agent", "")[:USER_AGENT_KEPT],
        )
        await self._services.store.add_web_session(session, keep=self._settings.sessions_per_account)
        return token, SignedIn(session, result.account)

    async def sign_out(self, signed_in: SignedIn) -> None:
        await self._services.store.delete_web_session(signed_in.session.token_hash)

    # -- the current session -----------------------------------------------------------------------

    async def current(self, request: HTTPConnection) -> SignedIn | None:
        """The request's signed-in session, None if it has none (or one that ended)."""
        token = request.cookies.get(_cookie_name(request, self.SESSION))
        if not token:
            return None
        store = self._services.store
        session = await store.web_session(_hash(token))
        if session is None:
            return None
        now = self._now()
        if now >= session.expires or now - session.seen >= self._settings.session_idle:
            await store.delete_web_session(session.token_hash)
            return None
        account = await store.get_account_by_id(session.account_id)
        if account is None or not account.enabled or not account.settings.allows("jmap"):
            await store.delete_web_session(session.token_hash)
            return None
        if now - session.seen >= TOUCH_EVERY:
            await store.touch_web_session(session.token_hash, now)
        return SignedIn(session, account)

    @staticmethod
    def csrf_ok(request: Request, signed_in: SignedIn, given: str | None) -> bool:
        """May this request change something on behalf of the session? (Module docstring: CSRF.)"""
        origin = request.headers.get("origin")
        if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
            return False
        token = given if given is not None else request.headers.get("x-csrf-token", "")
        return hmac.compare_digest(token.encode(), signed_in.session.csrf.encode())

    # -- cookies -----------------------------------------------------------------------------------

    def set_session_cookie(self, request: Request, response: Response, token: str) -> None:
        _set(request, response, _cookie_name(request, self.SESSION), token, self._settings.session_lifetime)

    def clear_session_cookie(self, request: Request, response: Response) -> None:
        _set(request, response, _cookie_name(request, self.SESSION), "", 0)

    @staticmethod
    def new_login_token() -> str:
        """A token for a sign-in form: in its hidden field and (``set_login_token``) a cookie."""
        return secrets.token_urlsafe(24)

    def set_login_token(self, request: Request, response: Response, token: str) -> None:
        _set(request, response, _cookie_name(request, self.LOGIN), token, LOGIN_TOKEN_AGE)

    def login_token_ok(self, request: Request, given: str) -> bool:
        expected = request.cookies.get(_cookie_name(request, self.LOGIN), "")
        return bool(expected) and hmac.compare_digest(expected.encode(), given.encode())

    def clear_login_token(self, request: Request, response: Response) -> None:
        _set(request, response, _cookie_name(request, self.LOGIN), "", 0)


def _set(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", secure=_is_https(request), httponly=True, samesite="strict"
    )


def _refusal(reason: AuthFailure) -> SignInRefused:
    if reason is AuthFailure.LOCKED_OUT:
        return SignInRefused("Too many failed sign-ins. Wait a while, then try again.", 429)
    if reason is AuthFailure.PROTOCOL_DISABLED:
        return SignInRefused("Web access is switched off for this account.", 403)
    if reason is AuthFailure.ACCOUNT_DISABLED:
        return SignInRefused("This account is disabled.", 403)
    # 403, not 401: a form sign-in has no WWW-Authenticate challenge to send (RFC 9110 section 15.5.2).
    return SignInRefused("Wrong address or password.", 403)
