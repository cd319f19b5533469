"""``DirectoryReader`` over one read transaction on any engine, in SQLAlchemy Core only
(``PgStore.read_directory``). SQLite's reader (``sqlite/reader``) runs the lookups of every
delivery and login on the raw sqlite3 connection for speed; this one runs the same queries
through SQLAlchemy, so it serves PostgreSQL until the mail core there is measured."""

from __future__ import annotations

from sqlalchemy import Connection, select, text

from pochta.store.model import (
    Account,
    AccountId,
    AccountQuota,
    Alias,
    AppPassword,
    Domain,
    MailboxId,
    QuotaLimits,
    QuotaUsage,
)
from pochta.store.schema import mailbox_acl, mailboxes
from pochta.store.sql import directory
from pochta.store.sql.units import PG_DIGITS, quota_sql
from pochta.store.sqlite.quota import ACCOUNT_QUOTA_SELECT

__all__ = ["CoreDirectoryReader"]

# PostgreSQL's forms (BIGINT, its regular expression): this reader serves PgStore only.
_ACCOUNT_QUOTA = text(quota_sql(ACCOUNT_QUOTA_SELECT, ids="= :account", integer="BIGINT", digits=PG_DIGITS))


class CoreDirectoryReader:
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

    def quota(self, account_id: AccountId) -> AccountQuota | None:
        # The query of sqlite/quota.account_quota: both roots' limits (the account's own, else its
        # nearest unit's) and usage in one row.
        row = self._conn.execute(_ACCOUNT_QUOTA, {"account": account_id}).first()
        if row is None:
            return None
        return AccountQuota(
            QuotaLimits(row[0], row[1]),
            QuotaUsage(int(row[2]), int(row[3])),
            row[4],
            QuotaLimits(row[5], row[6]),
            QuotaUsage(int(row[7]), int(row[8])),
        )

    def mailbox_id(self, account_id: AccountId, name: str) -> MailboxId | None:
        found = self._conn.execute(
            select(mailboxes.c.id).where(mailboxes.c.account_id == account_id, mailboxes.c.name == name)
        ).scalar()
        return None if found is None else int(found)

    def app_password(self, account_id: AccountId, lookup: bytes) -> AppPassword | None:
        return directory.find_app_password(self._conn, account_id, lookup)

    def mailbox_acl(self, mailbox_id: MailboxId) -> dict[str, str]:
        rows = self._conn.execute(
            select(mailbox_acl.c.identifier, mailbox_acl.c.rights).where(
                mailbox_acl.c.mailbox_id == mailbox_id
            )
        )
        return {str(who): str(rights) for who, rights in rows}
