"""RFC 8474 object identifiers as pochta spells them: a letter, then a decimal store id.

RFC 8474 §7 objectid = 1*255(ALPHA / DIGIT / "_" / "-"), case-sensitive. §8.1 advises a leading
letter (no leading digit or dash, not all digits, never "NIL"); §5.2 forbids the same value for an
EMAILID and a THREADID. So: ``F`` + ``mailboxes.id`` (MAILBOXID, stable across RENAME, never reused:
the id is AUTOINCREMENT), ``M`` + ``messages.id`` (EMAILID: one row per content in the
single-instance store, so copies share it) and ``T`` + the thread's id (THREADID).
"""

from __future__ import annotations

import re

MAILBOX = "F"
EMAIL = "M"
THREAD = "T"

_OBJECTID = re.compile(r"[A-Za-z0-9_-]{1,255}")  # RFC 8474 §7
_OURS = re.compile(r"([FMT])([1-9][0-9]{0,18})")


def objectid(prefix: str, number: int) -> str:
    return f"{prefix}{number}"


def is_objectid(text: str) -> bool:
    """Whether ``text`` is an RFC 8474 §7 objectid (any server's)."""
    return _OBJECTID.fullmatch(text) is not None


def parse_objectid(prefix: str, text: str) -> int | None:
    """The store id an objectid of this kind names, or None when it cannot be one of ours (it then
    names nothing here: a SEARCH for it matches no message)."""
    found = _OURS.fullmatch(text)
    if found is None or found.group(1) != prefix:
        return None
    return int(found.group(2))
