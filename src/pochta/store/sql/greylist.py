"""Greylisting triplets in the embedded store (``greylist``, revision 0029): read and written at
RCPT by the MX gate of every worker process, pruned by the housekeeper."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Protocol, TypeVar

from sqlalchemy import Connection, and_, delete, exists, or_, select

from pochta.store.greylist_model import GreylistRow
from pochta.store.model import Change
from pochta.store.schema import greylist
from pochta.store.sql import upsert

__all__ = ["GreylistMethods"]

T = TypeVar("T")
_g = greylist.c
_FIELDS = tuple(GreylistRow.__dataclass_fields__)


class _Jobs(Protocol):
    async def run_read(self, fn: Callable[[Connection], T]) -> T: ...
    async def run_write(self, fn: Callable[[Connection, list[Change]], T]) -> T: ...


def _get(conn: Connection, client: str, sender: str, recipient: str) -> GreylistRow | None:
    query = select(*(_g[name] for name in _FIELDS)).where(
        _g.client == client, _g.sender == sender, _g.recipient == recipient
    )
    row = conn.execute(query).first()
    return None if row is None else GreylistRow(*row)


class GreylistMethods:
    """The greylisting half of ``SqliteStore`` (a mixin, as ``DmarcMethods`` is)."""

    async def greylist_get(self: _Jobs, client: str, sender: str, recipient: str) -> GreylistRow | None:
        return await self.run_read(lambda c: _get(c, client, sender, recipient))

    async def greylist_put(self: _Jobs, row: GreylistRow) -> None:
        values = asdict(row)
        keys = ("client", "sender", "recipient")

        def run(conn: Connection, changes: list[Change]) -> None:
            statement = upsert.insert(conn, greylist).values(values)
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=[_g[k] for k in keys],
                    set_={name: statement.excluded[name] for name in _FIELDS if name not in keys},
                )
            )

        await self.run_write(run)

    async def greylist_sender_known(self: _Jobs, domain: str, since: int) -> bool:
        query = select(exists().where(_g.sender_domain == domain, _g.passed > 0, _g.last_seen >= since))
        return await self.run_read(lambda c: bool(c.execute(query).scalar()))

    async def prune_greylist(self: _Jobs, unconfirmed_before: int, passed_before: int) -> int:
        condition = or_(
            and_(_g.passed == 0, _g.first_seen < unconfirmed_before),
            and_(_g.passed > 0, _g.last_seen < passed_before),
        )

        def run(conn: Connection, changes: list[Change]) -> int:
            return int(conn.execute(delete(greylist).where(condition)).rowcount or 0)

        return await self.run_write(run)
