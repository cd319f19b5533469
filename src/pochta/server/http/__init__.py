"""The HTTP listeners (``http``, ``https``): h11 over the server's connections, running the web
application of ``pochta.web``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pochta.auth.authenticator import Authenticator
from pochta.config import Settings
from pochta.server.http.handler import HttpHandler
from pochta.server.http.limits import RouteBodyLimit
from pochta.store.api import Store
from pochta.web import WebServices, build_app

if TYPE_CHECKING:
    from pochta.delivery.pipeline import Delivery

__all__ = ["BODY_LIMITS", "HttpHandler", "RouteBodyLimit", "http_handlers"]

# The routes of ``pochta.web`` whose request bodies have a bound of their own instead of
# ``http.max_body_size``. JMAP's API: twice its advertised maxSizeRequest, so that a request a
# little over it gets JMAP's own "limit" problem naming maxSizeRequest (RFC 8620 section 3.6.1)
# from the API, and only a far larger one the listener's 413 before it is read.
BODY_LIMITS: tuple[RouteBodyLimit, ...] = (
    RouteBodyLimit("/jmap/api", lambda s: 2 * s.jmap.max_size_request),
    # RFC 8620 section 6.1: an upload is one blob of at most maxSizeUpload octets (web/jmap_upload).
    RouteBodyLimit("/jmap/upload/", lambda s: s.jmap.max_size_upload),
)


def http_handlers(
    store: Store,
    settings: Settings,
    data_dir: Path,
    *,
    authenticator: Authenticator,
    delivery: Delivery | None = None,
) -> tuple[dict[str, HttpHandler], WebServices]:
    """The handler of protocol ``http`` (both listeners), and the services its routes share (the
    caller sets ``services.listening`` once the server is bound)."""
    services = WebServices(settings, data_dir, store, authenticator, delivery=delivery)
    handler = HttpHandler(settings, build_app(services), body_limits=BODY_LIMITS)
    return {"http": handler}, services
