"""IMAP flag lists as imap4flags handles them (RFC 5232 §2, §3): a string holds a space-separated
set of case-insensitive flag names; invalid flags, and system flags IMAP does not let a client
set (\\Recent), are ignored, never an error."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["add_flags", "flag_words", "remove_flags"]

# RFC 3501 §9 / RFC 9051 §9: the system flags a client may store.
_SYSTEM_FLAGS = {name.lower(): name for name in ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")}
# RFC 9051 §9 atom-specials: "(" ")" "{" SP CTL "%" "*" DQUOTE "\" "]".
_NOT_IN_ATOM = frozenset('(){%*"\\]')


def _valid(flag: str) -> str | None:
    """The flag as stored (system flags in their usual case), or None to ignore it."""
    if flag.startswith("\\"):
        return _SYSTEM_FLAGS.get(flag.lower())
    if not flag.isascii() or any(char in _NOT_IN_ATOM or not 32 < ord(char) < 127 for char in flag):
        return None
    return flag


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
