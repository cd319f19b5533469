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

    def acquire(self, user: str, limit: int) -> bool:
        """Take one of ``user``'s ``limit`` places, for a hold longer than a block (a push
        connection); False when all are taken. Give it back with ``release``."""
        if self._running.get(user, 0) >= limit:
            return False
        self._running[user] = self._running.get(user, 0) + 1
        return True

    def release(self, user: str) -> None:
        left = self._running[user] - 1
        if left:
            self._running[user] = left
        else:
            del self._running[user]

    def running(self, user: str) -> int:
        return self._running.get(user, 0)

    @contextmanager
    def enter(self, user: str, limit: int) -> Iterator[bool]:
        if not self.acquire(user, limit):
            yield False
            return
        try:
            yield True
        finally:
            self.release(user)
