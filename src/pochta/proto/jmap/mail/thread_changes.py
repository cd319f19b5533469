"""Thread/changes (RFC 8621 section 3.2) from the Email records of the threads that Emails
created or destroyed since a state belong to (docs/architecture.md, "The account's state").

A thread has no record of its own: it exists while the account holds one of its Emails. So it was
created since state S when none of its Emails was held at S and one is now, destroyed when one was
held at S and none is now, and updated when it held Emails at both (one came or went); a thread
that came and went since S is in no list."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["EmailSpan", "ThreadChanges", "thread_changes"]


@dataclass(frozen=True)
class EmailSpan:
    """When one Email of a thread was held: from MODSEQ ``created`` until ``destroyed`` (None:
    held still)."""

    created: int
    destroyed: int | None

    def held_at(self, state: int) -> bool:
        return self.created <= state and (self.destroyed is None or self.destroyed > state)


@dataclass(frozen=True)
class ThreadChanges:
    created: tuple[int, ...]
    updated: tuple[int, ...]
    destroyed: tuple[int, ...]


def thread_changes(since: int, threads: Mapping[int, Iterable[EmailSpan]]) -> ThreadChanges:
    """The threads (by id) of ``threads`` (each with the spans of its Emails) created, updated or
    destroyed since ``since``."""
    created: list[int] = []
    updated: list[int] = []
    destroyed: list[int] = []
    for thread, spans in sorted(threads.items()):
        listed = list(spans)
        then = any(span.held_at(since) for span in listed)
        now = any(span.destroyed is None for span in listed)
        if now and not then:
            created.append(thread)
        elif then and not now:
            destroyed.append(thread)
        elif then and now:
            updated.append(thread)
    return ThreadChanges(tuple(created), tuple(updated), tuple(destroyed))
