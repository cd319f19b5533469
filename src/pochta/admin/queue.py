"""The outbound queue: list, show, make due now (retry), delete without delivering. The rules work
on the store, whether or not a server runs: a running server's worker takes a message made due
within ``[queue] poll_interval``."""

from __future__ import annotations

from datetime import UTC, datetime

from pochta.admin.errors import AdminError, AdminErrorKind
from pochta.store.api import Store
from pochta.store.queue_model import QueueEntry, QueueId, parse_queue_id

__all__ = ["delete_entry", "get_entry", "list_entries", "queue_id", "retry"]


def queue_id(text: str) -> QueueId:
    """A message id as the SMTP reply gave it ("queued as 2ECA6CC79A4D3C47"), in any case."""
    try:
        return parse_queue_id(text)
    except ValueError as error:
        raise AdminError(AdminErrorKind.INVALID, str(error)) from None


def _not_queued(entry_id: QueueId) -> AdminError:
    return AdminError(AdminErrorKind.NOT_FOUND, f"no queued message {entry_id}")


async def list_entries(store: Store) -> list[QueueEntry]:
    return await store.queue_entries()


async def get_entry(store: Store, entry_id: QueueId) -> QueueEntry:
    entry = await store.queue_entry(entry_id)
    if entry is None:
        raise _not_queued(entry_id)
    return entry


async def retry(store: Store, entry_id: QueueId | None) -> int:
    """Makes one message (or, with None, every message) due now; how many."""
    touched = await store.retry_queue(entry_id, datetime.now(UTC))
    if entry_id is not None and not touched:
        raise _not_queued(entry_id)
    return touched


async def delete_entry(store: Store, entry_id: QueueId) -> None:
    """Removes a queued message without delivering it and without telling the sender."""
    if not await store.delete_queue_entry(entry_id):
        raise _not_queued(entry_id)
