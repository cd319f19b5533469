"""The webmail's routes (``[webmail] enabled``; docs/webmail.md): sign-in and sign-out, the page a
signed-in user gets, and its static files. Sessions and CSRF are ``pochta.web.sessions``'s; the
pages are ``webmail_pages``; their security headers ``page_headers``."""

from __future__ import annotations

import hashlib
from importlib import resources
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from pochta.web.jmap import JmapEndpoints, base_url
from pochta.web.page_headers import page_headers
from pochta.web.services import WebServices
from pochta.web.sessions import HTTPS_ONLY, SignInRefused, WebSessions
from pochta.web.webmail_admin import admin_routes
from pochta.web.webmail_pages import app_page, sign_in_page
from pochta.web.webmail_reader import reader_routes
from pochta.web.webmail_settings import settings_routes

__all__ = ["webmail_routes"]

HOME = "/webmail/"
SIGN_IN = "/webmail/login"
_FORM = "application/x-www-form-urlencoded"
_FORM_FIELDS = 8  # the sign-in form has three; anything far past that is not our form
_STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


def _html(text: str, status: int = 200, *, frames: tuple[str, ...] = ()) -> HTMLResponse:
    return HTMLResponse(text, status_code=status, headers=page_headers(frames=frames))


def _see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303, headers={"Cache-Control": "no-store"})


async def _form(request: Request) -> dict[str, str] | None:
    """The urlencoded form of a POST (the first value of each field), None if it is not one."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != _FORM:
        return None
    body = await request.body()  # bounded by http.max_body_size in the listener
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError):
        return None
    return {name: values[0] for name, values in fields.items()}


def webmail_routes(services: WebServices) -> list[BaseRoute]:
    sessions = WebSessions(services)

    def sign_in_form(request: Request, *, address: str = "", error: str = "", status: int = 200) -> Response:
        token = sessions.new_login_token()
        page = sign_in_page(hostname=services.settings.hostname, token=token, address=address, error=error)
        response = _html(page, status)
        sessions.set_login_token(request, response, token)
        return response

    async def home(request: Request) -> Response:
        signed_in = await sessions.current(request)
        if signed_in is None:
            return _see_other(SIGN_IN)
        base = base_url(request)
        # The reading view's frames: a message's document, a preview of an attachment.
        frames = (f"{base}/webmail/message/", f"{base}/jmap/download/")
        return _html(app_page(address=signed_in.account.address, csrf=signed_in.session.csrf), frames=frames)

    async def login_page(request: Request) -> Response:
        if await sessions.current(request) is not None:
            return _see_other(HOME)
        if not sessions.may_take_password(request):
            page = sign_in_page(hostname=services.settings.hostname, token="", error=HTTPS_ONLY)
            return _html(page, 403)
        return sign_in_form(request)

    async def login(request: Request) -> Response:
        form = await _form(request)
        if form is None:
            return PlainTextResponse("expected a form\n", status_code=415)
        address = form.get("address", "")
        if not sessions.login_token_ok(request, form.get("token", "")):
            # The page was stale or posted from elsewhere (login CSRF): a fresh form, no sign-in.
            return sign_in_form(
                request, address=address, error="The page had expired. Sign in again.", status=403
            )
        outcome = await sessions.sign_in(request, address, form.get("password", ""))
        if isinstance(outcome, SignInRefused):
            return sign_in_form(request, address=address, error=outcome.message, status=outcome.status)
        token, _ = outcome
        response = _see_other(HOME)
        sessions.set_session_cookie(request, response, token)
        sessions.clear_login_token(request, response)
        return response

    async def logout(request: Request) -> Response:
        signed_in = await sessions.current(request)
        form = await _form(request)
        if signed_in is not None:
            if form is None or not sessions.csrf_ok(request, signed_in, form.get("csrf", "")):
                return PlainTextResponse("forbidden: the page's token did not match\n", status_code=403)
            await sessions.sign_out(signed_in)
        response = _see_other(SIGN_IN)
        sessions.clear_session_cookie(request, response)
        return response

    async def static(request: Request) -> Response:
        name = str(request.path_params["name"])
        kind = _STATIC_TYPES.get(name[name.rfind(".") :] if "." in name else "")
        source = resources.files("pochta.web") / "static" / "webmail" / name
        if kind is None or "/" in name or name.startswith(".") or not source.is_file():
            return PlainTextResponse("not found\n", status_code=404)
        data = source.read_bytes()
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        headers = {**page_headers(cache=True), "ETag": etag}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(data, media_type=kind, headers=headers)

    return [
        Route("/webmail", lambda request: RedirectResponse(HOME, status_code=308), methods=["GET"]),
        Route(HOME, home, methods=["GET"]),
        Route(SIGN_IN, login_page, methods=["GET"]),
        Route(SIGN_IN, login, methods=["POST"]),
        Route("/webmail/logout", logout, methods=["POST"]),
        Route("/webmail/static/{name}", static, methods=["GET"]),
        *reader_routes(JmapEndpoints(services)),
        *settings_routes(sessions),
        *admin_routes(sessions),
    ]
