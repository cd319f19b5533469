"""The webmail's sessions in the store (``web_sessions``, revision 0037), on both engines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Protocol, TypeVar

from sqlalchemy import Connection, delete, insert, select, update

from pochta.store.model import AccountId, Change
from pochta.store.schema import web_sessions
from pochta.store.web_session_model import WebSession

__all__ = ["WebSessionMethods"]

T = TypeVar("T")
_w = web_sessions.c
_COLUMNS = tuple(_w[name] for name in WebSession.__dataclass_fields__)


class _Jobs(Protocol):
    async def run_read(self, fn: Callable[[Connection], T]) -> T: ...
    async def run_write(self, fn: Callable[[Connection, list[Change]], T]) -> T: ...


def _session(row: tuple[object, ...]) -> WebSession:
    token_hash, account_id, csrf, created, seen, expires, remote_ip, user_agent = row
    return WebSession(
        str(token_hash), AccountId(int(str(account_id))), str(csrf), int(str(created)),
        int(str(seen)), int(str(expires)), str(remote_ip), str(user_agent),
    )  # fmt: skip


def _add(conn: Connection, session: WebSession, keep: int) -> list[str]:
    """Insert ``session``; end the account's least recently seen sessions past ``keep``."""
    conn.execute(insert(web_sessions).values(asdict(session)))
    surplus = [
        str(row[0])
        for row in conn.execute(
            select(_w.token_hash)
            .where(_w.account_id == session.account_id)
            .order_by(_w.seen.desc(), _w.created.desc(), _w.token_hash)
            .offset(keep)
        )
    ]
    if surplus:
        conn.execute(delete(web_sessions).where(_w.token_hash.in_(surplus)))
    return surplus


class WebSessionMethods:
    """The webmail sessions of ``SqliteStore`` and ``PgStore`` (a mixin)."""

    async def add_web_session(self: _Jobs, session: WebSession, keep: int) -> list[str]:
        """Store a new session; the token hashes of the account's sessions it ended (those least
        recently seen past ``keep``)."""
        return await self.run_write(lambda c, e: _add(c, session, keep))

    async def web_session(self: _Jobs, token_hash: str) -> WebSession | None:
        query = select(*_COLUMNS).where(_w.token_hash == token_hash)
        row = await self.run_read(lambda c: c.execute(query).first())
        return None if row is None else _session(tuple(row))

    async def web_sessions(self: _Jobs, account_id: AccountId) -> list[WebSession]:
        """The account's sessions, most recently seen first."""
        query = select(*_COLUMNS).where(_w.account_id == account_id).order_by(_w.seen.desc())
        rows = await self.run_read(lambda c: c.execute(query).all())
        return [_session(tuple(row)) for row in rows]

    async def touch_web_session(self: _Jobs, token_hash: str, seen: int) -> None:
        statement = update(web_sessions).where(_w.token_hash == token_hash, _w.seen < seen).values(seen=seen)
        await self.run_write(lambda c, e: c.execute(statement))

    async def delete_web_session(self: _Jobs, token_hash: str) -> bool:
        statement = delete(web_sessions).where(_w.token_hash == token_hash)
        return await self.run_write(lambda c, e: bool(c.execute(statement).rowcount))

    async def delete_web_sessions(self: _Jobs, account_id: AccountId) -> int:
        """End every session of the account (password changed, account disabled, signed out
        everywhere); how many."""
        statement = delete(web_sessions).where(_w.account_id == account_id)
        return await self.run_write(lambda c, e: int(c.execute(statement).rowcount or 0))

    async def prune_web_sessions(self: _Jobs, now: int, idle: int) -> int:
        """Delete sessions expired by ``now``, or not seen for ``idle`` seconds; how many."""
        statement = delete(web_sessions).where((_w.expires <= now) | (_w.seen <= now - idle))
        return await self.run_write(lambda c, e: int(c.execute(statement).rowcount or 0))
