"""The async face of the mailbox tree (list, look up, create, rename, subscribe), once for both
stores: each a read or write job over ``sqlite/mailboxes``' functions, which are SQLAlchemy Core
throughout. Deleting a mailbox is each store's own (what goes with its messages differs). The
writes take the account's MODSEQ counter first and run as the mail writes do (``_run_mail_write``:
READ COMMITTED on PostgreSQL, ``sql/account_modseq`` says why)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import Connection

from pochta.store.model import AccountId, Change, MailboxId, MailboxInfo
from pochta.store.sqlite import mailboxes as mailbox_tree

__all__ = ["MailboxTreeMethods"]

T = TypeVar("T")


class MailboxTreeMethods:
    """Mixed into ``SqliteStore`` and ``PgStore``, which provide what is declared here."""

    if TYPE_CHECKING:  # the store's own jobs; declared for the type checker only, as sql/'s mixins do

        async def run_read(self, fn: Callable[[Connection], T]) -> T: ...

        async def _run_mail_write(self, fn: Callable[[Connection, list[Change]], T]) -> T: ...

    async def mailboxes(self, account_id: AccountId) -> list[MailboxInfo]:
        return await self.run_read(lambda c: mailbox_tree.list_mailboxes(c, account_id))

    async def get_mailbox(self, account_id: AccountId, name: str) -> MailboxInfo | None:
        return await self.run_read(lambda c: mailbox_tree.get_mailbox(c, account_id, name))

    async def get_mailbox_by_id(self, mailbox_id: MailboxId) -> MailboxInfo | None:
        return await self.run_read(lambda c: mailbox_tree.get_mailbox_by_id(c, mailbox_id))

    async def create_mailbox(
        self, account_id: AccountId, name: str, special_use: str | None = None
    ) -> MailboxInfo:
        return await self._run_mail_write(
            lambda c, e: mailbox_tree.create_mailbox(c, e, account_id, name, special_use)
        )

    async def rename_mailbox(self, account_id: AccountId, old: str, new: str) -> list[MailboxInfo]:
        return await self._run_mail_write(
            lambda c, e: mailbox_tree.rename_mailbox(c, e, account_id, old, new)
        )

    async def set_subscribed(self, account_id: AccountId, name: str, subscribed: bool) -> None:
        await self._run_mail_write(
            lambda c, e: mailbox_tree.set_subscribed(c, e, account_id, name, subscribed)
        )

    async def subscriptions(self, account_id: AccountId) -> list[str]:
        return await self.run_read(lambda c: mailbox_tree.list_subscriptions(c, account_id))

    async def set_mailbox_sort_order(
        self, account_id: AccountId, mailbox_id: MailboxId, sort_order: int
    ) -> None:
        await self._run_mail_write(
            lambda c, e: mailbox_tree.set_sort_order(c, e, account_id, mailbox_id, sort_order)
        )

    async def mailbox_sort_orders(self, account_id: AccountId) -> dict[MailboxId, int]:
        return await self.run_read(lambda c: mailbox_tree.sort_orders(c, account_id))
