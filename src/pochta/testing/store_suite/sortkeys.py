"""Conformance tests for the SORT and THREAD keys a store keeps (``MailStore.sort_keys``): the same
keys whether derived on demand or kept, only the fields asked for, through the indexer or the first
read, and gone with their message."""

from __future__ import annotations

import pytest

from pochta.mime import parse_message
from pochta.mime.sortkeys import SortKeys, sort_keys
from pochta.store.api import Store
from pochta.testing.store_suite.support import MIME, deliver, mailbox, make_account

__all__ = ["test_sort_keys_derived_kept_and_forgotten"]

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
