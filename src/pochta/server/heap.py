"""The heap policies of a server process: the C heap's for large buffers, so that a burst of logins
does not stay resident, and the Python collector's for the objects of start-up.

A login verifies an argon2 hash (19 MiB of working memory, ``pochta.auth.passwords``) in a worker
thread. glibc serves an allocation that large with ``mmap`` and unmaps it at ``free``, but after the
first such free it raises its mmap threshold to that size (its "dynamic threshold"), and from then
on serves such buffers from the thread's arena, where they stay resident after ``free``: some 20 MiB
for every thread that ever verified a password, about 100 MB in a server after 50 concurrent logins
(``bench/imap_mailbox.py`` counted it as 100 KB per idle IMAP session). Setting the threshold
explicitly turns the adjustment off (mallopt(3)): buffers at or above it are mapped and unmapped
each time, which costs a login the page faults of its buffer and nothing else.

Python's cyclic garbage collector walks every container object of a generation when it collects
it. A worker holds some 100,000 of them once it has imported and set everything up (modules,
classes, SQLAlchemy's tables, pydantic's models, the settings) and keeps nearly all for its whole
life; each full collection walked them all again: 40-270 ms per collection in a worker, in the
middle of whatever command triggered it (``bench/first_commands.py``, bench/README.md).
``freeze_startup_objects`` moves them to the collector's permanent generation once the process is
ready to serve, so that a full collection walks only what was made since (gc.freeze, as CPython's
documentation suggests for long-running servers).
"""

from __future__ import annotations

import ctypes
import gc
import sys

__all__ = ["freeze_startup_objects", "set_mmap_threshold"]

M_MMAP_THRESHOLD = -3  # <malloc.h>


def set_mmap_threshold(nbytes: int) -> bool:
    """Serve allocations of ``nbytes`` or more with mmap, always (glibc; 0 leaves the default).

    True when the C library took it; False where there is no ``mallopt`` or it refused the value.
    """
    if nbytes <= 0 or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the process runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, nbytes))


def freeze_startup_objects() -> int:
    """Collect once, then leave every object alive now out of all later collections (call when the
    process has set itself up and is about to serve). Returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
