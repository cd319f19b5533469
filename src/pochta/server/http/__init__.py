"""The HTTP listeners (``http``, ``https``): h11 over the server's connections, running the web
application of ``pochta.web``."""

from __future__ import annotations

from pathlib import Path

from pochta.auth.authenticator import Authenticator
from pochta.config import Settings
from pochta.server.http.handler import HttpHandler
from pochta.store.api import Store
from pochta.web import WebServices, build_app

__all__ = ["HttpHandler", "http_handlers"]


def http_handlers(
    store: Store, settings: Settings, data_dir: Path, *, authenticator: Authenticator
) -> tuple[dict[str, HttpHandler], WebServices]:
    """The handler of protocol ``http`` (both listeners), and the services its routes share (the
    caller sets ``services.listening`` once the server is bound)."""
    services = WebServices(settings, data_dir, store, authenticator)
    handler = HttpHandler(settings, build_app(services))
    return {"http": handler}, services
