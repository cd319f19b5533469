"""JMAP's primitive data types: Id, Int and UnsignedInt (RFC 8620 sections 1.2 and 1.3)."""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "ACCOUNT_PREFIX",
    "MAX_INT",
    "MIN_INT",
    "account_id",
    "is_id",
    "is_int",
    "is_unsigned_int",
    "parse_account_id",
]

# RFC 8620 section 1.2: 1 to 255 octets of the URL- and filename-safe base64 alphabet.
_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")

# RFC 8620 section 1.3: the integers a JSON number holds exactly in an IEEE 754 double.
MAX_INT = 2**53 - 1
MIN_INT = -(2**53) + 1


def is_id(value: Any) -> bool:
    """An Id as a client may send one (the server's own ids also avoid a leading dash, digits only
    and "NIL", which RFC 8620 section 1.2 asks of ids a server makes)."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def is_int(value: Any) -> bool:
    # bool is an int in Python and never one in JSON.
    return isinstance(value, int) and not isinstance(value, bool) and MIN_INT <= value <= MAX_INT


def is_unsigned_int(value: Any) -> bool:
    return is_int(value) and value >= 0


# docs/jmap.md "Ids": an account's JMAP id is "A" and its store id, as a Mailbox's is "F" and its
# store id (IMAP's MAILBOXID, pochta.proto.imap.objectid).
ACCOUNT_PREFIX = "A"
_ACCOUNT_ID = re.compile(r"A([1-9][0-9]{0,18})")


def account_id(number: int) -> str:
    return f"{ACCOUNT_PREFIX}{number}"


def parse_account_id(text: str) -> int | None:
    """The store id of the account ``text`` names, or None when it cannot be one of ours."""
    found = _ACCOUNT_ID.fullmatch(text)
    return int(found.group(1)) if found is not None else None
