"""Blob/copy (RFC 8620 section 6.3): blobs one account holds made usable by another the user may
use. Today a user's only account is its own (``principal``), so the accounts differ only once
shared accounts come; a copy then records an upload of the same blob in the target account (the
octets are stored once, by digest). Within one account a blob is copied as itself."""

from __future__ import annotations

from typing import Any

from pochta.proto.jmap import CORE_CAPABILITY, MethodError, MethodErrorType, SetError, SetErrorType
from pochta.proto.jmap.blob_copy import blob_copy_response, parse_blob_copy
from pochta.proto.jmap.mail.ids import parse_blob_id
from pochta.server.jmap.blobs import add_upload, held_blob
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.registry import MethodRegistry

__all__ = ["register_blob_copy"]


async def blob_copy(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = parse_blob_copy(arguments, max_objects=context.settings.jmap.max_objects_in_set)
    if args.from_account_id not in context.principal.accounts:
        # RFC 8620 section 6.3: fromAccountNotFound, also for an account the user may not see.
        raise MethodError(MethodErrorType.FROM_ACCOUNT_NOT_FOUND)
    source = context.account(args.from_account_id)
    target = context.writable_account(args.account_id)
    store = context.store
    assert store is not None
    copied: dict[str, str] = {}
    not_copied: dict[str, SetError] = {}
    for blob_id in args.blob_ids:
        name = parse_blob_id(blob_id)
        held = None if name is None else await held_blob(store, context.settings, source.account.id, name)
        if held is None:
            not_copied[blob_id] = SetError(SetErrorType.NOT_FOUND)
            continue
        if target.account.id != source.account.id:
            blob = held.stored
            if held.part is not None or held.inline is not None:
                # A part, or a script's content: not a stored blob of its own to give another account.
                not_copied[blob_id] = SetError(
                    SetErrorType.NOT_FOUND, "parts are copied within an account only"
                )
                continue
            await add_upload(store, target.account.id, blob, held.media_type)
        copied[blob_id] = blob_id
    return blob_copy_response(args, copied, not_copied)


def register_blob_copy(registry: MethodRegistry) -> None:
    registry.register("Blob/copy", CORE_CAPABILITY, blob_copy)
