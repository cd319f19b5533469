"""``GET /.well-known/mta-sts.txt`` on ``mta-sts.DOMAIN`` for each domain of this server (RFC 8461
section 3.2). Another Host gets 404: a policy is only ever the policy of the domain it was fetched
for, and senders fetch it from ``https://mta-sts.DOMAIN/`` with a certificate valid for that name."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from pochta.web.hosts import subdomain_of
from pochta.web.policy import policy_text
from pochta.web.services import WebServices

__all__ = ["POLICY_PATH", "mta_sts_routes"]

POLICY_PATH = "/.well-known/mta-sts.txt"  # RFC 8461 section 3.2


def mta_sts_routes(services: WebServices) -> list[Route]:
    async def policy(request: Request) -> Response:
        domain = subdomain_of(request, "mta-sts")
        if domain is None or await services.our_domain(domain) is None:
            return PlainTextResponse("no MTA-STS policy for this host\n", status_code=404)
        # RFC 8461 section 3.2: the policy is served with media type "text/plain".
        return Response(policy_text(services.settings), media_type="text/plain; charset=utf-8")

    return [Route(POLICY_PATH, policy, methods=["GET"])]
