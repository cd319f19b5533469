"""EmailSubmission/get, /changes, /set (RFC 8621 sections 7.1, 7.2, 7.5), under
``urn:ietf:params:jmap:submission``.

A create sends the Email at once (``submission_send``: SMTP submission's transaction and rules);
its record (identityId, emailId, threadId, envelope, sendAt, deliveryStatus) is kept as a JMAP
record (revision 0041) whose ``ref`` is the outbound queue id, so the queue worker's outcomes
update its deliveryStatus (``submission_status``). pochta has no delayed send: undoStatus is
"final" from the start, and an update asking "canceled" is ``cannotUnsend``. After the creates,
updates and destroys, onSuccessUpdateEmail and onSuccessDestroyEmail run as one implicit Email/set
(section 7.5), whose response follows this method's."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from typing import Any

from pochta.proto.jmap import (
    MAIL_CAPABILITY,
    MethodError,
    MethodErrorType,
    SetError,
    SetErrorType,
    SetFailure,
)
from pochta.proto.jmap.dates import format_utc_date
from pochta.proto.jmap.mail.ids import email_id, parse_email_id, thread_id
from pochta.proto.jmap.session import SUBMISSION_CAPABILITY
from pochta.proto.jmap.standard import SetOutcome, parse_get, parse_set, wanted_properties
from pochta.proto.jmap.submission.envelope import derive_envelope, header_addresses
from pochta.proto.jmap.submission.identity import IdentityDoc, parse_identity_id
from pochta.proto.jmap.submission.submission import (
    SUBMISSION_PROPERTIES,
    SuccessActions,
    parse_submission_create,
    parse_submission_id,
    parse_success_actions,
    submission_id,
    submission_object,
)
from pochta.server.jmap.changes import store_of
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.email_set import email_set
from pochta.server.jmap.email_threads import threaded
from pochta.server.jmap.identity import account_identities
from pochta.server.jmap.principal import JmapAccount
from pochta.server.jmap.records import dump, load, parse_record_state, record_changes, record_state
from pochta.server.jmap.registry import MethodRegistry
from pochta.server.jmap.submission_send import send_submission
from pochta.server.smtp.policy import SenderPolicy
from pochta.store.jmap_record_model import JmapRecordWrite
from pochta.store.model import MessageId

__all__ = ["SUBMISSION", "implicit_email_set", "register_email_submission", "submission_objects"]

SUBMISSION = "EmailSubmission"  # the records' type
_EXTRA = ("onSuccessUpdateEmail", "onSuccessDestroyEmail")


def _invalid(description: str, *properties: str) -> SetFailure:
    return SetFailure(SetError(SetErrorType.INVALID_PROPERTIES, description, properties))


async def submission_objects(
    context: CallContext, account: JmapAccount
) -> tuple[int, dict[int, dict[str, Any]]]:
    """The account's EmailSubmissions (record id -> object, oldest first) and their state."""
    found = await store_of(context).jmap_records(account.account.id, SUBMISSION)
    return found.state, {record.id: submission_object(record.id, load(record)) for record in found.records}


