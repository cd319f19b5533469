"""The webmail's HTML reading view: ``GET /webmail/message/{emailId}`` answers the message's HTML
body, cleaned by ``message_html``, as a document of its own for the page's sandboxed frame
(docs/webmail.md "A message's HTML"). The message is read over JMAP (Email/get through the same
dispatcher as ``/jmap/api``, logged in by the webmail's cookie): no second API.

The document's own policy is the second wall after the sanitiser: no script at all, styles only
as attributes (the sanitiser kept the inert ones) and our one style sheet, images only from this
account's download URLs and ``data:`` unless the reader asked for remote ones (``?images=show``),
framed only by our pages, links followed without a referrer. Its CSP ``sandbox`` holds even if
the document is opened on its own, outside the page's ``<iframe sandbox>``.
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from pochta.proto.jmap import RequestLimits, RequestProblem, dumps, parse_request
from pochta.proto.jmap.mail.ids import parse_email_id
from pochta.web.jmap import JmapEndpoints, base_url
from pochta.web.message_html import SafeHtml, sanitize_message_html

__all__ = ["MESSAGE_PATH", "frame_document", "frame_headers", "frame_policy", "reader_routes"]

MESSAGE_PATH = "/webmail/message/{emailId}"
STYLE = "/webmail/static/message.css"
_MAIL = "urn:ietf:params:jmap:mail"
_CORE = "urn:ietf:params:jmap:core"
_PART_PROPERTIES = ["partId", "blobId", "type", "cid", "name", "size"]
# The frame's sandbox: links may open a tab of their own (the sanitiser gives each target=_blank,
# rel=noopener noreferrer) that is not sandboxed; same origin so that the page reads the frame's
# height and held-image count and its cid: images carry the cookie. Never allow-scripts.
SANDBOX = "allow-same-origin allow-popups allow-popups-to-escape-sandbox"


def download_prefix(base: str, account_id: str) -> str:
    return f"{base}/jmap/download/{quote(account_id, safe='')}/"


def frame_policy(base: str, account_id: str, *, remote_images: bool) -> str:
    """The Content-Security-Policy of a message's document (``base``: ``https://host[:port]``)."""
    images = f"{download_prefix(base, account_id)} data:" + (" http: https:" if remote_images else "")
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'none'",
            f"img-src {images}",
            "style-src 'self'",
            "style-src-attr 'unsafe-inline'",  # the sanitiser's inert style attributes
            "form-action 'none'",
            "base-uri 'none'",
            "object-src 'none'",
            "frame-ancestors 'self'",
            f"sandbox {SANDBOX}",
        )
    )


def frame_headers(policy: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "SAMEORIGIN",
        "Referrer-Policy": "no-referrer",  # a remote image or a followed link learns nothing of us
        "Cross-Origin-Resource-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


def frame_document(safe: SafeHtml) -> str:
    """The frame's whole document around a sanitised fragment; the held-image count in a meta
    element that the page (same origin) reads for its "show images" bar."""
    return (
        '<!doctype html>\n<html>\n<head>\n<meta charset="utf-8">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f'<meta name="remote-images" content="{safe.remote_images}">\n'
        f'<link rel="stylesheet" href="{STYLE}">\n'
        f"</head>\n<body>\n{safe.html}\n</body>\n</html>\n"
    )


def _html_of(email: dict[str, Any], part_url: Any, remote_images: bool) -> SafeHtml:
    """The message's htmlBody parts in order: text/html sanitised, any other text escaped."""
    held = 0
    pieces: list[str] = []
    values = email.get("bodyValues") or {}
    for part in email.get("htmlBody") or []:
        value = (values.get(part.get("partId")) or {}).get("value")
        if value is None:
            continue
        if part.get("type") == "text/html":
            safe = sanitize_message_html(value, remote_images=remote_images, part_url=part_url)
            held += safe.remote_images
            pieces.append(safe.html)
        else:
            pieces.append(f'<pre class="text">{escape(value)}</pre>')
    return SafeHtml("\n".join(pieces), held)


def reader_routes(endpoints: JmapEndpoints) -> list[BaseRoute]:
    async def message(request: Request) -> Response:
        principal = await endpoints.login(request, "GET")
        if isinstance(principal, Response):
            return principal
        email_id = str(request.path_params["emailId"])
        if parse_email_id(email_id) is None:
            return PlainTextResponse("Not Found", status_code=404)
        call = {
            "accountId": principal.own_id,
            "ids": [email_id],
            "properties": ["htmlBody", "attachments", "bodyValues"],
            "bodyProperties": _PART_PROPERTIES,
            "fetchHTMLBodyValues": True,
        }
        body = dumps({"using": [_CORE, _MAIL], "methodCalls": [["Email/get", call, "0"]]})
        limits = endpoints.core_limits()
        parsed = parse_request(
            body,
            "application/json",
            capabilities=endpoints.request_capabilities,
            limits=RequestLimits(limits.max_size_request, limits.max_calls_in_request),
        )
        base = base_url(request)
        if isinstance(parsed, RequestProblem):  # our own request: never, but say so if it were
            return PlainTextResponse(f"{parsed.detail}\n", status_code=500)
        answer = await endpoints.respond(parsed, principal, base)
        name, arguments, _ = answer["methodResponses"][0]
        found = arguments.get("list") if name == "Email/get" else None
        if not found:
            return PlainTextResponse("Not Found", status_code=404)
        email = found[0]
        prefix = download_prefix(base, principal.own_id)
        by_cid = {
            str(part["cid"]): part
            for part in [*(email.get("attachments") or []), *(email.get("htmlBody") or [])]
            if part.get("cid") and part.get("blobId")
        }

        def part_url(cid: str) -> str | None:
            part = by_cid.get(cid)
            if part is None:
                return None
            name = quote(str(part.get("name") or "image"), safe="")
            kind = quote(str(part.get("type") or "application/octet-stream"), safe="/")
            return f"{prefix}{quote(str(part['blobId']), safe='')}/{name}?accept={kind}"

        remote = request.query_params.get("images") == "show"
        safe = _html_of(email, part_url, remote)
        policy = frame_policy(base, principal.own_id, remote_images=remote)
        return HTMLResponse(frame_document(safe), headers=frame_headers(policy))

    return [Route(MESSAGE_PATH, message, methods=["GET", "HEAD"])]
