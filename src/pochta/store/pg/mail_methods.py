"""``PgStore``'s mail core: the async face of ``pg/mail`` and ``pg/mail_reads`` (deliveries,
APPEND, views, flags, COPY and MOVE, EXPUNGE, the \\Recent boundary, parse records, wire forms) and
of the blob files, each method one ``run_read`` or ``run_write`` job as on SQLite (``sqlite/store``'s
methods of the same names).

Blobs are files in the data directory's ``blobs/`` on PostgreSQL for now: ``new_blob`` writes a
file (durable when it returns) where SQLite keeps a small one for the write that refers to it
(``inline_blobs``); blobs in the database, or a directory every node mounts, come with several
nodes (docs/scaling.md).

Views are read whole at each ``open_view``: no view cache and no stored snapshots yet, so
``current_view`` and ``mailbox_hint`` answer None (both are hints the API allows to be absent).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar, overload

from sqlalchemy import Connection

from pochta.config import Settings
from pochta.mime import ParsedMessage
from pochta.mime.imapform import wire_forms
from pochta.store.api import FlagOp, NotFound
from pochta.store.blobs import BlobStore
from pochta.store.fetch_model import FetchMark
from pochta.store.model import (
    AccountId,
    AccountQuota,
    BlobRef,
    CachedMessage,
    Change,
    ChangeSet,
    CopyResult,
    MailboxId,
    MailboxName,
    MailboxView,
    MessageId,
    ModSeq,
    NewBlob,
    Placed,
    QuotaLimits,
    QuotaUsage,
    Target,
    Uid,
)
from pochta.store.pg import mail, mail_reads
from pochta.store.pg.reader import CoreDirectoryReader
from pochta.store.sql import directory
from pochta.store.sql.fetch import mark_fetched
from pochta.store.sqlite import mailboxes as mailbox_tree
from pochta.store.sqlite import quota as sqlite_quota
from pochta.store.sqlite import search
from pochta.store.sqlite.mail import PreparedMessage, get_quota_usage, normalize_uids

__all__ = ["MailMethods"]

T = TypeVar("T")


class MailMethods:
    """Mixed into ``PgStore``, which provides what is declared here."""

    settings: Settings
    blobs: BlobStore

    if TYPE_CHECKING:  # PgStore's own jobs; declared for the type checker only, as sql/'s mixins do

        async def run_read(self, fn: Callable[[Connection], T]) -> T: ...

        async def run_write(
            self,
            fn: Callable[[Connection, list[Change]], T],
            *,
            durable: bool = True,
            background: bool = False,
        ) -> T: ...

    @property
    def _max_keywords(self) -> int:
        # The write jobs bound each mailbox's keyword list themselves (sqlite/keywords).
        return self.settings.limits.max_keywords_per_mailbox

    # Blob files

    async def new_blob(self, data: bytes) -> BlobRef:
        return await self.blobs.put(data)

    def open_blob(self, blob: BlobRef) -> BinaryIO:
        if isinstance(blob, NewBlob):
            import io

            return io.BytesIO(blob.data)
        try:
            return self.blobs.open(blob.sha256)
        except FileNotFoundError:
            raise NotFound(f"blob {blob.sha256} is not stored") from None

    def read_blob(self, blob: BlobRef) -> bytes:
        with self.open_blob(blob) as file:
            return file.read(blob.size)

    async def read_blobs(self, blobs: Sequence[BlobRef]) -> dict[str, bytes]:
        def read() -> dict[str, bytes]:
            found: dict[str, bytes] = {}
            for blob in blobs:
                with contextlib.suppress(NotFound):
                    found[blob.sha256] = self.read_blob(blob)
            return found

        return await asyncio.to_thread(read)

    # Deliveries and APPEND

    async def _prepare(self, blob: BlobRef, parsed: ParsedMessage) -> PreparedMessage:
        def prepare() -> PreparedMessage:
            return PreparedMessage(
                blob, parsed.to_json(with_text=False), search.search_rows(parsed), wire_forms(parsed.root)
            )

        # CPU work off the loop, unless the message is small enough that the trip costs more.
        if blob.size <= self.settings.server.inline_message_max:
            return prepare()
        return await asyncio.to_thread(prepare)

    async def deliver(
        self,
        blob: BlobRef,
        parsed: ParsedMessage,
        targets: list[Target],
        *,
        fetched: Sequence[FetchMark] = (),
    ) -> list[Placed]:
        targets = list(targets)
        if not targets:
            return []
        prepared = await self._prepare(blob, parsed)
        limit = self._max_keywords

        def run(conn: Connection, events: list[Change]) -> list[Placed]:
            placed = mail.deliver(conn, events, self.blobs, prepared, targets, limit)
            if fetched:  # the fetcher's records commit with the message (docs/fetch.md)
                mark_fetched(conn, fetched, int(time.time()))
            return placed

        return await self.run_write(run)

    async def append(
        self,
        account_id: AccountId,
        mailbox: str,
        blob: BlobRef,
        parsed: ParsedMessage,
        flags: frozenset[str] = frozenset(),
        internal_date: datetime | None = None,
    ) -> Placed | None:
        prepared = await self._prepare(blob, parsed)
        target = Target(MailboxId(0), flags, internal_date)
        limit = self._max_keywords
        return await self.run_write(
            lambda c, e: mail.append_named(c, e, self.blobs, prepared, account_id, mailbox, target, limit)
        )

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
        await self.run_write(
            lambda c, e: mailbox_tree.delete_mailbox(c, e, account_id, name, drop=mail.drop_mailboxes)
        )

    async def delete_account(self, address: str) -> None:
        await self.run_write(lambda c, e: directory.delete_account(c, e, address, drop=mail.drop_mailboxes))

    # Writes to messages in mailboxes

    async def take_recent(self, mailbox_id: MailboxId, before: Uid) -> Uid:
        return await self.run_write(lambda c, _e: mail.take_recent(c, mailbox_id, before), durable=False)

    async def set_flags(
        self,
        mailbox_id: MailboxId,
        uids: Iterable[Uid],
        op: FlagOp,
        flags: Iterable[str],
        unchanged_since: ModSeq | None = None,
    ) -> ChangeSet:
        uid_list = normalize_uids(uids)
        flag_list = list(flags)
        limit = self._max_keywords
        return await self.run_write(
            lambda c, e: mail.set_flags(c, e, mailbox_id, uid_list, op, flag_list, unchanged_since, limit)
        )

    @overload
    async def transfer(
        self, source_id: MailboxId, uids: Iterable[Uid], to: MailboxId, *, move: bool
    ) -> CopyResult: ...
    @overload
    async def transfer(
        self, source_id: MailboxId, uids: Iterable[Uid], to: MailboxName, *, move: bool
    ) -> CopyResult | None: ...
    async def transfer(
        self, source_id: MailboxId, uids: Iterable[Uid], to: MailboxId | MailboxName, *, move: bool
    ) -> CopyResult | None:
        uid_list = normalize_uids(uids)
        limit = self._max_keywords
        if isinstance(to, MailboxName):
            return await self.run_write(
                lambda c, e: mail.transfer(c, e, to.account_id, source_id, uid_list, to.name, move, limit)
            )
        return await self.run_write(
            lambda c, e: mail.copy_messages(c, e, source_id, uid_list, to, move, limit)
        )

    async def expunge(
        self, mailbox_id: MailboxId, uids: Iterable[Uid] | None, *, only_deleted: bool = False
    ) -> ChangeSet:
        uid_list = None if uids is None else normalize_uids(uids)
        if only_deleted:
            return await self.run_write(lambda c, e: mail.expunge_deleted(c, e, mailbox_id, uid_list))
        return await self.run_write(lambda c, e: mail.expunge(c, e, mailbox_id, uid_list))
