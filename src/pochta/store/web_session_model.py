"""The webmail's signed-in sessions as the store keeps them (revision 0037; ``pochta.web.sessions``
owns the rules: lifetimes, cookies, CSRF)."""

from __future__ import annotations

from dataclasses import dataclass

from pochta.store.model import AccountId

__all__ = ["WebSession"]


@dataclass(frozen=True)
class WebSession:
    token_hash: str  # hex SHA-256 of the cookie's token
    account_id: AccountId
    csrf: str  # the token the webmail's pages send back with every change
    created: int  # epoch seconds
    seen: int  # the last request, to the precision the toucher keeps (a minute)
    expires: int  # when it ends however active (created + session_lifetime)
    remote_ip: str  # where it signed in from
    user_agent: str  # the browser that signed in (at most 200 characters)
