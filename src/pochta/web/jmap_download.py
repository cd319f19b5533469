"""``GET /jmap/download/{accountId}/{blobId}/{name}?accept={type}`` (RFC 8620 section 6.2): a
whole message, or one of its parts decoded from its transfer encoding, as JMAP names them
(``proto/jmap/mail/ids``: a blob id is the SHA-256 of the message and the part's section).

The account must hold the blob (``server.jmap.blobs.held_blob``: a message's octets or a part of
them, or an upload, RFC 8620 section 6.1), else 404, as for a blob id that is not ours: a blob's
existence is not told to an account that cannot see it.
The body is sent in pieces (the listener streams), with its Content-Length, so that a graceful
stop lets the download finish (docs/http.md); blob ids name content, so the response never
changes: ``Cache-Control: private, immutable``. Authentication is /jmap/api's (HTTP Basic, or
the webmail's cookie, which a GET needs no CSRF token with)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from pochta.proto.jmap.download import INLINE_TYPES, content_disposition, content_type, download_policy
from pochta.proto.jmap.mail.ids import parse_blob_id
from pochta.server.jmap.blobs import held_blob, read_held
from pochta.store.api import Store
from pochta.store.model import BlobRef

if TYPE_CHECKING:
    from pochta.web.jmap import JmapEndpoints

__all__ = ["DOWNLOAD_PATH", "download"]

DOWNLOAD_PATH = "/jmap/download/{accountId}/{blobId}/{name}"
CHUNK = 256 * 1024  # octets sent per piece
# RFC 9111 section 5.2.2.7 private, RFC 8246 immutable: the same blob id is the same octets for ever.
CACHE_CONTROL = "private, immutable, max-age=31536000"


def _not_found() -> Response:
    return PlainTextResponse("Not Found", status_code=404)


async def _blob_pieces(store: Store, blob: BlobRef) -> AsyncIterator[bytes]:
    """The blob's ``blob.size`` octets, a piece at a time, read on a worker thread."""
    file = await asyncio.to_thread(store.open_blob, blob)
    try:
        left = blob.size
        while left > 0:
            piece = await asyncio.to_thread(file.read, min(CHUNK, left))
            if not piece:
                break
            left -= len(piece)
            yield piece
    finally:
        await asyncio.to_thread(file.close)


async def _pieces(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), CHUNK):
        yield data[start : start + CHUNK]


async def download(endpoints: JmapEndpoints, request: Request) -> Response:
    principal = await endpoints.login(request, "GET")
    if isinstance(principal, Response):
        return principal
    account = principal.accounts.get(request.path_params["accountId"])
    name = parse_blob_id(request.path_params["blobId"])
    store = endpoints.services.store
    if account is None or name is None:
        return _not_found()
    held = await held_blob(store, endpoints.services.settings, account.account.id, name)
    if held is None:
        return _not_found()
    kind = content_type(request.query_params.get("accept"))
    # ``inline=1`` (the webmail's previews) shows a raster image or a PDF in the browser; any
    # other type is an attachment whatever is asked, so that no message's HTML runs on our origin.
    inline = request.query_params.get("inline") == "1" and kind.lower() in INLINE_TYPES
    headers = {
        # As a header, not Starlette's media_type, which would add a charset to a text/* type.
        "Content-Type": kind,
        "Content-Disposition": content_disposition(request.path_params["name"], inline=inline),
        "Content-Security-Policy": download_policy(kind.lower(), inline=inline),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": CACHE_CONTROL,
    }
    body: AsyncIterator[bytes] | None
    if held.part is None and held.inline is None:  # stored octets as they are: streamed from the blob
        size = held.stored.size
        body = _blob_pieces(store, held.stored) if request.method == "GET" else None
    else:
        content = await read_held(store, held)
        size = len(content)
        body = _pieces(content) if request.method == "GET" else None
    headers["Content-Length"] = str(size)
    if body is None:  # HEAD: the headers of the GET, no body
        return Response(b"", headers=headers)
    return StreamingResponse(body, headers=headers)