async def email_submission_get(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = parse_get(arguments, max_objects=context.settings.jmap.max_objects_in_get)
    account = context.account(args.account_id)
    wanted = wanted_properties(args, SUBMISSION_PROPERTIES)
    state, objects = await submission_objects(context, account)
    asked = [submission_id(n) for n in objects] if args.ids is None else list(args.ids)
    listed, not_found = [], []
    for given in dict.fromkeys(asked):
        resolved = context.resolve_id(given) if given.startswith("#") else given
        number = None if resolved is None else parse_submission_id(resolved)
        shown = None if number is None else objects.get(number)
        if shown is None:
            not_found.append(given)
            continue
        listed.append({key: shown[key] for key in wanted})
    return {"accountId": account.id, "state": record_state(state), "list": listed, "notFound": not_found}


async def email_submission_changes(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    return await record_changes(context, arguments, SUBMISSION, submission_id)


class _Submit:
    """The creates of one EmailSubmission/set call."""

    def __init__(self, context: CallContext, account: JmapAccount) -> None:
        self.context = context
        self.account = account
        self.store = store_of(context)

    async def identity(self, given: str) -> IdentityDoc:
        resolved = self.context.resolve_id(given)
        number = None if resolved is None else parse_identity_id(resolved)
        held = await account_identities(self.store, self.account)
        doc = None if number is None else held.identities.get(number)
        if doc is None:
            # RFC 8621 section 7.5: an Identity id not found is invalidProperties.
            raise _invalid("no such Identity", "identityId")
        return doc

    async def email(self, given: str) -> tuple[str, str, bytes]:
        """The Email's id, its thread's id and its octets as stored."""
        resolved = self.context.resolve_id(given)
        number = None if resolved is None else parse_email_id(resolved)
        account_id = self.account.account.id
        emails = [] if number is None else await self.store.account_emails_in(account_id, {MessageId(number)})
        emails = await threaded(self.store, account_id, emails)
        records = [] if not emails else await self.store.email_records(account_id, [emails[0].message_id])
        if not emails or not records or emails[0].thread_id is None:
            raise _invalid("no such Email", "emailId")
        data = await asyncio.to_thread(self.store.read_blob, records[0].blob)
        return email_id(emails[0].message_id), thread_id(emails[0].thread_id), data

    async def create(self, record: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """Sends; the stored document and the queue id."""
        wish = parse_submission_create(record)
        identity = await self.identity(wish.identity_id)
        settings = self.context.settings
        # The Identity may have lost its alias since it was made: SMTP submission's rule again.
        if not await SenderPolicy(self.store).may_use(self.account.account, identity.email, settings.smtp):
            refusal = f"{self.account.account.address} may not send as the Identity's {identity.email}"
            raise SetFailure(SetError(SetErrorType.FORBIDDEN_FROM, refusal))
        email, thread, data = await self.email(wish.email_id)
        envelope = wish.envelope or derive_envelope(header_addresses(data), identity.email)
        delivery = self.context.delivery
        if delivery is None:  # a process without the delivery pipeline
            raise SetFailure(SetError(SetErrorType.FORBIDDEN_TO_SEND, "this server process cannot send"))
        sent = await send_submission(delivery, self.store, settings, self.account.account, envelope, data)
        document = {
            "identityId": self.context.resolve_id(wish.identity_id),
            "emailId": email,
            "threadId": thread,
            "envelope": envelope.to_json(),
            "sendAt": format_utc_date(datetime.now(UTC).replace(microsecond=0)),
            "deliveryStatus": sent.delivery_status,
        }
        return document, sent.queue_id


async def email_submission_set(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = parse_set(arguments, max_objects=context.settings.jmap.max_objects_in_set, extra=_EXTRA)
    actions = parse_success_actions(args.extra)
    account = context.writable_account(args.account_id)
    store = store_of(context)
    state, objects = await submission_objects(context, account)
    old_state = record_state(state)
    if args.if_in_state is not None and parse_record_state(args.if_in_state) != state:
        raise MethodError(MethodErrorType.STATE_MISMATCH, f"the state is {old_state}")
    submit = _Submit(context, account)
    created: dict[str, Any] = {}
    not_created: dict[str, Any] = {}
    done: dict[str, str] = {}  # EmailSubmission id -> its emailId, for the success actions
    new_state = state
    for creation_id, record in args.create.items():
        try:
            document, queue_id = await submit.create(record)
        except SetFailure as failure:
            not_created[creation_id] = failure.error.to_json()
            continue
        # The message is stored and queued: the record follows (a failure here is the server's).
        result = await store.write_jmap_records(
            account.account.id, SUBMISSION, JmapRecordWrite(creates=((dump(document), queue_id),))
        )
        new_state = result.new_state
        made = submission_object(result.created[0], document)
        objects[result.created[0]] = made
        # RFC 8620 section 5.3: the id and the server-set properties.
        created[creation_id] = {
            k: made[k] for k in ("id", "threadId", "sendAt", "undoStatus", "deliveryStatus")
        }
        context.created(creation_id, made["id"])
        done[made["id"]] = made["emailId"]
    updated: dict[str, Any] = {}
    not_updated: dict[str, Any] = {}
    for given, patch in args.update.items():
        resolved = context.resolve_id(given)
        found = None if resolved is None else parse_submission_id(resolved)
        shown = None if found is None else objects.get(found)
        if shown is None:
            not_updated[given] = SetError(SetErrorType.NOT_FOUND, "no such EmailSubmission").to_json()
        elif set(patch) != {"undoStatus"} or patch["undoStatus"] not in ("final", "canceled"):
            others = [key for key in patch if key != "undoStatus"] or ["undoStatus"]
            not_updated[given] = _invalid("only undoStatus may change", *others).error.to_json()
        elif patch["undoStatus"] == "canceled":
            # RFC 8621 section 7.5: sent at once, so never cancelable.
            sent = SetError(SetErrorType.CANNOT_UNSEND, "the message is sent: it cannot be recalled")
            not_updated[given] = sent.to_json()
        else:
            updated[shown["id"]] = None
            done[shown["id"]] = shown["emailId"]
    destroyed: list[str] = []
    not_destroyed: dict[str, Any] = {}
    numbers: list[int] = []
    for given in dict.fromkeys(args.destroy):
        resolved = context.resolve_id(given)
        gone = None if resolved is None else parse_submission_id(resolved)
        if gone is None or gone not in objects:
            not_destroyed[given] = SetError(SetErrorType.NOT_FOUND, "no such EmailSubmission").to_json()
        else:
            numbers.append(gone)
    if numbers:
        # RFC 8621 section 7.5: destroying the record does not touch the deliveries.
        result = await store.write_jmap_records(
            account.account.id, SUBMISSION, JmapRecordWrite(destroys=tuple(numbers))
        )
        new_state = max(new_state, result.new_state)
        for number in numbers:
            if number not in result.missing:
                destroyed.append(submission_id(number))
                done[submission_id(number)] = objects[number]["emailId"]
    if created or destroyed:
        context.changed(account.id, SUBMISSION)
    response = SetOutcome(created, updated, destroyed, not_created, not_updated, not_destroyed).response(
        account.id, old_state, record_state(new_state)
    )
    await _on_success(context, account, actions, done)
    return response


async def _on_success(
    context: CallContext, account: JmapAccount, actions: SuccessActions, done: dict[str, str]
) -> None:
    """RFC 8621 section 7.5: one implicit Email/set with the updates and destroys asked for the
    EmailSubmissions this call created, updated or destroyed; its response follows ours."""
    update: dict[str, Any] = {}
    destroy: list[str] = []
    for given, patch in actions.update.items():
        target = done.get(context.resolve_id(given) or "")
        if target is not None:
            update[target] = patch
    for given in actions.destroy:
        target = done.get(context.resolve_id(given) or "")
        if target is not None:
            destroy.append(target)
    if update or destroy:
        await implicit_email_set(context, account, update, destroy)


async def implicit_email_set(
    context: CallContext, account: JmapAccount, update: dict[str, Any], destroy: list[str]
) -> None:
    """An Email/set made for the caller (section 7.5's onSuccess actions, RFC 9007's
    onSuccessUpdateEmail); its response, or its error, follows the caller's."""
    implicit = dataclasses.replace(
        context, method="Email/set", capability=MAIL_CAPABILITY, extra_responses=[]
    )
    try:
        arguments: dict[str, Any] = {"accountId": account.id}
        if update:
            arguments["update"] = update
        if destroy:
            arguments["destroy"] = destroy
        result = await email_set(implicit, arguments)
    except MethodError as error:
        context.also_respond("error", error.to_json())
        return
    context.also_respond("Email/set", result)
    context.extra_responses.extend(implicit.extra_responses)


def register_email_submission(registry: MethodRegistry) -> None:
    registry.register("EmailSubmission/get", SUBMISSION_CAPABILITY, email_submission_get)
    registry.register("EmailSubmission/changes", SUBMISSION_CAPABILITY, email_submission_changes)
    registry.register("EmailSubmission/set", SUBMISSION_CAPABILITY, email_submission_set)
