"""What ``PgStore``'s mixins (``mail_methods``, ``maintenance``, ``search_methods``) use of the
store's own jobs, declared once for the type checker: at run time ``PgStore`` provides them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO, TypeVar

from sqlalchemy import Connection

from pochta.store.model import BlobRef, Change

__all__ = ["PgJobs"]

T = TypeVar("T")


class PgJobs:
    """The base of ``PgStore``'s mixins; nothing of it exists at run time."""

    if TYPE_CHECKING:

        async def run_read(self, fn: Callable[[Connection], T]) -> T: ...

        async def run_write(
            self,
            fn: Callable[[Connection, list[Change]], T],
            *,
            durable: bool = True,
            background: bool = False,
        ) -> T: ...

        async def run_write_committed(self, fn: Callable[[Connection, list[Change]], T]) -> T: ...

        async def _run_mail_write(self, fn: Callable[[Connection, list[Change]], T]) -> T: ...

        def open_blob(self, blob: BlobRef) -> BinaryIO: ...
