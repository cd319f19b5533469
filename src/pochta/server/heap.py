"""The C heap's policy for large buffers, so that a burst of logins does not stay resident.

A login verifies an argon2 hash (19 MiB of working memory, ``pochta.auth.passwords``) in a worker
thread. glibc serves an allocation that large with ``mmap`` and unmaps it at ``free``, but after the
first such free it raises its mmap threshold to that size (its "dynamic threshold"), and from then
on serves such buffers from the thread's arena, where they stay resident after ``free``: some 20 MiB
for every thread that ever verified a password, about 100 MB in a server after 50 concurrent logins
(``bench/imap_mailbox.py`` counted it as 100 KB per idle IMAP session). Setting the threshold
explicitly turns the adjustment off (mallopt(3)): buffers at or above it are mapped and unmapped
each time, which costs a login the page faults of its buffer and nothing else.
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["set_mmap_threshold"]

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
