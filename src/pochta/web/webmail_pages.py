"""The webmail's HTML pages, written out here (no template engine: the pages are few and small,
and every value goes through ``html.escape``)."""

from __future__ import annotations

from html import escape

__all__ = ["app_page", "page", "sign_in_page"]

STATIC = "/webmail/static"


def page(title: str, body_class: str, body: str, *, head: str = "") -> str:
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n"
        f'<link rel="stylesheet" href="{STATIC}/style.css">\n{head}</head>\n'
        f'<body class="{body_class}">\n{body}</body>\n</html>\n'
    )


def sign_in_page(*, hostname: str, token: str, address: str = "", error: str = "") -> str:
    """The sign-in form; ``token`` is the form's double-submit token (``WebSessions``)."""
    alert = f'<p class="error" role="alert">{escape(error)}</p>\n' if error else ""
    body = (
        "<main>\n"
        '<h1>Sign in</h1>\n<p class="server">to your mail on '
        f"<strong>{escape(hostname)}</strong></p>\n{alert}"
        '<form method="post" action="/webmail/login">\n'
        f'<input type="hidden" name="token" value="{escape(token)}">\n'
        '<label for="address">Email address</label>\n'
        '<input id="address" name="address" type="text" inputmode="email" autocomplete="username" '
        f'autocapitalize="none" spellcheck="false" required autofocus value="{escape(address)}">\n'
        '<label for="password">Password</label>\n'
        '<input id="password" name="password" type="password" autocomplete="current-password" required>\n'
        '<button type="submit">Sign in</button>\n'
        "</form>\n</main>\n"
    )
    return page("Sign in · mail", "sign-in", body)


def app_page(*, address: str, csrf: str) -> str:
    """The page a signed-in user gets: the account and signing out, search, the folders, the
    folder's messages with their actions and the reading view, filled by ``app.js`` over JMAP
    (the CSRF token in a meta element, for its requests)."""
    actions = (
        '<button type="button" data-action="archive" title="Archive (e)">Archive</button>\n'
        '<button type="button" data-action="delete" title="Delete (#)">Delete</button>\n'
        '<button type="button" data-action="read">Mark read</button>\n'
        '<button type="button" data-action="unread" title="Mark unread (shift+u)">Mark unread</button>\n'
        '<button type="button" data-action="star" title="Star (s)">Star</button>\n'
        '<select data-action="move" aria-label="Move to"><option value="">Move to…</option></select>\n'
    )
    body = (
        '<header class="bar">\n<h1>Mail</h1>\n'
        '<form id="search-form" role="search">\n'
        '<input id="search" type="search" name="q" aria-label="Search mail" '
        'placeholder="Search mail (from: to: subject: has:attachment is:unread …)">\n'
        '<button type="submit">Search</button>\n</form>\n'
        '<button type="button" id="compose-new" title="Compose (c)">Compose</button>\n'
        f'<span class="account">{escape(address)}</span>\n'
        '<a href="/webmail/settings">Settings</a>\n'
        '<form method="post" action="/webmail/logout">\n'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">\n'
        '<button type="submit">Sign out</button>\n</form>\n</header>\n'
        '<div class="panes">\n'
        '<nav id="folders" aria-label="Folders">\n<ul id="folder-list"></ul>\n</nav>\n'
        '<main id="app">\n<h2 id="folder-title"></h2>\n'
        '<section id="list-view" aria-labelledby="folder-title">\n'
        '<div class="tools" id="list-tools" role="toolbar" aria-label="Selected messages">\n'
        '<input type="checkbox" id="select-all" aria-label="Select all">\n'
        f"{actions}</div>\n"
        '<p id="status" role="status" aria-live="polite">Loading your mail…</p>\n'
        '<ul id="message-list" aria-label="Messages"></ul>\n'
        '<nav class="pages" aria-label="Pages">\n'
        '<button type="button" id="newer" disabled>Newer</button>\n'
        '<button type="button" id="older" disabled>Older</button>\n</nav>\n'
        "</section>\n"
        '<article id="reader" aria-label="Message" hidden>\n'
        '<div class="tools" id="reader-tools" role="toolbar" aria-label="This message">\n'
        '<button type="button" data-action="back" title="Back to the list (u)">Back</button>\n'
        '<button type="button" id="reply" title="Reply (r)">Reply</button>\n'
        '<button type="button" id="reply-all" title="Reply all (a)">Reply all</button>\n'
        '<button type="button" id="forward" title="Forward (f)">Forward</button>\n'
        f"{actions}</div>\n"
        '<h3 id="reader-subject" tabindex="-1"></h3>\n'
        '<nav id="conversation" aria-label="Conversation" hidden><ol id="conversation-list"></ol></nav>\n'
        '<p class="meta" id="reader-meta"></p>\n'
        '<p class="images-bar" id="images-bar" hidden><span id="images-count"></span> '
        '<button type="button" id="show-images">Show</button></p>\n'
        '<div id="reader-body"></div>\n'
        '<section id="attachments" aria-label="Attachments" hidden><ul id="attachment-list"></ul>'
        '<div id="preview"></div></section>\n'
        "</article>\n"
        "</main>\n</div>\n"
        f"{COMPOSE_PANEL}"
        '<dialog id="shortcuts" aria-labelledby="shortcuts-title">\n'
        '<h2 id="shortcuts-title">Keyboard shortcuts</h2>\n<dl>\n'
        + "".join(f"<dt><kbd>{escape(key)}</kbd></dt><dd>{escape(what)}</dd>\n" for key, what in SHORTCUTS)
        + '</dl>\n<form method="dialog"><button type="submit">Close</button></form>\n</dialog>\n'
        f'<script type="module" src="{STATIC}/app.js"></script>\n'
    )
    head = (
        f'<meta name="csrf-token" content="{escape(csrf)}">\n'
        f'<link rel="stylesheet" href="{STATIC}/compose.css">\n'
    )
    return page("Mail", "app", body, head=head)


