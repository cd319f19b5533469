"""Mailbox/get and Mailbox/changes (RFC 8621 sections 2.1 and 2.2), over the store's mailboxes,
their counts (``mailbox_counts``) and the account's state (``AccountStateStore``)."""

from __future__ import annotations

from typing import Any

from pochta.mail import acl
from pochta.proto.jmap import MAIL_CAPABILITY, MethodError, MethodErrorType
from pochta.proto.jmap.mail.ids import mailbox_id
from pochta.proto.jmap.mail.mailbox import DEFAULT_PROPERTIES, MailboxRecord, mailbox_object, parent_name
from pochta.proto.jmap.mail.states import intermediate_state, parse_state, state_string
from pochta.proto.jmap.standard import parse_changes, parse_get
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.principal import JmapAccount
from pochta.server.jmap.registry import MethodRegistry
from pochta.store.account_state_model import CannotCalculateChanges, ChangesPosition, MailboxCounts
from pochta.store.api import Store
from pochta.store.model import AccountId, MailboxId, ModSeq

__all__ = ["mailbox_records", "register_mailbox_get", "store_of", "threaded_counts"]

# RFC 8621 section 2.2: what may have changed when only a Mailbox's counts did.
COUNT_PROPERTIES = ["totalEmails", "unreadEmails", "totalThreads", "unreadThreads"]


def store_of(context: CallContext) -> Store:
    if context.store is None:
        raise MethodError(MethodErrorType.SERVER_UNAVAILABLE, "no store in this process")
    return context.store


async def threaded_counts(store: Store, account_id: AccountId) -> dict[MailboxId, MailboxCounts]:
    """The account's mailbox counts, once every message is threaded: thread counts are final then
    (``sql/mailbox_counts``), and a thread joined later cannot change them with no change reported
    (``mailbox_changes`` follows thread-mates). IMAP's FETCH THREADID threads a mailbox first too."""
    counts = await store.mailbox_counts(account_id)
    unthreaded = [number for number, count in counts.items() if count.unthreaded]
    if not unthreaded:
        return counts
    for number in unthreaded:
        await store.thread_now(number)
    return await store.mailbox_counts(account_id)


async def mailbox_records(store: Store, account: JmapAccount) -> list[MailboxRecord]:
    """The account's Mailboxes as the principal sees them (its own: the owner's rights, RFC 4314)."""
    owner = account.is_personal
    rights = acl.rights_for(account.account.address, owner=owner, acl={})
    infos = await store.mailboxes(account.account.id)
    counts = await threaded_counts(store, account.account.id)
    sort_orders = await store.mailbox_sort_orders(account.account.id)
    ids_by_name = {info.name: info.id for info in infos}
    records = []
    for info in infos:
        parent = parent_name(info.name)
        parent_number = None if parent is None else ids_by_name.get(parent)
        count = counts.get(info.id, MailboxCounts())
        records.append(
            MailboxRecord(
                id=mailbox_id(info.id),
                name=info.name,
                parent_id=None if parent_number is None else mailbox_id(parent_number),
                special_use=info.special_use,
                subscribed=info.subscribed,
                rights=rights,
                may_submit=owner,
                total_emails=count.total_emails,
                unread_emails=count.unread_emails,
                total_threads=count.total_threads,
                unread_threads=count.unread_threads,
                sort_order=sort_orders.get(info.id, 0),
            )
        )
    return records


async def mailbox_get(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = parse_get(arguments, max_objects=context.settings.jmap.max_objects_in_get)
    account = context.account(args.account_id)
    if args.properties is not None:
        unknown = [name for name in args.properties if name not in DEFAULT_PROPERTIES]
        if unknown:
            # RFC 8620 section 5.1: an unknown property is invalidArguments.
            raise MethodError(MethodErrorType.INVALID_ARGUMENTS, f"unknown properties: {', '.join(unknown)}")
    store = store_of(context)
    # The state first: the Mailboxes read after it are as new or newer (a /changes from it may
    # report again what they show, never miss a change).
    state = await store.account_state(account.account.id)
    records = {record.id: record for record in await mailbox_records(store, account)}
    found, not_found = [], []
    wanted = list(records) if args.ids is None else args.ids
    for wanted_id in dict.fromkeys(wanted):
        resolved = context.resolve_id(wanted_id)
        record = None if resolved is None else records.get(resolved)
        if record is None:
            not_found.append(wanted_id)
        else:
            found.append(mailbox_object(record, args.properties))
    return {"accountId": account.id, "state": state_string(state), "list": found, "notFound": not_found}


async def mailbox_changes(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = parse_changes(arguments)
    account = context.account(args.account_id)
    since = parse_state(args.since_state)
    if since is None:
        raise MethodError(MethodErrorType.CANNOT_CALCULATE_CHANGES, "not a state this server gave")
    # RFC 8620 section 5.2: the server may return fewer changes than maxChanges; at most a /get's.
    cap = context.settings.jmap.max_objects_in_get
    limit = cap if args.max_changes is None else min(args.max_changes, cap)
    after = None if since.after is None else ChangesPosition(ModSeq(since.after[0]), since.after[1])
    store = store_of(context)
    await threaded_counts(store, account.account.id)  # threads joined since count as changes
    try:
        changes = await store.mailbox_changes(account.account.id, ModSeq(since.since), after, limit)
    except CannotCalculateChanges as exc:
        raise MethodError(MethodErrorType.CANNOT_CALCULATE_CHANGES, str(exc)) from None
    if changes.position is not None:
        new_state = intermediate_state(since.since, changes.position.modseq, changes.position.item)
    else:
        new_state = state_string(changes.state)
    only_counts = bool(changes.updated) and all(m in changes.counts_only for m in changes.updated)
    return {
        "accountId": account.id,
        "oldState": args.since_state,
        "newState": new_state,
        "hasMoreChanges": changes.has_more,
        "created": [mailbox_id(m) for m in changes.created],
        "updated": [mailbox_id(m) for m in changes.updated],
        "destroyed": [mailbox_id(m) for m in changes.destroyed],
        # RFC 8621 section 2.2: the counts, when only they changed; else null.
        "updatedProperties": COUNT_PROPERTIES if only_counts else None,
    }


def register_mailbox_get(registry: MethodRegistry) -> None:
    registry.register("Mailbox/get", MAIL_CAPABILITY, mailbox_get)
    registry.register("Mailbox/changes", MAIL_CAPABILITY, mailbox_changes)
