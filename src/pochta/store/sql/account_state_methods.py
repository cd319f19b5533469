"""The async face of ``sql/account_changes`` (``AccountStateStore``), once for both stores: each
method one read job, so one snapshot (on PostgreSQL a REPEATABLE READ transaction: an account's
writes commit in MODSEQ order, so a snapshot holding MODSEQ n of an account holds every lower one)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import Connection

from pochta.store.account_state_model import (
    AccountEmail,
    ChangesPosition,
    EmailChanges,
    EmailPage,
    EmailRecord,
    EmailThread,
    MailboxChanges,
    MailboxCounts,
)
from pochta.store.model import AccountId, MailboxId, MessageId, ModSeq
from pochta.store.sql import account_changes, email_query, mailbox_counts

__all__ = ["AccountStateMethods"]

T = TypeVar("T")


class AccountStateMethods:
    """Mixed into ``SqliteStore`` and ``PgStore``, which provide what is declared here."""

    if TYPE_CHECKING:  # the store's own job; declared for the type checker only, as sql/'s mixins do

        async def run_read(self, fn: Callable[[Connection], T]) -> T: ...

    async def account_state(self, account_id: AccountId) -> ModSeq:
        return await self.run_read(lambda c: account_changes.account_state(c, account_id))

    async def email_changes(
        self, account_id: AccountId, since: ModSeq, after: ChangesPosition | None, limit: int
    ) -> EmailChanges:
        return await self.run_read(
            lambda c: account_changes.email_changes(c, account_id, since, after, limit)
        )

    async def mailbox_changes(
        self, account_id: AccountId, since: ModSeq, after: ChangesPosition | None, limit: int
    ) -> MailboxChanges:
        return await self.run_read(
            lambda c: account_changes.mailbox_changes(c, account_id, since, after, limit)
        )

    async def mailbox_counts(self, account_id: AccountId) -> dict[MailboxId, MailboxCounts]:
        return await self.run_read(lambda c: mailbox_counts.mailbox_counts(c, account_id))

    async def account_emails_in(
        self, account_id: AccountId, message_ids: Iterable[MessageId]
    ) -> list[AccountEmail]:
        ids = list(message_ids)
        return await self.run_read(lambda c: account_changes.account_emails_in(c, account_id, ids))

    async def email_threads(
        self, account_id: AccountId, message_ids: Iterable[MessageId]
    ) -> list[EmailThread]:
        ids = list(message_ids)
        return await self.run_read(lambda c: account_changes.email_threads(c, account_id, ids))

    async def thread_emails(self, account_id: AccountId, thread_ids: Iterable[int]) -> list[EmailThread]:
        ids = list(thread_ids)
        return await self.run_read(lambda c: account_changes.thread_emails(c, account_id, ids))

    async def email_records(
        self, account_id: AccountId, message_ids: Iterable[MessageId]
    ) -> list[EmailRecord]:
        ids = list(message_ids)
        return await self.run_read(lambda c: account_changes.email_records(c, account_id, ids))

    async def email_record_of_blob(self, account_id: AccountId, sha256: str) -> EmailRecord | None:
        return await self.run_read(lambda c: account_changes.email_record_of_blob(c, account_id, sha256))

    async def emails_by_received(
        self,
        account_id: AccountId,
        mailbox_id: MailboxId,
        *,
        descending: bool,
        position: int,
        limit: int,
        count: bool,
    ) -> EmailPage:
        return await self.run_read(
            lambda c: email_query.emails_by_received(
                c, account_id, mailbox_id, descending=descending, position=position, limit=limit, count=count
            )
        )
