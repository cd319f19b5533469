"""``POST /jmap/upload/{accountId}/`` (RFC 8620 section 6.1): a blob uploaded to an account.

The body is written to a spool file as it arrives (``store.spool``: never held whole in memory;
the HTTP listener bounds this route by ``jmap.max_size_upload``, ``server.http.BODY_LIMITS``), then
adopted as a blob (``Store.put_blob_file``: hashed, fsync'ed, moved) and recorded in the store's
``uploads`` (``Store.add_upload``) before the answer, so an acknowledged upload is durable. The
account may then download it and use it (Email/import, an Email/set attachment, Blob/copy,
Blob/upload's data sources) for ``jmap.upload_lifetime`` seconds; the housekeeper prunes older
uploads, after which blob collection takes blobs nothing else names.

Only the uploader's own account may be named: section 6.1 keeps an unreferenced blob to its
uploader even in shared accounts. Uploads in progress are counted per user in each worker process
(``maxConcurrentUpload``); one past the limit is refused with the ``limit`` problem (section 3.6.1).
Authentication is /jmap/api's (HTTP Basic, or the webmail cookie with its X-CSRF-Token)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from pochta.proto.jmap import PROBLEM_MEDIA_TYPE, ProblemType, RequestProblem, dumps
from pochta.proto.jmap.mail.ids import blob_id
from pochta.server.jmap.blobs import add_upload
from pochta.store.spool import SpoolFile, spool_directory

if TYPE_CHECKING:
    from pochta.web.jmap import JmapEndpoints

__all__ = ["DEFAULT_TYPE", "UPLOAD_PATH", "upload", "upload_type"]

UPLOAD_PATH = "/jmap/upload/{accountId}/"
# RFC 8620 section 6.1: the type is the request's Content-Type; without one, octets.
DEFAULT_TYPE = "application/octet-stream"
_TYPE_MAX = 255  # octets of a Content-Type kept


def upload_type(content_type: str | None) -> str:
    """The upload's media type as the client set it (RFC 8620 section 6.1), or octets when it sent
    none or one too long to keep."""
    value = (content_type or "").strip()
    if not value or len(value) > _TYPE_MAX or not value.isprintable():
        return DEFAULT_TYPE
    return value


def _problem(problem: RequestProblem) -> Response:
    return Response(dumps(problem.to_json()), status_code=problem.status, media_type=PROBLEM_MEDIA_TYPE)


def _not_found() -> Response:
    # As a download's (web/jmap_download.py): an account the user may not upload to is not told
    # apart from one that does not exist.
    return PlainTextResponse("Not Found", status_code=404)


async def upload(endpoints: JmapEndpoints, request: Request) -> Response:
    principal = await endpoints.login(request, "POST")
    if isinstance(principal, Response):
        return principal
    account = principal.accounts.get(request.path_params["accountId"])
    if account is None or request.path_params["accountId"] != principal.own_id:
        return _not_found()
    settings = endpoints.services.settings.jmap
    with endpoints.uploads.enter(principal.own_id, settings.max_concurrent_upload) as admitted:
        if not admitted:
            return _problem(
                RequestProblem(
                    ProblemType.LIMIT,
                    f"over {settings.max_concurrent_upload} uploads in progress",
                    limit="maxConcurrentUpload",
                )
            )
        store = endpoints.services.store
        spool = SpoolFile(spool_directory(endpoints.services.data_dir), "jmap-upload")
        try:
            async for piece in request.stream():
                spool.write(piece)
                if spool.size > settings.max_size_upload:  # the listener's bound, kept here too
                    return _problem(
                        RequestProblem(
                            ProblemType.LIMIT,
                            f"over {settings.max_size_upload} octets",
                            limit="maxSizeUpload",
                            status=413,
                        )
                    )
            await spool.finish()
            blob = await spool.adopt(store)
        finally:
            await spool.discard()
        media_type = upload_type(request.headers.get("content-type"))
        await add_upload(store, account.account.id, blob, media_type)
    body = {
        "accountId": principal.own_id,
        "blobId": blob_id(blob.sha256),
        "type": media_type,
        "size": blob.size,
    }
    return Response(dumps(body), status_code=201, media_type="application/json")
