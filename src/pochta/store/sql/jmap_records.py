"""JMAP objects kept as records (``jmap_records``, ``jmap_record_states``; revision 0041), on both
engines. A write moves the account's state of the type once, and stamps what it created, changed or
destroyed with the new state: ``*/changes`` from any earlier state is the records changed after it
(tombstones included), always exact."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from sqlalchemy import Connection, insert, select, update

from pochta.store.jmap_record_model import JmapRecord, JmapRecords, JmapRecordWrite, JmapWriteResult
from pochta.store.model import AccountId, Change
from pochta.store.schema import jmap_record_states, jmap_records

__all__ = ["JmapRecordMethods"]

T = TypeVar("T")
_r = jmap_records.c
_s = jmap_record_states.c
_COLUMNS = (_r.id, _r.account_id, _r.data, _r.ref, _r.created, _r.changed, _r.destroyed)


class _Jobs(Protocol):
    async def run_read(self, fn: Callable[[Connection], T]) -> T: ...
    async def run_write(self, fn: Callable[[Connection, list[Change]], T]) -> T: ...


def _record(row: tuple[object, ...]) -> JmapRecord:
    id_, account_id, data, ref, created, changed, destroyed = row
    return JmapRecord(
        int(str(id_)),
        AccountId(int(str(account_id))),
        str(data),
        None if ref is None else str(ref),
        int(str(created)),
        int(str(changed)),
        bool(destroyed),
    )


def _state(conn: Connection, account_id: AccountId, type_: str) -> int:
    found = conn.execute(select(_s.state).where(_s.account_id == account_id, _s.type == type_)).scalar()
    return int(found or 0)


def _read(conn: Connection, account_id: AccountId, type_: str, tombstones: bool) -> JmapRecords:
    query = select(*_COLUMNS).where(_r.account_id == account_id, _r.type == type_).order_by(_r.id)
    if not tombstones:
        query = query.where(_r.destroyed.is_(False))
    rows = conn.execute(query).all()
    return JmapRecords(_state(conn, account_id, type_), tuple(_record(tuple(row)) for row in rows))


def _write(conn: Connection, account_id: AccountId, type_: str, write: JmapRecordWrite) -> JmapWriteResult:
    old = _state(conn, account_id, type_)
    if write.if_state is not None and write.if_state != old:
        return JmapWriteResult(old, old, state_mismatch=True)
    live = set(
        conn.execute(
            select(_r.id).where(_r.account_id == account_id, _r.type == type_, _r.destroyed.is_(False))
        ).scalars()
    )
    missing = {id_ for id_, _ in write.updates if id_ not in live} | {
        i for i in write.destroys if i not in live
    }
    if not write.creates and len(missing) == len({i for i, _ in write.updates} | set(write.destroys)):
        return JmapWriteResult(old, old, missing=frozenset(missing))
    new = old + 1
    if old == 0:
        conn.execute(insert(jmap_record_states).values(account_id=account_id, type=type_, state=new))
    else:
        conn.execute(
            update(jmap_record_states).where(_s.account_id == account_id, _s.type == type_).values(state=new)
        )
    created = []
    for data, ref in write.creates:
        values = dict(
            account_id=account_id, type=type_, data=data, ref=ref, created=new, changed=new, destroyed=False
        )
        key = conn.execute(insert(jmap_records).values(**values)).inserted_primary_key
        created.append(int(key[0]))  # type: ignore[index]
    for id_, data in write.updates:
        if id_ in live:
            conn.execute(update(jmap_records).where(_r.id == id_).values(data=data, changed=new))
    for id_ in write.destroys:
        if id_ in live:
            conn.execute(update(jmap_records).where(_r.id == id_).values(destroyed=True, changed=new))
    return JmapWriteResult(old, new, tuple(created), frozenset(missing))


class JmapRecordMethods:
    """The JMAP records of ``SqliteStore`` and ``PgStore`` (a mixin)."""

    async def jmap_records(
        self: _Jobs, account_id: AccountId, type_: str, *, tombstones: bool = False
    ) -> JmapRecords:
        """The account's records of a JMAP data type with the type's state, from one snapshot;
        destroyed ones too when ``tombstones``."""
        return await self.run_read(lambda c: _read(c, account_id, type_, tombstones))

    async def jmap_record_by_ref(self: _Jobs, type_: str, ref: str) -> JmapRecord | None:
        """The live record of a type with this ``ref`` (any account), if any."""
        query = select(*_COLUMNS).where(_r.type == type_, _r.ref == ref, _r.destroyed.is_(False)).limit(1)
        row = await self.run_read(lambda c: c.execute(query).first())
        return None if row is None else _record(tuple(row))

    async def write_jmap_records(
        self: _Jobs, account_id: AccountId, type_: str, write: JmapRecordWrite
    ) -> JmapWriteResult:
        """Creates, updates and destroys in one transaction (durable when this returns); the
        state moves once when anything was written."""
        return await self.run_write(lambda c, e: _write(c, account_id, type_, write))
