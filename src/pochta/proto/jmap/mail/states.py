"""State strings of JMAP Mail's data types (RFC 8620 section 1.2 and 5.1: opaque to the client).

Mailbox, Email and Thread states are all the account's MODSEQ counter (``AccountStateStore``:
every MODSEQ of the account's mailboxes is drawn from it), written in decimal: a state moves
exactly when something of the account changed, and ``*/changes`` from it is exact.

A page of ``*/changes`` cut by ``maxChanges`` ends at a position inside the records after ``since``
(``ChangesPosition``): its ``newState`` is intermediate, ``<since>.<modseq>.<item>`` (decimal
numbers joined by ``.``: a state is a String, not an Id, so it may hold them), and a later
``*/changes`` from it goes on from that position.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ChangesFrom", "intermediate_state", "parse_state", "state_string"]


@dataclass(frozen=True)
class ChangesFrom:
    """Where ``*/changes`` resumes: all changes after MODSEQ ``since``, past (modseq, item) when
    the state was intermediate."""

    since: int
    after: tuple[int, int] | None = None


def state_string(modseq: int) -> str:
    return str(modseq)


def intermediate_state(since: int, modseq: int, item: int) -> str:
    return f"{since}.{modseq}.{item}"


def parse_state(text: str) -> ChangesFrom | None:
    """A state string we gave out; None when it is not one (the method answers
    ``cannotCalculateChanges``, RFC 8620 section 5.2)."""
    parts = text.split(".")
    if len(parts) not in (1, 3) or not all(p.isascii() and p.isdigit() and len(p) <= 19 for p in parts):
        return None
    numbers = [int(p) for p in parts]
    if len(numbers) == 1:
        return ChangesFrom(numbers[0])
    since, modseq, item = numbers
    return ChangesFrom(since, (modseq, item)) if modseq > since else None
