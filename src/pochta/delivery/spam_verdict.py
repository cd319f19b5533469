"""A spam scanner's verdict as pochta acts on it (docs/antispam.md "rspamd").

- ``strip_fields``: the MX removes the verdict fields a client brought (``antispam.strip_headers``
  and ``junk_header``), as it removes forged Authentication-Results: the only verdict that counts
  is the one a milter writes in this transaction.
- ``JunkVerdict``: does a milter's header modification say "spam"? rspamd's `add header` action is
  an ``SMFIR_CHGHEADER`` of ``X-Spam`` to ``Yes``; a milter may as well add or insert it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

__all__ = ["JunkVerdict", "strip_fields"]


def strip_fields(header: bytes, names: Collection[bytes]) -> bytes:
    """``header`` (a header section, CRLF lines) without the fields whose lower-cased names are in
    ``names`` (each with its folded continuation lines)."""
    if not names:
        return header
    kept: list[bytes] = []
    dropping = False
    for line in header.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t"):  # a continuation goes with the field it folds
            if not dropping:
                kept.append(line)
            continue
        name, colon, _ = line.partition(b":")
        dropping = bool(colon) and name.strip().lower() in names
        if not dropping:
            kept.append(line)
    return b"".join(kept)


@dataclass(frozen=True)
class JunkVerdict:
    """The field and value (``antispam.junk_header``, ``junk_value``) that mean "file into Junk"."""

    header: str
    value: str

    def says_junk(self, name: str, value: str) -> bool:
        """Does setting field ``name`` to ``value`` (a milter's modification) mean spam?"""
        return (
            bool(self.header)
            and name.lower() == self.header.lower()
            and (value.strip().lower() == self.value.strip().lower())
        )
