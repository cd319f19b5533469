"""The PARTIAL range of RFC 9394: which slice of a result to return (SEARCH RETURN (PARTIAL r),
UID FETCH ... (PARTIAL r)).

``1:500`` is the first 500 results in mailbox (UID) order, ``-1:-100`` the last 100 (RFC 9394
§3.1); the ends may come in either order (§4: "500:400 is the same as 400:500"); no ``*``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pochta.proto.imap.wire import ParseError

__all__ = ["PartialRange"]

_MAX = 0xFFFFFFFF  # nz-number is 32 bits (RFC 9051 §9)
# RFC 9394 §4 partial-range-first = nz-number ":" nz-number; partial-range-last = "-" nz ":" "-" nz
_RANGE = re.compile(rb"(-?)([1-9][0-9]{0,9}):(-?)([1-9][0-9]{0,9})")


@dataclass(frozen=True)
class PartialRange:
    first: int  # the lower end, without the minus (answers echo "1:3" for "3:1", as Dovecot does)
    last: int
    from_end: bool  # partial-range-last: counted back from the last result

    @classmethod
    def parse(cls, data: bytes) -> PartialRange:
        m = _RANGE.fullmatch(data)
        if m is None or m[1] != m[3]:
            raise ParseError("Invalid PARTIAL range")  # RFC 9394 §4: both ends of one kind
        first, last = sorted((int(m[2]), int(m[4])))  # RFC 9394 §4: "500:400 is the same as 400:500"
        if last > _MAX:
            raise ParseError("Number out of range")
        return cls(first, last, bool(m[1]))

    def encode(self) -> bytes:
        sign = b"-" if self.from_end else b""
        return b"%s%d:%s%d" % (sign, self.first, sign, self.last)

    def pick(self, results: Sequence[int]) -> list[int]:
        """The results (ascending, mailbox order) the range names, ascending; fewer or none where
        it reaches past them (RFC 9394 §3.1)."""
        low, high = self.first, self.last
        count = len(results)
        if self.from_end:  # -1 is the last result, -2 the one before (RFC 9394 §3.1)
            return list(results[max(count - high, 0) : max(count - low + 1, 0)])
        return list(results[low - 1 : high])
