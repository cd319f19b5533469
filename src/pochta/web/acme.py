"""ACME http-01 challenges (RFC 8555 section 8.3): ``GET /.well-known/acme-challenge/TOKEN`` answers
the key authorization that the ACME client left for TOKEN.

The contract with the ACME client (docs/http.md "ACME http-01"): for each challenge it writes the
key authorization, exact bytes, to ``DATA/acme/http-01/TOKEN`` (TOKEN as the ACME server gave it,
base64url: ``[A-Za-z0-9_-]+``), atomically (write a temporary file in the same directory, then
rename), before it tells the ACME server to validate; and deletes it afterwards. Every worker
process reads the same file, so whichever accepts the validation request answers it.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from pochta.web.services import WebServices

__all__ = ["CHALLENGE_DIR", "CHALLENGE_PATH", "MAX_KEY_AUTHORIZATION", "acme_routes", "challenge_file"]

CHALLENGE_DIR = Path("acme") / "http-01"  # under the data directory
CHALLENGE_PATH = "/.well-known/acme-challenge/"  # RFC 8555 section 8.3
# A key authorization is the token, ".", and a 43-character thumbprint; a file far larger than
# that is not one, and is never read whole into memory.
MAX_KEY_AUTHORIZATION = 4096
# RFC 8555 section 8.3: the token is base64url (RFC 4648 section 5) without padding.
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")


def challenge_file(data_dir: Path, token: str) -> Path | None:
    """Where the key authorization for ``token`` is, or None for a token that is not base64url
    (nothing outside the challenge directory can ever be named)."""
    if not _TOKEN.fullmatch(token):
        return None
    return data_dir / CHALLENGE_DIR / token


def _read_key_authorization(path: Path) -> bytes | None:
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_KEY_AUTHORIZATION + 1)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
        return None
    return data if len(data) <= MAX_KEY_AUTHORIZATION else None


def acme_routes(services: WebServices) -> list[Route]:
    async def challenge(request: Request) -> Response:
        path = challenge_file(services.data_dir, request.path_params["token"])
        if path is None:
            return PlainTextResponse("not a challenge token\n", status_code=404)
        data = await asyncio.to_thread(_read_key_authorization, path)  # disk: off the event loop
        if data is None:
            return PlainTextResponse("no such challenge\n", status_code=404)
        # RFC 8555 section 8.3: the body is the key authorization, exactly as the file holds it.
        return Response(data, media_type="application/octet-stream")

    return [Route(CHALLENGE_PATH + "{token}", challenge, methods=["GET"])]
