"""The webmail's settings page (docs/webmail.md "Settings"): tabs as Gmail has them — Filters,
Vacation, Forwarding, POP/IMAP, Accounts, Signature — written out here and filled by
``settings.js`` over JMAP alone (pochta's settings capability, VacationResponse, Identity): no
second API. The page has the webmail's session, CSRF token and security headers."""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from pochta.web.page_headers import page_headers
from pochta.web.sessions import WebSessions
from pochta.web.webmail_pages import STATIC, page

__all__ = ["SETTINGS_PAGE", "settings_page", "settings_routes"]

SETTINGS_PAGE = "/webmail/settings"

# (tab id, its label)
TABS = (
    ("filters", "Filters"),
    ("vacation", "Vacation"),
    ("forwarding", "Forwarding"),
    ("access", "POP/IMAP"),
    ("accounts", "Accounts"),
    ("signature", "Signature"),
)


def _field(name: str, label: str, kind: str = "text", extra: str = "") -> str:
    return (
        f'<label for="{name}">{escape(label)}</label>\n'
        f'<input id="{name}" name="{name}" type="{kind}"{extra}>\n'
    )


def _check(name: str, label: str) -> str:
    return f'<label class="check"><input id="{name}" name="{name}" type="checkbox"> {escape(label)}</label>\n'


def _panels() -> dict[str, str]:
    return {
        "filters": (
            '<ul id="filter-list" aria-label="Filters"></ul>\n'
            '<form id="filter-form">\n<h3>Create a filter</h3>\n<fieldset><legend>Matches</legend>\n'
            + _field("f-from", "From")
            + _field("f-to", "To")
            + _field("f-subject", "Subject")
            + _field("f-words", "Has the words")
            + "</fieldset>\n<fieldset><legend>Then</legend>\n"
            + '<label for="f-folder">Move to folder</label>\n'
            '<select id="f-folder"><option value="">(none)</option></select>\n'
            + _check("f-read", "Mark as read")
            + _check("f-star", "Star it")
            + _check("f-delete", "Delete it")
            + _field("f-forward", "Forward to", "email")
            + '</fieldset>\n<button type="submit">Create filter</button>\n</form>\n'
        ),
        "vacation": (
            '<form id="vacation-form">\n'
            + _check("v-on", "Vacation responder on")
            + _field("v-from", "First day", "date")
            + _field("v-to", "Last day", "date")
            + _field("v-subject", "Subject")
            + '<label for="v-body">Message</label>\n<textarea id="v-body" rows="6"></textarea>\n'
            + '<button type="submit">Save</button>\n</form>\n'
        ),
        "forwarding": (
            '<form id="forward-form">\n'
            + _field("w-address", "Forward a copy of incoming mail to", "email")
            + '<label for="w-mode">And</label>\n<select id="w-mode">'
            '<option value="keep">keep the copy in the Inbox</option>'
            '<option value="archive">archive the copy</option>'
            '<option value="delete">delete the copy</option></select>\n'
            '<button type="submit">Save</button>\n</form>\n'
        ),
        "access": (
            '<form id="access-form">\n'
            + _check("a-pop3", "POP3 access")
            + '<label for="a-mode">POP3 downloads</label>\n<select id="a-mode">'
            '<option value="all">all mail</option>'
            '<option value="since-enabled">only mail arriving after now</option></select>\n'
            + _check("a-imap", "IMAP access")
            + '<p id="access-note" class="note"></p>\n<button type="submit">Save</button>\n</form>\n'
        ),
        "accounts": (
            '<ul id="fetch-list" aria-label="Accounts mail is fetched from"></ul>\n'
            '<form id="fetch-form">\n<h3>Fetch mail from another account</h3>\n'
            '<label for="x-protocol">Protocol</label>\n<select id="x-protocol">'
            '<option value="pop3">POP3</option><option value="imap">IMAP</option></select>\n'
            + _field("x-host", "Server", extra=" required")
            + _field("x-port", "Port (empty: the standard one)", "number", ' min="1" max="65535"')
            + '<label for="x-tls">Security</label>\n<select id="x-tls">'
            '<option value="implicit">TLS</option><option value="starttls">STARTTLS</option>'
            '<option value="none">none (this machine only)</option></select>\n'
            + _field("x-login", "User name", extra=' required autocomplete="off"')
            + _field("x-password", "Password", "password", ' required autocomplete="new-password"')
            + _check("x-keep", "Leave a copy on the server")
            + '<button type="submit">Add account</button>\n</form>\n'
        ),
        "signature": (
            '<form id="signature-form">\n<label for="s-identity">Identity</label>\n'
            '<select id="s-identity"></select>\n'
            '<label for="s-text">Signature</label>\n<textarea id="s-text" rows="5"></textarea>\n'
            '<button type="submit">Save</button>\n</form>\n'
        ),
    }


def settings_page(*, address: str, csrf: str) -> str:
    tabs = "".join(
        f'<button type="button" role="tab" id="tab-{name}" aria-controls="panel-{name}" '
        f'aria-selected="false" tabindex="-1">{escape(label)}</button>\n'
        for name, label in TABS
    )
    panels = "".join(
        f'<section role="tabpanel" id="panel-{name}" aria-labelledby="tab-{name}" hidden>\n'
        f"<h2>{escape(label)}</h2>\n{_panels()[name]}</section>\n"
        for name, label in TABS
    )
    body = (
        '<header class="bar">\n<h1>Settings</h1>\n<a href="/webmail/">Back to mail</a>\n'
        f'<span class="account">{escape(address)}</span>\n</header>\n'
        '<main id="settings">\n'
        f'<div role="tablist" aria-label="Settings">\n{tabs}</div>\n'
        '<p id="status" role="status" aria-live="polite"></p>\n'
        f"{panels}</main>\n"
        f'<script type="module" src="{STATIC}/settings.js"></script>\n'
    )
    return page(
        "Settings · mail", "settings", body, head=f'<meta name="csrf-token" content="{escape(csrf)}">\n'
    )


def settings_routes(sessions: WebSessions) -> list[BaseRoute]:
    async def settings(request: Request) -> Response:
        signed_in = await sessions.current(request)
        if signed_in is None:
            return RedirectResponse("/webmail/login", status_code=303, headers={"Cache-Control": "no-store"})
        text = settings_page(address=signed_in.account.address, csrf=signed_in.session.csrf)
        return HTMLResponse(text, headers=page_headers())

    return [Route(SETTINGS_PAGE, settings, methods=["GET"])]
