"""IMAP flag lists as imap4flags handles them (RFC 5232 §2, §3): a string holds a space-separated
set of case-insensitive flag names; invalid flags, and system flags IMAP does not let a client
set (\\Recent), are ignored, never an error."""

from __future__ import annotations

from collections.abc import Iterable

from pochta.mail.errors import InvalidFlag
from pochta.mail.flags import canonical_flag

__all__ = ["add_flags", "flag_words", "remove_flags"]


def _valid(flag: str) -> str | None:
    """The flag as stored (system flags in their usual case), or None to ignore it: IMAP's own rule
    (``mail.flags.canonical_flag``: \\Recent and unknown system flags, non-atoms, overlong
    keywords are refused there, and ignored here, RFC 5232 §2)."""
    try:
        return canonical_flag(flag)
    except InvalidFlag:
        return None


def flag_words(values: Iterable[str]) -> list[str]:
    """The distinct valid flags of ``values`` (each a space-separated list), in first-seen order
    (RFC 5232 §2: empty strings, extra spaces and invalid flags ignored; case-insensitive)."""
    found: dict[str, str] = {}
    for value in values:
        for word in value.split(" "):
            flag = _valid(word) if word else None
            if flag is not None and flag.lower() not in found:
                found[flag.lower()] = flag
    return list(found.values())


def add_flags(current: Iterable[str], more: Iterable[str]) -> list[str]:
    """RFC 5232 §3.2: addflag."""
    return flag_words([*current, *more])


def remove_flags(current: Iterable[str], gone: Iterable[str]) -> list[str]:
    """RFC 5232 §3.3: removeflag (a flag not there is no error)."""
    drop = {flag.lower() for flag in flag_words(gone)}
    return [flag for flag in flag_words(current) if flag.lower() not in drop]
