"""Organisational units and the per-account settings store, over a Connection (docs/units.md).

Portable SQL: the chain walk is one recursive CTE (SQLite and PostgreSQL both have them), so an
account's own settings and those of every unit up to the root come back in one query; the login
path (``sqlite/reader``) runs the same text on the driver connection. Which keys exist and how
values inherit is ``pochta.store.account_settings``'s; here is only where they are kept.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, text, update

from pochta.plural import plural
from pochta.store.account_settings import (
    MAX_UNIT_DEPTH,
    POP3_ENABLED,
    POP3_ENABLED_AT,
    QUOTA_BYTES,
    QUOTA_KEYS,
    QUOTA_MESSAGES,
    ROOT_UNIT,
    AccountSettings,
    format_value,
    stored_values,
)
from pochta.store.api import AlreadyExists, Conflict, NotFound
from pochta.store.model import USER_KIND, AccountId, Change, Unit
from pochta.store.schema import account_settings, account_units, accounts, unit_settings, units

# An account's settings along its chain: (depth, unit name, key, text); depth 0 is the account's
# own, 1 its unit, 2 that unit's parent ... A unit without settings still gives one row (key NULL),
# so the chain's names are known. Named parameter ``account`` (sqlite3 and SQLAlchemy both bind it).
SETTINGS_SQL = f"""
WITH RECURSIVE chain(id, name, parent_id, depth) AS (
    SELECT id, name, parent_id, 1 FROM units WHERE id = coalesce(
        (SELECT unit_id FROM account_units WHERE account_id = :account),
        (SELECT id FROM units WHERE parent_id IS NULL ORDER BY id LIMIT 1))
    UNION ALL
    SELECT units.id, units.name, units.parent_id, chain.depth + 1
    FROM units JOIN chain ON units.id = chain.parent_id WHERE chain.depth < {MAX_UNIT_DEPTH}
)
SELECT 0, CAST(NULL AS TEXT), key, value FROM account_settings WHERE account_id = :account
UNION ALL
SELECT chain.depth, chain.name, unit_settings.key, unit_settings.value
FROM chain LEFT JOIN unit_settings ON unit_settings.unit_id = chain.id
"""  # noqa: S608 (a constant)
_SETTINGS = text(SETTINGS_SQL)

_UNIT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def load_settings(conn: Connection, account_id: AccountId) -> AccountSettings:
    """The account's own settings and its chain's, in one query."""
    rows = conn.execute(_SETTINGS, {"account": account_id})
    return AccountSettings.from_rows((row[0], row[1], row[2], row[3]) for row in rows)


def put_account_setting(conn: Connection, account_id: AccountId, key: str, value: str | None) -> None:
    """One key of one account: set (an update, else an insert: portable, no upsert dialect) or,
    for None, removed."""
    where = (account_settings.c.account_id == account_id, account_settings.c.key == key)
    if value is None:
        conn.execute(delete(account_settings).where(*where))
        return
    if conn.execute(update(account_settings).where(*where).values(value=value)).rowcount == 0:
        conn.execute(insert(account_settings).values(account_id=account_id, key=key, value=value))


def write_account_settings(
    conn: Connection, account_id: AccountId, values: Mapping[str, object | None]
) -> None:
    """Sets (None: removes) the account's own values, each checked against ``KEYS``. Switching
    POP3 on for an account that had it off sets ``pop3.enabled_at`` to now ("serve mail since POP3
    was enabled" counts from then)."""
    stored = stored_values(values, unit=False)
    was = load_settings(conn, account_id).get(POP3_ENABLED, True) if POP3_ENABLED.name in stored else True
    for key, value in stored.items():
        put_account_setting(conn, account_id, key, value)
    if not was and POP3_ENABLED_AT.name not in stored:
        _note_pop3_enabled(conn, account_id)


def _pop3_off_below(conn: Connection, unit_id: int) -> list[AccountId]:
    """The accounts in this unit or any unit below it for which POP3 is off now: a change of the
    unit's settings or place may switch it on for them (``_note_pop3_on_again``)."""
    subtree = [unit_id]
    frontier = [unit_id]
    for _ in range(MAX_UNIT_DEPTH + 1):  # nesting is bounded (set_unit_parent): so is this walk
        frontier = list(conn.execute(select(units.c.id).where(units.c.parent_id.in_(frontier))).scalars())
        if not frontier:
            break
        subtree.extend(frontier)
    members = select(account_units.c.account_id).where(account_units.c.unit_id.in_(subtree))
    if conn.execute(select(units.c.parent_id).where(units.c.id == unit_id)).scalar_one() is None:
        # The root: its members are the accounts without a unit of their own, and so are every one.
        members = select(accounts.c.id).where(accounts.c.kind == USER_KIND)
    return [
        AccountId(account_id)
        for account_id in conn.execute(members).scalars()
        if not load_settings(conn, AccountId(account_id)).get(POP3_ENABLED, True)
    ]


def _note_pop3_on_again(conn: Connection, were_off: list[AccountId]) -> None:
    """``pop3.enabled_at`` for each of these accounts whose POP3 a unit's change switched on, as
    switching it on for the account itself records it ("serve mail since POP3 was enabled")."""
    for account_id in were_off:
        _note_pop3_enabled(conn, account_id)


def _note_pop3_enabled(conn: Connection, account_id: AccountId) -> None:
    if load_settings(conn, account_id).get(POP3_ENABLED, True):
        put_account_setting(
            conn, account_id, POP3_ENABLED_AT.name, format_value(POP3_ENABLED_AT.name, datetime.now(UTC))
        )


# Units


def _check_name(name: str) -> str:
    if not _UNIT_NAME.fullmatch(name):
        raise ValueError(
            f"not a unit name: {name!r} (letters, digits, '.', '_' and '-', at most 64, not starting "
            "with a punctuation mark)"
        )
    return name


def _unit_row(conn: Connection, name: str) -> Row[Any] | None:
    return conn.execute(select(units).where(units.c.name == name)).first()


def _require_unit_row(conn: Connection, name: str) -> Row[Any]:
    row = _unit_row(conn, name)
    if row is None:
        raise NotFound(f"no unit {name}")
    return row


def _root_id(conn: Connection) -> int:
    root = conn.execute(select(units.c.id).where(units.c.parent_id.is_(None)).order_by(units.c.id)).first()
    if root is None:  # a database made without revision 0034's root row: make it now
        return int(
            conn.execute(
                insert(units).values(name=ROOT_UNIT, parent_id=None, created=int(time.time()))
            ).inserted_primary_key[0]  # type: ignore[index]
        )
    return int(root[0])


def _unit(conn: Connection, row: Row[Any]) -> Unit:
    parent = None
    if row.parent_id is not None:
        parent = conn.execute(select(units.c.name).where(units.c.id == row.parent_id)).scalar_one()
    own = AccountSettings.from_rows(
        (1, row.name, key, value)
        for key, value in conn.execute(
            select(unit_settings.c.key, unit_settings.c.value).where(unit_settings.c.unit_id == row.id)
        )
    )
    members = conn.execute(
        select(func.count()).select_from(account_units).where(account_units.c.unit_id == row.id)
    ).scalar_one()
    if row.parent_id is None:  # the root's members: every account without a unit of its own
        members = conn.execute(
            select(func.count())
            .select_from(accounts)
            .where(accounts.c.kind == USER_KIND, accounts.c.id.not_in(select(account_units.c.account_id)))
        ).scalar_one()
    return Unit(
        id=row.id,
        name=row.name,
        parent=parent,
        settings=dict(own.chain[0][1]) if own.chain else {},
        accounts=int(members),
        created=datetime.fromtimestamp(row.created, UTC),
    )


def add_unit(conn: Connection, events: list[Change], name: str, parent: str | None) -> Unit:
    _check_name(name)
    if _unit_row(conn, name) is not None:
        raise AlreadyExists(f"unit {name} already exists")
    parent_id = _root_id(conn) if parent is None else _require_unit_row(conn, parent).id
    conn.execute(insert(units).values(name=name, parent_id=parent_id, created=int(time.time())))
    return _unit(conn, _require_unit_row(conn, name))


def get_unit(conn: Connection, name: str) -> Unit | None:
    row = _unit_row(conn, name)
    return None if row is None else _unit(conn, row)


def list_units(conn: Connection) -> list[Unit]:
    """Every unit, parents before their children, siblings by name."""
    rows = list(conn.execute(select(units).order_by(units.c.name)))
    children: dict[int | None, list[Row[Any]]] = {}
    for row in rows:
        children.setdefault(row.parent_id, []).append(row)
    ordered: list[Unit] = []
    stack = list(reversed(children.get(None, [])))
    while stack:  # depth first, iteratively (nesting is bounded, but no recursion all the same)
        row = stack.pop()
        ordered.append(_unit(conn, row))
        stack.extend(reversed(children.get(row.id, [])))
    return ordered


def set_unit_settings(
    conn: Connection, events: list[Change], name: str, values: Mapping[str, object | None]
) -> Unit:
    row = _require_unit_row(conn, name)
    stored = stored_values(values, unit=True)
    were_off = _pop3_off_below(conn, row.id) if POP3_ENABLED.name in stored else []
    for key, value in stored.items():
        where = (unit_settings.c.unit_id == row.id, unit_settings.c.key == key)
        if value is None:
            conn.execute(delete(unit_settings).where(*where))
        elif conn.execute(update(unit_settings).where(*where).values(value=value)).rowcount == 0:
            conn.execute(insert(unit_settings).values(unit_id=row.id, key=key, value=value))
    _note_pop3_on_again(conn, were_off)
    return _unit(conn, row)


def set_unit_parent(conn: Connection, events: list[Change], name: str, parent: str) -> Unit:
    row = _require_unit_row(conn, name)
    if row.parent_id is None:
        raise Conflict(f"{name} is the root unit: it has no parent")
    new_parent = _require_unit_row(conn, parent)
    # A cycle would make the chain endless: refuse a parent that is the unit or below it.
    ancestor: int | None = new_parent.id
    for _ in range(MAX_UNIT_DEPTH + 1):
        if ancestor is None:
            break
        if ancestor == row.id:
            raise Conflict(f"unit {parent} is {name} or below it: {name} cannot move under it")
        ancestor = conn.execute(select(units.c.parent_id).where(units.c.id == ancestor)).scalar_one()
    else:
        raise Conflict(f"units may nest at most {MAX_UNIT_DEPTH} deep")
    were_off = _pop3_off_below(conn, row.id)
    conn.execute(update(units).where(units.c.id == row.id).values(parent_id=new_parent.id))
    _note_pop3_on_again(conn, were_off)
    return _unit(conn, _require_unit_row(conn, name))


def delete_unit(conn: Connection, events: list[Change], name: str) -> None:
    row = _require_unit_row(conn, name)
    if row.parent_id is None:
        raise Conflict(f"{name} is the root unit: it cannot be deleted")
    members = conn.execute(
        select(func.count()).select_from(account_units).where(account_units.c.unit_id == row.id)
    ).scalar_one()
    children = conn.execute(
        select(func.count()).select_from(units).where(units.c.parent_id == row.id)
    ).scalar_one()
    if members or children:
        raise Conflict(
            f"unit {name} still has {plural(members, 'account')} and {plural(children, 'unit')} "
            "under it; move them first"
        )
    conn.execute(delete(units).where(units.c.id == row.id))


def set_account_unit(conn: Connection, account_id: AccountId, name: str) -> None:
    """Moves the account into unit ``name`` (the root: no row)."""
    row = _require_unit_row(conn, name)
    was = load_settings(conn, account_id).get(POP3_ENABLED, True)
    conn.execute(delete(account_units).where(account_units.c.account_id == account_id))
    if row.parent_id is not None:
        conn.execute(insert(account_units).values(account_id=account_id, unit_id=row.id))
    if not was:
        _note_pop3_enabled(conn, account_id)


# The storage quota the accounts inherit from their units (keys quota.bytes, quota.messages), for
# the quota checks inside every write and the quota reads (sqlite/quota, pg/mail, pg/reader). One
# text for both engines, filled with how the engine names the account ids (``{ids}``: "IN (?, ?)",
# "= ANY(%s)", "= :account"), its integer type (``{int}``) and its test that ``s.value`` is all
# digits (``{digits}``: a value this version cannot read is skipped, as AccountSettings skips it,
# rather than cast into an error or a limit of 0), so that a check stays one statement.
#
# Why it costs nothing while no unit sets a quota: ``quota_sql`` runs the caller's query twice over,
# joined by UNION ALL: as it was before units had quotas (the account's own columns) behind NOT
# EXISTS(a unit sets a quota key), and with the units' limits behind EXISTS. The gate refers to no
# row of the query, so both engines evaluate it once, before any loop (SQLite codes such a term
# ahead of its loops; PostgreSQL makes it a one-time filter): the branch whose gate is false reads
# nothing, and the recursive chain, only scanned in the second branch, is never built. Measured
# (docs/units.md "Storage quota"): the gate adds under 1 µs to a check of about 5 µs, nothing
# visible in a delivery (about 2 ms of fsyncs and writes). When some unit sets one, the walk
# is the accounts in question times the depth of their units (at most MAX_UNIT_DEPTH). Only user
# accounts inherit: a domain's hidden owner of public mailboxes belongs to no unit.
_QUOTA_KEY_LIST = ", ".join(f"'{key.name}'" for key in QUOTA_KEYS)
_ANY_UNIT_QUOTA = f"EXISTS (SELECT 1 FROM unit_settings WHERE key IN ({_QUOTA_KEY_LIST}))"  # noqa: S608
UNIT_QUOTA_CTE = f"""WITH RECURSIVE quota_chain(account_id, unit_id, depth) AS (
    SELECT qa.id, coalesce(qm.unit_id, (SELECT id FROM units WHERE parent_id IS NULL ORDER BY id LIMIT 1)), 1
    FROM accounts AS qa LEFT JOIN account_units AS qm ON qm.account_id = qa.id
    WHERE qa.kind = '{USER_KIND}' AND qa.id {{ids}}
    UNION ALL
    SELECT quota_chain.account_id, units.parent_id, quota_chain.depth + 1
    FROM quota_chain JOIN units ON units.id = quota_chain.unit_id
    WHERE units.parent_id IS NOT NULL AND quota_chain.depth < {MAX_UNIT_DEPTH}
), unit_quota(account_id, bytes, messages) AS (
    SELECT c.account_id,
    (SELECT CAST(s.value AS {{int}}) FROM quota_chain AS n JOIN unit_settings AS s
     ON s.unit_id = n.unit_id AND s.key = '{QUOTA_BYTES.name}'
     WHERE n.account_id = c.account_id AND {{digits}} ORDER BY n.depth LIMIT 1),
    (SELECT CAST(s.value AS {{int}}) FROM quota_chain AS n JOIN unit_settings AS s
     ON s.unit_id = n.unit_id AND s.key = '{QUOTA_MESSAGES.name}'
     WHERE n.account_id = c.account_id AND {{digits}} ORDER BY n.depth LIMIT 1)
    FROM quota_chain AS c WHERE c.depth = 1
)
"""  # noqa: S608 (constants only)

_OWN_ONLY = {
    "{bytes}": "a.quota_bytes",
    "{messages}": "a.quota_messages",
    "{unit_join}": "",
    "{gate}": "NOT " + _ANY_UNIT_QUOTA,
}
_WITH_UNITS = {
    "{bytes}": "coalesce(a.quota_bytes, uq.bytes)",
    "{messages}": "coalesce(a.quota_messages, uq.messages)",
    "{unit_join}": "LEFT JOIN unit_quota AS uq ON uq.account_id = a.id",
    "{gate}": _ANY_UNIT_QUOTA,
}


# ``quota_sql``'s ``digits`` on each engine (the stored text is checked when set; this guards
# against a row written by hand or by a later version).
SQLITE_DIGITS = "s.value != '' AND s.value NOT GLOB '*[^0-9]*' AND length(s.value) <= 18"
PG_DIGITS = "s.value ~ '^[0-9]{1,18}$'"


def quota_sql(select_text: str, *, ids: str, integer: str, digits: str) -> str:
    """One statement of ``select_text``, a query of ``accounts AS a`` that names the account's
    effective limits ``{bytes}`` and ``{messages}``, has ``{unit_join}`` among its joins and
    ``{gate}`` among its conditions, and its account ids ``{ids}``: the two branches above. The
    engine binds the ids three times: for the chain, the first branch, the second."""
    branches = []
    for words in (_OWN_ONLY, _WITH_UNITS):
        branch = select_text.replace("{ids}", ids)
        for word, replacement in words.items():
            branch = branch.replace(word, replacement)
        branches.append(branch)
    return UNIT_QUOTA_CTE.format(ids=ids, int=integer, digits=digits) + "\nUNION ALL\n".join(branches)
