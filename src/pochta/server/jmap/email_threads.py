"""Emails get their THREADID from the background indexer; one not threaded yet is threaded on
demand, as IMAP's FETCH THREADID does (RFC 8474 section 5.2, ``store.thread_now``), so that every
Email JMAP shows has its threadId."""

from __future__ import annotations

from collections.abc import Sequence

from pochta.store.account_state_model import AccountEmail
from pochta.store.api import Store
from pochta.store.model import AccountId

__all__ = ["thread_account", "threaded"]


async def threaded(store: Store, account_id: AccountId, emails: Sequence[AccountEmail]) -> list[AccountEmail]:
    """``emails`` with their threads: the mailboxes of those without one are threaded now, and
    those Emails read again (one that went meanwhile is left out)."""
    waiting = [email for email in emails if email.thread_id is None]
    if not waiting:
        return list(emails)
    for mailbox in sorted({email.mailbox_ids[0] for email in waiting if email.mailbox_ids}):
        await store.thread_now(mailbox)
    again = {
        email.message_id: email
        for email in await store.account_emails_in(account_id, [e.message_id for e in waiting])
    }
    out: list[AccountEmail] = []
    for email in emails:
        if email.thread_id is not None:
            out.append(email)
        elif email.message_id in again:
            out.append(again[email.message_id])
    return out


async def thread_account(store: Store, account_id: AccountId) -> None:
    """Thread every Email of the account now (each mailbox holding mail; where the indexer has
    been, ``thread_now`` finds nothing to do). Thread/get needs it: a Thread listed while one of
    its Emails waited for the indexer would miss that Email, and no later Thread/changes would
    tell (the Email was created before the state Thread/get returned)."""
    for mailbox in await store.mailboxes(account_id):
        if mailbox.messages:
            await store.thread_now(mailbox.id)
