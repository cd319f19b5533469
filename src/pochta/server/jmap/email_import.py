"""Email/import (RFC 8621 section 4.8): a blob the account holds (an upload, or a message it has)
added as an Email to Mailboxes, through IMAP APPEND's own path (``MailOps.append``: the same
checks, quota, parsing and store write), so the new Email's id is the message's IMAP EMAILID.

An Email in several Mailboxes is one APPEND per Mailbox of the same octets: the store keeps one
message per blob in an account (single instance), so they are one Email; if a later APPEND fails
the earlier ones stay (the SetError says which)."""

from __future__ import annotations

import asyncio
from typing import Any

from pochta.mail.errors import Code, OpsError
from pochta.mail.ops import MailOps
from pochta.mime import parse_message
from pochta.proto.jmap import SetError, SetErrorType
from pochta.proto.jmap.mail.email_import import EmailImport, parse_email_import
from pochta.proto.jmap.mail.ids import blob_id, email_id, thread_id
from pochta.proto.jmap.mail.states import state_string
from pochta.proto.jmap.session import MAIL_CAPABILITY
from pochta.proto.jmap.standard import require_state
from pochta.server.jmap.blobs import whole_blob
from pochta.server.jmap.changes import store_of
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.email_threads import threaded
from pochta.server.jmap.mailbox_get import mailbox_records
from pochta.server.jmap.principal import JmapAccount
from pochta.server.jmap.registry import MethodRegistry

__all__ = ["register_email_import"]

# RFC 8621 section 4.8: overQuota; a message past APPEND's size limit is tooLarge.
_OPS_ERRORS: dict[str, SetErrorType] = {
    Code.OVERQUOTA: SetErrorType.OVER_QUOTA,
    Code.TOOBIG: SetErrorType.TOO_LARGE,
}


class _Refused(Exception):
    def __init__(self, error: SetError) -> None:
        self.error = error


def _is_message(data: bytes, ops: MailOps) -> bool:
    """RFC 8621 section 4.8 invalidEmail: octets with no header field are not a message."""
    return bool(data.strip()) and bool(parse_message(data, ops.mime_settings).headers)


async def _import_one(
    context: CallContext, ops: MailOps, account: JmapAccount, names: dict[str, str], wish: EmailImport
) -> dict[str, Any]:
    store = ops.store
    mailbox_names = []
    for given in wish.mailbox_ids:
        resolved = context.resolve_id(given) if given.startswith("#") else given
        name = None if resolved is None else names.get(resolved)
        if name is None:
            raise _Refused(SetError(SetErrorType.INVALID_PROPERTIES, f"no Mailbox {given}", ("mailboxIds",)))
        mailbox_names.append(name)
    blob = (
        None
        if wish.blob.part
        else await whole_blob(store, context.settings, account.account.id, wish.blob.sha256)
    )
    if blob is None:
        # RFC 8621 section 4.8: a blobId not found is invalidProperties.
        raise _Refused(SetError(SetErrorType.INVALID_PROPERTIES, f"no blob {wish.blob_id}", ("blobId",)))
    data = await asyncio.to_thread(store.read_blob, blob)
    if not await asyncio.to_thread(_is_message, data, ops):
        raise _Refused(SetError(SetErrorType.INVALID_EMAIL, "the blob is not a message"))
    placed = None
    for name in mailbox_names:
        try:
            placed = await ops.append(account.account.id, name, data, sorted(wish.flags), wish.received_at)
        except OpsError as exc:
            kind = _OPS_ERRORS.get(str(exc.code), SetErrorType.FORBIDDEN)
            raise _Refused(SetError(kind, str(exc))) from exc
    assert placed is not None
    emails = await threaded(
        store, account.account.id, await store.account_emails_in(account.account.id, {placed.message_id})
    )
    thread = emails[0].thread_id if emails else None
    # The octets as stored: APPEND makes line ends CRLF, so they may differ from the blob's
    # (RFC 8621 section 4.8 then wants the stored blob's id).
    records = await store.email_records(account.account.id, [placed.message_id])
    blob = records[0].blob if records else blob  # expunged meanwhile: the blob given
    return {
        "id": email_id(placed.message_id),
        "blobId": blob_id(blob.sha256),
        "threadId": None if thread is None else thread_id(thread),
        "size": blob.size,
    }


async def email_import(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = parse_email_import(arguments, max_objects=context.settings.jmap.max_objects_in_set)
    account = context.writable_account(args.account_id)
    store = store_of(context)
    old_state = state_string(await store.account_state(account.account.id))
    require_state(args.if_in_state, old_state)  # RFC 8621 section 4.8: as /set's
    ops = MailOps.from_settings(store, context.settings)
    names = {record.id: record.name for record in await mailbox_records(store, account)}
    created: dict[str, Any] = {}
    not_created: dict[str, Any] = {}
    for creation_id, wish in args.emails.items():
        if isinstance(wish, SetError):
            not_created[creation_id] = wish.to_json()
            continue
        try:
            email = await _import_one(context, ops, account, names, wish)
        except _Refused as refused:
            not_created[creation_id] = refused.error.to_json()
            continue
        created[creation_id] = email
        context.created(creation_id, email["id"])
    if created:
        context.changed(account.id, "Email", "Mailbox", "Thread")
    return {
        "accountId": account.id,
        "oldState": old_state,
        "newState": state_string(await store.account_state(account.account.id)),
        "created": created or None,
        "notCreated": not_created or None,
    }


def register_email_import(registry: MethodRegistry) -> None:
    registry.register("Email/import", MAIL_CAPABILITY, email_import)
