"""Email/set (RFC 8621 section 4.6): update and destroy, through the writes IMAP uses (``MailOps``:
STORE, COPY/MOVE, UID EXPUNGE), so an IMAP session sees a JMAP change as it sees another
session's, IDLE included.

An Email is a message with one membership (mailbox, UID) per Mailbox holding it:
- update ``keywords``: the keywords gained added to each membership's flags and those lost removed
  (STORE +FLAGS/-FLAGS: the flags no keyword stands for stay); the keyword <-> flag mapping is
  Email/get's (``email_meta``).
- update ``mailboxIds``: a Mailbox gained is a MOVE from one that goes (else a COPY from one that
  stays), a Mailbox lost an expunge of the Email's UIDs there; the flags are written before, so the
  copies carry them, and the copies before the expunges, so the Email is never in no Mailbox.
- destroy: every membership expunged.
- create: ``email_create`` (compose, APPEND, COPY to the other Mailboxes).
"""

from __future__ import annotations

from typing import Any

from pochta.mail.errors import OpsError
from pochta.mail.ops import MailOps
from pochta.proto.jmap import (
    MAIL_CAPABILITY,
    SetError,
    SetErrorType,
    SetFailure,
)
from pochta.proto.jmap.mail.email_meta import flag_of_keyword, keywords_of
from pochta.proto.jmap.mail.email_set import update_wish
from pochta.proto.jmap.mail.ids import email_id, mailbox_id, parse_email_id, parse_mailbox_id
from pochta.proto.jmap.mail.states import state_string
from pochta.proto.jmap.standard import SetOutcome, parse_set, require_state
from pochta.server.jmap.changes import store_of
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.email_create import create_email, ops_failure
from pochta.server.jmap.principal import JmapAccount
from pochta.server.jmap.registry import MethodRegistry
from pochta.store.account_state_model import AccountEmail
from pochta.store.api import FlagOp
from pochta.store.model import MailboxId, MessageId, Uid

__all__ = ["email_set", "register_email_set"]


def _failure(kind: SetErrorType, description: str) -> SetFailure:
    return SetFailure(SetError(kind, description))


