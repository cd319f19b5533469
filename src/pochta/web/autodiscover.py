"""Outlook Autodiscover: the POX form (``POST /autodiscover/autodiscover.xml``, [MS-OXDSCLI]) with
the ``outlook`` response schema's IMAP, POP3 and SMTP settings, and the JSON form of Autodiscover v2
(``GET /autodiscover/autodiscover.json``), which only ever points Outlook at the POX form.

The request XML is read with expat and no DTD at all: a document type declaration, and so any
entity declaration, makes it a bad request (400) before anything is expanded. Nothing is said
about ActiveSync or EWS: pochta serves neither (JSON v2 answers InvalidProtocol for them, POX
answers error 601 for the mobilesync schema).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from xml.parsers import expat
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from pochta.web.client_setup import Endpoint, endpoints
from pochta.web.services import WebServices

__all__ = ["AutodiscoverRequest", "BadRequest", "autodiscover_routes", "parse_request", "pox_response"]

REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
RESPONSE_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
OUTLOOK_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
POX_PATHS = ("/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml")
JSON_PATHS = ("/autodiscover/autodiscover.json", "/Autodiscover/Autodiscover.json")
_POX_TYPE = {"imap": "IMAP", "pop3": "POP3", "smtp": "SMTP"}
_MAX_DEPTH = 16  # the request is three levels deep; nesting past this is refused, not walked


class BadRequest(ValueError):
    """The request body is not a POX Autodiscover request."""


@dataclass(frozen=True)
class AutodiscoverRequest:
    email: str
    schema: str


def parse_request(body: bytes) -> AutodiscoverRequest:
    """EMailAddress and AcceptableResponseSchema of a POX request, or BadRequest."""
    parser = expat.ParserCreate(namespace_separator=" ")
    path: list[str] = []
    found: dict[str, str] = {}
    text: list[str] = []

    def refuse_dtd(*_args: object) -> None:
        raise BadRequest("a DTD is not allowed")

    def start(name: str, _attributes: dict[str, str]) -> None:
        path.append(name.rpartition(" ")[2])
        if len(path) > _MAX_DEPTH:
            raise BadRequest("nested too deep")
        text.clear()

    def end(_name: str) -> None:
        local = path.pop()
        if path[-1:] == ["Request"] and local in ("EMailAddress", "AcceptableResponseSchema"):
            found[local] = "".join(text).strip()
        text.clear()

    parser.StartDoctypeDeclHandler = refuse_dtd
    parser.EntityDeclHandler = refuse_dtd
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text.append
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        raise BadRequest(f"not XML: {exc}") from None
    if not found.get("EMailAddress"):
        raise BadRequest("no Request/EMailAddress")
    return AutodiscoverRequest(found["EMailAddress"], found.get("AcceptableResponseSchema", OUTLOOK_NS))


def _protocol(endpoint: Endpoint, hostname: str, login: str) -> str:
    encryption = "SSL" if endpoint.implicit_tls else "TLS"
    extra = "<UsePOPAuth>off</UsePOPAuth><SMTPLast>off</SMTPLast>" if endpoint.kind == "smtp" else ""
    return (
        f"<Protocol><Type>{_POX_TYPE[endpoint.kind]}</Type><Server>{escape(hostname)}</Server>"
        f"<Port>{endpoint.port}</Port><DomainRequired>off</DomainRequired>"
        f"<LoginName>{escape(login)}</LoginName><SPA>off</SPA><SSL>on</SSL>"
        f"<Encryption>{encryption}</Encryption><AuthRequired>on</AuthRequired>{extra}</Protocol>"
    )


def pox_response(email: str, hostname: str, servers: list[Endpoint]) -> bytes:
    """The outlook-schema answer: one Protocol block per kind, the preferred listener of each."""
    blocks, seen = [], set()
    for endpoint in servers:
        if endpoint.kind not in seen:
            seen.add(endpoint.kind)
            blocks.append(_protocol(endpoint, hostname, email))
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<Autodiscover xmlns="{RESPONSE_NS}">'
        f'<Response xmlns="{OUTLOOK_NS}"><User><DisplayName>{escape(email)}</DisplayName></User>'
        f"<Account><AccountType>email</AccountType><Action>settings</Action>{''.join(blocks)}"
        "</Account></Response></Autodiscover>\n"
    ).encode()


def _pox_error(code: int, message: str) -> bytes:
    """An Error response ([MS-OXDSCLI] section 2.2.4.1.1.3; 600: invalid request, 601: no provider
    for the requested schema)."""
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<Autodiscover xmlns="{RESPONSE_NS}"><Response>'
        f'<Error Time="00:00:00" Id="0"><ErrorCode>{code}</ErrorCode><Message>{escape(message)}</Message>'
        "<DebugData /></Error></Response></Autodiscover>\n"
    ).encode()


def autodiscover_routes(services: WebServices) -> list[Route]:
    async def pox(request: Request) -> Response:
        try:
            asked = parse_request(await request.body())
        except BadRequest as exc:
            return PlainTextResponse(f"bad Autodiscover request: {exc}\n", status_code=400)
        if asked.schema != OUTLOOK_NS:
            # An ActiveSync (mobilesync) or other schema: pochta has no provider for it.
            return Response(_pox_error(601, "Provider is not available"), media_type="text/xml")
        address = await services.our_address(asked.email)
        if address is None:
            return PlainTextResponse("no configuration for this address\n", status_code=404)
        servers = endpoints(services)
        if not servers:
            return PlainTextResponse("no client listener is on\n", status_code=404)
        body = pox_response(asked.email.strip(), services.settings.hostname, servers)
        return Response(body, media_type="text/xml")

    async def json_v2(request: Request) -> Response:
        email = request.path_params.get("email") or request.query_params.get("Email", "")
        protocol = request.query_params.get("Protocol", "")
        if not email or await services.our_address(email) is None:
            return PlainTextResponse("no configuration for this address\n", status_code=404)
        if protocol.lower() == "autodiscoverv1":
            # Outlook asks v2 where the POX service is, then POSTs its request there.
            host = request.headers.get("host", "") or services.settings.hostname
            return JSONResponse({"Protocol": "AutodiscoverV1", "Url": f"https://{host}{POX_PATHS[1]}"})
        # What Exchange Online answers for a protocol it has no endpoint for: 400 InvalidProtocol.
        message = f"The given protocol value '{protocol}' is invalid. Supported values are 'AutodiscoverV1'"
        body = json.dumps({"ErrorCode": "InvalidProtocol", "ErrorMessage": message})
        return Response(body, status_code=400, media_type="application/json")

    routes = [Route(path, pox, methods=["POST"]) for path in POX_PATHS]
    for path in JSON_PATHS:
        routes.append(Route(path, json_v2, methods=["GET"]))
        routes.append(Route(path + "/v1.0/{email}", json_v2, methods=["GET"]))
    return routes
