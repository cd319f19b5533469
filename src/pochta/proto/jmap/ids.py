"""JMAP's primitive data types: Id, Int and UnsignedInt (RFC 8620 sections 1.2 and 1.3)."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MAX_INT", "MIN_INT", "is_id", "is_int", "is_unsigned_int"]

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
