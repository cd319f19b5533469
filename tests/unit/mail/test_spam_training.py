"""Which Junk moves teach what (docs/antispam.md "Training rspamd"), and that queueing a learn
never waits: off does nothing, and past ``learn_queue`` an event is dropped."""

from __future__ import annotations

from typing import Any, cast

import pytest

from pochta.config import AntispamSettings
from pochta.mail.spam_training import SpamTraining, lesson
from pochta.store.api import Store
from pochta.store.model import AccountId, MailboxId, Uid


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
