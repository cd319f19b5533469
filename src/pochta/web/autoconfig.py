"""Thunderbird autoconfiguration: ``/mail/config-v1.1.xml?emailaddress=ADDRESS`` (asked of
``autoconfig.DOMAIN``) and ``/.well-known/autoconfig/mail/config-v1.1.xml`` (asked of ``DOMAIN``):
a clientConfig version 1.1 document listing the incoming and outgoing servers that are listening.

Only for our domains (others 404). The username is ``%EMAILADDRESS%``, which the client replaces
with the address the user typed; every server takes the password in the clear inside TLS
(implicit TLS or STARTTLS), which is the only way pochta accepts it from a remote client.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from pochta.web.client_setup import Endpoint, endpoints
from pochta.web.hosts import request_host, subdomain_of
from pochta.web.services import WebServices

__all__ = ["AUTOCONFIG_PATHS", "autoconfig_routes", "client_config"]

AUTOCONFIG_PATHS = ("/mail/config-v1.1.xml", "/.well-known/autoconfig/mail/config-v1.1.xml")
_SERVER_TYPE = {"imap": "imap", "pop3": "pop3", "smtp": "smtp"}


def client_config(domain: str, hostname: str, servers: list[Endpoint]) -> bytes:
    root = ET.Element("clientConfig", version="1.1")
    provider = ET.SubElement(root, "emailProvider", id=domain)
    ET.SubElement(provider, "domain").text = domain
    ET.SubElement(provider, "displayName").text = domain
    ET.SubElement(provider, "displayShortName").text = domain
    for endpoint in servers:
        tag = "outgoingServer" if endpoint.kind == "smtp" else "incomingServer"
        server = ET.SubElement(provider, tag, type=_SERVER_TYPE[endpoint.kind])
        ET.SubElement(server, "hostname").text = hostname
        ET.SubElement(server, "port").text = str(endpoint.port)
        ET.SubElement(server, "socketType").text = "SSL" if endpoint.implicit_tls else "STARTTLS"
        ET.SubElement(server, "authentication").text = "password-cleartext"
        ET.SubElement(server, "username").text = "%EMAILADDRESS%"
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


def autoconfig_routes(services: WebServices) -> list[Route]:
    async def config(request: Request) -> Response:
        address = request.query_params.get("emailaddress", "")
        if address:
            _local, _at, domain = address.rpartition("@")
        else:  # no address: the domain the client asked of (autoconfig.DOMAIN, or DOMAIN itself)
            domain = subdomain_of(request, "autoconfig") or request_host(request)
        ours = await services.our_domain(domain) if domain else None
        if ours is None:
            return PlainTextResponse("no configuration for this domain\n", status_code=404)
        servers = endpoints(services)
        if not servers:
            return PlainTextResponse("no client listener is on\n", status_code=404)
        body = client_config(ours, services.settings.hostname, servers)
        return Response(body, media_type="application/xml")

    return [Route(path, config, methods=["GET"]) for path in AUTOCONFIG_PATHS]
