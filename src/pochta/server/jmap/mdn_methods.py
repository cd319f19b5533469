"""MDN/send and MDN/parse (RFC 9007), under ``urn:ietf:params:jmap:mdn``.

MDN/send builds each MDN (``proto/jmap/mdn``: RFC 8098's multipart/report) for an Email of the
account that asked for one (Disposition-Notification-To), From the Identity's address, and sends
it through EmailSubmission's path (``submission_send``: SMTP submission's transaction, sender
policy, limits, queue), with the null envelope sender RFC 8098 section 3 asks for. Nothing is kept
as an EmailSubmission. onSuccessUpdateEmail runs as one implicit Email/set after it; RFC 9007
section 2.1 requires it to set ``$mdnsent`` on each MDN's Email, which is checked first.

MDN/parse reads MDNs from blobs the account holds (``blobs.held_blob``); forEmailId is left
null (RFC 9007 section 2.2 allows it: pochta has no index from Message-ID to an Email)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pochta.proto.jmap import MethodError, MethodErrorType, SetError, SetErrorType, SetFailure
from pochta.proto.jmap.arguments import ArgumentReader, invalid_arguments
from pochta.proto.jmap.mail.header_encode import BadValue
from pochta.proto.jmap.mail.ids import parse_blob_id, parse_email_id
from pochta.proto.jmap.mdn import (
    MDN_CAPABILITY,
    MDN_PROPERTIES,
    MdnRequest,
    build_mdn,
    final_recipient_address,
    original_facts,
    parse_mdn,
    parse_mdn_request,
)
from pochta.proto.jmap.session import MAIL_CAPABILITY
from pochta.proto.jmap.submission.envelope import Address, Envelope, allowed_by_identity
from pochta.proto.jmap.submission.identity import IdentityDoc, parse_identity_id
from pochta.server.jmap.blobs import held_blob, read_held
from pochta.server.jmap.changes import store_of
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.email_submission import implicit_email_set
from pochta.server.jmap.identity import account_identities
from pochta.server.jmap.principal import JmapAccount
from pochta.server.jmap.registry import MethodRegistry
from pochta.server.jmap.submission_send import send_submission
from pochta.server.smtp.policy import SenderPolicy
from pochta.store.model import MessageId

__all__ = ["register_mdn"]

_MDN_SENT = "$mdnsent"  # RFC 9007 section 1.2: always lowercase in JMAP


def _sets_mdn_sent(patch: Mapping[str, Any]) -> bool:
    """Does the PatchObject set the $mdnsent keyword (RFC 9007 section 2.1)?"""
    if patch.get(f"keywords/{_MDN_SENT}") is True:
        return True
    keywords = patch.get("keywords")
    return isinstance(keywords, dict) and keywords.get(_MDN_SENT) is True


def _refused(kind: SetErrorType, description: str) -> SetFailure:
    return SetFailure(SetError(kind, description))


class _Sender:
    """The MDNs of one MDN/send call, sent as the Identity's address."""

    def __init__(self, context: CallContext, account: JmapAccount, identity: IdentityDoc) -> None:
        self.context = context
        self.account = account
        self.identity = identity
        self.store = store_of(context)

    async def email(self, given: str) -> bytes:
        """The Email's octets; notFound when the account has no such Email."""
        resolved = self.context.resolve_id(given)
        number = None if resolved is None else parse_email_id(resolved)
        account_id = self.account.account.id
        emails = [] if number is None else await self.store.account_emails_in(account_id, {MessageId(number)})
        records = [] if not emails else await self.store.email_records(account_id, [emails[0].message_id])
        if not emails or not records:
            raise _refused(SetErrorType.NOT_FOUND, "no such Email")
        if any(flag.lower() == _MDN_SENT for flag in emails[0].flags):
            # RFC 9007 section 2.1: never twice for one message.
            raise _refused(SetErrorType.MDN_ALREADY_SENT, "$mdnsent keyword is already present")
        data = await asyncio.to_thread(self.store.read_blob, records[0].blob)
        return data

    async def final_recipient(self, mdn: MdnRequest) -> str:
        """The address the MDN is issued for: the client's finalRecipient when the Identity and
        the sender policy allow it (RFC 9007 section 5: else forbiddenFrom), else the Identity's."""
        if mdn.final_recipient is None:
            if self.identity.email.startswith("*@"):
                raise SetFailure(
                    SetError(
                        SetErrorType.INVALID_PROPERTIES,
                        "the Identity is a whole domain's: finalRecipient names the address",
                        ("finalRecipient",),
                    )
                )
            return self.identity.email
        address = final_recipient_address(mdn.final_recipient) or ""
        policy = SenderPolicy(self.store)
        settings = self.context.settings
        if not allowed_by_identity(address, self.identity.email) or not await policy.may_use(
            self.account.account, address, settings.smtp
        ):
            raise _refused(SetErrorType.FORBIDDEN_FROM, f"the Identity may not send as {address}")
        return address

    async def send(self, record: Any) -> dict[str, Any]:
        """Sends one MDN; the properties the client did not set (RFC 9007 section 2.1's sent)."""
        mdn = parse_mdn_request(record)
        data = await self.email(mdn.for_email_id)
        original = original_facts(data)
        if not original.notify_to:
            # RFC 9007 section 2.1: notFound also for an Email that asks for no MDN.
            raise _refused(SetErrorType.NOT_FOUND, "the Email has no Disposition-Notification-To field")
        final = await self.final_recipient(mdn)
        name = self.identity.name
        from_field = {"name": name or None, "email": final}
        domain = final.rpartition("@")[2] or self.context.settings.hostname
        try:
            octets = build_mdn(
                mdn,
                original,
                data,
                from_field=from_field,
                final_recipient=final,
                now=datetime.now(UTC).replace(microsecond=0),
                message_id_domain=domain,
            )
        except BadValue as error:
            raise SetFailure(SetError(SetErrorType.INVALID_PROPERTIES, str(error))) from None
        delivery = self.context.delivery
        if delivery is None:  # a process without the delivery pipeline
            raise _refused(SetErrorType.FORBIDDEN_TO_SEND, "this server process cannot send")
        # RFC 8098 section 2.1: to the Disposition-Notification-To addresses.
        envelope = Envelope(Address(""), tuple(Address(a) for a in original.notify_to))
        settings = self.context.settings
        await send_submission(
            delivery, self.store, settings, self.account.account, envelope, octets, report=True
        )
        sent = parse_mdn(octets) or {}
        sent["forEmailId"] = mdn.for_email_id
        return {prop: sent.get(prop) for prop in MDN_PROPERTIES if prop not in mdn.given}


