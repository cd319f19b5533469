"""JMAP uploads in the store (``uploads``, revision 0040), on both engines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Protocol, TypeVar

from sqlalchemy import Connection, delete, insert, select

from pochta.store.model import AccountId, Change
from pochta.store.schema import uploads
from pochta.store.upload_model import Upload

__all__ = ["UploadMethods"]

T = TypeVar("T")
_u = uploads.c
_COLUMNS = tuple(_u[name] for name in Upload.__dataclass_fields__)


class _Jobs(Protocol):
    async def run_read(self, fn: Callable[[Connection], T]) -> T: ...
    async def run_write(self, fn: Callable[[Connection, list[Change]], T]) -> T: ...


def _upload(row: tuple[object, ...]) -> Upload:
    account_id, sha256, type_, size, created = row
    return Upload(AccountId(int(str(account_id))), str(sha256), str(type_), int(str(size)), int(str(created)))


class UploadMethods:
    """The JMAP uploads of ``SqliteStore`` and ``PgStore`` (a mixin)."""

    async def add_upload(self: _Jobs, upload: Upload) -> None:
        """Record an upload of a blob already stored (``put_blob``/``put_blob_file``); durable
        when this returns."""
        statement = insert(uploads).values(asdict(upload))
        await self.run_write(lambda c, e: c.execute(statement))

    async def upload_of(self: _Jobs, account_id: AccountId, sha256: str, since: int) -> Upload | None:
        """The account's latest upload of this blob made at ``since`` or later, if any."""
        query = (
            select(*_COLUMNS)
            .where(_u.account_id == account_id, _u.sha256 == sha256, _u.created >= since)
            .order_by(_u.created.desc(), _u.id.desc())
            .limit(1)
        )
        row = await self.run_read(lambda c: c.execute(query).first())
        return None if row is None else _upload(tuple(row))

    async def prune_uploads(self: _Jobs, before: int) -> int:
        """Delete uploads made before ``before`` (epoch seconds); how many. Their blobs are then
        collected as any other unreferenced blob, after the store's grace period."""
        statement = delete(uploads).where(_u.created < before)
        return await self.run_write(lambda c, e: int(c.execute(statement).rowcount or 0))