def _address_row(field: str, label: str, *, hidden: bool) -> str:
    # The chips (compose.js) before the field the user types or pastes addresses in.
    return (
        f'<div class="field addresses" id="compose-{field}-row"{" hidden" if hidden else ""}>'
        f'<label for="compose-{field}">{label}</label>'
        f'<ul class="chips" id="compose-{field}-chips" aria-label="{label} recipients"></ul>'
        f'<input id="compose-{field}" type="text" inputmode="email" autocomplete="email" '
        f'spellcheck="false" autocapitalize="none"></div>\n'
    )


# The compose panel (compose.js fills and runs it): a dialog beside the mail, full screen on a phone.
COMPOSE_PANEL = (
    '<section id="compose" class="compose" role="dialog" aria-labelledby="compose-title" hidden>\n'
    '<header><h2 id="compose-title">New message</h2>'
    '<button type="button" id="compose-close" title="Close and keep the draft (Esc)" '
    'aria-label="Close and keep the draft">×</button></header>\n'
    '<form id="compose-form" novalidate>\n'
    '<div class="field"><label for="compose-from">From</label><select id="compose-from"></select></div>\n'
    + _address_row("to", "To", hidden=False)
    + '<button type="button" id="compose-show-cc" class="link">Cc / Bcc</button>\n'
    + _address_row("cc", "Cc", hidden=True)
    + _address_row("bcc", "Bcc", hidden=True)
    + '<div class="field"><label for="compose-subject">Subject</label>'
    '<input id="compose-subject" type="text"></div>\n'
    '<textarea id="compose-body" rows="14" aria-label="Message"></textarea>\n'
    '<ul id="compose-attachments" aria-label="Attachments"></ul>\n'
    '<p id="compose-status" role="status" aria-live="polite"></p>\n'
    '<div class="actions">'
    '<button type="submit" id="compose-send" title="Send (Ctrl+Enter)">Send</button>'
    '<label class="attach" for="compose-files">Attach files</label>'
    '<input id="compose-files" type="file" multiple class="visually-hidden">'
    '<button type="button" id="compose-discard">Discard</button></div>\n'
    "</form>\n</section>\n"
)


# Gmail's keys (app.js handles them; the "?" dialog lists them).
SHORTCUTS = (
    ("j / k", "next / previous message"),
    ("o or Enter", "open the message"),
    ("u", "back to the list"),
    ("e", "archive"),
    ("#", "delete"),
    ("s", "star or unstar"),
    ("shift+u", "mark unread"),
    ("x", "select the message"),
    ("c", "compose"),
    ("r / a / f", "reply / reply all / forward"),
    ("Ctrl+Enter", "send"),
    ("Esc", "close the message being written (the draft is kept)"),
    ("/", "search"),
    ("?", "this list"),
)
