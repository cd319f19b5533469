"""Conformance tests for the IMAP wire forms kept at delivery (``Store.wire_forms``)."""

from __future__ import annotations

from collections.abc import Sequence

from pochta.mime import parse_message
from pochta.mime.imapform import bodystructure_bytes, envelope_bytes
from pochta.store.api import Store
from pochta.testing.store_suite.support import MIME, StoreBackdoor, deliver, mailbox, make_account

# 8-bit and RFC 2047 header values, a non-ASCII RFC 2231 filename: the UTF-8 forms differ (RFC 6855).
EIGHT_BIT = (
    "From: =?utf-8?q?J=C3=B6rg?= <joerg@example.net>\r\nTo: Zoë <zoe@example.org>\r\n"
    "Subject: Grüße aus Köln\r\nDate: Mon, 04 May 2026 10:00:00 +0000\r\nMessage-ID: <8bit@example.net>\r\n"
    'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nbody\r\n--b\r\n"
    "Content-Type: application/pdf\r\nContent-Disposition: attachment; filename*=utf-8''%C3%BCber.pdf\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b--\r\n"
).encode()
NAMES = ("ENVELOPE", "BODY", "BODYSTRUCTURE")


def computed(data: bytes, utf8: bool) -> tuple[bytes, bytes, bytes]:
    root = parse_message(data, MIME).root
    return (
        envelope_bytes(root.envelope, utf8=utf8),
        bodystructure_bytes(root, False, utf8=utf8),
        bodystructure_bytes(root, True, utf8=utf8),
    )


async def test_wire_forms_kept_at_delivery(store: Store, backdoor: StoreBackdoor) -> None:
    inbox = await mailbox(store, await make_account(store))
    plain = b"From: a@example.net\r\nSubject: plain\r\n\r\nhello\r\n"
    first = (await deliver(store, plain, inbox.id))[0].uid
    second = (await deliver(store, EIGHT_BIT, inbox.id))[0].uid
    view = await store.open_view(inbox.id)
    assert list(view.uids) == [first, second]
    one, two = view.message_ids
    want = {
        utf8: {one: (one, *computed(plain, utf8)), two: (two, *computed(EIGHT_BIT, utf8))}
        for utf8 in (False, True)
    }
    assert want[False][two] != want[True][two]  # the variants differ for this message

    async def kept(ids: list[int], names: Sequence[str], utf8: bool) -> dict[int, tuple[object, ...]]:
        rows = await store.wire_forms(ids, names, utf8)
        assert len(rows) == len({row[0] for row in rows})  # one row per message
        return {row[0]: row for row in rows}

    # By message id, whatever the order; an id twice is one row; an unknown id has none.
    for utf8 in (False, True):
        assert await kept([two, 10**9, one, two], NAMES, utf8) == want[utf8]
    # Any subset, in the order asked.
    assert await kept([two], ["BODYSTRUCTURE", "ENVELOPE"], True) == {
        two: (two, want[True][two][3], want[True][two][1])
    }

    # Kept before they were (or by a version whose forms differ): none, the caller computes them;
    # reconstruct writes them again.
    await backdoor.drop_wire_forms(store)
    assert await store.wire_forms([one, two], NAMES, False) == []
    report = await store.reconstruct()
    assert report.caches_changed == 2
    for utf8 in (False, True):
        assert await kept([one, two], NAMES, utf8) == want[utf8]
    assert (await store.reconstruct()).caches_changed == 0

    # They go with the message. A process that read them may go on answering from its cache of
    # forms until they age out (they never change; RFC 2180 section 4.1.1 lets a session see an
    # expunged message's data); a process started afterwards has none.
    await store.expunge(inbox.id, [first, second])
    assert await backdoor.wire_form_count(store) == 0
    for utf8 in (False, True):
        assert await kept([one, two], NAMES, utf8) in ({}, want[utf8])
    await backdoor.drop_wire_forms(store)
    assert await store.wire_forms([one, two], NAMES, False) == []
