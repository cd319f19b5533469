"""The async face of the mail core's writes (``store/sql/mail_writes``), once for both stores:
deliver, APPEND, flags, COPY/MOVE and EXPUNGE, each one write job of the store, run with the
store's engine's statements (``_mail_ops``: the module ``sqlite/mail`` or ``pg/mail``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, TypeVar, overload

from sqlalchemy import Connection

from pochta.config import Settings
from pochta.mime import ParsedMessage
from pochta.mime.imapform import wire_forms
from pochta.store.api import FlagOp
from pochta.store.fetch_model import FetchMark
from pochta.store.model import (
    AccountId,
    BlobRef,
    Change,
    ChangeSet,
    CopyResult,
    MailboxId,
    MailboxName,
    ModSeq,
    Placed,
    Target,
    Uid,
)
from pochta.store.sql import mail_writes
from pochta.store.sql.fetch import mark_fetched
from pochta.store.sql.mail_rows import PreparedMessage, normalize_uids
from pochta.store.sql.mail_writes import MailOps
from pochta.store.sqlite import search

__all__ = ["MailWriteMethods"]

T = TypeVar("T")


class MailWriteMethods:
    """Mixed into ``SqliteStore`` and ``PgStore``, which provide what is declared here."""

    settings: Settings
    _mail_ops: ClassVar[MailOps]  # the engine's statements

    if TYPE_CHECKING:  # the store's own; declared for the type checker only, as sql/'s mixins do

        def _store_blob(self, conn: Connection, blob: BlobRef) -> None:
            """``mail_writes.StoreBlob``: the store's blob layouts are its own."""

        async def _run_mail_write(self, fn: Callable[[Connection, list[Change]], T]) -> T:
            """One write job of these (the engine chooses its transaction: ``MailOps`` are written
            for it)."""

    @property
    def _max_keywords(self) -> int:
        # The write jobs bound each mailbox's keyword list themselves (MailOps.admit_keywords).
        return self.settings.limits.max_keywords_per_mailbox

    async def _prepare(self, blob: BlobRef, parsed: ParsedMessage) -> PreparedMessage:
        def prepare() -> PreparedMessage:
            return PreparedMessage(
                blob, parsed.to_json(with_text=False), search.search_rows(parsed), wire_forms(parsed.root)
            )

        # Serialising the parse results is CPU work, kept off the writer thread; off the loop too,
        # unless the message is small enough that the trip to a worker thread costs more.
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
        ops, limit = self._mail_ops, self._max_keywords

        def run(conn: Connection, events: list[Change]) -> list[Placed]:
            placed = mail_writes.deliver(ops, conn, events, self._store_blob, prepared, targets, limit)
            if fetched:  # the fetcher's records commit with the message (docs/fetch.md)
                mark_fetched(conn, fetched, int(time.time()))
            return placed

        return await self._run_mail_write(run)

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
        ops, limit = self._mail_ops, self._max_keywords
        return await self._run_mail_write(
            lambda c, e: mail_writes.append_named(
                ops, c, e, self._store_blob, prepared, account_id, mailbox, target, limit
            )
        )

    async def set_flags(
        self,
        mailbox_id: MailboxId,
        uids: Iterable[Uid],
        op: FlagOp,
        flags: Iterable[str],
        unchanged_since: ModSeq | None = None,
    ) -> ChangeSet:
        uid_list, flag_list = normalize_uids(uids), list(flags)
        ops, limit = self._mail_ops, self._max_keywords
        return await self._run_mail_write(
            lambda c, e: mail_writes.set_flags(
                ops, c, e, mailbox_id, uid_list, op, flag_list, unchanged_since, limit
            )
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
        ops, limit = self._mail_ops, self._max_keywords
        if isinstance(to, MailboxName):
            return await self._run_mail_write(
                lambda c, e: mail_writes.transfer(
                    ops, c, e, to.account_id, source_id, uid_list, to.name, move, limit
                )
            )
        return await self._run_mail_write(
            lambda c, e: mail_writes.copy_messages(ops, c, e, source_id, uid_list, to, move, limit)
        )

    async def expunge(
        self, mailbox_id: MailboxId, uids: Iterable[Uid] | None, *, only_deleted: bool = False
    ) -> ChangeSet:
        uid_list = None if uids is None else normalize_uids(uids)
        ops = self._mail_ops
        if only_deleted:
            return await self._run_mail_write(
                lambda c, e: mail_writes.expunge_deleted(ops, c, e, mailbox_id, uid_list)
            )
        return await self._run_mail_write(lambda c, e: mail_writes.expunge(ops, c, e, mailbox_id, uid_list))
