"""What an account's mailboxes hold, compared as multisets (import, export and round-trip tests)."""

from __future__ import annotations

from collections import Counter

from pochta.store.model import Account
from pochta.store.sqlite.store import SqliteStore

Content = Counter[tuple[bytes, frozenset[str], int]]


async def contents(store: SqliteStore, account: Account) -> dict[str, Content]:
    """Every non-empty mailbox: the multiset of (bytes, flags, internal date as epoch seconds)."""
    out: dict[str, Content] = {}
    for box in await store.mailboxes(account.id):
        view = await store.open_view(box.id)
        found: Content = Counter()
        for entry in view:
            found[(store.read_blob(entry.blob), entry.flags, int(entry.internal_date.timestamp()))] += 1
        if found:
            out[box.name] = found
    return out