async def _identity(context: CallContext, account: JmapAccount, given: str) -> IdentityDoc:
    resolved = context.resolve_id(given)
    number = None if resolved is None else parse_identity_id(resolved)
    held = await account_identities(store_of(context), account)
    doc = None if number is None else held.identities.get(number)
    if doc is None:
        # RFC 9007 section 2.1: an identityId not found is invalidArguments.
        raise invalid_arguments("no such Identity")
    return doc


async def mdn_send(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    if MAIL_CAPABILITY not in context.using:
        # RFC 9007 section 2.1: "using" MUST name Mail too (Identities, the implicit Email/set).
        raise MethodError(MethodErrorType.UNKNOWN_METHOD, f"MDN/send needs {MAIL_CAPABILITY} in using")
    reader = ArgumentReader(arguments)
    account_id = reader.id("accountId")
    identity_id = reader.string("identityId")
    send = reader.object_map("send")
    updates = reader.object_map("onSuccessUpdateEmail", references=True) or {}
    reader.rest()
    if send is None:
        raise invalid_arguments("send must be a map of creation ids to MDN objects")
    if len(send) > context.settings.jmap.max_objects_in_set:
        raise MethodError(MethodErrorType.REQUEST_TOO_LARGE, "too many MDNs")
    account = context.writable_account(account_id)
    sender = _Sender(context, account, await _identity(context, account, identity_id))
    sent: dict[str, Any] = {}
    not_sent: dict[str, Any] = {}
    email_updates: dict[str, Any] = {}
    for creation_id, record in send.items():
        patch = updates.get(f"#{creation_id}")
        if not isinstance(patch, dict) or not _sets_mdn_sent(patch):
            # RFC 9007 section 2.1: the server MUST reject an MDN/send that does not set $mdnsent.
            refusal = SetError(
                SetErrorType.INVALID_PROPERTIES,
                f'onSuccessUpdateEmail must set "keywords/{_MDN_SENT}" on "#{creation_id}"',
            )
            not_sent[creation_id] = refusal.to_json()
            continue
        target = record.get("forEmailId") if isinstance(record, dict) else None
        email = context.resolve_id(target) if isinstance(target, str) else None
        if email is not None and email in email_updates:
            # One MDN per message (RFC 9007 section 2.1), also within one call.
            refusal = SetError(SetErrorType.MDN_ALREADY_SENT, "an MDN for this Email was sent in this call")
            not_sent[creation_id] = refusal.to_json()
            continue
        try:
            sent[creation_id] = await sender.send(record)
        except SetFailure as failure:
            not_sent[creation_id] = failure.error.to_json()
            continue
        email_updates[email or str(target)] = patch
    response = {"accountId": account.id, "sent": sent or None, "notSent": not_sent or None}
    if email_updates:
        await implicit_email_set(context, account, email_updates, [])
    return response


async def mdn_parse(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    reader = ArgumentReader(arguments)
    account_id = reader.id("accountId")
    blob_ids = reader.ids("blobIds")
    reader.rest()
    if blob_ids is None:
        raise invalid_arguments("blobIds must be an array of Ids")
    if len(blob_ids) > context.settings.jmap.max_objects_in_get:
        raise MethodError(MethodErrorType.REQUEST_TOO_LARGE, "too many blobs")
    account = context.account(account_id)
    store = store_of(context)
    parsed: dict[str, Any] = {}
    not_parsable: list[str] = []
    not_found: list[str] = []
    for given in dict.fromkeys(blob_ids):
        name = parse_blob_id(given)
        held = None if name is None else await held_blob(store, context.settings, account.account.id, name)
        if held is None:
            not_found.append(given)
            continue
        data = await read_held(store, held)
        found = await asyncio.to_thread(parse_mdn, data)
        if found is None:
            not_parsable.append(given)
        else:
            parsed[given] = found
    return {
        "accountId": account.id,
        "parsed": parsed or None,
        "notParsable": not_parsable or None,
        "notFound": not_found or None,
    }


def register_mdn(registry: MethodRegistry) -> None:
    registry.register("MDN/send", MDN_CAPABILITY, mdn_send)
    registry.register("MDN/parse", MDN_CAPABILITY, mdn_parse)
