"""What Sieve at delivery remembers, in the embedded store: vacation replies sent (RFC 5230 §4.2),
the duplicate tracking list (RFC 7352 §3), and the errors of scripts that failed (docs/sieve.md
"At delivery"). Rows carry their expiry; ``prune_sieve_state`` (the housekeeper) deletes the
expired ones and errors past their age.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from sqlalchemy import Connection, and_, delete, insert, select, text, update

from pochta.store.model import AccountId, Change
from pochta.store.schema import sieve_duplicates, sieve_errors, sieve_vacation
from pochta.store.sieve_state_model import SieveError

__all__ = ["SieveStateMethods"]

T = TypeVar("T")

# Errors kept per account: the newest; older ones are deleted as new ones come.
MAX_ERRORS_PER_ACCOUNT = 100


class _Jobs(Protocol):
    async def run_read(self, fn: Callable[[Connection], T]) -> T: ...
    async def run_write(self, fn: Callable[[Connection, list[Change]], T]) -> T: ...


def _vacation_due(conn: Connection, account_id: AccountId, key: str, now: int, period: int) -> bool:
    v = sieve_vacation.c
    where = and_(v.account_id == account_id, v.key == key)
    expires = conn.execute(select(v.expires).where(where)).scalar()
    if expires is not None and expires > now:
        return False  # RFC 5230 §4.2: a reply went to this sender within the period
    if expires is None:
        conn.execute(insert(sieve_vacation).values(account_id=account_id, key=key, expires=now + period))
    else:
        conn.execute(update(sieve_vacation).where(where).values(expires=now + period))
    return True


def _duplicate_seen(conn: Connection, account_id: AccountId, key: str, now: int) -> bool:
    d = sieve_duplicates.c
    found = conn.execute(
        select(d.expires).where(and_(d.account_id == account_id, d.key == key, d.expires > now))
    ).scalar()
    return found is not None


def _track(conn: Connection, account_id: AccountId, key: str, now: int, seconds: int, last: bool) -> None:
    d = sieve_duplicates.c
    where = and_(d.account_id == account_id, d.key == key)
    expires = conn.execute(select(d.expires).where(where)).scalar()
    if expires is None:
        conn.execute(insert(sieve_duplicates).values(account_id=account_id, key=key, expires=now + seconds))
    elif expires <= now or last:
        # RFC 7352 §3.3: the first sight sets the expiry; with :last, every sight moves it.
        conn.execute(update(sieve_duplicates).where(where).values(expires=now + seconds))


def _add_error(conn: Connection, account_id: AccountId, now: int, script: str, error: str) -> None:
    e = sieve_errors.c
    conn.execute(insert(sieve_errors).values(account_id=account_id, at=now, script=script, error=error))
    # The newest MAX_ERRORS_PER_ACCOUNT stay: the id of the first one past them and all older go.
    oldest_dropped = conn.execute(
        select(e.id)
        .where(e.account_id == account_id)
        .order_by(e.id.desc())
        .offset(MAX_ERRORS_PER_ACCOUNT)
        .limit(1)
    ).scalar()
    if oldest_dropped is not None:
        conn.execute(delete(sieve_errors).where(and_(e.account_id == account_id, e.id <= oldest_dropped)))


def _errors(conn: Connection, account_id: AccountId) -> list[SieveError]:
    e = sieve_errors.c
    rows = conn.execute(
        select(e.at, e.script, e.error).where(e.account_id == account_id).order_by(e.id)
    ).all()
    return [SieveError(at, script, error) for at, script, error in rows]


def _prune(conn: Connection, now: int, error_age: int) -> int:
    removed = conn.execute(delete(sieve_vacation).where(sieve_vacation.c.expires <= now)).rowcount
    removed += conn.execute(delete(sieve_duplicates).where(sieve_duplicates.c.expires <= now)).rowcount
    removed += conn.execute(delete(sieve_errors).where(sieve_errors.c.at <= now - error_age)).rowcount
    return int(removed)


def _active_accounts(conn: Connection) -> frozenset[AccountId]:
    rows = conn.execute(text("SELECT account_id FROM sieve_scripts WHERE active")).scalars()
    return frozenset(AccountId(row) for row in rows)


class SieveStateMethods:
    """The Sieve-at-delivery half of ``SqliteStore`` (a mixin, as ``MetadataMethods`` is). Times
    are seconds since the epoch, given by the caller (delivery's clock, the tests' too)."""

    async def sieve_active_accounts(self: _Jobs) -> frozenset[AccountId]:
        """The accounts with an active script (one read; delivery keeps it per
        ``directory_version``, which every change to ``sieve_scripts`` moves)."""
        return await self.run_read(_active_accounts)

    async def sieve_vacation_due(self: _Jobs, account_id: AccountId, key: str, now: int, period: int) -> bool:
        """True when no reply with ``key`` went out within ``period``: the record is then set to
        expire ``period`` seconds from ``now`` in the same transaction (one reply per period even
        when two workers deliver at once)."""
        return await self.run_write(lambda c, _e: _vacation_due(c, account_id, key, now, period))

    async def sieve_duplicate_seen(self: _Jobs, account_id: AccountId, key: str, now: int) -> bool:
        return await self.run_read(lambda c: _duplicate_seen(c, account_id, key, now))

    async def sieve_track_duplicates(
        self: _Jobs, account_id: AccountId, records: list[tuple[str, int, bool]], now: int
    ) -> None:
        """RFC 7352 §3: put (key, seconds, last) in the account's tracking list."""
        if records:

            def track(conn: Connection, _events: list[Change]) -> None:
                for key, seconds, last in records:
                    _track(conn, account_id, key, now, seconds, last)

            await self.run_write(track)

    async def add_sieve_error(self: _Jobs, account_id: AccountId, now: int, script: str, error: str) -> None:
        await self.run_write(lambda c, _e: _add_error(c, account_id, now, script, error))

    async def sieve_errors(self: _Jobs, account_id: AccountId) -> list[SieveError]:
        """The account's recorded script errors, oldest first (at most ``MAX_ERRORS_PER_ACCOUNT``)."""
        return await self.run_read(lambda c: _errors(c, account_id))

    async def prune_sieve_state(self: _Jobs, now: int, error_age: int) -> int:
        """Delete expired vacation and duplicate records and errors older than ``error_age``."""
        return await self.run_write(lambda c, _e: _prune(c, now, error_age))
