"""Mailbox/set (RFC 8621 section 2.5): create, update, destroy, through the mailbox operations IMAP
uses (``pochta.mail.ops.MailOps``: CREATE, RENAME, DELETE, SUBSCRIBE and their rules), so a Mailbox
made here is an IMAP mailbox like any other.

- create: name + parentId give the IMAP name (missing superiors cannot arise: the parent exists);
  role becomes the special use (``proto/jmap/mail/mailbox_set``: at creation only); isSubscribed
  the subscription. Creates run parents first: one may name another of the same call as its
  parentId (``#creationId``).
- update: a new name or parentId is an IMAP RENAME (the subtree moves along); isSubscribed a
  SUBSCRIBE or UNSUBSCRIBE. INBOX keeps its name and place (forbidden): IMAP's RENAME of INBOX
  moves its messages into a new mailbox, which is not a JMAP rename.
- destroy: INBOX is forbidden; a Mailbox with a child is mailboxHasChild; one with Emails is
  mailboxHasEmail unless onDestroyRemoveEmails (then its Emails leave it, and those in no other
  Mailbox are destroyed, as IMAP DELETE does). Children are destroyed before their parents.
"""

from __future__ import annotations

from typing import Any

from pochta.mail.errors import Code, OpsError
from pochta.mail.ops import MailOps
from pochta.proto.jmap import (
    MAIL_CAPABILITY,
    MethodError,
    MethodErrorType,
    SetError,
    SetErrorType,
    SetFailure,
    apply_patch,
)
from pochta.proto.jmap.mail.ids import mailbox_id, parse_mailbox_id
from pochta.proto.jmap.mail.mailbox import INBOX, SEPARATOR, MailboxRecord, mailbox_object, special_use_of
from pochta.proto.jmap.mail.mailbox_set import MailboxWish, create_wish, update_wish
from pochta.proto.jmap.mail.states import state_string
from pochta.proto.jmap.standard import SetOutcome, parse_set, require_state
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.mailbox_get import mailbox_records, store_of
from pochta.server.jmap.principal import JmapAccount
from pochta.server.jmap.registry import MethodRegistry
from pochta.store.api import NotFound
from pochta.store.model import MailboxId

__all__ = ["register_mailbox_set"]

_DESTROY_EMAILS = "onDestroyRemoveEmails"

# How IMAP's refusals (RFC 5530 codes) read as SetErrors (RFC 8620 section 5.3).
_OPS_ERRORS: dict[str, SetErrorType] = {
    Code.ALREADYEXISTS: SetErrorType.ALREADY_EXISTS,
    Code.NONEXISTENT: SetErrorType.NOT_FOUND,
    Code.HASCHILDREN: SetErrorType.MAILBOX_HAS_CHILD,
    Code.OVERQUOTA: SetErrorType.OVER_QUOTA,
    Code.NOPERM: SetErrorType.FORBIDDEN,
    Code.INUSE: SetErrorType.FORBIDDEN,
}


def _failure(kind: SetErrorType, description: str, properties: tuple[str, ...] = ()) -> SetFailure:
    return SetFailure(SetError(kind, description, properties))


def _ops_failure(error: OpsError, property_: str) -> SetFailure:
    kind = _OPS_ERRORS.get(error.code)
    if kind is None:
        # CANNOT, LIMIT, USEATTR ...: the name or role breaks a rule of the mailbox tree.
        return _failure(SetErrorType.INVALID_PROPERTIES, error.message, (property_,))
    return _failure(kind, error.message)


