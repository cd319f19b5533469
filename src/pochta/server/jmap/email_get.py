"""Email/get (RFC 8621 section 4.2): the account's Emails by id, their metadata from the store's
Email rows (``account_emails_in``), their header and body properties from the Email core
(``proto/jmap/mail``) over the parse record kept at delivery and, only when a property asked for
needs them (headers, body parts and values), the message's octets."""

from __future__ import annotations

import asyncio
from typing import Any

from pochta.mime import ParsedMessage
from pochta.mime.model import Part
from pochta.proto.jmap import MethodError, MethodErrorType
from pochta.proto.jmap.mail import EmailRequest, email_object
from pochta.proto.jmap.mail.email_meta import metadata_of
from pochta.proto.jmap.mail.get_args import parse_email_get
from pochta.proto.jmap.mail.ids import blob_id, parse_email_id
from pochta.proto.jmap.mail.properties import METADATA
from pochta.proto.jmap.mail.states import state_string
from pochta.server.jmap.changes import store_of
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.email_threads import threaded
from pochta.store.account_state_model import AccountEmail, EmailRecord
from pochta.store.api import Store
from pochta.store.model import MessageId

__all__ = ["email_get"]

_FROM_ROWS = frozenset(METADATA) - {"blobId"}
# Properties the parse record answers without the message's octets (the preview is kept in it,
# hasAttachment reads only the part tree).
_FROM_RECORD = frozenset({"preview", "hasAttachment"})


async def email_get(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args, request = parse_email_get(arguments, max_objects=context.settings.jmap.max_objects_in_get)
    account = context.account(args.account_id)
    if args.ids is None:
        # RFC 8620 section 5.1 allows ids null for every record; an account's Emails are too many
        # for one call: Email/query lists them.
        raise MethodError(MethodErrorType.REQUEST_TOO_LARGE, "ids null: ask for the Emails by id")
    store = store_of(context)
    # The state first: what is read after it is at least as new (a client reads the changes since).
    state = state_string(await store.account_state(account.account.id))
    asked = list(dict.fromkeys(args.ids))
    numbers: dict[str, MessageId] = {}
    for text in asked:
        resolved = context.resolve_id(text) if text.startswith("#") else text
        number = None if resolved is None else parse_email_id(resolved)
        if number is not None:
            numbers[text] = MessageId(number)
    emails = await store.account_emails_in(account.account.id, set(numbers.values()))
    if "threadId" in request.properties:
        emails = await threaded(store, account.account.id, emails)
    found = {email.message_id: email for email in emails}
    wanted = set(request.properties)
    records: dict[MessageId, EmailRecord] = {}
    # The blob id and every property but the store's metadata come from the message's record.
    needs_record = bool(wanted - _FROM_ROWS)
    if needs_record:
        records = {r.message_id: r for r in await store.email_records(account.account.id, list(found))}
    needs_octets = bool(wanted - set(METADATA) - _FROM_RECORD)
    present: list[tuple[AccountEmail, EmailRecord | None]] = []
    not_found: list[str] = []
    for text in asked:
        number = numbers.get(text)
        email = None if number is None else found.get(number)
        if email is None or (needs_record and email.message_id not in records):
            not_found.append(text)  # not one of ours, not the account's, or gone meanwhile
            continue
        present.append((email, records.get(email.message_id)))
    if needs_octets:
        # One trip to a worker thread for the whole list: the blobs are read there and the objects
        # built (a hop per Email cost more than the reads of small messages).
        listed = await asyncio.to_thread(_with_octets, store, request, present)
    else:
        listed = [
            _metadata_only(request, email) if record is None else _email(request, email, record, b"")
            for email, record in present
        ]
    return {"accountId": account.id, "state": state, "list": listed, "notFound": not_found}


def _metadata(email: AccountEmail, sha256: str) -> dict[str, Any]:
    return metadata_of(
        message_id=email.message_id,
        sha256=sha256,
        thread=email.thread_id,
        mailbox_ids=email.mailbox_ids,
        flags=email.flags,
        size=email.size,
        received_at=email.received_at,
    )


def _metadata_only(request: EmailRequest, email: AccountEmail) -> dict[str, Any]:
    metadata = _metadata(email, "")
    return {prop: metadata[prop] for prop in request.properties}  # blobId not among them


def _email(request: EmailRequest, email: AccountEmail, record: EmailRecord, data: bytes) -> dict[str, Any]:
    sha256 = record.blob.sha256

    def part_blob(part_id: str, part: Part) -> str:
        return blob_id(sha256, part_id)  # RFC 8621 section 4.1.4 blobId: the part's decoded octets

    parsed = ParsedMessage.from_json(record.parsed_json)
    return email_object(request, data, parsed, blob_id=part_blob, metadata=_metadata(email, sha256))


def _with_octets(
    store: Store, request: EmailRequest, present: list[tuple[AccountEmail, EmailRecord | None]]
) -> list[dict[str, Any]]:
    """On a worker thread: each blob is read there (``Store.read_blob``), and its object built."""
    return [
        _metadata_only(request, email)
        if record is None
        else _email(request, email, record, store.read_blob(record.blob))
        for email, record in present
    ]
