"""The security headers of every page pochta serves to a browser (webmail, later administration):
one owner, so that no page is served with a weaker policy than another (docs/webmail.md "Security").

The Content-Security-Policy allows scripts, styles, fonts and connections from the server itself
only: no inline script or style, no eval, no plugin, no framing of our pages, no form posting
elsewhere, no <base> rewriting. Images may also be data: and blob: URLs (attachments shown from
memory); a message's own remote images are never loaded by the page itself (docs/webmail.md).
"""

from __future__ import annotations

__all__ = ["CONTENT_SECURITY_POLICY", "page_headers"]

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    )
)


def page_headers(*, cache: bool = False, frames: tuple[str, ...] = ()) -> dict[str, str]:
    """Headers for an HTML page (``cache``: a static asset that may be kept; ``frames``: the URL
    prefixes its frames may load, absolute as CSP wants a path: the webmail's message documents
    and previews of downloads, nothing else)."""
    policy = CONTENT_SECURITY_POLICY
    if frames:
        policy += "; frame-src " + " ".join(frames)
    headers = {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",  # for browsers without CSP frame-ancestors
        # same-origin, not no-referrer: under no-referrer Chromium sends "Origin: null" with the
        # page's own form posts, which the CSRF check (web/sessions) must then refuse. Other sites
        # (a link in a message) still learn nothing.
        "Referrer-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    }
    # Pages name the signed-in account: no shared or back-forward cache keeps them.
    headers["Cache-Control"] = "public, max-age=3600" if cache else "no-store"
    return headers
