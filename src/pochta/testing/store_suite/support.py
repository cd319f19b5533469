"""What the store conformance suite shares: the binding's protocols, the ``store`` fixture, helpers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Protocol

import pytest

from pochta.config import MimeSettings, Settings
from pochta.mime import ParsedMessage, parse_message
from pochta.store.api import Store
from pochta.store.model import (
    Account,
    BlobRef,
    Change,
    MailboxInfo,
    Placed,
    Target,
)


class StoreFactory(Protocol):
    def __call__(self, settings: Settings | None = None) -> Awaitable[Store]:
        """A new handle on the test's store, with these settings (default: ``Settings()``)."""


class StoreBackdoor(Protocol):
    async def scramble_counters(self, store: Store) -> None:
        """Make every derived counter wrong behind the store's back: mailbox counters, quota usage,
        message reference counts, the seen/deleted bits of memberships."""

    async def scramble_caches(self, store: Store) -> None:
        """Replace every message's parse cache and search text with garbage (or remove it)."""

    async def drop_wire_forms(self, store: Store) -> None:
        """Remove every message's kept IMAP wire forms, with what the process holds of them (as a
        store from before they were kept, opened anew)."""

    async def wire_form_count(self, store: Store) -> int:
        """How many messages have kept IMAP wire forms (whether or not their message still exists)."""

    def blob_path(self, store: Store, sha256: str) -> Path:
        """The file holding a blob."""

    def blob_files(self, store: Store) -> set[str]:
        """Names of every blob file present."""

    async def inline_blobs(self, store: Store) -> dict[str, bytes]:
        """Every blob kept inside the database (``store.inline_blob_max``): digest -> bytes."""

    async def set_inline_blob(self, store: Store, sha256: str, data: bytes | None) -> None:
        """Replace a blob kept in the database behind the store's back (None: remove it)."""


@pytest.fixture
async def store(store_factory: StoreFactory) -> AsyncIterator[Store]:
    opened = await store_factory()
    try:
        yield opened
    finally:
        await opened.close()


# Helpers

MIME = MimeSettings()
NEW_HASH = "$argon2id$another-fake-hash"
APOP_SECRET = "apop-test-value"  # noqa: S105


def make_message(subject: str = "Hello", body: str = "Hello world", n: int = 0) -> bytes:
    return (
        "From: Sender <sender@example.net>\r\n"
        "To: alice@example.org\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: <{n}.{subject.replace(' ', '.')}@example.net>\r\n"
        "Date: Mon, 04 May 2026 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"{body}\r\n"
    ).encode()


async def put(store: Store, data: bytes) -> tuple[BlobRef, ParsedMessage]:
    return await store.put_blob(data), parse_message(data, MIME)


async def deliver(
    store: Store, data: bytes, *mailbox_ids: int, flags: Iterable[str] = (), when: datetime | None = None
) -> list[Placed]:
    blob, parsed = await put(store, data)
    return await store.deliver(blob, parsed, [Target(m, frozenset(flags), when) for m in mailbox_ids])


async def make_account(store: Store, address: str = "alice@example.org", quota: int | None = None) -> Account:
    domain = address.rpartition("@")[2]
    if await store.get_domain(domain) is None:
        await store.add_domain(domain)
    return await store.add_account(address, "$argon2id$not-a-real-hash", None, quota)


async def mailbox(store: Store, account: Account, name: str = "INBOX") -> MailboxInfo:
    info = await store.get_mailbox(account.id, name)
    assert info is not None, name
    return info


async def refreshed(store: Store, info: MailboxInfo) -> MailboxInfo:
    again = await store.get_mailbox_by_id(info.id)
    assert again is not None
    return again


async def next_change(changes: AsyncIterator[Change]) -> Change:
    async with asyncio.timeout(5):
        return await anext(changes)
