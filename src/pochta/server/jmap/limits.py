"""maxConcurrentRequests (RFC 8620 section 2), per user, in this process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["ConcurrentRequests"]


class ConcurrentRequests:
    """Counts each user's API requests in progress; ``enter`` yields False when the user has
    ``limit`` already (the request is refused with the ``limit`` problem)."""

    def __init__(self) -> None:
        self._running: dict[str, int] = {}

    def running(self, user: str) -> int:
        return self._running.get(user, 0)

    @contextmanager
    def enter(self, user: str, limit: int) -> Iterator[bool]:
        if self._running.get(user, 0) >= limit:
            yield False
            return
        self._running[user] = self._running.get(user, 0) + 1
        try:
            yield True
        finally:
            left = self._running[user] - 1
            if left:
                self._running[user] = left
            else:
                del self._running[user]
