"""Where spamtest and virustest (RFC 5235) read their verdict: a header field some scanner
(rspamd, SpamAssassin, ClamAV's milter ...) added, read as a score against a maximum, as the
length of a run of characters, or as one of a few known texts. RFC 5235 §3 leaves the source
to the implementation; this is the model Dovecot's Pigeonhole uses, so that administrators
coming from it set the same things (``[sieve] spamtest_*`` and ``virustest_*``).

``ScoreSource.ratio`` gives the verdict on a 0..1 scale (0 clean, 1 certainly spam or
infected), None when the message carries no verdict (the "not tested" 0 of RFC 5235 §3.1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Literal

from pochta.sieve.message import SieveMessage

__all__ = ["HeaderSpec", "ScoreKind", "ScoreSource", "ScoreSourceError", "spam_level", "virus_level"]

ScoreKind = Literal["score", "strlen", "text"]


class ScoreSourceError(ValueError):
    """A setting of the source that cannot be used (a bad header name or expression)."""


_FIELD_NAME = re.compile(r"[!-9;-~]+")


@dataclass(frozen=True)
class HeaderSpec:
    """A header field and, optionally, an expression whose first group (else whole match) is
    the value read from the field's (first) value: ``X-Spam-Status:score=(-?[0-9.]+)``."""

    name: str
    pattern: re.Pattern[str] | None = None

    @classmethod
    def parse(cls, spec: str) -> HeaderSpec:
        name, colon, expression = spec.partition(":")
        name = name.strip()
        if not _FIELD_NAME.fullmatch(name):
            raise ScoreSourceError(f"{name!r} is not a header field name")
        if not colon:
            return cls(name)
        try:
            # The expression starts after the white space that follows the colon, as a header
            # field's value does (RFC 5322 §2.2).
            return cls(name, re.compile(expression.lstrip(" \t")))
        except re.error as error:
            raise ScoreSourceError(f"bad expression for {name}: {error}") from None

    def value(self, message: SieveMessage) -> str | None:
        values = message.header_texts(self.name)
        if not values:
            return None
        if self.pattern is None:
            return values[0]
        found = self.pattern.search(values[0])
        if found is None:
            return None
        return found.group(1) if self.pattern.groups else found.group(0)


def _decimal(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


@dataclass(frozen=True)
class ScoreSource:
    """How to read one verdict: ``kind`` "score" reads a decimal number, "strlen" counts the
    characters of the value (SpamAssassin's X-Spam-Level "*****"), both against ``max_value``
    or the number ``max_header`` holds; "text" looks the value up in ``text_values`` (level:
    text, level 1 clean .. ``levels`` certain)."""

    header: HeaderSpec
    kind: ScoreKind = "score"
    max_value: Decimal | None = None
    max_header: HeaderSpec | None = None
    text_values: tuple[tuple[int, str], ...] = ()

    def ratio(self, message: SieveMessage, levels: int) -> Fraction | None:
        value = self.header.value(message)
        if value is None:
            return None
        if self.kind == "text":
            wanted = value.strip().casefold()
            for level, text in self.text_values:
                if text.strip().casefold() == wanted and 1 <= level <= levels:
                    return Fraction(level - 1, levels - 1)
            return None  # a text no level names: no verdict
        score = Decimal(len(value)) if self.kind == "strlen" else _decimal(value)
        top = _decimal(self.max_header.value(message)) if self.max_header is not None else self.max_value
        if score is None or top is None or top <= 0:
            return None
        return min(max(Fraction(score) / Fraction(top), Fraction(0)), Fraction(1))


def spam_level(ratio: Fraction, percent: bool) -> int:
    """RFC 5235 §3.2.1: 1 (clean) .. 10 (spam); §3.2.2 with :percent: 0 .. 100."""
    if percent:
        return int(ratio * 100)
    return 1 + int(ratio * 9)


def virus_level(ratio: Fraction) -> int:
    """RFC 5235 §3.3: 1 (clean) .. 5 (infected)."""
    return 1 + int(ratio * 4)
