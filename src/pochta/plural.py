"""Counts in words: ``plural(1, "message")`` is "1 message", ``plural(2, "message")`` "2 messages".

The one place every CLI, log, protocol and DSN text turns a number and a noun into words, so no text
says "1 messages" or hedges with "message(s)". Pure (the protocol cores use it too).
"""

from __future__ import annotations


def plural(count: float, noun: str, nouns: str | None = None) -> str:
    """``count`` and ``noun``, or its plural form (``nouns``, default ``noun + "s"``) unless count is 1.
    A float is written shortest (``1.5``, ``30``)."""
    number = f"{count:g}" if isinstance(count, float) else str(count)
    return f"{number} {noun if count == 1 else (nouns or noun + 's')}"
