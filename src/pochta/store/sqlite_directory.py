"""Domains, accounts, aliases, app passwords and each account's mailbox tree, over a Connection.

Like ``sqlite_mail``, every function runs in a writer job or a reader thread, never on the loop.
Nothing here is cached: the server reads directory data on each login, so a change made by the CLI
in another process applies to the next login at once.

Addresses are matched case-insensitively through ``*_key`` columns. The display form keeps the local
part as given and lower-cases the domain; callers normalise further (``pochta.naming``) before they
get here.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, func, insert, or_, select, update

from pochta.store.api import UNSET, AlreadyExists, Conflict, NotFound, _Unset
from pochta.store.model import (
    DEFAULT_MAILBOXES,
    HIERARCHY_SEPARATOR,
    Account,
    AccountId,
    Alias,
    AppPassword,
    Change,
    ChangeKind,
    Domain,
    MailboxId,
    MailboxInfo,
    ProtocolSwitches,
    ScramCredentials,
)
from pochta.store.schema import (
    accounts,
    aliases,
    app_passwords,
    domains,
    expunged,
    mailboxes,
    membership,
    messages,
    meta,
    quota_usage,
    subscriptions,
)
from pochta.store.sqlite_mail import (
    adjust_quota,
    chunked,
    mailbox_info,
    release_messages,
    require_account,
)

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


# Domains


def _domain(row: Row[Any]) -> Domain:
    return Domain(
        id=row.id, name=row.name, protocols=_switches(row), created=datetime.fromtimestamp(row.created, UTC)
    )


def _domain_row(conn: Connection, name: str) -> Row[Any] | None:
    return conn.execute(select(domains).where(domains.c.name == domain_key(name))).first()


def add_domain(conn: Connection, events: list[Change], name: str) -> Domain:
    key = domain_key(name)
    if _domain_row(conn, key) is not None:
        raise AlreadyExists(f"domain {key} already exists")
    values = {"name": key, **_switch_values(ProtocolSwitches()), "created": now()}
    domain_id = conn.execute(insert(domains).values(values)).inserted_primary_key[0]  # type: ignore[index]
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
        select(func.count()).select_from(accounts).where(accounts.c.domain_id == row.id)
    ).scalar_one()
    sources = conn.execute(
        select(func.count(func.distinct(aliases.c.source_key))).where(aliases.c.domain_id == row.id)
    ).scalar_one()
    if users or sources:
        raise Conflict(f"domain {row.name} still has {users} account(s) and {sources} alias(es)")
    conn.execute(delete(domains).where(domains.c.id == row.id))


def set_domain_protocols(
    conn: Connection, events: list[Change], name: str, switches: ProtocolSwitches
) -> Domain:
    row = _domain_row(conn, name)
    if row is None:
        raise NotFound(f"no domain {domain_key(name)}")
    conn.execute(update(domains).where(domains.c.id == row.id).values(_switch_values(switches)))
    return _domain(conn.execute(select(domains).where(domains.c.id == row.id)).one())


# Accounts


def _account(row: Row[Any]) -> Account:
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
        protocols=_switches(row),
        apop_secret=row.apop_secret,
        enabled=bool(row.enabled),
        created=datetime.fromtimestamp(row.created, UTC),
    )


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
        **_switch_values(ProtocolSwitches()),
        "apop_secret": None,
        "enabled": True,
        "created": now(),
    }
    account_id = conn.execute(insert(accounts).values(values)).inserted_primary_key[0]  # type: ignore[index]
    conn.execute(insert(quota_usage).values(account_id=account_id, bytes=0, messages=0))
    for name, special_use in DEFAULT_MAILBOXES:
        insert_mailbox(conn, account_id, name, special_use, subscribed=True)
    return _account(conn.execute(select(accounts).where(accounts.c.id == account_id)).one())


def get_account(conn: Connection, address: str) -> Account | None:
    row = _account_row(conn, address)
    return _account(row) if row is not None else None


def get_account_by_id(conn: Connection, account_id: AccountId) -> Account | None:
    row = conn.execute(select(accounts).where(accounts.c.id == account_id)).first()
    return _account(row) if row is not None else None


def list_accounts(conn: Connection, domain: str | None) -> list[Account]:
    stmt = select(accounts).order_by(accounts.c.address_key)
    if domain is not None:
        stmt = stmt.join_from(accounts, domains, accounts.c.domain_id == domains.c.id).where(
            domains.c.name == domain_key(domain)
        )
    return [_account(row) for row in conn.execute(stmt)]


def update_account(
    conn: Connection,
    events: list[Change],
    address: str,
    *,
    password_hash: str | _Unset = UNSET,
    scram: ScramCredentials | _Unset | None = UNSET,
    quota_bytes: int | _Unset | None = UNSET,
    protocols: ProtocolSwitches | _Unset = UNSET,
    apop_secret: str | _Unset | None = UNSET,
    enabled: bool | _Unset = UNSET,
) -> Account:
    row = _require_account_row(conn, address)
    values: dict[str, Any] = {}
    if not isinstance(password_hash, _Unset):
        values["password_hash"] = password_hash
    if not isinstance(scram, _Unset):
        values.update(_scram_values(scram))
    if not isinstance(quota_bytes, _Unset):
        values["quota_bytes"] = quota_bytes
    if not isinstance(protocols, _Unset):
        values.update(_switch_values(protocols))
    if not isinstance(apop_secret, _Unset):
        values["apop_secret"] = apop_secret
    if not isinstance(enabled, _Unset):
        values["enabled"] = enabled
    if values:
        conn.execute(update(accounts).where(accounts.c.id == row.id).values(values))
    return _account(conn.execute(select(accounts).where(accounts.c.id == row.id)).one())


def delete_account(conn: Connection, events: list[Change], address: str) -> None:
    row = _require_account_row(conn, address)
    boxes = conn.execute(select(mailboxes).where(mailboxes.c.account_id == row.id)).all()
    # Memberships go explicitly (not by cascade) so that message refcounts drop with them.
    drop_mailboxes(conn, events, boxes)
    # app_passwords, subscriptions and quota_usage follow by ON DELETE CASCADE.
    conn.execute(delete(accounts).where(accounts.c.id == row.id))


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
    )


def add_app_password(
    conn: Connection, events: list[Change], address: str, name: str, password_hash: str
) -> AppPassword:
    account = _require_account_row(conn, address)
    where = (app_passwords.c.account_id == account.id, app_passwords.c.name == name)
    if conn.execute(select(app_passwords.c.id).where(*where)).first() is not None:
        raise AlreadyExists(f"app password {name!r} already exists for {account.address}")
    conn.execute(
        insert(app_passwords).values(
            account_id=account.id, name=name, password_hash=password_hash, created=now()
        )
    )
    return _app_password(conn.execute(select(app_passwords).where(*where)).one())


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


# Mailbox trees (the MailStore's mailbox administration)


def new_uidvalidity(conn: Connection) -> int:
    """A UIDVALIDITY no mailbox had before (RFC 9051 §2.3.1.1): it must change when a name is reused.

    Seeded from the clock (so a store rebuilt from scratch does not repeat old values) and strictly
    increasing through a counter kept in ``meta``.
    """
    row = conn.execute(select(meta.c.value).where(meta.c.key == "last_uidvalidity")).first()
    last = int(row.value) if row is not None else 0
    value = max(last + 1, int(time.time()))
    if value >= 2**32:
        raise OverflowError("UIDVALIDITY space exhausted")
    if row is None:
        conn.execute(insert(meta).values(key="last_uidvalidity", value=str(value)))
    else:
        conn.execute(update(meta).where(meta.c.key == "last_uidvalidity").values(value=str(value)))
    return value


def insert_mailbox(
    conn: Connection, account_id: AccountId, name: str, special_use: str | None, subscribed: bool
) -> MailboxInfo:
    values = {
        "account_id": account_id,
        "name": name,
        "uidvalidity": new_uidvalidity(conn),
        "uidnext": 1,
        "highestmodseq": 1,  # RFC 7162 §3.1.1: mod-sequences are positive
        "special_use": special_use,
        "subscribed": subscribed,
        "messages": 0,
        "unseen": 0,
        "deleted": 0,
        "size": 0,
    }
    mailbox_id = conn.execute(insert(mailboxes).values(values)).inserted_primary_key[0]  # type: ignore[index]
    return MailboxInfo(
        id=mailbox_id,
        account_id=account_id,
        name=name,
        uidvalidity=values["uidvalidity"],  # type: ignore[arg-type]
        uidnext=1,
        highestmodseq=1,
        special_use=special_use,
        subscribed=subscribed,
        messages=0,
        unseen=0,
        deleted=0,
        size=0,
    )


def _mailbox_by_name(conn: Connection, account_id: AccountId, name: str) -> Row[Any] | None:
    return conn.execute(
        select(mailboxes).where(mailboxes.c.account_id == account_id, mailboxes.c.name == name)
    ).first()


def list_mailboxes(conn: Connection, account_id: AccountId) -> list[MailboxInfo]:
    rows = conn.execute(
        select(mailboxes).where(mailboxes.c.account_id == account_id).order_by(mailboxes.c.name)
    )
    return [mailbox_info(row) for row in rows]


def get_mailbox(conn: Connection, account_id: AccountId, name: str) -> MailboxInfo | None:
    row = _mailbox_by_name(conn, account_id, name)
    return mailbox_info(row) if row is not None else None


def get_mailbox_by_id(conn: Connection, mailbox_id: MailboxId) -> MailboxInfo | None:
    row = conn.execute(select(mailboxes).where(mailboxes.c.id == mailbox_id)).first()
    return mailbox_info(row) if row is not None else None


def create_mailbox(
    conn: Connection, events: list[Change], account_id: AccountId, name: str, special_use: str | None
) -> MailboxInfo:
    require_account(conn, account_id)
    if _mailbox_by_name(conn, account_id, name) is not None:
        raise AlreadyExists(f"mailbox {name!r} already exists")
    # A name subscribed to while it did not exist is subscribed once it does.
    subscribed = (
        conn.execute(
            delete(subscriptions).where(
                subscriptions.c.account_id == account_id, subscriptions.c.name == name
            )
        ).rowcount
        > 0
    )
    info = insert_mailbox(conn, account_id, name, special_use, subscribed)
    events.append(Change(ChangeKind.MAILBOX, account_id, info.id, info.highestmodseq))
    return info


def _subtree(conn: Connection, account_id: AccountId, name: str) -> list[Row[Any]]:
    """The mailbox and every mailbox below it, by name order."""
    prefix = name + HIERARCHY_SEPARATOR
    # Names below ``name`` sort in [prefix, prefix with the separator's successor): an index range.
    upper = name + chr(ord(HIERARCHY_SEPARATOR) + 1)
    return list(
        conn.execute(
            select(mailboxes)
            .where(
                mailboxes.c.account_id == account_id,
                or_(mailboxes.c.name == name, (mailboxes.c.name >= prefix) & (mailboxes.c.name < upper)),
            )
            .order_by(mailboxes.c.name)
        )
    )


def rename_mailbox(
    conn: Connection, events: list[Change], account_id: AccountId, old: str, new: str
) -> list[MailboxInfo]:
    rows = _subtree(conn, account_id, old)
    if not any(row.name == old for row in rows):
        raise NotFound(f"no mailbox {old!r}")
    if old == new:
        raise AlreadyExists(f"mailbox {new!r} already exists")
    renamed = {row.id: new + row.name[len(old) :] for row in rows}
    for names in chunked(sorted(renamed.values())):
        clash = conn.execute(
            select(mailboxes.c.name).where(
                mailboxes.c.account_id == account_id,
                mailboxes.c.name.in_(names),
                mailboxes.c.id.not_in(list(renamed)),
            )
        ).first()
        if clash is not None:
            raise AlreadyExists(f"mailbox {clash.name!r} already exists")
    # Two steps, because a new name may be an old name of the same subtree ("a" -> "a/a") and the
    # UNIQUE constraint is checked row by row.
    stmt = update(mailboxes).where(mailboxes.c.id == bindparam("b_id"))
    conn.execute(stmt, [{"b_id": mid, "name": f"\x00renaming\x00{mid}"} for mid in renamed])
    conn.execute(stmt, [{"b_id": mid, "name": name} for mid, name in renamed.items()])
    result = []
    for row in rows:
        result.append(replace(mailbox_info(row), name=renamed[row.id]))
        events.append(Change(ChangeKind.MAILBOX, account_id, row.id, row.highestmodseq))
    return result


def drop_mailboxes(conn: Connection, events: list[Change], rows: Sequence[Row[Any]]) -> None:
    """Delete mailboxes with their memberships: refcounts and quota follow, blobs are collected later."""
    for mailbox in rows:
        usage = conn.execute(
            select(membership.c.message_id, func.count().label("n"), func.sum(messages.c.size).label("size"))
            .join_from(membership, messages, membership.c.message_id == messages.c.id)
            .where(membership.c.mailbox_id == mailbox.id)
            .group_by(membership.c.message_id)
        ).all()
        conn.execute(delete(membership).where(membership.c.mailbox_id == mailbox.id))
        conn.execute(delete(expunged).where(expunged.c.mailbox_id == mailbox.id))
        conn.execute(delete(mailboxes).where(mailboxes.c.id == mailbox.id))
        adjust_quota(
            conn, mailbox.account_id, -sum(int(row.size) for row in usage), -sum(int(row.n) for row in usage)
        )
        release_messages(conn, Counter({int(row.message_id): int(row.n) for row in usage}))
        events.append(Change(ChangeKind.MAILBOX, mailbox.account_id, mailbox.id, mailbox.highestmodseq))


def delete_mailbox(conn: Connection, events: list[Change], account_id: AccountId, name: str) -> None:
    row = _mailbox_by_name(conn, account_id, name)
    if row is None:
        raise NotFound(f"no mailbox {name!r}")
    drop_mailboxes(conn, events, [row])
    if row.subscribed:
        # RFC 9051 §6.3.10: the server SHOULD NOT remove a subscription because the mailbox went.
        where = (subscriptions.c.account_id == account_id, subscriptions.c.name == name)
        conn.execute(delete(subscriptions).where(*where))
        conn.execute(insert(subscriptions).values(account_id=account_id, name=name))


def set_subscribed(
    conn: Connection, events: list[Change], account_id: AccountId, name: str, subscribed: bool
) -> None:
    require_account(conn, account_id)
    row = _mailbox_by_name(conn, account_id, name)
    if row is not None:
        if bool(row.subscribed) != subscribed:
            conn.execute(update(mailboxes).where(mailboxes.c.id == row.id).values(subscribed=subscribed))
            events.append(Change(ChangeKind.MAILBOX, account_id, row.id, row.highestmodseq))
        return
    where = (subscriptions.c.account_id == account_id, subscriptions.c.name == name)
    exists = conn.execute(select(subscriptions.c.name).where(*where)).first() is not None
    if subscribed and not exists:
        conn.execute(insert(subscriptions).values(account_id=account_id, name=name))
    elif not subscribed and exists:
        conn.execute(delete(subscriptions).where(*where))


def list_subscriptions(conn: Connection, account_id: AccountId) -> list[str]:
    existing = conn.execute(
        select(mailboxes.c.name).where(mailboxes.c.account_id == account_id, mailboxes.c.subscribed)
    ).scalars()
    others = conn.execute(
        select(subscriptions.c.name).where(subscriptions.c.account_id == account_id)
    ).scalars()
    return sorted({*existing, *others})
