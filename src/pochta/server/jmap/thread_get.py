"""Thread/get (RFC 8621 section 3.1): a Thread is the Emails the account holds of one IMAP
THREADID (``T`` + the thread's id), oldest receivedAt first (RFC 8621 section 3). The account's
Emails the indexer has not threaded yet are threaded first (``email_threads.thread_account``)."""

from __future__ import annotations

from typing import Any

from pochta.proto.jmap import MethodError, MethodErrorType
from pochta.proto.jmap.mail.email_meta import thread_order
from pochta.proto.jmap.mail.ids import parse_thread_id, thread_id
from pochta.proto.jmap.mail.states import state_string
from pochta.proto.jmap.standard import parse_get
from pochta.server.jmap.changes import store_of
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.email_threads import thread_account

__all__ = ["THREAD_PROPERTIES", "thread_get"]

THREAD_PROPERTIES = ("id", "emailIds")  # RFC 8621 section 3


async def thread_get(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    args = parse_get(arguments, max_objects=context.settings.jmap.max_objects_in_get)
    account = context.account(args.account_id)
    properties = THREAD_PROPERTIES if args.properties is None else args.properties
    unknown = sorted(set(properties) - set(THREAD_PROPERTIES))
    if unknown:
        raise MethodError(
            MethodErrorType.INVALID_ARGUMENTS, f"unknown Thread properties: {', '.join(unknown)}"
        )
    if args.ids is None:
        # RFC 8620 section 5.1 allows ids null; an account's threads are too many for one call.
        raise MethodError(MethodErrorType.REQUEST_TOO_LARGE, "ids null: ask for the Threads by id")
    store = store_of(context)
    state = state_string(await store.account_state(account.account.id))
    asked = list(dict.fromkeys(args.ids))
    numbers = {text: parse_thread_id(text) for text in asked}
    if any(number is not None for number in numbers.values()):
        # Every Email up to that state in its thread, so that the Threads are whole at the state.
        await thread_account(store, account.account.id)
    records = await store.thread_emails(account.account.id, {n for n in numbers.values() if n is not None})
    live = [record for record in records if record.destroyed is None and record.thread_id is not None]
    emails = {
        email.message_id: email
        for email in await store.account_emails_in(account.account.id, [r.message_id for r in live])
    }
    members: dict[int, list[tuple[int, int]]] = {}
    for record in live:
        email = emails.get(record.message_id)
        if email is not None and record.thread_id is not None:
            members.setdefault(record.thread_id, []).append((email.received_at, email.message_id))
    listed: list[dict[str, Any]] = []
    not_found: list[str] = []
    for text in asked:
        number = numbers[text]
        if number is None or number not in members:
            not_found.append(text)
            continue
        # RFC 8620 section 5.1: the id is always returned, whatever properties were asked.
        thread: dict[str, Any] = {"id": thread_id(number)}
        if "emailIds" in properties:
            thread["emailIds"] = thread_order(members[number])
        listed.append(thread)
    return {"accountId": account.id, "state": state, "list": listed, "notFound": not_found}
