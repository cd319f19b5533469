"""Thread/changes (RFC 8621 section 3.2, the standard /changes of RFC 8620 section 5.2): the
threads of the Emails created or destroyed since the state (a page of ``store.email_changes``),
judged by ``proto/jmap/mail/thread_changes`` from their Emails' records (docs/architecture.md,
"The account's state"). A page of as many Email changes as maxChanges allows changes at most as
many threads, so its intermediate state is the Email page's."""

from __future__ import annotations

from typing import Any

from pochta.proto.jmap.mail.ids import thread_id
from pochta.proto.jmap.mail.thread_changes import EmailSpan, thread_changes
from pochta.server.jmap.changes import email_changes_page, store_of
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.email_threads import threaded

__all__ = ["thread_changes_method"]


async def thread_changes_method(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    page = await email_changes_page(context, arguments)
    changes, window = page.changes, page.window
    store = store_of(context)
    owner = page.account.account.id
    # The Emails created have their threads first (the indexer may not have come yet).
    await threaded(store, owner, await store.account_emails_in(owner, changes.created))
    moved = [*changes.created, *changes.destroyed]
    threads = {record.thread_id for record in await store.email_threads(owner, moved)}
    threads.discard(None)
    spans: dict[int, list[EmailSpan]] = {}
    for record in await store.thread_emails(owner, [t for t in threads if t is not None]):
        if record.thread_id is not None:
            spans.setdefault(record.thread_id, []).append(EmailSpan(record.created, record.destroyed))
    found = thread_changes(window.since, spans)
    return page.response(
        [thread_id(n) for n in found.created],
        [thread_id(n) for n in found.updated],
        [thread_id(n) for n in found.destroyed],
    )
