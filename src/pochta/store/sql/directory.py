"""Domains, accounts, aliases and app passwords, over a Connection.

Like ``sqlite/mail``, every function runs in a writer job or a reader thread, never on the loop.
Nothing here is cached: the server reads directory data on each login, so a change made by the CLI
in another process applies to the next login at once.

Addresses are matched case-insensitively through ``*_key`` columns. The display form keeps the local
part as given and lower-cases the domain; callers normalise further (``pochta.naming``) before they
get here.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from pochta.plural import plural
from pochta.store.account_settings import SWITCHED_PROTOCOLS, AccountSettings, stored_values, switch_key
from pochta.store.api import UNSET, AlreadyExists, Conflict, NotFound, _Unset
from pochta.store.model import (
    DEFAULT_MAILBOXES,
    SHARED_KIND,
    Account,
    AccountId,
    Alias,
    AppPassword,
    Change,
    Domain,
    LoginUnblock,
    ProtocolSwitches,
    ScramCredentials,
    shared_owner_address,
)
from pochta.store.schema import (
    accounts,
    aliases,
    app_passwords,
    domain_quota_usage,
    domains,
    login_unblocks,
    mailboxes,
    quota_usage,
)
from pochta.store.sql import units
from pochta.store.sql.send_limits import forget_send_limits
from pochta.store.sqlite.mailboxes import DropMailboxes, drop_mailboxes, insert_mailbox

# Names and addresses


def domain_key(name: str) -> str:
    """Lower-case A-label form of a domain name (the store's key for it)."""
    name = name.strip().rstrip(".").lower()
    if not name:
        raise ValueError("empty domain name")
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"not a valid domain name: {name!r}") from exc
    return name


def split_address(address: str, *, allow_catch_all: bool = False) -> tuple[str, str]:
    local, sep, domain = address.strip().rpartition("@")
    if not sep:
        raise ValueError(f"not an address: {address!r}")
    if not local and not allow_catch_all:
        raise ValueError(f"not an address: {address!r}")
    return local, domain_key(domain)


def address_display(address: str, *, allow_catch_all: bool = False) -> str:
    local, domain = split_address(address, allow_catch_all=allow_catch_all)
    return f"{local}@{domain}"


def address_key(address: str, *, allow_catch_all: bool = False) -> str:
    return address_display(address, allow_catch_all=allow_catch_all).lower()


def target_forms(target: str) -> tuple[str, str]:
    """Display form and key of an alias target (a local or an external address)."""
    display = address_display(target)
    return display, display.lower()


def now() -> int:
    return int(time.time())


