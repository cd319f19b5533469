"""Kept THREAD answers (server/imap/kept_threads.py): when a kept answer holds, the budget
(imap.thread_cache_kb), the announcement to other workers, and renumbering for THREAD."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from pochta.config import Settings
from pochta.server.imap.kept_threads import KeptThreads, renumber
from pochta.store.model import BlobRef, MailboxId, MailboxInfo, MailboxView, MessageEntry

INFO = MailboxInfo(
    id=MailboxId(7), account_id=1, name="INBOX", uidvalidity=3, uidnext=100, highestmodseq=9,
    special_use=None, subscribed=True, messages=0, unseen=0, deleted=0, size=0,
)  # fmt: skip
BODY = b"* THREAD (1 2)(3)(5)\r\n"


def view(uids: list[int], info: MailboxInfo = INFO) -> MailboxView:
    when = datetime(2026, 11, 1, tzinfo=UTC)
    entries = [MessageEntry(uid, uid, frozenset(), 1, 10, when, BlobRef("0" * 64, 10)) for uid in uids]
    return MailboxView.from_entries(info, entries)


def test_a_kept_answer_holds_while_every_searched_message_exists() -> None:
    kept = KeptThreads(64, 2)
    built = view([1, 2, 3, 5])
    kept.put(built, "REFERENCES", [1, 2, 3, 5], BODY)
    assert kept.get(view([1, 2, 3, 5]), "REFERENCES", [1, 2, 3, 5]) == BODY  # flags changed only
    assert kept.get(view([1, 2, 3, 5, 8]), "REFERENCES", [1, 2, 3, 5]) == BODY  # a message arrived
    assert kept.get(view([0, 1, 2, 3, 5]), "REFERENCES", [1, 2, 3, 5]) == BODY  # (not a prefix)
    assert kept.get(view([1, 2, 3, 5, 8]), "REFERENCES", [1, 2, 3, 5, 8]) is None  # searched: more
    assert kept.get(view([1, 3, 5]), "REFERENCES", [1, 2, 3, 5]) is None  # 2 expunged elsewhere
    assert kept.get(view([1, 2, 3, 5]), "ORDEREDSUBJECT", [1, 2, 3, 5]) is None
    other = dataclasses.replace(INFO, uidvalidity=4)
    assert kept.get(view([1, 2, 3, 5], other), "REFERENCES", [1, 2, 3, 5]) is None


def test_the_budget_and_the_settings() -> None:
    assert Settings().imap.thread_cache_kb == 8192
    off = KeptThreads(Settings.model_validate({"imap": {"thread_cache_kb": 0}}).imap.thread_cache_kb, 2)
    assert not off.keeps(10_000)
    kept = KeptThreads(1, 2)  # one kilobyte: room for one answer of 500 octets
    assert kept.keeps(2)
    assert not kept.keeps(1)
    body = b"* THREAD " + b"(1 2)" * 98 + b"(3)(5)\r\n"
    first = view([1, 2, 3, 5])
    kept.put(first, "REFERENCES", [1, 2, 3, 5], body)
    assert kept.get(first, "REFERENCES", [1, 2, 3, 5]) == body
    second = view([1, 2, 3, 5], dataclasses.replace(INFO, id=MailboxId(8)))
    kept.put(second, "REFERENCES", [1, 2, 3, 5], body)
    assert kept.get(second, "REFERENCES", [1, 2, 3, 5]) == body
    assert kept.get(first, "REFERENCES", [1, 2, 3, 5]) is None  # the least recently used went
    kept.put(first, "REFERENCES", [1, 2, 3, 5], b"* THREAD " + b"(1)" * 400 + b"\r\n")  # above it
    assert kept.get(first, "REFERENCES", [1, 2, 3, 5]) is None


def test_only_a_whole_mailbox_answer_of_a_client_is_announced() -> None:
    kept = KeptThreads(64, 2)
    told: list[tuple[MailboxId, str]] = []
    kept.built = lambda mailbox_id, algorithm: told.append((mailbox_id, algorithm))
    kept.put(view([1, 2, 3, 5]), "REFERENCES", [1, 3], BODY)
    kept.put(view([1, 2, 3, 5]), "REFERENCES", [1, 2, 3, 5], BODY, announce=False)
    assert told == []
    kept.put(view([1, 2, 3, 5]), "ORDEREDSUBJECT", [1, 2, 3, 5], BODY)
    assert told == [(INFO.id, "ORDEREDSUBJECT")]


def test_renumber() -> None:
    numbers = {1: 1, 2: 2, 3: 3, 5: 4}
    assert renumber(BODY, numbers.get) == b"* THREAD (1 2)(3)(4)\r\n"
    assert renumber(BODY, {1: 1}.get) is None
