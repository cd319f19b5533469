"""Which Junk moves teach what (docs/antispam.md "Training rspamd"), and that queueing a learn
never waits: off does nothing, and past ``learn_queue`` an event is dropped."""

from __future__ import annotations

from typing import Any, cast

import pytest

from pochta.config import AntispamSettings
from pochta.mail.spam_training import SpamTraining, lesson
from pochta.store.api import Store
from pochta.store.model import AccountId, BlobRef, MailboxId, Uid


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        (None, "\\Junk", "spam"),
        ("\\Sent", "\\junk", "spam"),
        ("\\Junk", None, "ham"),
        ("\\Junk", "\\Archive", "ham"),
        ("\\Junk", "\\Trash", None),  # deleting spam teaches nothing
        ("\\Junk", "\\Junk", None),
        (None, None, None),
        (None, "\\Trash", None),
    ],
)
def test_lesson(source: str | None, target: str | None, expected: str | None) -> None:
    assert lesson(source, target) == expected


class _NoStore:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the store was asked for {name}")


async def test_off_queues_nothing() -> None:
    training = SpamTraining(cast(Store, _NoStore()), AntispamSettings())
    training.after_copy(AccountId(1), MailboxId(1), MailboxId(2), [Uid(1)])
    assert training._queue.qsize() == 0
    assert training._worker is None


async def test_full_queue_drops_without_waiting() -> None:
    settings = AntispamSettings(learn="global", learn_queue=2)
    training = SpamTraining(cast(Store, _NoStore()), settings)
    training._worker = cast(Any, _Running())  # no worker drains the queue in this test
    for uid in range(5):
        training.after_copy(AccountId(1), MailboxId(1), MailboxId(2), [Uid(uid + 1)])
    assert training._queue.qsize() == 2


class _Running:
    def done(self) -> bool:
        return False


class _Entry:
    def __init__(self, size: int) -> None:
        self.blob = BlobRef("0" * 64, size)


class _View:
    def __init__(self, sizes: dict[int, int]) -> None:
        self.sizes = sizes

    def position(self, uid: int) -> int | None:
        return uid if uid in self.sizes else None

    def entry(self, position: int) -> _Entry:
        return _Entry(self.sizes[position])


class _Box:
    def __init__(self, box_id: int, special_use: str | None) -> None:
        self.id, self.special_use = box_id, special_use


class _Store:
    """Two mailboxes (1 INBOX, 2 Junk); the message of UID 1 is 100 octets, of UID 2 one MiB."""

    def __init__(self) -> None:
        self.read: list[int] = []

    async def get_mailbox_by_id(self, box_id: int) -> _Box:
        return _Box(box_id, "\\Junk" if box_id == 2 else None)

    def current_view(self, box_id: int) -> _View:
        return _View({1: 100, 2: 1 << 20})

    def read_blob(self, blob: BlobRef) -> bytes:
        self.read.append(blob.size)
        return b"x" * blob.size


async def test_messages_past_learn_max_size_are_not_sent() -> None:
    store = _Store()
    settings = AntispamSettings(learn="global", learn_max_size=1000, rspamd_controller="http://127.0.0.1:9")
    training = SpamTraining(cast(Store, store), settings)
    training.after_copy(AccountId(1), MailboxId(1), MailboxId(2), [Uid(1), Uid(2)])
    await training.idle()
    assert store.read == [100]  # the one-MiB message was never read nor posted
    assert training.learned == 0  # port 9 is closed: the failure is logged, not retried


async def test_a_copy_within_one_mailbox_reads_nothing() -> None:
    store = _Store()
    training = SpamTraining(cast(Store, store), AntispamSettings(learn="global"))
    training.after_copy(AccountId(1), MailboxId(2), MailboxId(2), [Uid(1)])
    await training.idle()
    assert store.read == []
