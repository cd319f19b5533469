"""Sending limits in the embedded store (``send_limits``, ``send_counts``, revision 0030): the
overrides the CLI sets, the counts, and ``charge``, which the queue's write transaction runs before it
queues a submitted message (``pochta.store.sqlite.queue.enqueue``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Protocol, TypeVar

from sqlalchemy import Connection, and_, delete, select, update

from pochta.store.model import Change
from pochta.store.schema import accounts, send_counts, send_limits
from pochta.store.send_limit_model import (
    PERIODS,
    Scope,
    SendCharge,
    SendCount,
    SendLimitOverride,
    SendLimitReached,
    SendLimits,
    inherited_send_limits,
    window_start,
)
from pochta.store.sql import upsert
from pochta.store.sql.units import load_settings

__all__ = ["SendLimitMethods", "charge", "check", "forget_send_limits"]

T = TypeVar("T")
_l = send_limits.c
_c = send_counts.c
_LIMIT_FIELDS = ("messages_per_hour", "messages_per_day", "recipients_per_hour", "recipients_per_day")


class _Jobs(Protocol):
    async def run_read(self, fn: Callable[[Connection], T]) -> T: ...
    async def run_write(self, fn: Callable[[Connection, list[Change]], T]) -> T: ...


def _override(conn: Connection, scope: Scope, name: str) -> SendLimitOverride | None:
    row = conn.execute(
        select(*(_l[f] for f in _LIMIT_FIELDS)).where(_l.scope == scope, _l.name == name)
    ).first()
    return None if row is None else SendLimitOverride(scope, name, *row)


def _effective(conn: Connection, given: SendCharge) -> list[tuple[Scope, str, SendLimits]]:
    account = _override(conn, "account", given.account)
    domain = _override(conn, "domain", given.domain)
    defaults = given.account_defaults
    account_id = conn.execute(select(accounts.c.id).where(accounts.c.address_key == given.account)).scalar()
    if account_id is not None:  # what its units set comes between the config and its own
        defaults = inherited_send_limits(load_settings(conn, account_id), defaults)
    return [
        ("account", given.account, account.over(defaults) if account else defaults),
        ("domain", given.domain, domain.over(SendLimits()) if domain else SendLimits()),
    ]


def _counts(conn: Connection, scope: Scope, name: str, now: int) -> list[SendCount]:
    found = []
    for period in PERIODS:
        start = window_start(period, now)
        row = conn.execute(
            select(_c.messages, _c.recipients, _c.notified).where(
                _c.scope == scope, _c.name == name, _c.period == period, _c.start == start
            )
        ).first()
        count = SendCount(scope, name, period, start)
        found.append(
            count
            if row is None
            else replace(count, messages=row[0], recipients=row[1], notified=bool(row[2]))
        )
    return found


def check(conn: Connection, given: SendCharge) -> SendLimitReached | None:
    """The first limit ``given`` would pass, or None."""
    for scope, name, limits in _effective(conn, given):
        for count in _counts(conn, scope, name, given.now):
            for kind, used, adding in (
                ("messages", count.messages, 1),
                ("recipients", count.recipients, given.recipients),
            ):
                limit = limits.limit(kind, count.period)  # type: ignore[arg-type]
                if limit and used + adding > limit:
                    return SendLimitReached(scope, name, kind, count.period, limit, count.start)  # type: ignore[arg-type]
    return None


def charge(conn: Connection, given: SendCharge) -> None:
    """Count ``given`` against its account and domain, in the caller's write transaction; raises
    ``SendLimitReached`` (and counts nothing) when that would pass a limit."""
    hit = check(conn, given)
    if hit is not None:
        raise hit
    for scope, name in (("account", given.account), ("domain", given.domain)):
        for period in PERIODS:
            start = window_start(period, given.now)
            # The windows before this one are of no more use (``pochta user show`` shows this one).
            conn.execute(
                delete(send_counts).where(
                    _c.scope == scope, _c.name == name, _c.period == period, _c.start < start
                )
            )
            statement = upsert.insert(conn, send_counts).values(
                scope=scope,
                name=name,
                period=period,
                start=start,
                messages=1,
                recipients=given.recipients,
                notified=False,
            )
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=[_c.scope, _c.name, _c.period, _c.start],
                    set_={
                        "messages": _c.messages + 1,
                        "recipients": _c.recipients + given.recipients,
                    },
                )
            )


def _mark_notified(conn: Connection, hit: SendLimitReached) -> bool:
    keys = {"scope": hit.scope, "name": hit.name, "period": hit.period, "start": hit.start}
    conn.execute(
        upsert.insert(conn, send_counts)
        .values(**keys, messages=0, recipients=0, notified=False)
        .on_conflict_do_nothing()
    )
    done = conn.execute(
        update(send_counts)
        .where(*(_c[k] == v for k, v in keys.items()), _c.notified.is_(False))
        .values(notified=True)
    )
    return bool(done.rowcount)


def forget_send_limits(conn: Connection, scope: Scope, name: str) -> None:
    """An account or domain deleted: its override and counts go with it (in its transaction)."""
    conn.execute(delete(send_limits).where(_l.scope == scope, _l.name == name))
    conn.execute(delete(send_counts).where(_c.scope == scope, _c.name == name))


class SendLimitMethods:
    """The sending-limit half of ``SqliteStore`` (a mixin, as ``GreylistMethods`` is)."""

    async def send_limit_override(self: _Jobs, scope: Scope, name: str) -> SendLimitOverride | None:
        return await self.run_read(lambda c: _override(c, scope, name))

    async def set_send_limit_override(self: _Jobs, override: SendLimitOverride) -> None:
        """Store ``override``; one whose values are all None removes the row (the defaults apply)."""
        values = asdict(override)

        def run(conn: Connection, changes: list[Change]) -> None:
            key = (_l.scope == override.scope, _l.name == override.name)
            if all(values[f] is None for f in _LIMIT_FIELDS):
                conn.execute(delete(send_limits).where(*key))
                return
            statement = upsert.insert(conn, send_limits).values(values)
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=[_l.scope, _l.name],
                    set_={f: statement.excluded[f] for f in _LIMIT_FIELDS},
                )
            )

        await self.run_write(run)

    async def send_counts(self: _Jobs, scope: Scope, name: str, now: int) -> list[SendCount]:
        return await self.run_read(lambda c: _counts(c, scope, name, now))

    async def send_limit_check(self: _Jobs, given: SendCharge) -> SendLimitReached | None:
        """Whether ``given`` would pass a limit now (counts nothing: the queue's charge is exact)."""
        return await self.run_read(lambda c: check(c, given))

    async def prune_send_counts(self: _Jobs, now: int) -> int:
        """Delete the counts of windows that ended before ``now``; how many rows went."""

        def run(conn: Connection, changes: list[Change]) -> int:
            removed = 0
            for period in PERIODS:
                ended = and_(_c.period == period, _c.start < window_start(period, now))
                removed += int(conn.execute(delete(send_counts).where(ended)).rowcount or 0)
            return removed

        return await self.run_write(run)

    async def send_limit_notified(self: _Jobs, hit: SendLimitReached) -> bool:
        """Mark ``hit``'s window as told to the postmaster: True the first time only."""
        return await self.run_write(lambda c, e: _mark_notified(c, hit))
