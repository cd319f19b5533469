"""Child process of test_blob_durability.py: writes blobs until SIGKILLed, or kills itself at a point.

    python blob_crash_child.py BLOB_ROOT LOG_FILE SEED random [--threads N]
    python blob_crash_child.py BLOB_ROOT LOG_FILE SEED POINT [--api put|put_file]

``random``: threads write blobs (1 KB - 4 MB of random bytes, now and then the same bytes again, some
through ``put_file_sync`` from a spool file) through ``pochta.store.blobs.BlobStore`` until killed;
``ready`` is printed first. The log gets ``{"t": "begin", "sha": ...}`` before each write and an
fsync'ed ``{"t": "ack", "sha": ...}`` once the call returned.

A POINT kills the process (SIGKILL, from inside) at one step of a single write, found by wrapping the
``os`` function the blob code calls at that step:

- ``mid-write``: after half the bytes reached the temporary file;
- ``before-fsync``: the temporary file is complete but not fsync'ed;
- ``before-rename``: fsync'ed, not yet renamed to its final name;
- ``after-rename``: renamed, the directory not yet fsync'ed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from pochta.store.blobs import BlobStore

POINTS = ("mid-write", "before-fsync", "before-rename", "after-rename")


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class Log:
    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.lock = threading.Lock()

    def write(self, record: dict[str, Any], sync: bool = False) -> None:
        with self.lock:
            os.write(self.fd, (json.dumps(record) + "\n").encode())
        if sync:
            os.fsync(self.fd)


def blob_bytes(rnd: random.Random) -> bytes:
    size = rnd.choice((rnd.randint(1_000, 50_000), rnd.randint(50_000, 1_000_000), rnd.randint(1, 4) << 20))
    return rnd.randbytes(size)


def writer(blobs: BlobStore, log: Log, seed: int, index: int, spool: Path) -> None:
    rnd = random.Random(f"{seed}/{index}")
    written: list[bytes] = []
    n = 0
    while True:
        n += 1
        data = rnd.choice(written) if written and rnd.random() < 0.1 else blob_bytes(rnd)
        sha = hashlib.sha256(data).hexdigest()
        via_file = rnd.random() < 0.3
        log.write({"t": "begin", "sha": sha, "size": len(data), "via_file": via_file})
        if via_file:
            source = spool / f"{index}-{n}"
            source.write_bytes(data)
            ref = blobs.put_file_sync(source)
        else:
            ref = blobs.put_sync(data)
        assert ref.sha256 == sha
        log.write({"t": "ack", "sha": sha}, sync=True)
        if len(written) < 20:
            written.append(data)


def run_random(blobs: BlobStore, log: Log, seed: int, threads: int, spool: Path) -> None:
    spool.mkdir(exist_ok=True)
    workers = [
        threading.Thread(target=writer, args=(blobs, log, seed, i, spool), daemon=True)
        for i in range(threads)
    ]
    print("ready", flush=True)
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60.0)  # never killed: the parent reports the early exit
    sys.exit(3)


def run_point(blobs: BlobStore, log: Log, seed: int, point: str, api: str, spool: Path) -> None:
    data = random.Random(seed).randbytes(3 << 20)
    sha = hashlib.sha256(data).hexdigest()
    real_write, real_fsync, real_replace = os.write, os.fsync, os.replace
    fds: set[int] = set()

    def write(fd: int, buffer: Any) -> int:
        if fd == log.fd:
            return real_write(fd, buffer)
        fds.add(fd)
        if point == "mid-write":
            real_write(fd, bytes(buffer[: len(data) // 2]))
            die()
        return real_write(fd, buffer)

    def fsync(fd: int) -> None:
        # The first fsync of a file is the blob's own (directories come later, after the rename).
        if point == "before-fsync" and fd != log.fd:
            die()
        real_fsync(fd)

    def replace(src: Any, dst: Any) -> None:
        if point == "before-rename":
            die()
        real_replace(src, dst)
        if point == "after-rename":
            die()

    log.write({"t": "begin", "sha": sha, "size": len(data), "via_file": api == "put_file"}, sync=True)
    source = spool / "spooled"
    if api == "put_file":
        spool.mkdir(exist_ok=True)
        source.write_bytes(data)
        if point == "mid-write":
            die()  # put_file writes nothing itself: the spool file is the whole input
    os.write, os.fsync, os.replace = write, fsync, replace  # type: ignore[assignment]
    if api == "put_file":
        blobs.put_file_sync(source)
    else:
        blobs.put_sync(data)
    os.write, os.fsync, os.replace = real_write, real_fsync, real_replace
    print("point never reached", file=sys.stderr)
    sys.exit(4)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("blob_root", type=Path)
    parser.add_argument("log_file")
    parser.add_argument("seed", type=int)
    parser.add_argument("mode", choices=("random", *POINTS))
    parser.add_argument("--threads", type=int, default=3)
    parser.add_argument("--api", choices=("put", "put_file"), default="put")
    args = parser.parse_args()
    blobs = BlobStore(args.blob_root)
    blobs.ensure_dirs()
    log = Log(args.log_file)
    spool = args.blob_root.parent / "spool"
    if args.mode == "random":
        run_random(blobs, log, args.seed, args.threads, spool)
    else:
        run_point(blobs, log, args.seed, args.mode, args.api, spool)


if __name__ == "__main__":
    main()
