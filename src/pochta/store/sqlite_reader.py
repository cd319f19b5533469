"""``DirectoryReader`` over one reader-thread Connection (``SqliteStore.read_directory``).

Each lookup is the query the store's async method of the same meaning runs; here they share one
read transaction, so a caller's dependent lookups cost one thread hop and one BEGIN.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from pochta.store import sqlite_directory as directory
from pochta.store.model import Account, AccountId, Alias, AppPassword, Domain, MailboxId
from pochta.store.schema import mailboxes
from pochta.store.sqlite_mail import get_quota_usage


class SqliteDirectoryReader:
    """``pochta.store.api.DirectoryReader``; lives only as long as the read transaction."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def domain(self, name: str) -> Domain | None:
        return directory.get_domain(self._conn, name)

    def domains(self) -> list[Domain]:
        return directory.list_domains(self._conn)

    def account(self, address: str) -> Account | None:
        return directory.get_account(self._conn, address)

    def account_by_id(self, account_id: AccountId) -> Account | None:
        return directory.get_account_by_id(self._conn, account_id)

    def alias(self, source: str) -> Alias | None:
        return directory.get_alias(self._conn, source)

    def quota_usage(self, account_id: AccountId) -> int:
        return get_quota_usage(self._conn, account_id)

    def mailbox_id(self, account_id: AccountId, name: str) -> MailboxId | None:
        found = self._conn.execute(
            select(mailboxes.c.id).where(mailboxes.c.account_id == account_id, mailboxes.c.name == name)
        ).scalar()
        return None if found is None else int(found)

    def app_password(self, account_id: AccountId, lookup: bytes) -> AppPassword | None:
        return directory.find_app_password(self._conn, account_id, lookup)
