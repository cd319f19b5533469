"""Apple configuration profiles: ``GET /apple/mobileconfig`` answers an unsigned profile with one
``com.apple.mail.managed`` payload (the IMAP and SMTP settings of the account), for iOS, iPadOS
and macOS Mail.

The profile names the account, so it is only given to the account itself: HTTP Basic
authentication (RFC 7617) with the account's password or one of its app passwords, checked by the
server's ``Authenticator`` with the same delays and lockouts as IMAP logins (and refused for an
account whose IMAP is switched off). Passwords are only taken over TLS or from loopback, as the
mail listeners take them (``login.plaintext_on_insecure``). Every failure is the same 401, so the
page tells a stranger nothing about which addresses exist. ``?emailaddress=`` may name the
account (a link from a welcome mail); it must then be the one that logs in.
"""

from __future__ import annotations

import base64
import binascii
import plistlib
import uuid

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from pochta.auth.authenticator import AuthOk, plaintext_allowed
from pochta.web.client_setup import Endpoint, preferred
from pochta.web.services import WebServices

__all__ = ["MOBILECONFIG_PATH", "mobileconfig_routes", "profile"]

MOBILECONFIG_PATH = "/apple/mobileconfig"
MEDIA_TYPE = "application/x-apple-aspen-config"
# Profile and payload UUIDs derive from the address (and hostname), so installing a fresh profile
# replaces the one installed before instead of adding a second account.
_NAMESPACE = uuid.UUID("5f0c3c52-39d4-4b2e-9b1b-6f7c1d6a0b13")


def _reverse(hostname: str) -> str:
    return ".".join(reversed(hostname.split(".")))


def profile(address: str, hostname: str, incoming: Endpoint, outgoing: Endpoint) -> bytes:
    """The profile as an XML property list. ``UseSSL`` is TLS on either listener: with a STARTTLS
    port Apple Mail upgrades the connection, with an implicit-TLS port it starts with TLS."""
    identifier = f"{_reverse(hostname)}.mail.{address}"
    mail = {
        "PayloadType": "com.apple.mail.managed",
        "PayloadVersion": 1,
        "PayloadIdentifier": identifier + ".account",
        "PayloadUUID": str(uuid.uuid5(_NAMESPACE, f"account {hostname} {address}")).upper(),
        "PayloadDisplayName": address,
        "EmailAccountDescription": address,
        "EmailAccountName": address,
        "EmailAccountType": "EmailTypeIMAP" if incoming.kind == "imap" else "EmailTypePOP",
        "EmailAddress": address,
        "IncomingMailServerHostName": hostname,
        "IncomingMailServerPortNumber": incoming.port,
        "IncomingMailServerUseSSL": True,
        "IncomingMailServerAuthentication": "EmailAuthPassword",
        "IncomingMailServerUsername": address,
        "OutgoingMailServerHostName": hostname,
        "OutgoingMailServerPortNumber": outgoing.port,
        "OutgoingMailServerUseSSL": True,
        "OutgoingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingMailServerUsername": address,
        "OutgoingPasswordSameAsIncomingPassword": True,
    }
    document = {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": identifier,
        "PayloadUUID": str(uuid.uuid5(_NAMESPACE, f"profile {hostname} {address}")).upper(),
        "PayloadDisplayName": f"Mail: {address}",
        "PayloadDescription": f"The mail account {address} on {hostname}.",
        "PayloadRemovalDisallowed": False,
        "PayloadContent": [mail],
    }
    return plistlib.dumps(document, fmt=plistlib.FMT_XML)


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    """(user, password) of an ``Authorization: Basic`` header (RFC 7617 section 2), else None."""
    scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon and user else None


def _challenge(text: str) -> Response:
    return PlainTextResponse(
        text + "\n",
        status_code=401,
        headers={"WWW-Authenticate": 'Basic realm="pochta mail account", charset="UTF-8"'},
    )


def mobileconfig_routes(services: WebServices) -> list[Route]:
    async def mobileconfig(request: Request) -> Response:
        client = request.client
        remote_ip = client.host if client is not None else ""
        secure = request.url.scheme == "https"
        if not plaintext_allowed(services.settings.login, secure, remote_ip):
            return PlainTextResponse("use https: a password is only taken over TLS\n", status_code=403)
        credentials = _basic_credentials(request)
        if credentials is None:
            return _challenge("log in with the mail account's address and password")
        user, password = credentials
        result = await services.authenticator.check_password(
            user, password, protocol="imap", remote_ip=remote_ip
        )
        if not isinstance(result, AuthOk):
            return _challenge("wrong address or password")
        address = result.account.address
        wanted = request.query_params.get("emailaddress", "")
        if wanted and wanted.strip().lower() != address.lower():
            return PlainTextResponse("logged in as another account\n", status_code=403)
        incoming = preferred(services, "imap") or preferred(services, "pop3")
        outgoing = preferred(services, "smtp")
        if incoming is None or outgoing is None:
            return PlainTextResponse("no IMAP/POP3 or submission listener is on\n", status_code=404)
        body = profile(address, services.settings.hostname, incoming, outgoing)
        filename = address.replace("@", "-at-") + ".mobileconfig"
        return Response(
            body,
            media_type=MEDIA_TYPE,
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "no-store",  # it names the account: no shared cache keeps it
            },
        )

    return [Route(MOBILECONFIG_PATH, mobileconfig, methods=["GET"])]
