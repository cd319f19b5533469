"""The query half of ``SqliteStore``: header and text search, sort keys and orderings, quota
figures; each method one read job (a sort key derived on first use is kept by one write).

A mixin, as ``sql/directory_methods`` is, so that ``sqlite.py`` keeps the store's plumbing and
its mail side; ``SqliteStore`` provides what ``_Jobs`` names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Literal, Protocol, TypeVar

from sqlalchemy import Connection

from pochta.config import Settings
from pochta.store.api import NotFound
from pochta.store.model import (
    AccountId,
    AccountQuota,
    Change,
    MailboxId,
    QuotaLimits,
    QuotaUsage,
    SortRow,
    Uid,
)
from pochta.store.sql.mail_rows import normalize_uids
from pochta.store.sqlite import inline, mail, search, sortkeys
from pochta.store.sqlite import quota as sqlite_quota
from pochta.store.sqlite.opener import ViewOpener
from pochta.store.sqlite.sort_orders import KeptOrders
from pochta.store.sqlite.writer import driver_connection

T = TypeVar("T")


class _Jobs(Protocol):
    settings: Settings
    _opener: ViewOpener
    _kept_orders: KeptOrders

    @property
    def blob_reader(self) -> inline.BlobReader: ...

    async def run_read(self, fn: Callable[[Connection], T]) -> T: ...
    async def _sort_order(
        self, mailbox_id: MailboxId, uid_list: list[Uid], keys: list[tuple[str, bool]], *, announce: bool
    ) -> list[Uid]: ...
    async def run_write(self, fn: Callable[[Connection, list[Change]], T]) -> T: ...


class QueryMethods:
    async def search_text(
        self: _Jobs, mailbox_id: MailboxId, query: str, field: Literal["body", "text"]
    ) -> set[Uid]:
        mime = self.settings.mime
        return await self.run_read(
            lambda c: search.search_text(c, self.blob_reader, mime, mailbox_id, query, field)
        )

    async def search_header(
        self: _Jobs, mailbox_id: MailboxId, name: str, query: str
    ) -> tuple[set[Uid], set[Uid]]:
        return await self.run_read(lambda c: search.search_header(c, mailbox_id, name, query))

    async def sort_keys(
        self: _Jobs, mailbox_id: MailboxId, uids: Iterable[Uid], fields: Iterable[str]
    ) -> list[SortRow]:
        uid_list, wanted = normalize_uids(uids), frozenset(fields)
        rows, derived = await self.run_read(
            lambda c: sortkeys.read_keys(driver_connection(c), mailbox_id, uid_list, wanted)
        )
        if derived:  # kept: the next SORT reads them (never part of a delivery's write)
            await self.run_write(lambda c, e: sortkeys.store_keys(driver_connection(c), derived))
        return rows

    async def sort_order(
        self: _Jobs, mailbox_id: MailboxId, uids: Iterable[Uid], order: Sequence[tuple[str, bool]]
    ) -> list[Uid]:
        return await self._sort_order(mailbox_id, normalize_uids(uids), list(order), announce=True)

    async def warm_order(self: _Jobs, mailbox_id: MailboxId, name: str) -> None:
        """Another worker's client sorted this whole big mailbox by ``name`` (an ``ORDER_KEYS``
        name) and built its kept order: build this process's in the background, so that the next
        SORT of it here is a filter (``sort_orders``). Nothing is announced back."""
        if name not in sortkeys.ORDER_KEYS:
            return
        view = (await self._opener.open_view_traced(mailbox_id, announce=False)).view
        if self._kept_orders.keeps(view, [(name, False)]):
            await self._sort_order(mailbox_id, list(view.uids), [(name, False)], announce=False)

    async def _sort_order(
        self: _Jobs,
        mailbox_id: MailboxId,
        uid_list: list[Uid],
        keys: list[tuple[str, bool]],
        *,
        announce: bool,
    ) -> list[Uid]:
        kept, opener = self._kept_orders, self._opener

        def read(c: Connection) -> tuple[list[Uid], sortkeys.Derived, bool | None]:
            raw = driver_connection(c)
            if kept.budget and len(keys) == 1 and len(uid_list) >= kept.min_messages:
                # A big mailbox's SORT by one key: a filter of its kept order (sort_orders).
                try:
                    view = opener.open_in(raw, mailbox_id)
                except NotFound:  # deleted: no rows to order, as below
                    return [], [], None
                if kept.keeps(view, keys):
                    return kept.ordered(raw, view, uid_list, *keys[0])
            missing = sortkeys.without_keys(raw, mailbox_id, uid_list)
            if missing:
                return [], sortkeys.derive(raw, missing), None
            return sortkeys.ordered_uids(raw, mailbox_id, uid_list, keys), [], None

        ordered, derived, built = await self.run_read(read)
        if built is not None:  # from a kept order: ordered already; the keys derived are kept
            if derived:
                await self.run_write(lambda c, e: sortkeys.store_keys(driver_connection(c), derived))
            if built and announce and kept.built is not None:
                kept.built(mailbox_id, keys[0][0])
        elif derived:  # kept first, then ordered by SQLite with every key in place
            await self.run_write(lambda c, e: sortkeys.store_keys(driver_connection(c), derived))
            ordered = await self.run_read(
                lambda c: sortkeys.ordered_uids(driver_connection(c), mailbox_id, uid_list, keys)
            )
        return ordered

    async def quota_usage(self: _Jobs, account_id: AccountId) -> int:
        return await self.run_read(lambda c: mail.get_quota_usage(c, account_id))

    async def account_quota(self: _Jobs, account_id: AccountId) -> AccountQuota | None:
        return await self.run_read(lambda c: sqlite_quota.account_quota(c, account_id))

    async def domain_quota(self: _Jobs, name: str) -> tuple[QuotaLimits, QuotaUsage] | None:
        return await self.run_read(lambda c: sqlite_quota.domain_quota(c, name))

    async def deleted_storage(self: _Jobs, mailbox_id: MailboxId) -> int:
        return await self.run_read(lambda c: sqlite_quota.deleted_storage(c, mailbox_id))
