"""What the store gives back of Sieve at delivery's state (``sql/sieve_state``)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SieveError"]


@dataclass(frozen=True)
class SieveError:
    """A script that failed at delivery (the message went to INBOX): when (epoch seconds), which
    script (``before:NAME``, the user's script's name, ``after:NAME``) and the error."""

    at: int
    script: str
    error: str