class _EmailSet:
    def __init__(self, context: CallContext, account: JmapAccount) -> None:
        self.context = context
        self.account = account
        self.store = store_of(context)
        self.ops = MailOps.from_settings(self.store, context.settings)

    async def email(self, given: str) -> AccountEmail:
        resolved = self.context.resolve_id(given)
        number = None if resolved is None else parse_email_id(resolved)
        if number is not None:
            found = await self.store.account_emails_in(self.account.account.id, {MessageId(number)})
            if found:
                return found[0]
        raise _failure(SetErrorType.NOT_FOUND, "no such Email")

    async def memberships(self, email: AccountEmail) -> dict[MailboxId, list[tuple[Uid, frozenset[str]]]]:
        """The Email's UIDs (and their flags) in each Mailbox holding it."""
        out: dict[MailboxId, list[tuple[Uid, frozenset[str]]]] = {}
        for box in email.mailbox_ids:
            view = self.store.current_view(box) or await self.store.open_view(box)
            out[box] = [
                (Uid(view.uids[i]), view.flags[i])
                for i, number in enumerate(view.message_ids)
                if number == email.message_id
            ]
        return out

    async def _mailbox_of(self, given: str) -> MailboxId:
        resolved = self.context.resolve_id(given)
        number = None if resolved is None else parse_mailbox_id(resolved)
        if number is not None:
            info = await self.store.get_mailbox_by_id(MailboxId(number))
            if info is not None and info.account_id == self.account.account.id:
                return MailboxId(number)
        raise SetFailure(SetError(SetErrorType.INVALID_PROPERTIES, f"no Mailbox {given}", ("mailboxIds",)))

    async def update(self, given: str, patch: dict[str, Any], destroying: set[str]) -> str:
        email = await self.email(given)
        this_id = email_id(email.message_id)
        if this_id in destroying:
            raise _failure(SetErrorType.WILL_DESTROY, "the Email is destroyed in this call")
        current_boxes = {mailbox_id(box): True for box in email.mailbox_ids}
        current_keywords = keywords_of(email.flags)
        wish = update_wish(current_keywords, current_boxes, patch)
        wanted = {await self._mailbox_of(given_box) for given_box in wish.mailbox_ids}
        members = await self.memberships(email)
        try:
            if any(path.split("/", 1)[0] == "keywords" for path in patch):
                await self._write_keywords(members, frozenset(current_keywords), wish.keywords)
            await self._write_mailboxes(members, wanted)
        except OpsError as error:
            raise ops_failure(error, "keywords") from None
        return this_id

    async def _write_keywords(
        self,
        members: dict[MailboxId, list[tuple[Uid, frozenset[str]]]],
        before: frozenset[str],
        after: frozenset[str],
    ) -> None:
        """The keywords gained added and those lost removed, as IMAP STORE +FLAGS and -FLAGS, so
        that a flag the update does not name (\\Deleted, or \\Seen on some copies only) stays as
        it is, also when another session changes it meanwhile."""
        writes: tuple[tuple[FlagOp, frozenset[str]], ...] = (
            ("add", after - before),
            ("remove", before - after),
        )
        for op, keywords in writes:
            flags = {flag_of_keyword(keyword).lower(): flag_of_keyword(keyword) for keyword in keywords}
            for box, entries in members.items():
                had = [{flag.lower() for flag in flags_of} for _, flags_of in entries]
                uids = [
                    uid
                    for (uid, _), have in zip(entries, had, strict=True)
                    if (op == "add" and not flags.keys() <= have) or (op == "remove" and flags.keys() & have)
                ]
                if uids:
                    await self.ops.store_flags(box, uids, op, flags.values())

    async def _write_mailboxes(
        self, members: dict[MailboxId, list[tuple[Uid, frozenset[str]]]], wanted: set[MailboxId]
    ) -> None:
        gained = sorted(wanted - members.keys())
        lost = sorted(members.keys() - wanted)
        staying = sorted(members.keys() & wanted)
        for target in gained:
            if lost:  # a MOVE: the IMAP session of the source sees the message go, the target's it come
                source = lost.pop(0)
                await self.ops.transfer_between(source, [u for u, _ in members[source]], target, move=True)
            else:
                source = staying[0]
                await self.ops.transfer_between(source, [u for u, _ in members[source]], target, move=False)
        for box in lost:
            await self.ops.expunge_uids(box, [u for u, _ in members[box]])

    async def destroy(self, given: str) -> str:
        email = await self.email(given)
        members = await self.memberships(email)
        try:
            for box, entries in members.items():
                await self.ops.expunge_uids(box, [u for u, _ in entries])
        except OpsError as error:
            raise ops_failure(error, "id") from None
        return email_id(email.message_id)


async def email_set(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = parse_set(arguments, max_objects=context.settings.jmap.max_objects_in_set)
    account = context.writable_account(args.account_id)
    store = store_of(context)
    old_state = state_string(await store.account_state(account.account.id))
    require_state(args.if_in_state, old_state)
    calls = _EmailSet(context, account)
    outcome = SetOutcome()
    if args.create:
        mailboxes = {info.id: info.name for info in await store.mailboxes(account.account.id)}
        for creation_id, record in args.create.items():
            try:
                made = await create_email(
                    calls.ops, account.account.id, record, mailboxes, context.resolve_id, context.settings
                )
                outcome.created[creation_id] = made
                context.created(creation_id, made["id"])
            except SetFailure as failure:
                outcome.not_created[creation_id] = failure.error.to_json()
    destroying = {resolved for given in args.destroy if (resolved := context.resolve_id(given)) is not None}
    for given, patch in args.update.items():
        try:
            outcome.updated[await calls.update(given, patch, destroying)] = None
        except SetFailure as failure:
            outcome.not_updated[given] = failure.error.to_json()
    for given in dict.fromkeys(args.destroy):
        try:
            outcome.destroyed.append(await calls.destroy(given))
        except SetFailure as failure:
            outcome.not_destroyed[given] = failure.error.to_json()
    if outcome.changed:
        context.changed(account.id, "Email", "Mailbox", "Thread")
    return outcome.response(
        account.id, old_state, state_string(await store.account_state(account.account.id))
    )


def register_email_set(registry: MethodRegistry) -> None:
    registry.register("Email/set", MAIL_CAPABILITY, email_set)
