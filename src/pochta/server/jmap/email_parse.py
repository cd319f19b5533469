"""Email/parse (RFC 8621 section 4.9): Emails made from blobs the account holds, with the Email
core's ``parse_email``: an upload or a message's whole octets, or a part of a message the account
holds (an attached message, decoded from its transfer encoding). The parts of a parsed part are
named as parts of the message holding it (``G<sha256>-<part>-<section>``), which downloads serve
when the attached message is not transfer-encoded (the stored message's parse reaches into it)."""

from __future__ import annotations

import asyncio
from typing import Any

from pochta.config import MimeSettings
from pochta.mime.model import Part
from pochta.proto.jmap.mail.email_get import EmailRequest, parse_email
from pochta.proto.jmap.mail.ids import BlobName, blob_id, parse_blob_id
from pochta.proto.jmap.mail.parse_args import parse_email_parse, parsed_metadata
from pochta.proto.jmap.session import MAIL_CAPABILITY
from pochta.server.jmap.blobs import held_blob, read_held
from pochta.server.jmap.changes import store_of
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.registry import MethodRegistry
from pochta.store.api import Store
from pochta.store.model import AccountId

__all__ = ["register_email_parse"]


async def _octets(store: Store, context: CallContext, account_id: AccountId, name: BlobName) -> bytes | None:
    """The blob's octets if the account holds it: a whole blob, or a message's leaf part decoded."""
    held = await held_blob(store, context.settings, account_id, name)
    return None if held is None else await read_held(store, held)


def _parse(
    request: EmailRequest, data: bytes, settings: MimeSettings, name: BlobName, given: str
) -> dict[str, Any] | None:
    def part_blob(part_id: str, part: Part) -> str:
        return blob_id(name.sha256, f"{name.part}.{part_id}" if name.part else part_id)

    return parse_email(request, data, settings, blob_id=part_blob, metadata=parsed_metadata(given, len(data)))


async def email_parse(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = parse_email_parse(arguments, max_objects=context.settings.jmap.max_objects_in_get)
    account = context.account(args.account_id)
    store = store_of(context)
    parsed: dict[str, Any] = {}
    not_parsable: list[str] = []
    not_found: list[str] = []
    for given in args.blob_ids:
        name = parse_blob_id(given)
        data = None if name is None else await _octets(store, context, account.account.id, name)
        if name is None or data is None:
            not_found.append(given)
            continue
        email = await asyncio.to_thread(_parse, args.request, data, context.settings.mime, name, given)
        if email is None:
            not_parsable.append(given)
        else:
            parsed[given] = {prop: email[prop] for prop in args.request.properties if prop in email}
    # RFC 8621 section 4.9: each of the three is null when empty.
    return {
        "accountId": account.id,
        "parsed": parsed or None,
        "notParsable": not_parsable or None,
        "notFound": not_found or None,
    }


def register_email_parse(registry: MethodRegistry) -> None:
    registry.register("Email/parse", MAIL_CAPABILITY, email_parse)
