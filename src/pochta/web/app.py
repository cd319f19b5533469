"""The web application: one Starlette app with the routes of every web concern."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from pochta.web.acme import acme_routes
from pochta.web.autoconfig import autoconfig_routes
from pochta.web.autodiscover import autodiscover_routes
from pochta.web.jmap import jmap_routes
from pochta.web.mobileconfig import mobileconfig_routes
from pochta.web.mta_sts import mta_sts_routes
from pochta.web.services import WebServices
from pochta.web.webmail import webmail_routes

__all__ = ["build_app"]


def build_app(services: WebServices) -> Starlette:
    routes: list[BaseRoute] = [
        *mta_sts_routes(services),
        *acme_routes(services),
        *autoconfig_routes(services),
        *autodiscover_routes(services),
        *mobileconfig_routes(services),
        *jmap_routes(services),  # 404 while [jmap] enabled is false (web.jmap)
    ]
    if services.settings.webmail.enabled:  # off while issue 17 is being built (docs/webmail.md)
        routes.extend(webmail_routes(services))
    return Starlette(routes=routes)
