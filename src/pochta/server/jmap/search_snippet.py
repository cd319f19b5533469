"""SearchSnippet/get (RFC 8621 section 5): for each Email asked, its subject and a fragment of
its body with the filter's words marked (``proto.jmap.mail.snippet``). The body text is the one
the search index holds (``ParsedMessage.body_text``: the textual parts, HTML reduced to text),
read by parsing the message again, since the index keeps it folded only."""

from __future__ import annotations

import asyncio
from typing import Any

from pochta.mime import parse_message
from pochta.proto.jmap import MAIL_CAPABILITY, MethodError, MethodErrorType
from pochta.proto.jmap.arguments import ArgumentReader, invalid_arguments
from pochta.proto.jmap.mail.ids import parse_email_id, parse_mailbox_id
from pochta.proto.jmap.mail.query import parse_email_filter
from pochta.proto.jmap.mail.snippet import mark, preview_snippet, snippet_words
from pochta.proto.jmap.standard.filter import parse_filter
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.registry import MethodRegistry

__all__ = ["register_search_snippet"]


async def search_snippet_get(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    reader = ArgumentReader(arguments)
    account_id = reader.id("accountId")
    filter_ = parse_filter(reader.raw("filter"))
    email_ids = reader.ids("emailIds")
    reader.rest()
    if email_ids is None:
        raise invalid_arguments("emailIds must be an Id[]")  # RFC 8621 section 5.1: required
    account = context.account(account_id)
    settings = context.settings
    if len(email_ids) > settings.jmap.max_objects_in_get:
        raise MethodError(MethodErrorType.REQUEST_TOO_LARGE, "more emailIds than maxObjectsInGet")
    tree = parse_email_filter(
        filter_, max_depth=settings.jmap.max_filter_depth, parse_mailbox=parse_mailbox_id
    )
    words = snippet_words(tree)
    store = context.store
    if store is None:
        raise MethodError(MethodErrorType.SERVER_UNAVAILABLE)
    wanted = {n for e in email_ids if (n := parse_email_id(e)) is not None}
    # Where each Email is (a mailbox and UID of one copy), from the account's views.
    where: dict[int, tuple[int, int]] = {}
    for mailbox in await store.mailboxes(account.account.id):
        if len(where) == len(wanted):
            break
        view = await store.open_view(mailbox.id)
        for i, message_id in enumerate(view.message_ids):
            if message_id in wanted and message_id not in where:
                where[message_id] = (mailbox.id, view.uids[i])
    texts: dict[int, tuple[str | None, str | None]] = {}
    if words.subject or words.body:
        by_mailbox: dict[int, list[int]] = {}
        for mailbox_id, uid in where.values():
            by_mailbox.setdefault(mailbox_id, []).append(uid)
        for mailbox_id, uids in by_mailbox.items():
            for cached in await store.cached(mailbox_id, sorted(uids)):
                data = await asyncio.to_thread(store.read_blob, cached.blob)
                parsed = await asyncio.to_thread(parse_message, data, settings.mime)
                subjects = parsed.header_values("subject")
                subject = mark(subjects[0], words.subject) if subjects and words.subject else None
                preview = preview_snippet(parsed.body_text, words.body) if words.body else None
                texts[cached.message_id] = (subject, preview)
    found: list[dict[str, Any]] = []
    not_found: list[str] = []
    for text_id in dict.fromkeys(email_ids):
        number = parse_email_id(text_id)
        if number is None or number not in where:
            not_found.append(text_id)
            continue
        subject, preview = texts.get(number, (None, None))
        found.append({"emailId": text_id, "subject": subject, "preview": preview})
    # RFC 8621 section 5.1: notFound is null when every Email was found (not an empty array).
    return {"accountId": account.id, "list": found, "notFound": not_found or None}


def register_search_snippet(registry: MethodRegistry) -> None:
    registry.register("SearchSnippet/get", MAIL_CAPABILITY, search_snippet_get)
