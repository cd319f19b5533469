"""ACME http-01 challenges (RFC 8555 section 8.3): ``GET /.well-known/acme-challenge/TOKEN`` answers
the key authorization that the ACME client (``pochta.acme``, in the housekeeper or `pochta tls
renew`) published for TOKEN in the data directory (``pochta.acme.challenges``: every worker process
reads the same file, so whichever accepts the validation request answers it).
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from pochta.acme.challenges import ChallengeFiles, valid_token
from pochta.web.services import WebServices

__all__ = ["CHALLENGE_PATH", "acme_routes"]

CHALLENGE_PATH = "/.well-known/acme-challenge/"  # RFC 8555 section 8.3


def acme_routes(services: WebServices) -> list[Route]:
    files = ChallengeFiles(services.data_dir)

    async def challenge(request: Request) -> Response:
        token = request.path_params["token"]
        if not valid_token(token):
            return PlainTextResponse("not a challenge token\n", status_code=404)
        data = await asyncio.to_thread(files.read, token)  # disk: off the event loop
        if data is None:
            return PlainTextResponse("no such challenge\n", status_code=404)
        # RFC 8555 section 8.3: the body is the key authorization, exactly as the file holds it.
        return Response(data, media_type="application/octet-stream")

    return [Route(CHALLENGE_PATH + "{token}", challenge, methods=["GET"])]
