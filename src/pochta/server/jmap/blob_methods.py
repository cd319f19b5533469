"""Blob/upload, Blob/get and Blob/lookup (RFC 9404, ``urn:ietf:params:jmap:blob``) over the blobs
an account holds (``server/jmap/blobs``: its messages, their parts, its uploads). A blob made by
Blob/upload is stored and recorded as an upload of the account, exactly as an HTTP upload (RFC
8620 section 6.1), so everything that takes an uploaded blob takes it; its creation id may name it
later in the same request ("#id"). Blob/lookup finds the Emails whose message or part a blob is,
and their Mailboxes and Threads; an upload nothing refers to matches nothing."""

from __future__ import annotations

from typing import Any

from pochta.proto.jmap import MAIL_CAPABILITY, SetError, SetErrorType
from pochta.proto.jmap.blob import (
    BLOB_CAPABILITY,
    InlineData,
    UploadSpec,
    blob_item,
    parse_blob_get,
    parse_blob_lookup,
    parse_blob_upload,
)
from pochta.proto.jmap.mail.ids import blob_id, email_id, mailbox_id, parse_blob_id, thread_id
from pochta.server.jmap.blobs import HeldBlob, add_upload, held_blob, read_held
from pochta.server.jmap.changes import store_of
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.email_threads import threaded
from pochta.server.jmap.registry import MethodRegistry
from pochta.store.api import Store
from pochta.store.model import AccountId

__all__ = ["LOOKUP_TYPES", "register_blob_methods"]

# RFC 9404 section 4.3: the data types Blob/lookup searches, each with the capability defining it
# (the request must use it). The account capability's supportedTypeNames lists them.
LOOKUP_TYPES = {"Email": MAIL_CAPABILITY, "Mailbox": MAIL_CAPABILITY, "Thread": MAIL_CAPABILITY}
DEFAULT_TYPE = "application/octet-stream"  # RFC 8620 section 6.1's, for a creation without type


async def _held(
    context: CallContext, store: Store, owner: AccountId, given: str
) -> tuple[str, HeldBlob] | None:
    """The blob ``given`` names ("#creationId" resolved) with its id, if the account holds it."""
    resolved = context.resolve_id(given) if given.startswith("#") else given
    name = None if resolved is None else parse_blob_id(resolved)
    held = None if name is None else await held_blob(store, context.settings, owner, name)
    return None if resolved is None or held is None else (resolved, held)


async def _octets(context: CallContext, store: Store, owner: AccountId, spec: UploadSpec) -> bytes | SetError:
    """The creation's octets: its sources joined in order, within ``jmap.max_size_upload``."""
    limit = context.settings.jmap.max_size_upload
    pieces: list[bytes] = []
    total = 0
    for source in spec.sources:
        if isinstance(source, InlineData):
            piece = source.data
        else:
            found = await _held(context, store, owner, source.blob_id)
            if found is None:
                return SetError(SetErrorType.INVALID_PROPERTIES, f"no blob {source.blob_id}", ("data",))
            cut = source.cut(await read_held(store, found[1]))
            if cut is None:
                # RFC 9404 section 4.1: a range past the end of the blob is not satisfied.
                return SetError(
                    SetErrorType.INVALID_PROPERTIES, f"the range is outside {source.blob_id}", ("data",)
                )
            piece = cut
        total += len(piece)
        if total > limit:
            return SetError(SetErrorType.TOO_LARGE, f"over {limit} octets (maxSizeBlobSet)", ("data",))
        pieces.append(piece)
    return b"".join(pieces)


async def blob_upload(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    limits = context.settings.jmap
    args = parse_blob_upload(
        arguments, max_objects=limits.max_objects_in_set, max_sources=limits.max_blob_data_sources
    )
    account = context.writable_account(args.account_id)
    store = store_of(context)
    created: dict[str, Any] = {}
    not_created: dict[str, Any] = {}
    for creation_id, spec in args.create.items():
        data = spec if isinstance(spec, SetError) else await _octets(context, store, account.account.id, spec)
        if isinstance(data, SetError):
            not_created[creation_id] = data.to_json()
            continue
        assert isinstance(spec, UploadSpec)
        blob = await store.put_blob(data)  # durable before it is recorded and answered
        media_type = spec.type or DEFAULT_TYPE
        await add_upload(store, account.account.id, blob, media_type)
        created[creation_id] = {"id": blob_id(blob.sha256), "type": media_type, "size": blob.size}
        context.created(creation_id, created[creation_id]["id"])
    # RFC 9404 section 4.1: created and notCreated, null when empty.
    return {"accountId": account.id, "created": created or None, "notCreated": not_created or None}


async def blob_get(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = parse_blob_get(arguments, max_objects=context.settings.jmap.max_objects_in_get)
    account = context.account(args.account_id)
    store = store_of(context)
    listed: list[dict[str, Any]] = []
    not_found: list[str] = []
    for given in dict.fromkeys(args.ids):
        found = await _held(context, store, account.account.id, given)
        if found is None:
            not_found.append(given)
            continue
        resolved, held = found
        data = await read_held(store, held)
        listed.append(blob_item(resolved, data, args.properties, args.offset, args.length))
    return {"accountId": account.id, "list": listed, "notFound": not_found}


async def blob_lookup(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = parse_blob_lookup(
        arguments,
        max_objects=context.settings.jmap.max_objects_in_get,
        known=LOOKUP_TYPES,
        using=context.using,
    )
    account = context.account(args.account_id)
    owner = account.account.id
    store = store_of(context)
    listed: list[dict[str, Any]] = []
    not_found: list[str] = []
    for given in dict.fromkeys(args.ids):
        found = await _held(context, store, owner, given)
        if found is None:
            # RFC 9404 section 6: a blob the user cannot see is notFound, as one that does not exist.
            not_found.append(given)
            continue
        resolved, held = found
        matched: dict[str, list[str]] = {type_name: [] for type_name in args.type_names}
        record = await store.email_record_of_blob(owner, held.stored.sha256)
        if record is not None:  # a message of the account, or a part of one; else an upload
            for email in await threaded(
                store, owner, await store.account_emails_in(owner, {record.message_id})
            ):
                ids = {
                    "Email": [email_id(email.message_id)],
                    "Mailbox": [mailbox_id(box) for box in sorted(email.mailbox_ids)],
                    "Thread": [] if email.thread_id is None else [thread_id(email.thread_id)],
                }
                for type_name in args.type_names:
                    matched[type_name] += ids[type_name]
        listed.append({"id": resolved, "matchedIds": matched})
    return {"accountId": account.id, "list": listed, "notFound": not_found}


def register_blob_methods(registry: MethodRegistry) -> None:
    registry.register("Blob/upload", BLOB_CAPABILITY, blob_upload)
    registry.register("Blob/get", BLOB_CAPABILITY, blob_get)
    registry.register("Blob/lookup", BLOB_CAPABILITY, blob_lookup)
