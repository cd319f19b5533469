"""Gmail-style rules in the embedded store (revision 0024) and the managed Sieve script generated
from them, both written in one transaction: the script never says something the rules do not.

The store does not know what a rule means: ``pochta.mail.mail_rules`` validates them and gives the
write the pure function turning the rules into the script's source (``ManagedScript.render``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Protocol, TypeVar

from sqlalchemy import Connection, delete, func, insert, select, text

from pochta.store.api import NotFound
from pochta.store.model import AccountId, Change
from pochta.store.schema import mail_rules
from pochta.store.sieve_model import ManagedScript, RuleEdit, StoredRule
from pochta.store.sql.sieve import activate_script, delete_script, get_active, get_script, put_script

__all__ = ["MailRuleMethods"]

T = TypeVar("T")

_r = mail_rules.c


# Values of the recipient fields of the messages in the account's \Sent mailbox holding the address
# as a substring: one query over the Sent mailbox's memberships (index on mailbox_id) and their
# header rows (primary key message_id, field); the values are searchable text (folded, each
# addr-spec verbatim: pochta.mime.search.searchable), so a substring search finds every candidate:
# instr on SQLite, strpos on PostgreSQL (the same: the 1-based position, 0 when absent, case-sensitive).
_SQL_SENT_TO = (
    "SELECT h.value FROM mailboxes AS b JOIN membership AS m ON m.mailbox_id = b.id "
    "JOIN message_header_values AS h ON h.message_id = m.message_id "
    "WHERE b.account_id = :account AND b.special_use = '\\Sent' AND h.field IN ('to', 'cc', 'bcc') "
    "AND {position}(h.value, :address) > 0"
)
_SENT_TO = {
    "sqlite": text(_SQL_SENT_TO.format(position="instr")),
    "postgresql": text(_SQL_SENT_TO.format(position="strpos")),
}
# Characters that may stand in an addr-spec next to the address found: a hit inside a longer
# address ("jimbob@example.net" for "bob@example.net") is no hit.
_ADDRESS_CHAR = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.@-]"


def sent_to(conn: Connection, account_id: AccountId, address: str) -> bool:
    wanted = address.lower()
    alone = re.compile(f"(?<!{_ADDRESS_CHAR}){re.escape(wanted)}(?!{_ADDRESS_CHAR})")
    rows = conn.execute(_SENT_TO[conn.dialect.name], {"account": account_id, "address": wanted})
    return any(alone.search(str(row[0])) for row in rows)


def list_rules(conn: Connection, account_id: AccountId) -> list[StoredRule]:
    rows = conn.execute(
        select(_r.id, _r.kind, _r.position, _r.data)
        .where(_r.account_id == account_id)
        .order_by(_r.position, _r.id)
    )
    return [StoredRule(int(row[0]), str(row[1]), int(row[2]), str(row[3])) for row in rows]


def edit_rules(
    conn: Connection, account_id: AccountId, edit: RuleEdit, managed: ManagedScript
) -> list[StoredRule]:
    mine = _r.account_id == account_id
    for rule_id in edit.remove_ids:
        if conn.execute(delete(mail_rules).where(mine, _r.id == rule_id)).rowcount != 1:
            raise NotFound(f"no rule with id {rule_id}")
    if edit.remove_kind is not None:
        conn.execute(delete(mail_rules).where(mine, _r.kind == edit.remove_kind))
    if edit.add is not None:
        last = conn.execute(select(func.coalesce(func.max(_r.position), 0)).where(mine)).scalar_one()
        kind, data = edit.add
        conn.execute(
            insert(mail_rules).values(account_id=account_id, kind=kind, position=last + 1, data=data)
        )
    rules = list_rules(conn, account_id)
    _write_script(conn, account_id, rules, managed)
    return rules


def _write_script(
    conn: Connection, account_id: AccountId, rules: list[StoredRule], managed: ManagedScript
) -> None:
    """The managed script after an edit. With rules: stored, and made active when the account has
    no active script. Without: gone when it was the active one (nothing else runs it); otherwise
    kept, empty of rules, so that a user's script including it still finds it."""
    existing = get_script(conn, account_id, managed.name)
    active = get_active(conn, account_id)
    if not rules:
        if existing is None:
            return
        if existing.info.active:
            activate_script(conn, account_id, None)
            delete_script(conn, account_id, managed.name)
            return
    put_script(conn, account_id, managed.name, managed.render(rules), managed.quota)
    if rules and active is None:
        activate_script(conn, account_id, managed.name)


class _Jobs(Protocol):
    async def run_read(self, fn: Callable[[Connection], T]) -> T: ...
    async def run_write(self, fn: Callable[[Connection, list[Change]], T]) -> T: ...


class MailRuleMethods:
    """The Gmail-style rules half of ``SqliteStore`` (a mixin, as ``SieveMethods`` is)."""

    async def mail_rules(self: _Jobs, account_id: AccountId) -> list[StoredRule]:
        return await self.run_read(lambda c: list_rules(c, account_id))

    async def sent_to(self: _Jobs, account_id: AccountId, address: str) -> bool:
        return await self.run_read(lambda c: sent_to(c, account_id, address))

    async def edit_mail_rules(
        self: _Jobs, account_id: AccountId, edit: RuleEdit, managed: ManagedScript
    ) -> list[StoredRule]:
        return await self.run_write(lambda c, e: edit_rules(c, account_id, edit, managed))
