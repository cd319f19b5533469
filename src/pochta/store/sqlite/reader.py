"""``DirectoryReader`` over one reader-thread Connection (``SqliteStore.read_directory``).

Each lookup is the query the store's async method of the same meaning runs; here they share one
read transaction, so a caller's dependent lookups cost one thread hop and one BEGIN.

The lookups every delivered message makes (domain, account, quota limits and usage, mailbox id: recipient
resolution at RCPT and the refresh at commit) and every login makes (account with its settings,
domain, app password) run on the driver connection inside the same transaction: SQLAlchemy's own
work per statement costs several times what SQLite spends on these one-row primary-key or
unique-index lookups (and on ``sql/units.SETTINGS_SQL``'s walk up an account's units). Rows come
back as named tuples, so the same ``_domain``/``_account`` builders serve both.
"""

from __future__ import annotations

import functools
import sqlite3
from collections import namedtuple
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from pochta.store.account_settings import AccountSettings
from pochta.store.model import Account, AccountId, AccountQuota, Alias, AppPassword, Domain, MailboxId
from pochta.store.sql import directory, units
from pochta.store.sqlite import quota as sqlite_quota
from pochta.store.sqlite.writer import driver_connection

_DOMAIN_BY_NAME = "SELECT * FROM domains WHERE name = ?"
_ACCOUNT_BY_KEY = "SELECT * FROM accounts WHERE address_key = ?"
_ACCOUNT_BY_ID = "SELECT * FROM accounts WHERE id = ?"
_MAILBOX_ID = "SELECT id FROM mailboxes WHERE account_id = ? AND name = ?"
_APP_KEY_ROW = "SELECT * FROM app_passwords WHERE account_id = ? AND lookup = ?"
_ACL = "SELECT identifier, rights FROM mailbox_acl WHERE mailbox_id = ?"


@functools.cache
def _row_type(names: tuple[str, ...]) -> Any:
    return namedtuple("Row", names)


def _first(raw: sqlite3.Connection, sql: str, params: Sequence[Any]) -> Any:
    """The first row as a named tuple (attribute access by column name, like SQLAlchemy's Row)."""
    cursor = raw.execute(sql, params)
    row = cursor.fetchone()
    if row is None:
        return None
    return _row_type(tuple(column[0] for column in cursor.description))(*row)


class SqliteDirectoryReader:
    """``pochta.store.api.DirectoryReader``; lives only as long as the read transaction."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._raw = driver_connection(conn)  # inside the same read transaction (one snapshot)

    def domain(self, name: str) -> Domain | None:
        row = _first(self._raw, _DOMAIN_BY_NAME, (directory.domain_key(name),))
        return None if row is None else directory.domain_from_row(row)

    def domains(self) -> list[Domain]:
        return directory.list_domains(self._conn)

    def account(self, address: str) -> Account | None:
        row = _first(self._raw, _ACCOUNT_BY_KEY, (directory.address_key(address),))
        return None if row is None else self._account(row)

    def account_by_id(self, account_id: AccountId) -> Account | None:
        row = _first(self._raw, _ACCOUNT_BY_ID, (account_id,))
        return None if row is None else self._account(row)

    def _account(self, row: Any) -> Account:
        # Its settings and its units' (revision 0034): one more query, the chain walk's CTE.
        rows = self._raw.execute(units.SETTINGS_SQL, {"account": row.id})
        return directory.account_from_row(row, AccountSettings.from_rows(rows))

    def alias(self, source: str) -> Alias | None:
        return directory.get_alias(self._conn, source)

    def quota(self, account_id: AccountId) -> AccountQuota | None:
        return sqlite_quota.account_quota(self._conn, account_id)

    def mailbox_id(self, account_id: AccountId, name: str) -> MailboxId | None:
        row = self._raw.execute(_MAILBOX_ID, (account_id, name)).fetchone()
        return None if row is None else int(row[0])

    def app_password(self, account_id: AccountId, lookup: bytes) -> AppPassword | None:
        row = _first(self._raw, _APP_KEY_ROW, (account_id, lookup))
        return None if row is None else directory.app_password_from_row(row)

    def mailbox_acl(self, mailbox_id: MailboxId) -> dict[str, str]:
        return {str(who): str(rights) for who, rights in self._raw.execute(_ACL, (mailbox_id,))}
