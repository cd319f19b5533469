"""Sieve scripts in the embedded store: each account's scripts, the one active script, and the
quota kept inside the write (two uploads at once cannot both pass a check made before it).

Names compare as stored: ``pochta.mail.sieve_scripts`` normalises them (RFC 5804 §1.6: Net-Unicode,
NFC) before they get here, so two spellings of one name are one row."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, and_, func, insert, select, update

from pochta.store.api import AlreadyExists, NotFound, ScriptActive, SieveQuotaExceeded
from pochta.store.model import AccountId, Change
from pochta.store.schema import sieve_scripts
from pochta.store.sieve_model import SieveQuota, SieveScript, SieveScriptInfo

__all__ = ["SieveMethods"]

T = TypeVar("T")

_s = sieve_scripts.c
_INFO = (_s.name, _s.size, _s.active, _s.updated, _s.id)


def _info(row: Sequence[Any]) -> SieveScriptInfo:
    return SieveScriptInfo(str(row[0]), int(row[1]), bool(row[2]), int(row[3]), int(row[4]))


def _script(row: Sequence[Any] | None) -> SieveScript | None:
    return None if row is None else SieveScript(_info(row), str(row[5]))


def list_scripts(conn: Connection, account_id: AccountId) -> list[SieveScriptInfo]:
    rows = conn.execute(select(*_INFO).where(_s.account_id == account_id).order_by(_s.name))
    return [_info(row) for row in rows]


def get_script(conn: Connection, account_id: AccountId, name: str) -> SieveScript | None:
    row = conn.execute(select(*_INFO, _s.source).where(_s.account_id == account_id, _s.name == name)).first()
    return _script(row)


def get_active(conn: Connection, account_id: AccountId) -> SieveScript | None:
    row = conn.execute(select(*_INFO, _s.source).where(_s.account_id == account_id, _s.active)).first()
    return _script(row)


def put_script(conn: Connection, account_id: AccountId, name: str, source: str, quota: SieveQuota) -> None:
    size = len(source.encode("utf-8"))
    mine = _s.account_id == account_id
    others = and_(mine, _s.name != name)
    count, stored = conn.execute(
        select(func.count(), func.coalesce(func.sum(_s.size), 0)).where(others)
    ).one()
    exists = conn.execute(select(_s.id).where(mine, _s.name == name)).first() is not None
    # RFC 5804 §1.3: QUOTA/MAXSCRIPTS when there would be too many scripts, QUOTA/MAXSIZE when
    # they would take too much space (a replaced script's old size no longer counts).
    if not exists and count + 1 > quota.max_scripts:
        raise SieveQuotaExceeded("QUOTA/MAXSCRIPTS", f"Too many scripts (at most {quota.max_scripts})")
    if stored + size > quota.max_storage:
        raise SieveQuotaExceeded("QUOTA/MAXSIZE", f"Scripts would take more than {quota.max_storage} octets")
    now = int(time.time())
    if exists:
        conn.execute(
            update(sieve_scripts).where(mine, _s.name == name).values(source=source, size=size, updated=now)
        )
    else:
        conn.execute(
            insert(sieve_scripts).values(
                account_id=account_id, name=name, source=source, size=size, active=False, updated=now
            )
        )


def rename_script(conn: Connection, account_id: AccountId, old: str, new: str) -> None:
    mine = _s.account_id == account_id
    if conn.execute(select(_s.id).where(mine, _s.name == old)).first() is None:
        raise NotFound(f"no script named {old!r}")
    if old == new:
        return
    if conn.execute(select(_s.id).where(mine, _s.name == new)).first() is not None:
        raise AlreadyExists(f"a script named {new!r} exists")
    conn.execute(update(sieve_scripts).where(mine, _s.name == old).values(name=new))


def delete_script(conn: Connection, account_id: AccountId, name: str) -> None:
    row = conn.execute(select(_s.id, _s.active).where(_s.account_id == account_id, _s.name == name)).first()
    if row is None:
        raise NotFound(f"no script named {name!r}")
    if row.active:
        raise ScriptActive(f"{name!r} is the active script; deactivate it first")
    conn.execute(sieve_scripts.delete().where(_s.id == row.id))


def activate_script(conn: Connection, account_id: AccountId, name: str | None) -> None:
    mine = _s.account_id == account_id
    if name is not None and conn.execute(select(_s.id).where(mine, _s.name == name)).first() is None:
        raise NotFound(f"no script named {name!r}")
    # One statement per step keeps the partial unique index (one active per account) satisfied.
    conn.execute(update(sieve_scripts).where(mine, _s.active).values(active=False))
    if name is not None:
        conn.execute(update(sieve_scripts).where(mine, _s.name == name).values(active=True))


class _Jobs(Protocol):
    async def run_read(self, fn: Callable[[Connection], T]) -> T: ...
    async def run_write(self, fn: Callable[[Connection, list[Change]], T]) -> T: ...


class SieveMethods:
    """The Sieve half of ``SqliteStore`` (a mixin, as ``MetadataMethods`` is)."""

    async def sieve_scripts(self: _Jobs, account_id: AccountId) -> list[SieveScriptInfo]:
        return await self.run_read(lambda c: list_scripts(c, account_id))

    async def sieve_script(self: _Jobs, account_id: AccountId, name: str) -> SieveScript | None:
        return await self.run_read(lambda c: get_script(c, account_id, name))

    async def active_sieve_script(self: _Jobs, account_id: AccountId) -> SieveScript | None:
        return await self.run_read(lambda c: get_active(c, account_id))

    async def put_sieve_script(
        self: _Jobs, account_id: AccountId, name: str, source: str, quota: SieveQuota
    ) -> None:
        await self.run_write(lambda c, e: put_script(c, account_id, name, source, quota))

    async def rename_sieve_script(self: _Jobs, account_id: AccountId, old: str, new: str) -> None:
        await self.run_write(lambda c, e: rename_script(c, account_id, old, new))

    async def delete_sieve_script(self: _Jobs, account_id: AccountId, name: str) -> None:
        await self.run_write(lambda c, e: delete_script(c, account_id, name))

    async def activate_sieve_script(self: _Jobs, account_id: AccountId, name: str | None) -> None:
        await self.run_write(lambda c, e: activate_script(c, account_id, name))
