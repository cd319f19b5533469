"""Helpers shared by the fault tests: child processes that get SIGKILLed, and checks of the blob tree."""

from __future__ import annotations

import hashlib
import json
import os
import random
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pochta.store.blobs import is_blob_name


def base_seed() -> int:
    """POCHTA_FAULT_SEED if set (to replay a failure), else a fresh one; every assertion names it."""
    value = os.environ.get("POCHTA_FAULT_SEED")
    return int(value) if value else random.SystemRandom().randrange(1, 2**31)


class Child:
    """A child process that prints ``ready`` on stdout and then works until killed."""

    def __init__(self, argv: list[str], stderr_path: Path) -> None:
        self.stderr_path = stderr_path
        with open(stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, *argv], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err
            )

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-4000:]

    def wait_ready(self, timeout: float = 60.0) -> None:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.kill()
                    raise AssertionError(f"child not ready after {timeout}s: {self.stderr()}")
                if sel.select(remaining):
                    line = self.proc.stdout.readline()
                    if line == b"ready\n":
                        return
                    self.kill()
                    raise AssertionError(f"child said {line!r} instead of ready: {self.stderr()}")

    def kill(self) -> int:
        """SIGKILL (if still running) and reap; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        status = self.proc.wait(30)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return status

    def kill_after(self, delay: float) -> None:
        """Kill ``delay`` seconds from now; the child must still be running by then (no early exit)."""
        time.sleep(delay)
        early = self.proc.poll()
        status = self.kill()
        assert early is None, f"child ended by itself with status {early} before the kill: {self.stderr()}"
        assert status == -signal.SIGKILL, f"child ended with status {status}: {self.stderr()}"


def read_log(path: Path) -> list[dict[str, Any]]:
    """The complete JSON lines of a child's log (a line cut short by the kill is ignored)."""
    if not path.exists():
        return []
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    return [json.loads(line) for line in complete.splitlines()]


def scan_blob_tree(root: Path) -> tuple[dict[str, int], list[str], list[str]]:
    """Walk ``blobs/``: (final-named blob -> size, temporary files, problems).

    A problem is anything a crash must never leave: a file under a final name whose bytes do not hash
    to that name, a file in the wrong fan-out directory, or a foreign name in the tree.
    """
    blobs: dict[str, int] = {}
    temps: list[str] = []
    problems: list[str] = []
    if not root.is_dir():
        return blobs, temps, problems
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        parts = rel.parts
        if parts[:1] == ("tmp",):
            temps.extend(filenames)
            dirnames.clear()
            continue
        for name in dirnames:
            if not (len(name) == 2 or (not parts and name == "tmp")):
                problems.append(f"foreign directory {rel / name}")
        for name in filenames:
            path = Path(dirpath) / name
            if len(parts) != 2 or not is_blob_name(name):
                problems.append(f"foreign file {rel / name}")
                continue
            if (name[:2], name[2:4]) != parts:
                problems.append(f"blob {name} in the wrong directory {rel}")
            data = path.read_bytes()
            if hashlib.sha256(data).hexdigest() != name:
                problems.append(f"blob {name} is corrupt ({len(data)} bytes)")
            blobs[name] = len(data)
    return blobs, temps, problems
