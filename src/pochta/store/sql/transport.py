"""Transport security records in the embedded store (revision 0028): the MTA-STS policy cache and the
TLS-RPT session counts (``pochta.store.transport_model``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from sqlalchemy import Connection, delete, select

from pochta.store.model import Change
from pochta.store.schema import mta_sts_policies, tls_rpt_results
from pochta.store.sql import upsert
from pochta.store.transport_model import CachedPolicy, TlsResult, TlsResultRow

__all__ = ["TransportMethods"]

T = TypeVar("T")
_p = mta_sts_policies.c
_r = tls_rpt_results.c


def get_policy(conn: Connection, domain: str) -> CachedPolicy | None:
    row = conn.execute(select(mta_sts_policies).where(_p.domain == domain)).first()
    if row is None:
        return None
    return CachedPolicy(row.domain, row.policy_id, row.policy, int(row.fetched), int(row.expires))


def put_policy(conn: Connection, policy: CachedPolicy) -> None:
    values = {
        "domain": policy.domain,
        "policy_id": policy.policy_id,
        "policy": policy.policy,
        "fetched": policy.fetched,
        "expires": policy.expires,
    }
    statement = upsert.insert(conn, mta_sts_policies).values(values)
    conn.execute(statement.on_conflict_do_update(index_elements=[_p.domain], set_=values))


def count_results(conn: Connection, day: str, results: Sequence[TlsResult]) -> None:
    for result in results:
        statement = upsert.insert(conn, tls_rpt_results).values(
            day=day,
            domain=result.domain,
            policy_type=result.policy_type,
            policy=result.policy,
            mx_host=result.mx_host,
            result_type=result.result_type,
            receiving_ip=result.receiving_ip,
            sending_ip=result.sending_ip,
            detail=result.detail,
            count=1,
        )
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=[
                    _r.day,
                    _r.domain,
                    _r.policy_type,
                    _r.mx_host,
                    _r.result_type,
                    _r.receiving_ip,
                    _r.sending_ip,
                ],
                set_={
                    "count": _r.count + 1,
                    "policy": statement.excluded.policy,
                    "detail": statement.excluded.detail,
                },
            )
        )


def results_before(conn: Connection, day: str) -> list[TlsResultRow]:
    query = (
        select(tls_rpt_results).where(_r.day < day).order_by(_r.day, _r.domain, _r.policy_type, _r.mx_host)
    )
    return [
        TlsResultRow(
            row.day,
            TlsResult(
                row.domain,
                row.policy_type,
                row.policy,
                row.mx_host,
                row.result_type,
                row.receiving_ip,
                row.detail,
                row.sending_ip,
            ),
            int(row._mapping[_r.count]),
        )
        for row in conn.execute(query)
    ]


def delete_results(conn: Connection, day: str, domain: str) -> int:
    return conn.execute(delete(tls_rpt_results).where(_r.day == day, _r.domain == domain)).rowcount


class _Jobs(Protocol):
    async def run_read(self, fn: Callable[[Connection], T]) -> T: ...
    async def run_write(self, fn: Callable[[Connection, list[Change]], T]) -> T: ...


class TransportMethods:
    """The transport-security half of ``SqliteStore`` (a mixin, as ``DkimMethods`` is)."""

    async def mta_sts_policy(self: _Jobs, domain: str) -> CachedPolicy | None:
        return await self.run_read(lambda c: get_policy(c, domain))

    async def put_mta_sts_policy(self: _Jobs, policy: CachedPolicy) -> None:
        await self.run_write(lambda c, e: put_policy(c, policy))

    async def count_tls_results(self: _Jobs, day: str, results: Sequence[TlsResult]) -> None:
        if results:
            await self.run_write(lambda c, e: count_results(c, day, results))

    async def tls_results_before(self: _Jobs, day: str) -> list[TlsResultRow]:
        return await self.run_read(lambda c: results_before(c, day))

    async def delete_tls_results(self: _Jobs, day: str, domain: str) -> int:
        return await self.run_write(lambda c, e: delete_results(c, day, domain))
