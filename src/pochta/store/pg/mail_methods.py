"""``PgStore``'s mail core: the async face of ``pg/mail`` and ``pg/mail_reads`` (views, changes,
the \\Recent boundary, parse records, wire forms, quota, deleting mailboxes), each method one
``run_read`` or ``run_write`` job as on SQLite (``sqlite/store``'s methods of the same names). The
writes to messages (deliver, APPEND, flags, COPY/MOVE, EXPUNGE) are
``store/sql/mail_write_methods``', shared with SQLite.

Blobs are ``pg/blob_methods``' (``PgBlobs``): the writes here hand a delivery's blob to
``PgBlobs.ensure_stored`` inside their transaction, whichever place ``store.blobs`` names.

Views are read whole at each ``open_view``: no view cache and no stored snapshots yet, so
``current_view`` and ``mailbox_hint`` answer None (both are hints the API allows to be absent).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pochta.config import Settings
from pochta.store.model import (
    AccountId,
    AccountQuota,
    CachedMessage,
    ChangeSet,
    MailboxId,
    MailboxView,
    MessageId,
    ModSeq,
    QuotaLimits,
    QuotaUsage,
    Uid,
)
from pochta.store.pg import mail, mail_reads
from pochta.store.pg.blobs import PgBlobs
from pochta.store.pg.jobs import PgJobs
from pochta.store.pg.reader import CoreDirectoryReader
from pochta.store.sql import directory
from pochta.store.sql.mail_rows import normalize_uids
from pochta.store.sqlite import mailboxes as mailbox_tree
from pochta.store.sqlite import quota as sqlite_quota
from pochta.store.sqlite.mail import get_quota_usage

__all__ = ["MailMethods"]


class MailMethods(PgJobs):
    """Mixed into ``PgStore``, which provides what is declared here."""

    settings: Settings
    blobs: PgBlobs

    # Views and changes

    async def open_view(self, mailbox_id: MailboxId) -> MailboxView:
        return await self.run_read(lambda c: mail_reads.read_view(c, mailbox_id))

    async def open_named_view(
        self, account_id: AccountId, name: str, guess: MailboxId | None = None
    ) -> MailboxView | None:
        del guess  # a hint for SQLite's view stamps; nothing is cached here yet
        return await self.run_read(lambda c: mail_reads.read_named_view(c, account_id, name))

    def mailbox_hint(self, account_id: AccountId, name: str) -> MailboxId | None:
        del account_id, name
        return None

    def current_view(self, mailbox_id: MailboxId) -> MailboxView | None:
        del mailbox_id  # no view cache yet: nothing is provably current without a read
        return None

    async def changes_since(self, mailbox_id: MailboxId, modseq: ModSeq) -> ChangeSet:
        return await self.run_read(lambda c: mail_reads.changes_since(c, mailbox_id, modseq))

    async def expunged_since(self, mailbox_id: MailboxId, modseq: ModSeq) -> tuple[Uid, ...] | None:
        return await self.run_read(lambda c: mail_reads.expunged_since(c, mailbox_id, modseq))

    async def cached(self, mailbox_id: MailboxId, uids: Iterable[Uid]) -> list[CachedMessage]:
        uid_list = normalize_uids(uids)
        return await self.run_read(lambda c: mail_reads.cached(c, mailbox_id, uid_list))

    async def wire_forms(
        self, message_ids: Iterable[MessageId], names: Sequence[str], utf8: bool, *, share: bool = False
    ) -> list[tuple[Any, ...]]:
        # ``share`` tells other workers' caches of forms; there are none on PostgreSQL yet.
        # No cache of forms in the process yet (SQLite's WireCache keys on directory_version,
        # which PostgreSQL does not keep yet): every call reads the database.
        id_list, name_list = list(message_ids), list(names)
        return await self.run_read(lambda c: mail_reads.read_forms(c, id_list, name_list, utf8))

    # Quota (RFC 9208): usage moves by deltas in each write (``pg/mail``)

    async def quota_usage(self, account_id: AccountId) -> int:
        return await self.run_read(lambda c: get_quota_usage(c, account_id))

    async def account_quota(self, account_id: AccountId) -> AccountQuota | None:
        return await self.run_read(lambda c: CoreDirectoryReader(c).quota(account_id))

    async def domain_quota(self, name: str) -> tuple[QuotaLimits, QuotaUsage] | None:
        return await self.run_read(lambda c: sqlite_quota.domain_quota(c, name))

    async def deleted_storage(self, mailbox_id: MailboxId) -> int:
        return await self.run_read(lambda c: mail_reads.deleted_storage(c, mailbox_id))

    # Deleting mailboxes and accounts: their messages released by ``pg/mail.drop_mailboxes``

    async def delete_mailbox(self, account_id: AccountId, name: str) -> None:
        # READ COMMITTED, the account's counter taken first (``sql/account_modseq``).
        await self._run_mail_write(
            lambda c, e: mailbox_tree.delete_mailbox(c, e, account_id, name, drop=mail.drop_mailboxes)
        )

    async def delete_account(self, address: str) -> None:
        await self.run_write(lambda c, e: directory.delete_account(c, e, address, drop=mail.drop_mailboxes))

    # Writes to messages in mailboxes

    async def take_recent(self, mailbox_id: MailboxId, before: Uid) -> Uid:
        return await self.run_write(lambda c, _e: mail.take_recent(c, mailbox_id, before), durable=False)
