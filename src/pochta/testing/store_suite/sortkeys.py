"""Conformance tests for the SORT and THREAD keys a store keeps (``MailStore.sort_keys``): the same
keys whether derived on demand or kept, only the fields asked for, through the indexer or the first
read, and gone with their message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pochta.mime import parse_message
from pochta.mime.sortkeys import SortKeys, sort_keys
from pochta.store.api import Store
from pochta.store.model import SortRow
from pochta.testing.store_suite.support import MIME, deliver, mailbox, make_account

__all__ = ["test_sort_keys_derived_kept_and_forgotten", "test_sort_order_is_the_order_of_the_keys"]

THREADED = (
    b"From: =?utf-8?q?J=C3=B6rg?= <joerg@example.net>\r\nTo: team: a@example.org, b@example.org;\r\n"
    b"Subject: Re: [dev] Fwd: release (fwd)\r\nDate: Mon, 04 May 2026 10:00:00 +0200\r\n"
    b'Message-ID: <"r 1"@example.net>\r\nReferences: <a@x> <b@x>\r\n\r\nbody\r\n'
)
ALL = (
    "subject",
    "reply",
    "from_",
    "to",
    "cc",
    "display_from",
    "display_to",
    "sent",
    "message_id",
    "references",
)


async def test_sort_keys_derived_kept_and_forgotten(store: Store) -> None:
    await store.stop_indexer()
    inbox = await mailbox(store, await make_account(store))
    first = (await deliver(store, THREADED, inbox.id))[0].uid
    second = (await deliver(store, b"Subject: plain\r\n\r\nx\r\n", inbox.id))[0].uid
    want = sort_keys(parse_message(THREADED, MIME))
    assert want.reply
    assert want.references == ("<a@x>", "<b@x>")
    assert want.message_id == "<r1@example.net>"
    for _ in range(2):  # derived from the parse records, then kept: the same answers
        rows = await store.sort_keys(inbox.id, [first, second, 99], [*ALL, "size"])
        assert [row.uid for row in rows] == [first, second]
        assert rows[0].keys == want
        assert rows[0].size == len(THREADED)
        assert rows[0].internal_date > 0
        # only what was asked for: the rest holds its defaults, kept or derived alike
        only = await store.sort_keys(inbox.id, [first], ["subject", "references"])
        assert only[0].keys == SortKeys(subject=want.subject, references=want.references)
        assert only[0].size == 0
    with pytest.raises(ValueError, match="no sort keys"):
        await store.sort_keys(inbox.id, [first], ["sender"])
    # a new message: the indexer keeps its keys (not delivery), and the read after finds them
    third = (await deliver(store, THREADED.replace(b"r 1", b"r 3"), inbox.id))[0].uid
    while (await store.index_pending()).done:
        pass
    rows = await store.sort_keys(inbox.id, [third], ALL)
    assert rows[0].keys == want._replace(message_id="<r3@example.net>")
    await store.expunge(inbox.id, [first, second, third])
    assert await store.sort_keys(inbox.id, [first, second, third], ALL) == []


ORDER_KEYS = ("arrival", "date", "size", "subject", "from_", "to", "cc", "display_from", "display_to")


def _python_key(row: SortRow, name: str) -> int | str:
    if name == "arrival":
        return row.internal_date
    if name == "date":
        return row.internal_date if row.keys.sent is None else row.keys.sent
    if name == "size":
        return row.size
    value: str = getattr(row.keys, name)
    return value


async def test_sort_order_is_the_order_of_the_keys(store: Store) -> None:
    await store.stop_indexer()
    inbox = await mailbox(store, await make_account(store))
    base = datetime(2026, 5, 1, tzinfo=UTC)
    subjects = ["b", "Re: a", "ä", "", "B", "z", "a", "[x] b", "Ü", "ab"]
    for n, subject in enumerate(subjects):
        date = f"Date: Mon, 0{1 + n % 3} May 2026 10:00:00 +0000\r\n" if n % 4 else ""
        data = (
            f"From: {subject or 'x'} <{'zyxwvutsrq'[n]}@example.net>\r\nTo: t{n % 3}@example.org\r\n"
            f"Subject: {subject}\r\n{date}\r\n{'x' * (n % 4)}\r\n"
        ).encode()
        await deliver(store, data, inbox.id, when=base + timedelta(hours=(n * 7) % 10))
    uids = list(range(1, len(subjects) + 1))
    wanted = [*ALL, "size"]
    rows = await store.sort_keys(inbox.id, uids, wanted)
    for name in ORDER_KEYS:
        for descending in (False, True):
            for then in ("subject", "arrival"):
                order = [(name, descending), (then, False)]
                by_python = sorted(
                    sorted(rows, key=lambda r: _python_key(r, then)),  # stable: ties by UID
                    key=lambda r: _python_key(r, name),
                    reverse=descending,
                )
                got = await store.sort_order(inbox.id, uids, order)
                assert got == [r.uid for r in by_python], order
    assert await store.sort_order(inbox.id, [2, 4, 99], [("subject", False)]) == [4, 2]
    assert await store.sort_order(inbox.id, [], [("subject", False)]) == []
    with pytest.raises(ValueError, match="cannot order"):
        await store.sort_order(inbox.id, uids, [("sender", False)])
