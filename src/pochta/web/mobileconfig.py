"""Apple configuration profiles: ``GET /apple/mobileconfig`` answers an unsigned profile with one
``com.apple.mail.managed`` payload (the IMAP and SMTP settings of the account), for iOS, iPadOS
and macOS Mail.

The profile names the account, so it is only given to the account itself: HTTP Basic
authentication (RFC 7617) with the account's password or one of its app passwords, checked by the
server's ``Authenticator`` with the same delays and lockouts as IMAP logins (and refused for an
account whose IMAP is switched off): ``web.basic_auth`` has the rules (TLS or loopback, the same
401 for every failure, 429 once locked out). ``?emailaddress=`` may name the
account (a link from a welcome mail); it must then be the one that logs in.
"""

from __future__ import annotations

import plistlib
import uuid

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from pochta.auth.authenticator import AuthOk
from pochta.web.basic_auth import basic_login
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


def mobileconfig_routes(services: WebServices) -> list[Route]:
    async def mobileconfig(request: Request) -> Response:
        result = await basic_login(services, request, "imap")
        if not isinstance(result, AuthOk):
            return result
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