class _MailboxSet:
    """One Mailbox/set call: the account's Mailboxes, kept current as the call writes."""

    def __init__(self, context: CallContext, account: JmapAccount, records: list[MailboxRecord]) -> None:
        self.context = context
        self.account = account
        self.ops = MailOps.from_settings(store_of(context), context.settings)
        self.records = {record.id: record for record in records}

    async def reload(self) -> None:
        records = await mailbox_records(self.ops.store, self.account)
        self.records = {record.id: record for record in records}

    def _by_name(self, name: str) -> MailboxRecord | None:
        return next((r for r in self.records.values() if r.name == name), None)

    def _record(self, given: str) -> MailboxRecord:
        resolved = self.context.resolve_id(given)
        record = None if resolved is None else self.records.get(resolved)
        if record is None:
            raise _failure(SetErrorType.NOT_FOUND, "no such Mailbox")
        return record

    def _full_name(self, wish: MailboxWish, moving: MailboxRecord | None = None) -> str:
        """The IMAP name of ``wish``; the parent must be a Mailbox (not ``moving`` or below it)."""
        if wish.parent_id is None:
            return wish.name
        resolved = self.context.resolve_id(wish.parent_id)
        parent = None if resolved is None else self.records.get(resolved)
        if parent is None:
            raise _failure(SetErrorType.INVALID_PROPERTIES, "parentId names no Mailbox", ("parentId",))
        below = moving is not None and (parent.name + SEPARATOR).startswith(moving.name + SEPARATOR)
        if below:
            # RFC 8621 section 2: the Mailbox tree has no loops.
            raise _failure(SetErrorType.INVALID_PROPERTIES, "a Mailbox cannot go below itself", ("parentId",))
        return parent.name + SEPARATOR + wish.name

    def _check_sibling(self, full_name: str, other_than: str | None = None) -> None:
        # RFC 8621 section 2: no two siblings of one name. INBOX is spelled in any case (IMAP).
        canonical = INBOX if full_name.upper() == INBOX and full_name.isascii() else full_name
        existing = self._by_name(canonical)
        if existing is not None and existing.id != other_than:
            raise SetFailure(
                SetError(
                    SetErrorType.ALREADY_EXISTS,
                    "a sibling Mailbox has that name",
                    extra={"existingId": existing.id},
                )
            )

    def _check_role(self, role: str | None) -> None:
        # RFC 8621 section 2: a role belongs to at most one Mailbox of the account.
        if role is not None and any(r.role == role for r in self.records.values()):
            raise _failure(SetErrorType.INVALID_PROPERTIES, f"another Mailbox has role {role!r}", ("role",))

    async def create(self, record: dict[str, Any]) -> dict[str, Any]:
        wish = create_wish(record)
        full_name = self._full_name(wish)
        self._check_sibling(full_name)
        self._check_role(wish.role)
        account_id = self.account.account.id
        use = None if wish.role is None else special_use_of(wish.role)
        try:
            info = await self.ops.create(account_id, full_name, use)
            if info.subscribed != wish.subscribed:
                await self._subscribe(full_name, wish.subscribed)
            if wish.sort_order:
                await self._sort(mailbox_id(info.id), wish.sort_order)
        except OpsError as error:
            raise _ops_failure(error, "name") from None
        await self.reload()
        made = self.records[mailbox_id(info.id)]
        # RFC 8620 section 5.3: the id and every property the server set or defaulted.
        shown = mailbox_object(made)
        return {name: value for name, value in shown.items() if name not in record or name == "id"}

    async def _subscribe(self, name: str, subscribed: bool) -> None:
        account_id = self.account.account.id
        if subscribed:
            await self.ops.subscribe(account_id, name)
        else:
            await self.ops.unsubscribe(account_id, name)

    async def _sort(self, given: str, sort_order: int) -> None:
        """RFC 8621 section 2 sortOrder (revision 0042); a Mailbox change for Mailbox/changes."""
        number = parse_mailbox_id(given)
        if number is None:
            raise _failure(SetErrorType.NOT_FOUND, "no such Mailbox")
        store = self.ops.store
        try:
            await store.set_mailbox_sort_order(self.account.account.id, MailboxId(number), sort_order)
        except NotFound:
            raise _failure(SetErrorType.NOT_FOUND, "the Mailbox went meanwhile") from None

    async def update(self, given: str, patch: dict[str, Any], destroying: set[str]) -> str:
        """Updates the Mailbox; its id."""
        record = self._record(given)
        if record.id in destroying:
            # RFC 8620 section 5.3: a record also in the destroy list is willDestroy.
            raise _failure(SetErrorType.WILL_DESTROY, "the Mailbox is destroyed in this call")
        current = mailbox_object(record)
        wish = update_wish(current, apply_patch(current, patch))
        new_name = self._full_name(wish, moving=record)
        if new_name != record.name:
            if record.name == INBOX:
                # RFC 8621 section 2: the inbox role's Mailbox stays; IMAP RENAME of INBOX would
                # empty it into a new mailbox instead.
                raise _failure(SetErrorType.FORBIDDEN, "INBOX cannot be renamed or moved")
            self._check_sibling(new_name, record.id)
        try:
            if new_name != record.name:
                await self.ops.rename(self.account.account.id, record.name, new_name)
            if wish.subscribed != record.subscribed:
                await self._subscribe(new_name, wish.subscribed)
            if wish.sort_order != record.sort_order:
                await self._sort(record.id, wish.sort_order)
        except OpsError as error:
            raise _ops_failure(error, "name") from None
        await self.reload()
        return record.id

    async def destroy(self, record: MailboxRecord, remove_emails: bool) -> None:
        if record.name == INBOX:
            # RFC 8621 section 2.5: the server may refuse (forbidden); INBOX always exists.
            raise _failure(SetErrorType.FORBIDDEN, "INBOX cannot be destroyed")
        if any(r.name.startswith(record.name + SEPARATOR) for r in self.records.values()):
            raise _failure(SetErrorType.MAILBOX_HAS_CHILD, "the Mailbox has child Mailboxes")
        if record.total_emails and not remove_emails:
            raise _failure(SetErrorType.MAILBOX_HAS_EMAIL, "the Mailbox holds Emails")
        try:
            await self.ops.delete(self.account.account.id, record.name)
        except OpsError as error:
            raise _ops_failure(error, "name") from None
        self.records.pop(record.id, None)


