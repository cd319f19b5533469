"""``DATA/pochta.pid``: which process serves a data directory, and a lock that makes it the only one.

``pochta serve`` creates the file at start, writes its pid into it and holds an exclusive ``flock``
on it for as long as it runs; at exit it removes the file. The lock, not the file, is the truth:
the kernel drops it when the process dies in any way (SIGKILL, power cut), so a file whose lock
nobody holds is *stale* (left by a crash) whatever pid it names, and a pid that was reused by an
unrelated process is never mistaken for a running server.

Users: a second ``pochta serve`` on the same directory refuses to start (one server, with its
supervisor and workers, owns the listeners, the run/ directory and the housekeeping); ``pochta
config reload`` finds the pid to signal (the supervisor's, which forwards it); ``pochta restore``
refuses to overwrite a directory a server is using; ``pochta config check`` does not try to bind
addresses a running server holds.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PID_FILE_NAME", "AlreadyRunning", "PidFile", "ServerState", "server_state"]

PID_FILE_NAME = "pochta.pid"


class AlreadyRunning(Exception):
    """Another process holds the data directory's pid file lock."""

    def __init__(self, path: Path, pid: int | None) -> None:
        who = f"pid {pid}" if pid is not None else "another process"
        super().__init__(f"pochta serve already runs on this data directory ({who}, {path})")
        self.pid = pid


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


class PidFile:
    """The pid file held by the running server. ``acquire`` it at start, ``release`` it at exit."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, data_dir: Path) -> PidFile:
        """Lock and write ``DATA/pochta.pid``; raise AlreadyRunning if a live server holds it."""
        path = data_dir / PID_FILE_NAME
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = _read_pid(fd)
                os.close(fd)
                raise AlreadyRunning(path, pid) from None
            # The previous holder may have removed the file between our open and our lock: then
            # we locked an unlinked file, and must start over on the path's current file.
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        os.fsync(fd)
        return cls(path, fd)

    def release(self) -> None:
        """Remove the file (while still holding the lock, so nobody sees it half-gone) and unlock."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            if os.stat(self.path).st_ino == os.fstat(self._fd).st_ino:
                os.unlink(self.path)
        os.close(self._fd)
        self._fd = None


@dataclass(frozen=True)
class ServerState:
    """What ``DATA/pochta.pid`` says. ``running``: a server holds the lock (``pid`` is its pid,
    None only in the instant between its lock and its write). ``stale``: a file left behind by a
    server that is gone (``pid`` is the pid it names)."""

    running: bool
    pid: int | None = None
    stale: bool = False


def server_state(data_dir: Path) -> ServerState:
    """Is a ``pochta serve`` running on ``data_dir``? Decided by the lock, never by the pid alone."""
    path = data_dir / PID_FILE_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return ServerState(running=False)
    try:
        pid = _read_pid(fd)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return ServerState(running=True, pid=pid)  # held: a live server
        return ServerState(running=False, pid=pid, stale=True)
    finally:
        os.close(fd)  # also drops our shared lock
