"""The web administration's pages (docs/admin.md "The pages"): ``GET /webmail/admin/`` for a
signed-in account with the admin role, and the pages' own static files. The page is a shell filled
by ``static/admin/*.js`` over the JMAP admin API (``urn:pochta:params:jmap:admin``), with the
webmail's session cookie and CSRF token: the API decides, the page only shows. A visitor who is
not signed in goes to the sign-in page; a signed-in account without the admin role gets 403.
"""

from __future__ import annotations

import hashlib
from html import escape
from importlib import resources

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from pochta.web.page_headers import page_headers
from pochta.web.sessions import WebSessions

__all__ = ["ADMIN_HOME", "admin_page", "admin_routes"]

ADMIN_HOME = "/webmail/admin/"
STATIC = "/webmail/admin/static"
_STYLE = "/webmail/static/style.css"
_STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
# The sections of the page, in the navigation's order: (hash, title).
SECTIONS = (
    ("domains", "Domains"),
    ("accounts", "Accounts"),
    ("aliases", "Aliases"),
    ("units", "Units"),
    ("app-passwords", "App passwords"),
    ("queue", "Queue"),
    ("dns", "DNS records"),
    ("dkim", "DKIM keys"),
    ("status", "Server status"),
)


def admin_page(*, address: str, csrf: str) -> str:
    nav = "".join(
        f'<li><a href="#{key}" data-section="{key}">{escape(title)}</a></li>\n' for key, title in SECTIONS
    )
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>Administration</title>\n"
        f'<link rel="stylesheet" href="{_STYLE}">\n'
        f'<link rel="stylesheet" href="{STATIC}/admin.css">\n'
        f'<meta name="csrf-token" content="{escape(csrf)}">\n'
        "</head>\n"
        '<body class="app admin">\n'
        '<header class="bar">\n<h1>Administration</h1>\n'
        '<a class="back" href="/webmail/">Back to mail</a>\n'
        f'<span class="account">{escape(address)}</span>\n'
        '<form method="post" action="/webmail/logout">\n'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">\n'
        '<button type="submit">Sign out</button>\n</form>\n</header>\n'
        '<div class="panes">\n'
        f'<nav id="sections" aria-label="Administration">\n<ul>\n{nav}</ul>\n</nav>\n'
        '<main id="admin">\n<h2 id="section-title" tabindex="-1">Administration</h2>\n'
        '<p id="status" role="status" aria-live="polite">Loading…</p>\n'
        '<div id="section"></div>\n'
        "</main>\n</div>\n"
        f'<script type="module" src="{STATIC}/admin.js"></script>\n'
        "</body>\n</html>\n"
    )


def _refused() -> HTMLResponse:
    body = (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<title>Not allowed</title>\n<link rel="stylesheet" href="{_STYLE}">\n</head>\n'
        '<body class="sign-in">\n<main>\n<h1>Not allowed</h1>\n'
        '<p class="error" role="alert">Administration is for accounts with the admin role.</p>\n'
        '<p><a href="/webmail/">Back to mail</a></p>\n</main>\n</body>\n</html>\n'
    )
    return HTMLResponse(body, status_code=403, headers=page_headers())


def admin_routes(sessions: WebSessions) -> list[BaseRoute]:
    async def home(request: Request) -> Response:
        signed_in = await sessions.current(request)
        if signed_in is None:
            return RedirectResponse("/webmail/login", status_code=303, headers={"Cache-Control": "no-store"})
        if not signed_in.account.admin:
            return _refused()
        page = admin_page(address=signed_in.account.address, csrf=signed_in.session.csrf)
        return HTMLResponse(page, headers=page_headers())

    async def static(request: Request) -> Response:
        name = str(request.path_params["name"])
        kind = _STATIC_TYPES.get(name[name.rfind(".") :] if "." in name else "")
        source = resources.files("pochta.web") / "static" / "admin" / name
        if kind is None or "/" in name or name.startswith(".") or not source.is_file():
            return PlainTextResponse("not found\n", status_code=404)
        data = source.read_bytes()
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        headers = {**page_headers(cache=True), "ETag": etag}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(data, media_type=kind, headers=headers)

    return [
        Route(
            "/webmail/admin", lambda request: RedirectResponse(ADMIN_HOME, status_code=308), methods=["GET"]
        ),
        Route(ADMIN_HOME, home, methods=["GET"]),
        Route(STATIC + "/{name}", static, methods=["GET"]),
    ]
