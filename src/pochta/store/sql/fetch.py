"""The fetcher's tables in the embedded store (``fetch_accounts``, ``fetched_messages``, revision
0031; pochta.store.fetch_model). ``mark_fetched`` runs inside ``deliver``'s write transaction (the
message and its record commit together, docs/fetch.md "Never twice")."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from pochta.store.api import AlreadyExists, NotFound
from pochta.store.fetch_model import FetchAccount, FetchMark, FetchRunResult, NewFetchAccount
from pochta.store.model import AccountId, Change
from pochta.store.schema import fetch_accounts, fetched_messages

__all__ = ["AlreadyFetched", "FetchMethods", "mark_fetched"]

T = TypeVar("T")
_a = fetch_accounts.c
_m = fetched_messages.c
_FIELDS = [f.name for f in dataclasses.fields(FetchAccount)]


class AlreadyFetched(AlreadyExists):
    """The message's record exists: it was stored before (the delivery is rolled back)."""


class _Jobs(Protocol):
    async def run_read(self, fn: Callable[[Connection], T]) -> T: ...
    async def run_write(self, fn: Callable[[Connection, list[Change]], T]) -> T: ...


def _account(row: Any) -> FetchAccount:
    values = dict(row._mapping)
    values["keep"] = bool(values["keep"])
    return FetchAccount(**{name: values[name] for name in _FIELDS})


def mark_fetched(conn: Connection, marks: Iterable[FetchMark], now: int) -> None:
    """Record messages as stored, in the caller's write transaction; AlreadyFetched (rolling back
    the caller's job) when one is recorded already."""
    rows = [{"fetch_id": m.fetch_id, "key": m.key, "fetched_at": now} for m in marks]
    if not rows:
        return
    try:
        conn.execute(insert(fetched_messages), rows)
    except IntegrityError:
        raise AlreadyFetched("the message was fetched before") from None


def _select_accounts() -> Any:
    return select(*(_a[name] for name in _FIELDS))


class FetchMethods:
    """The fetcher half of ``SqliteStore`` (a mixin, as ``SendLimitMethods`` is)."""

    async def add_fetch_account(self: _Jobs, new: NewFetchAccount, now: int) -> FetchAccount:
        """The new external account, due at once (``next_run`` = now)."""
        values = dataclasses.asdict(new) | {
            "created": now,
            "last_run": None,
            "last_result": "",
            "last_error": "",
            "last_fetched": 0,
            "last_left": 0,
            "total_fetched": 0,
            "failures": 0,
            "next_run": now,
            "notified": "",
        }

        def run(conn: Connection, changes: list[Change]) -> FetchAccount:
            inserted = conn.execute(insert(fetch_accounts).values(values))
            key = inserted.inserted_primary_key
            assert key is not None
            return FetchAccount(**values, id=int(key[0]))

        return await self.run_write(run)

    async def fetch_accounts(self: _Jobs, account_id: AccountId) -> list[FetchAccount]:
        query = _select_accounts().where(_a.account_id == account_id).order_by(_a.id)
        return await self.run_read(lambda c: [_account(r) for r in c.execute(query)])

    async def fetch_account(self: _Jobs, fetch_id: int) -> FetchAccount | None:
        query = _select_accounts().where(_a.id == fetch_id)
        return await self.run_read(lambda c: next((_account(r) for r in c.execute(query)), None))

    async def due_fetch_accounts(self: _Jobs, now: int, limit: int) -> list[FetchAccount]:
        """External accounts whose next run is at ``now`` or before, the most overdue first."""
        query = _select_accounts().where(_a.next_run <= now).order_by(_a.next_run, _a.id).limit(limit)
        return await self.run_read(lambda c: [_account(r) for r in c.execute(query)])

    async def delete_fetch_account(self: _Jobs, account_id: AccountId, fetch_id: int) -> None:
        """The external account and its records; NotFound when it is not ``account_id``'s."""

        def run(conn: Connection, changes: list[Change]) -> None:
            gone = conn.execute(delete(fetch_accounts).where(_a.id == fetch_id, _a.account_id == account_id))
            if not gone.rowcount:
                raise NotFound(f"no external account {fetch_id} for this user")

        await self.run_write(run)

    async def fetched_keys(self: _Jobs, fetch_id: int) -> set[str]:
        query = select(_m.key).where(_m.fetch_id == fetch_id)
        return await self.run_read(lambda c: {str(r[0]) for r in c.execute(query)})

    async def mark_fetched(self: _Jobs, marks: list[FetchMark], now: int) -> None:
        """Messages handled without a delivery (a Sieve script discarded them): recorded alone."""
        await self.run_write(lambda c, e: mark_fetched(c, marks, now))

    async def forget_fetched(self: _Jobs, fetch_id: int, keys: Iterable[str]) -> int:
        """Drop records of messages the remote no longer has (deleted there); how many went."""
        wanted = list(keys)

        def run(conn: Connection, changes: list[Change]) -> int:
            removed = 0
            for start in range(0, len(wanted), 500):  # SQLite's bound on variables per statement
                chunk = wanted[start : start + 500]
                gone = conn.execute(
                    delete(fetched_messages).where(_m.fetch_id == fetch_id, _m.key.in_(chunk))
                )
                removed += int(gone.rowcount or 0)
            return removed

        return await self.run_write(run) if wanted else 0

    async def record_fetch_run(self: _Jobs, fetch_id: int, result: FetchRunResult) -> None:
        """The state after a run: its time, result, counts and the next run; failures in a row."""
        values: dict[str, Any] = {
            "last_run": result.when,
            "last_result": result.result,
            "last_error": result.error,
            "last_fetched": result.fetched,
            "last_left": result.left,
            "total_fetched": _a.total_fetched + result.fetched,
            "failures": 0 if result.result == "ok" else _a.failures + 1,
            "next_run": result.next_run,
        }
        if result.notified is not None:
            values["notified"] = result.notified
        await self.run_write(
            lambda c, e: c.execute(update(fetch_accounts).where(_a.id == fetch_id).values(values))
        )

    async def schedule_fetch(self: _Jobs, fetch_id: int, next_run: int) -> None:
        await self.run_write(
            lambda c, e: c.execute(update(fetch_accounts).where(_a.id == fetch_id).values(next_run=next_run))
        )