async def mailbox_set(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    limit = context.settings.jmap.max_objects_in_set
    args = parse_set(arguments, max_objects=limit, extra=(_DESTROY_EMAILS,))
    remove_emails = args.extra.get(_DESTROY_EMAILS, False)
    if not isinstance(remove_emails, bool):
        raise MethodError(MethodErrorType.INVALID_ARGUMENTS, f"{_DESTROY_EMAILS} must be a Boolean")
    account = context.writable_account(args.account_id)
    store = store_of(context)
    old_state = state_string(await store.account_state(account.account.id))
    require_state(args.if_in_state, old_state)
    calls = _MailboxSet(context, account, await mailbox_records(store, account))
    outcome = SetOutcome()
    pending = dict(args.create)
    while pending:
        # Parents first: a create whose parentId is a creation id of this call waits for it.
        ready = [cid for cid, record in pending.items() if not _waits(record, pending)]
        for creation_id in ready or list(pending):
            record = pending.pop(creation_id)
            try:
                made = await calls.create(record)
                outcome.created[creation_id] = made
                context.created(creation_id, made["id"])
            except SetFailure as failure:
                outcome.not_created[creation_id] = failure.error.to_json()
    destroying = {resolved for given in args.destroy if (resolved := context.resolve_id(given)) is not None}
    for given, patch in args.update.items():
        try:
            # RFC 8620 section 5.3: updated and destroyed are keyed by the ids (not "#creationId").
            outcome.updated[await calls.update(given, patch, destroying)] = None
        except SetFailure as failure:
            outcome.not_updated[given] = failure.error.to_json()
    targets: list[tuple[str, MailboxRecord]] = []
    for given in dict.fromkeys(args.destroy):
        try:
            targets.append((given, calls._record(given)))
        except SetFailure as failure:
            outcome.not_destroyed[given] = failure.error.to_json()
    # Children before their parents (deeper names first), so that a subtree goes in one call.
    for given, target in sorted(targets, key=lambda item: -item[1].name.count(SEPARATOR)):
        try:
            await calls.destroy(target, remove_emails)
            outcome.destroyed.append(target.id)
        except SetFailure as failure:
            outcome.not_destroyed[given] = failure.error.to_json()
    if outcome.changed:
        removed = ("Email", "Thread") if outcome.destroyed and remove_emails else ()
        context.changed(account.id, "Mailbox", *removed)
    return outcome.response(
        account.id, old_state, state_string(await store.account_state(account.account.id))
    )


def _waits(record: dict[str, Any], pending: dict[str, Any]) -> bool:
    parent = record.get("parentId")
    return isinstance(parent, str) and parent.startswith("#") and parent[1:] in pending


def register_mailbox_set(registry: MethodRegistry) -> None:
    registry.register("Mailbox/set", MAIL_CAPABILITY, mailbox_set)