def when(epoch: int | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _switches(row: Row[Any]) -> ProtocolSwitches:
    return ProtocolSwitches(imap=bool(row.imap), pop3=bool(row.pop3), submission=bool(row.submission))


def _switch_values(switches: ProtocolSwitches) -> dict[str, bool]:
    return {"imap": switches.imap, "pop3": switches.pop3, "submission": switches.submission}


# The settings of a domain's hidden owner of public mailboxes: every switch off.
_SHARED_OFF = tuple(key.name for key in map(switch_key, SWITCHED_PROTOCOLS) if key is not None)

# Domains


def _domain(row: Row[Any]) -> Domain:
    """A Domain from a ``domains`` row (SQLAlchemy's, or any with the columns as attributes)."""
    return Domain(
        id=row.id,
        name=row.name,
        protocols=_switches(row),
        created=datetime.fromtimestamp(row.created, UTC),
        quota_bytes=row.quota_bytes,
        quota_messages=row.quota_messages,
    )


domain_from_row = _domain


def _domain_row(conn: Connection, name: str) -> Row[Any] | None:
    return conn.execute(select(domains).where(domains.c.name == domain_key(name))).first()


def add_domain(conn: Connection, events: list[Change], name: str) -> Domain:
    key = domain_key(name)
    if _domain_row(conn, key) is not None:
        raise AlreadyExists(f"domain {key} already exists")
    values = {"name": key, **_switch_values(ProtocolSwitches()), "created": now()}
    domain_id = conn.execute(insert(domains).values(values)).inserted_primary_key[0]  # type: ignore[index]
    # The sum of its accounts' usage, kept by triggers (revision 0017, ``sqlite/quota``).
    conn.execute(insert(domain_quota_usage).values(domain_id=domain_id, bytes=0, messages=0))
    return _domain(conn.execute(select(domains).where(domains.c.id == domain_id)).one())


def get_domain(conn: Connection, name: str) -> Domain | None:
    row = _domain_row(conn, name)
    return _domain(row) if row is not None else None


def list_domains(conn: Connection) -> list[Domain]:
    return [_domain(row) for row in conn.execute(select(domains).order_by(domains.c.name))]


def delete_domain(conn: Connection, events: list[Change], name: str) -> None:
    row = _domain_row(conn, name)
    if row is None:
        raise NotFound(f"no domain {domain_key(name)}")
    users = conn.execute(
        select(func.count())
        .select_from(accounts)
        .where(accounts.c.domain_id == row.id, accounts.c.kind != SHARED_KIND)
    ).scalar_one()
    sources = conn.execute(
        select(func.count(func.distinct(aliases.c.source_key))).where(aliases.c.domain_id == row.id)
    ).scalar_one()
    owner = _account_row(conn, shared_owner_address(row.name))
    public = 0
    if owner is not None:
        public = conn.execute(
            select(func.count()).select_from(mailboxes).where(mailboxes.c.account_id == owner.id)
        ).scalar_one()
    if users or sources or public:
        raise Conflict(
            f"domain {row.name} still has {plural(users, 'account')}, "
            f"{plural(sources, 'alias', 'aliases')} and "
            f"{plural(public, 'public mailbox', 'public mailboxes')}"
        )
    if owner is not None:  # the hidden owner of public mailboxes, holding none now
        conn.execute(delete(accounts).where(accounts.c.id == owner.id))
    conn.execute(delete(domains).where(domains.c.id == row.id))
    forget_send_limits(conn, "domain", row.name)


def set_domain_quota(
    conn: Connection,
    events: list[Change],
    name: str,
    quota_bytes: int | _Unset | None = UNSET,
    quota_messages: int | _Unset | None = UNSET,
) -> Domain:
    row = _domain_row(conn, name)
    if row is None:
        raise NotFound(f"no domain {domain_key(name)}")
    values: dict[str, int | None] = {}
    if not isinstance(quota_bytes, _Unset):
        values["quota_bytes"] = quota_bytes
    if not isinstance(quota_messages, _Unset):
        values["quota_messages"] = quota_messages
    if values:
        conn.execute(update(domains).where(domains.c.id == row.id).values(values))
    return _domain(conn.execute(select(domains).where(domains.c.id == row.id)).one())


def set_domain_protocols(
    conn: Connection, events: list[Change], name: str, switches: ProtocolSwitches
) -> Domain:
    row = _domain_row(conn, name)
    if row is None:
        raise NotFound(f"no domain {domain_key(name)}")
    conn.execute(update(domains).where(domains.c.id == row.id).values(_switch_values(switches)))
    return _domain(conn.execute(select(domains).where(domains.c.id == row.id)).one())


# Accounts


def _account(row: Row[Any], settings: AccountSettings) -> Account:
    """An Account from an ``accounts`` row (SQLAlchemy's, or any with the columns as attributes)
    and its settings (``units.load_settings``)."""
    scram = None
    if row.scram_salt is not None:
        scram = ScramCredentials(
            salt=bytes(row.scram_salt),
            iterations=row.scram_iterations,
            stored_key=bytes(row.scram_stored_key),
            server_key=bytes(row.scram_server_key),
        )
    return Account(
        id=row.id,
        address=row.address,
        domain_id=row.domain_id,
        password_hash=row.password_hash,
        scram=scram,
        quota_bytes=row.quota_bytes,
        enabled=bool(row.enabled),
        created=datetime.fromtimestamp(row.created, UTC),
        quota_messages=row.quota_messages,
        admin=bool(row.admin),
        kind=row.kind,
        settings=settings,
    )


account_from_row = _account


def _read_account(conn: Connection, row: Row[Any]) -> Account:
    return _account(row, units.load_settings(conn, row.id))


def _account_by_id(conn: Connection, account_id: AccountId) -> Account:
    return _read_account(conn, conn.execute(select(accounts).where(accounts.c.id == account_id)).one())


def _scram_values(scram: ScramCredentials | None) -> dict[str, Any]:
    if scram is None:
        return {
            "scram_salt": None,
            "scram_iterations": None,
            "scram_stored_key": None,
            "scram_server_key": None,
        }
    return {
        "scram_salt": scram.salt,
        "scram_iterations": scram.iterations,
        "scram_stored_key": scram.stored_key,
        "scram_server_key": scram.server_key,
    }


def _account_row(conn: Connection, address: str) -> Row[Any] | None:
    return conn.execute(select(accounts).where(accounts.c.address_key == address_key(address))).first()


def _require_account_row(conn: Connection, address: str) -> Row[Any]:
    row = _account_row(conn, address)
    if row is None:
        raise NotFound(f"no account {address_display(address)}")
    return row


def add_account(
    conn: Connection,
    events: list[Change],
    address: str,
    password_hash: str,
    scram: ScramCredentials | None,
    quota_bytes: int | None,
    quota_messages: int | None = None,
) -> Account:
    display = address_display(address)
    _, domain = split_address(address)
    domain_row = _domain_row(conn, domain)
    if domain_row is None:
        raise NotFound(f"no domain {domain}; add it first")
    if _account_row(conn, display) is not None:
        raise AlreadyExists(f"account {display} already exists")
    values = {
        "domain_id": domain_row.id,
        "address": display,
        "address_key": display.lower(),
        "password_hash": password_hash,
        **_scram_values(scram),
        "quota_bytes": quota_bytes,
        "quota_messages": quota_messages,
        "enabled": True,
        "created": now(),
    }
    account_id = conn.execute(insert(accounts).values(values)).inserted_primary_key[0]  # type: ignore[index]
    conn.execute(insert(quota_usage).values(account_id=account_id, bytes=0, messages=0))
    for name, special_use in DEFAULT_MAILBOXES:
        insert_mailbox(conn, account_id, name, special_use, subscribed=True)
    return _account_by_id(conn, account_id)


def add_shared_owner(conn: Connection, events: list[Change], domain: str) -> Account:
    """The domain's hidden owner of public mailboxes (revision 0023), added when missing: no
    mailbox of its own (not even INBOX: nothing is delivered to it by its address), no password
    (``!`` is no argon2 hash: nothing verifies against it)."""
    name = domain_key(domain)
    domain_row = _domain_row(conn, name)
    if domain_row is None:
        raise NotFound(f"no domain {name}; add it first")
    address = shared_owner_address(name)
    existing = _account_row(conn, address)
    if existing is not None:
        return _read_account(conn, existing)
    values = {
        "domain_id": domain_row.id,
        "address": address,
        "address_key": address.lower(),
        "password_hash": "!",
        **_scram_values(None),
        "quota_bytes": None,
        "quota_messages": None,
        "enabled": True,
        "created": now(),
        "kind": SHARED_KIND,
    }
    account_id = conn.execute(insert(accounts).values(values)).inserted_primary_key[0]  # type: ignore[index]
    conn.execute(insert(quota_usage).values(account_id=account_id, bytes=0, messages=0))
    # No protocol at all, whatever its unit says (it never logs in: ``Account.is_user`` first).
    units.write_account_settings(conn, account_id, dict.fromkeys(_SHARED_OFF, False))
    return _account_by_id(conn, account_id)


def get_account(conn: Connection, address: str) -> Account | None:
    row = _account_row(conn, address)
    return _read_account(conn, row) if row is not None else None


def get_account_by_id(conn: Connection, account_id: AccountId) -> Account | None:
    row = conn.execute(select(accounts).where(accounts.c.id == account_id)).first()
    return _read_account(conn, row) if row is not None else None


def list_accounts(conn: Connection, domain: str | None) -> list[Account]:
    stmt = select(accounts).order_by(accounts.c.address_key)
    if domain is not None:
        stmt = stmt.join_from(accounts, domains, accounts.c.domain_id == domains.c.id).where(
            domains.c.name == domain_key(domain)
        )
    return [_read_account(conn, row) for row in conn.execute(stmt)]


def update_account(
    conn: Connection,
    events: list[Change],
    address: str,
    *,
    password_hash: str | _Unset = UNSET,
    scram: ScramCredentials | _Unset | None = UNSET,
    quota_bytes: int | _Unset | None = UNSET,
    enabled: bool | _Unset = UNSET,
    quota_messages: int | _Unset | None = UNSET,
    admin: bool | _Unset = UNSET,
) -> Account:
    row = _require_account_row(conn, address)
    values: dict[str, Any] = {}
    if not isinstance(password_hash, _Unset):
        values["password_hash"] = password_hash
    if not isinstance(scram, _Unset):
        values.update(_scram_values(scram))
    if not isinstance(quota_bytes, _Unset):
        values["quota_bytes"] = quota_bytes
    if not isinstance(enabled, _Unset):
        values["enabled"] = enabled
    if not isinstance(quota_messages, _Unset):
        values["quota_messages"] = quota_messages
    if not isinstance(admin, _Unset):
        values["admin"] = admin
    if values:
        conn.execute(update(accounts).where(accounts.c.id == row.id).values(values))
    return _account_by_id(conn, row.id)


def set_account_settings(
    conn: Connection, events: list[Change], address: str, values: Mapping[str, object | None]
) -> Account:
    """Sets (None: removes) the account's own settings (``account_settings.KEYS``)."""
    row = _require_account_row(conn, address)
    units.write_account_settings(conn, row.id, values)
    return _account_by_id(conn, row.id)


def set_account_unit(conn: Connection, events: list[Change], address: str, unit: str) -> Account:
    row = _require_account_row(conn, address)
    units.set_account_unit(conn, row.id, unit)
    return _account_by_id(conn, row.id)


def record_account_setting(
    conn: Connection, events: list[Change], account_id: AccountId, key: str, value: object | None
) -> None:
    """One key, one statement, nothing read back: for state written at logins (``pop3.last_login``)."""
    [(name, stored)] = stored_values({key: value}, unit=False).items()
    units.put_account_setting(conn, account_id, name, stored)


def delete_account(
    conn: Connection, events: list[Change], address: str, drop: DropMailboxes = drop_mailboxes
) -> None:
    """``drop``: the engine's form of ``drop_mailboxes`` (``pg/mail``'s on PostgreSQL)."""
    row = _require_account_row(conn, address)
    boxes = conn.execute(select(mailboxes).where(mailboxes.c.account_id == row.id)).all()
    # Memberships go explicitly (not by cascade) so that message refcounts drop with them.
    drop(conn, events, boxes)
    # app_passwords, subscriptions and quota_usage follow by ON DELETE CASCADE.
    conn.execute(delete(accounts).where(accounts.c.id == row.id))
    # Its sending limits and counts are keyed by address (no foreign key): a new account of the
    # same address starts with the defaults.
    forget_send_limits(conn, "account", row.address.lower())


# Aliases


def _aliases(rows: Iterable[Row[Any]]) -> list[Alias]:
    grouped: dict[str, tuple[str, list[str]]] = {}
    for row in rows:
        grouped.setdefault(row.source_key, (row.source, []))[1].append(row.target)
    return [Alias(source, tuple(targets)) for source, targets in grouped.values()]


def _alias_rows(conn: Connection, source: str) -> list[Row[Any]]:
    key = address_key(source, allow_catch_all=True)
    return list(conn.execute(select(aliases).where(aliases.c.source_key == key).order_by(aliases.c.id)))


def add_alias(conn: Connection, events: list[Change], source: str, targets: Iterable[str]) -> Alias:
    display = address_display(source, allow_catch_all=True)
    _, domain = split_address(source, allow_catch_all=True)
    domain_row = _domain_row(conn, domain)
    if domain_row is None:
        raise NotFound(f"no domain {domain}; add it first")
    forms: dict[str, str] = {}  # key -> display; the first spelling of a target wins
    for target in targets:
        shown, key = target_forms(target)
        forms.setdefault(key, shown)
    if not forms:
        raise ValueError("an alias needs at least one target")
    existing = {row.target_key for row in _alias_rows(conn, display)}
    new = [(key, shown) for key, shown in forms.items() if key not in existing]
    if new:
        conn.execute(
            insert(aliases),
            [
                {
                    "domain_id": domain_row.id,
                    "source": display,
                    "source_key": display.lower(),
                    "target": shown,
                    "target_key": key,
                }
                for key, shown in new
            ],
        )
    return _aliases(_alias_rows(conn, display))[0]


def get_alias(conn: Connection, source: str) -> Alias | None:
    found = _aliases(_alias_rows(conn, source))
    return found[0] if found else None


def list_aliases(conn: Connection, domain: str | None) -> list[Alias]:
    stmt = select(aliases).order_by(aliases.c.source_key, aliases.c.id)
    if domain is not None:
        stmt = stmt.join_from(aliases, domains, aliases.c.domain_id == domains.c.id).where(
            domains.c.name == domain_key(domain)
        )
    return _aliases(conn.execute(stmt))


def delete_alias(conn: Connection, events: list[Change], source: str, targets: Iterable[str] | None) -> None:
    rows = _alias_rows(conn, source)
    if not rows:
        raise NotFound(f"no alias {address_display(source, allow_catch_all=True)}")
    stmt = delete(aliases).where(aliases.c.source_key == rows[0].source_key)
    if targets is not None:
        stmt = stmt.where(aliases.c.target_key.in_([target_forms(target)[1] for target in targets]))
    conn.execute(stmt)


# App passwords


def _app_password(row: Row[Any]) -> AppPassword:
    return AppPassword(
        id=row.id,
        account_id=row.account_id,
        name=row.name,
        password_hash=row.password_hash,
        created=datetime.fromtimestamp(row.created, UTC),
        last_used=when(row.last_used),
        lookup=None if row.lookup is None else bytes(row.lookup),
    )


app_password_from_row = _app_password


def add_app_password(
    conn: Connection, events: list[Change], address: str, name: str, password_hash: str, lookup: bytes
) -> AppPassword:
    account = _require_account_row(conn, address)
    where = (app_passwords.c.account_id == account.id, app_passwords.c.name == name)
    if conn.execute(select(app_passwords.c.id).where(*where)).first() is not None:
        raise AlreadyExists(f"app password {name!r} already exists for {account.address}")
    conn.execute(
        insert(app_passwords).values(
            account_id=account.id, name=name, password_hash=password_hash, created=now(), lookup=lookup
        )
    )
    return _app_password(conn.execute(select(app_passwords).where(*where)).one())


def find_app_password(conn: Connection, account_id: int, lookup: bytes) -> AppPassword | None:
    row = conn.execute(
        select(app_passwords).where(
            app_passwords.c.account_id == account_id, app_passwords.c.lookup == lookup
        )
    ).first()
    return None if row is None else _app_password(row)


def list_app_passwords(conn: Connection, address: str) -> list[AppPassword]:
    account = _require_account_row(conn, address)
    rows = conn.execute(
        select(app_passwords).where(app_passwords.c.account_id == account.id).order_by(app_passwords.c.name)
    )
    return [_app_password(row) for row in rows]


def revoke_app_password(conn: Connection, events: list[Change], address: str, name: str) -> None:
    account = _require_account_row(conn, address)
    result = conn.execute(
        delete(app_passwords).where(app_passwords.c.account_id == account.id, app_passwords.c.name == name)
    )
    if result.rowcount == 0:
        raise NotFound(f"no app password {name!r} for {account.address}")


def touch_app_password(conn: Connection, events: list[Change], app_password_id: int, used: datetime) -> None:
    # A password revoked between login and this update simply matches no row: not an error, the
    # login it recorded has already happened.
    conn.execute(
        update(app_passwords)
        .where(app_passwords.c.id == app_password_id)
        .values(last_used=int(used.timestamp()))
    )


# Login unblocks


def _login_unblock(row: Row[Any]) -> LoginUnblock:
    return LoginUnblock(row.id, row.target, datetime.fromtimestamp(row.created_ms / 1000, UTC))


def add_login_unblock(
    conn: Connection, events: list[Change], target: str, keep_seconds: float
) -> LoginUnblock:
    created_ms = int(time.time() * 1000)
    conn.execute(delete(login_unblocks).where(login_unblocks.c.created_ms < created_ms - keep_seconds * 1000))
    # inserted_primary_key, not lastrowid (SQLite's cursor attribute; psycopg has none).
    inserted = conn.execute(insert(login_unblocks).values(target=target, created_ms=created_ms))
    key = inserted.inserted_primary_key
    assert key is not None
    unblock_id = key[0]
    return _login_unblock(conn.execute(select(login_unblocks).where(login_unblocks.c.id == unblock_id)).one())


def login_unblocks_after(conn: Connection, unblock_id: int) -> list[LoginUnblock]:
    rows = conn.execute(
        select(login_unblocks).where(login_unblocks.c.id > unblock_id).order_by(login_unblocks.c.id)
    )
    return [_login_unblock(row) for row in rows]
