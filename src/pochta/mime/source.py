"""What the parser reads: the message bytes, or a read-only memory map of its file.

A message can be as large as ``limits.max_message_size``; at delivery it is parsed from its spool
file mapped into memory (``mmap``), so the parser reads pages the kernel can drop instead of a
private copy of the whole message. ``mmap`` objects slice to ``bytes`` and support ``find`` and
regular expressions, but not ``startswith`` or ``count``: the two helpers below work on both.
"""

from __future__ import annotations

import mmap

Source = bytes | mmap.mmap

_COUNT_WINDOW = 1 << 20


def starts_with(data: Source, prefix: bytes, start: int, end: int) -> bool:
    """``data[start:end].startswith(prefix)`` without copying ``data[start:end]``."""
    stop = start + len(prefix)
    return stop <= end and data[start:stop] == prefix


def count_byte(data: Source, needle: bytes, start: int, end: int) -> int:
    """``data.count(needle, start, end)`` for a single-byte needle, a window at a time for maps."""
    if isinstance(data, bytes):
        return data.count(needle, start, end)
    total = 0
    for pos in range(start, end, _COUNT_WINDOW):
        total += data[pos : min(end, pos + _COUNT_WINDOW)].count(needle)
    return total
