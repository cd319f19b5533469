"""DKIM signing keys in the embedded store (``dkim_keys``, revision 0026): a domain's keys by
selector, and the changes of state a rotation makes in one transaction."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, delete, insert, select, update

from pochta.store.api import AlreadyExists, NotFound
from pochta.store.dkim_model import DkimKey, KeyState
from pochta.store.model import Change
from pochta.store.schema import dkim_keys, domains
from pochta.store.sql.directory import domain_key

__all__ = ["DkimMethods"]

T = TypeVar("T")

_k = dkim_keys.c
_COLUMNS = (
    domains.c.name,
    _k.selector,
    _k.algorithm,
    _k.private_key,
    _k.public_key,
    _k.state,
    _k.created,
    _k.activated,
)


def _key(row: Sequence[Any]) -> DkimKey:
    activated = None if row[7] is None else int(row[7])
    return DkimKey(
        str(row[0]),
        str(row[1]),
        str(row[2]),
        str(row[3]),
        str(row[4]),
        KeyState(row[5]),
        int(row[6]),
        activated,
    )


def _domain_id(conn: Connection, domain: str) -> int:
    found = conn.execute(select(domains.c.id).where(domains.c.name == domain_key(domain))).first()
    if found is None:
        raise NotFound(f"no domain {domain}")
    return int(found[0])


def list_keys(conn: Connection, domain: str | None) -> list[DkimKey]:
    query = select(*_COLUMNS).join(domains, domains.c.id == _k.domain_id)
    if domain is not None:
        query = query.where(domains.c.name == domain_key(domain))
    return [_key(row) for row in conn.execute(query.order_by(domains.c.name, _k.created, _k.selector))]


def add_keys(conn: Connection, domain: str, keys: Sequence[DkimKey]) -> None:
    domain_id = _domain_id(conn, domain)
    taken = {row[0] for row in conn.execute(select(_k.selector).where(_k.domain_id == domain_id))}
    for key in keys:
        if key.selector in taken:
            raise AlreadyExists(f"selector {key.selector} of {domain} exists")
    conn.execute(
        insert(dkim_keys),
        [
            {
                "domain_id": domain_id,
                "selector": key.selector,
                "algorithm": key.algorithm,
                "private_key": key.private_key,
                "public_key": key.public_key,
                "state": key.state.value,
                "created": key.created,
                "activated": key.activated,
            }
            for key in keys
        ],
    )


def set_states(conn: Connection, domain: str, states: Mapping[str, KeyState]) -> None:
    domain_id = _domain_id(conn, domain)
    now = int(time.time())
    for selector, state in states.items():
        values: dict[str, object] = {"state": state.value}
        if state is KeyState.ACTIVE:
            values["activated"] = now
        done = conn.execute(
            update(dkim_keys).where(_k.domain_id == domain_id, _k.selector == selector).values(values)
        )
        if done.rowcount == 0:
            raise NotFound(f"no key {selector} of {domain}")


def delete_key(conn: Connection, domain: str, selector: str) -> None:
    domain_id = _domain_id(conn, domain)
    done = conn.execute(delete(dkim_keys).where(_k.domain_id == domain_id, _k.selector == selector))
    if done.rowcount == 0:
        raise NotFound(f"no key {selector} of {domain}")


class _Jobs(Protocol):
    async def run_read(self, fn: Callable[[Connection], T]) -> T: ...
    async def run_write(self, fn: Callable[[Connection, list[Change]], T]) -> T: ...


class DkimMethods:
    """The DKIM half of ``SqliteStore`` (a mixin, as ``SieveMethods`` is)."""

    async def dkim_keys(self: _Jobs, domain: str | None = None) -> list[DkimKey]:
        return await self.run_read(lambda c: list_keys(c, domain))

    async def add_dkim_keys(self: _Jobs, domain: str, keys: Sequence[DkimKey]) -> None:
        await self.run_write(lambda c, e: add_keys(c, domain, keys))

    async def set_dkim_states(self: _Jobs, domain: str, states: Mapping[str, KeyState]) -> None:
        await self.run_write(lambda c, e: set_states(c, domain, states))

    async def delete_dkim_key(self: _Jobs, domain: str, selector: str) -> None:
        await self.run_write(lambda c, e: delete_key(c, domain, selector))
