"""Kept THREAD answers: for a big mailbox, the last REFERENCES or ORDEREDSUBJECT answer of this process
(RFC 5256 §3), with UIDs for numbers, and what it was built over, so that the same THREAD again (the
mailbox unchanged but for flags, or with new messages the search did not find) is answered without
reading 20,000 messages' keys and building their tree again (docs/imap.md "SORT and THREAD").

An answer depends only on the searched messages and their keys, and a message's keys never change
while its UID does not (they come from its stored parse record). So a kept answer is reused when
the search found exactly the same UIDs of the same UIDVALIDITY and every one of them still exists in
the store, which the mailbox's current view tells: its UIDs are those the answer was built with, or
those with more appended (deliveries), or else contain every searched UID. A message the session
still numbers but whose expunge it was not told of yet is threaded with empty keys (``sort.thread``),
so an answer that met one is not kept, and one kept is not reused once any searched UID is gone.
Message sequence numbers are the session's: the kept answer holds UIDs and a THREAD (not UID
THREAD) renumbers it (``renumber``).

Held per process (every session of a worker shares them), one per mailbox and algorithm, by the
budget ``imap.thread_cache_kb`` (least recently used dropped first), for mailboxes of at least
``store.sort_cache_min_messages``.
"""

from __future__ import annotations

import re
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pochta.store.model import MailboxId, MailboxView

__all__ = ["KeptThreads", "renumber"]

_NUMBER = re.compile(rb"\d+")


@dataclass(frozen=True)
class _Answer:
    uidvalidity: int
    searched: array[int]  # the UIDs the answer threads, ascending
    members: array[int]  # the mailbox's UIDs when it was built (all of ``searched`` among them)
    body: bytes  # "* THREAD ...\r\n" with UIDs

    @property
    def size(self) -> int:
        return 8 * (len(self.searched) + len(self.members)) + len(self.body) + 200


class KeptThreads:
    """The kept answers (see the module docstring); the lock guards the table only."""

    def __init__(self, budget_kb: int, min_messages: int) -> None:
        self.budget = budget_kb * 1024
        self.min_messages = min_messages
        self._answers: OrderedDict[tuple[MailboxId, str], _Answer] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()
        # Told (mailbox, algorithm) when a client's THREAD kept an answer over a whole mailbox: the
        # server tells the other workers, which build theirs in the background (``sort.warm_thread``).
        self.built: Callable[[MailboxId, str], None] | None = None

    def keeps(self, count: int) -> bool:
        """Whether a THREAD over ``count`` searched messages is worth keeping or looking up."""
        return self.budget > 0 and count >= self.min_messages

    def get(self, view: MailboxView, algorithm: str, searched: Sequence[int]) -> bytes | None:
        """The kept answer (with UIDs) for these searched UIDs when it holds in the store's current
        ``view`` of the mailbox, else None."""
        with self._lock:
            answer = self._answers.get((view.mailbox.id, algorithm))
            if answer is not None:
                self._answers.move_to_end((view.mailbox.id, algorithm))
        if answer is None or answer.uidvalidity != view.mailbox.uidvalidity:
            return None
        if len(searched) != len(answer.searched) or array("q", searched) != answer.searched:
            return None
        now, then = view.uids, answer.members
        if now == then or (len(now) > len(then) and now[: len(then)] == then):
            return answer.body  # unchanged, or messages appended only
        present = set(now)
        return answer.body if all(uid in present for uid in answer.searched) else None

    def put(
        self,
        view: MailboxView,
        algorithm: str,
        searched: Sequence[int],
        body: bytes,
        *,
        announce: bool = True,
    ) -> None:
        """Keep ``body``, built over ``searched`` (all of them in ``view``, a view read before
        their keys were); ``announce``: a client's, tell ``built`` when it covers the mailbox."""
        answer = _Answer(view.mailbox.uidvalidity, array("q", searched), view.uids, body)
        if announce and self.built is not None and answer.searched == view.uids:
            self.built(view.mailbox.id, algorithm)
        key = (view.mailbox.id, algorithm)
        with self._lock:
            old = self._answers.pop(key, None)
            if old is not None:
                self._held -= old.size
            if answer.size > self.budget:
                return
            self._answers[key] = answer
            self._held += answer.size
            while self._held > self.budget:
                _, dropped = self._answers.popitem(last=False)
                self._held -= dropped.size


def renumber(body: bytes, seq_of: Callable[[int], int | None]) -> bytes | None:
    """A kept answer with message sequence numbers for its UIDs (None: a UID not numbered here)."""

    def number(found: re.Match[bytes]) -> bytes:
        seq = seq_of(int(found.group()))
        if seq is None:
            raise LookupError
        return b"%d" % seq

    try:
        return _NUMBER.sub(number, body)
    except LookupError:
        return None
