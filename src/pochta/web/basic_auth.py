"""HTTP Basic authentication (RFC 7617) of a mail account, for every web route that takes one
(the Apple profile, JMAP): one parser of the header and one decision, with the server's
``Authenticator`` -- its delays, lockouts, app passwords and protocol switches, as IMAP logins.

Passwords are only taken over TLS or from loopback, as the mail listeners take them
(``login.plaintext_on_insecure``): elsewhere 403 before any password is looked at. A missing or
wrong password, an unknown address, a disabled account or protocol: the same 401 with a Basic
challenge, so that a stranger learns nothing about which addresses exist. A locked-out client gets
429: the lockout is of its own address (``auth.ratelimit``), which tells nothing about accounts,
and IMAP, POP3 and ManageSieve say so too; a 401 would only make a client ask for the password
again and send it into the lockout.
"""

from __future__ import annotations

import base64
import binascii

from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse, Response

from pochta.auth.authenticator import AuthFailed, AuthFailure, AuthOk, LoginProtocol, plaintext_allowed
from pochta.web.services import WebServices

__all__ = ["REALM", "basic_credentials", "basic_login", "challenge"]

REALM = "pochta mail account"


def basic_credentials(authorization: str) -> tuple[str, str] | None:
    """(user, password) of an ``Authorization: Basic`` header value (RFC 7617 section 2), else
    None: another scheme, bad base64, not UTF-8, no colon or no user."""
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon and user else None


def challenge(text: str) -> Response:
    # RFC 7617 section 2.1: charset="UTF-8" says the server takes UTF-8 user names and passwords.
    return PlainTextResponse(
        text + "\n",
        status_code=401,
        headers={"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'},
    )


async def basic_login(
    services: WebServices, request: HTTPConnection, protocol: LoginProtocol
) -> AuthOk | Response:
    """The account that logs in with the request's Basic credentials, or the response refusing it."""
    client = request.client
    remote_ip = client.host if client is not None else ""
    secure = request.url.scheme in ("https", "wss")  # wss: a WebSocket handshake over TLS
    if not plaintext_allowed(services.settings.login, secure, remote_ip):
        return PlainTextResponse("use https: a password is only taken over TLS\n", status_code=403)
    credentials = basic_credentials(request.headers.get("authorization", ""))
    if credentials is None:
        return challenge("log in with the mail account's address and password")
    user, password = credentials
    result = await services.authenticator.check_password(
        user, password, protocol=protocol, remote_ip=remote_ip
    )
    if isinstance(result, AuthOk):
        return result
    if isinstance(result, AuthFailed) and result.reason is AuthFailure.LOCKED_OUT:
        return PlainTextResponse("too many failed logins: try again later\n", status_code=429)
    return challenge("wrong address or password")
