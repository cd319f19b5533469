"""The one helper that puts counts into words (CLI, log, protocol and DSN texts)."""

from __future__ import annotations

import pytest

from pochta.plural import plural


@pytest.mark.parametrize(
    ("count", "noun", "nouns", "expected"),
    [
        (0, "message", None, "0 messages"),
        (1, "message", None, "1 message"),
        (2, "attempt", None, "2 attempts"),
        (1, "alias", "aliases", "1 alias"),
        (3, "alias", "aliases", "3 aliases"),
        (1.0, "second", None, "1 second"),
        (1.5, "second", None, "1.5 seconds"),
        (300.0, "second", None, "300 seconds"),
    ],
)
def test_plural(count: float, noun: str, nouns: str | None, expected: str) -> None:
    assert plural(count, noun, nouns) == expected
