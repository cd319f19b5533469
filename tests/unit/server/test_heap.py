"""The C heap's mmap threshold (``pochta.server.heap``): big buffers freed in threads leave RSS."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from pochta.config import Settings
from pochta.server.heap import set_mmap_threshold

# In a fresh interpreter: threads each allocate, touch and free a 19 MiB buffer twice (as argon2 does
# for every login), then the process prints its resident KB. glibc's dynamic threshold serves the
# second allocation of each thread from its arena and keeps it there after free.
PROBE = textwrap.dedent(
    """
    import ctypes, sys, threading
    from pochta.server.heap import set_mmap_threshold
    if sys.argv[1] == "set":
        assert set_mmap_threshold(4 * 1024 * 1024)
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = (ctypes.c_size_t,)
    libc.free.argtypes = (ctypes.c_void_p,)
    SIZE = 19 * 1024 * 1024
    def work():
        for _ in range(3):
            p = libc.malloc(SIZE)
            ctypes.memset(p, 1, SIZE)
            libc.free(p)
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            print(line.split()[1])
    """
)


def _resident_kb(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_big_buffers_do_not_stay_resident() -> None:
    adaptive, fixed = _resident_kb("default"), _resident_kb("set")
    assert adaptive - fixed > 30 * 1024, (adaptive, fixed)  # 4 threads x 19 MiB retained vs none


def test_zero_leaves_the_default_and_the_setting_is_bounded() -> None:
    assert set_mmap_threshold(0) is False
    assert Settings().server.malloc_mmap_threshold == 4 * 1024 * 1024
    with pytest.raises(ValueError, match="less than or equal"):
        Settings.model_validate({"server": {"malloc_mmap_threshold": 64 * 1024 * 1024}})


# In a fresh interpreter: the objects of start-up are frozen; a full collection then walks only
# what was made since, and garbage made since is still collected.
FREEZE_PROBE = textwrap.dedent(
    """
    import gc
    import pochta.server.main
    from pochta.server.heap import freeze_startup_objects
    alive = len(gc.get_objects())
    frozen = freeze_startup_objects()
    cycle = []
    cycle.append(cycle)
    del cycle
    print(alive, frozen, len(gc.get_objects()), gc.collect())
    """
)


def test_the_objects_of_start_up_are_left_out_of_later_collections() -> None:
    done = subprocess.run([sys.executable, "-c", FREEZE_PROBE], capture_output=True, text=True, check=True)
    alive, frozen, walked, collected = map(int, done.stdout.split())
    assert frozen > alive // 2 > 10_000, (alive, frozen)
    assert walked < 1_000, walked  # gc.get_objects() lists the generations a collection walks
    assert collected >= 1  # the cycle made after the freeze
