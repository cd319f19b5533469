"""DMARC results for the aggregate reports in the embedded store (``dmarc_results``, revision
0027): added at delivery, read and deleted by the report job."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, delete, insert, select

from pochta.store.dmarc_model import DmarcRow
from pochta.store.model import Change
from pochta.store.schema import dmarc_results

__all__ = ["DmarcMethods"]

T = TypeVar("T")
_d = dmarc_results.c
_FIELDS = tuple(DmarcRow.__dataclass_fields__)


def _rows(conn: Connection, before: int, limit: int) -> list[DmarcRow]:
    query = select(*(_d[name] for name in _FIELDS)).where(_d.received < before).order_by(_d.id).limit(limit)
    out = []
    for row in conn.execute(query):
        values: dict[str, Any] = dict(zip(_FIELDS, row, strict=True))
        values["dkim_aligned"] = bool(values["dkim_aligned"])
        values["spf_aligned"] = bool(values["spf_aligned"])
        out.append(DmarcRow(**values))
    return out


class _Jobs(Protocol):
    async def run_read(self, fn: Callable[[Connection], T]) -> T: ...
    async def run_write(self, fn: Callable[[Connection, list[Change]], T]) -> T: ...


class DmarcMethods:
    """The DMARC report half of ``SqliteStore`` (a mixin, as ``DkimMethods`` is)."""

    async def add_dmarc_result(self: _Jobs, row: DmarcRow) -> None:
        await self.run_write(lambda c, e: c.execute(insert(dmarc_results).values(asdict(row))))

    async def dmarc_results(self: _Jobs, before: int, limit: int = 1_000_000) -> list[DmarcRow]:
        return await self.run_read(lambda c: _rows(c, before, limit))

    async def delete_dmarc_results(self: _Jobs, before: int) -> int:
        def run(conn: Connection, changes: list[Change]) -> int:
            return int(conn.execute(delete(dmarc_results).where(_d.received < before)).rowcount or 0)

        return await self.run_write(run)
