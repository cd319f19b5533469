"""Session locks across processes on one data directory (``MailStore.try_lock``), by ``flock``.

Why ``flock`` on a file per name (``DATA/run/locks/<name>``):
- it holds across processes (the workers of ``pochta serve --workers N``, the CLI) and also between
  two sessions of one process: the lock belongs to an open file description, and each ``try_lock``
  opens the file anew;
- the kernel drops it when its holder dies in any way, SIGKILL and power cut included, so a crashed
  worker never leaves an account locked (a lock *file* or a row saying "locked by pid N" would, or
  would need a guess whether pid N is still the same process);
- ``LOCK_NB`` makes it a try: the caller gets an answer at once (the POP3 ``[IN-USE]`` reply), and
  the event loop never waits for a lock. Opening a local file and one ``flock`` call are cheap
  enough to make on the loop thread, as the pid file does.

Lock files are never deleted: a holder that unlinked its file on release would race a process that
had opened the same path just before (it would lock the unlinked inode while a third process locks a
new file under the same name, both "holding" the lock). They are empty, one per name ever locked.
The directory is made with mode 0700 and the files 0600: only the server's user has any business
there. Descriptors are close-on-exec; a lock taken before a ``fork`` would be shared with the
child, so the supervisor forks its workers before any session exists.

On PostgreSQL (several machines on one database, where a file lock on one machine means nothing on
another) the same interface becomes a session-level advisory lock: ``pg_try_advisory_lock(key)``
on a connection held for as long as the lock is (released by ``pg_advisory_unlock``, and by the
server when that connection dies with its process). Advisory locks are re-entrant within one
database session, so that store keeps its own set of held names in front of them (or one connection
per lock) to refuse a second ``try_lock`` from the same process, as ``flock`` on a new open file
description does here.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from pathlib import Path

__all__ = ["LOCK_DIR", "FileLock", "FileLocks", "valid_lock_name"]

LOCK_DIR = Path("run") / "locks"  # under the data directory

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def valid_lock_name(name: str) -> str:
    """The name, when it is one ``try_lock`` accepts (it becomes a file name); else ValueError."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"not a lock name: {name!r}")
    return name


class FileLock:
    """One lock held by this process: an open descriptor with ``LOCK_EX`` on it."""

    def __init__(self, name: str, fd: int) -> None:
        self._name = name
        self._fd: int | None = fd

    @property
    def name(self) -> str:
        return self._name

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release_sync(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the last descriptor of the open file drops the lock

    async def release(self) -> None:
        """Never waits (one ``close``), so it is safe in a ``finally`` of a cancelled task."""
        self.release_sync()

    async def check(self) -> bool:
        # A flock lasts as long as its descriptor: nothing but a release loses it.
        return self.held

    def __del__(self) -> None:
        # A lock dropped without release (a bug) is still given back when collected.
        with contextlib.suppress(Exception):
            self.release_sync()


class FileLocks:
    """The locks of one data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.directory = Path(data_dir) / LOCK_DIR

    def _open(self, name: str) -> int:
        path = self.directory / name
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        try:
            return os.open(path, flags, 0o600)
        except FileNotFoundError:
            # DATA/run and DATA/run/locks, each 0700 (parents that mkdir makes get the umask's mode).
            self.directory.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.directory.mkdir(mode=0o700, exist_ok=True)
            return os.open(path, flags, 0o600)

    def try_lock(self, name: str) -> FileLock | None:
        """The lock, or None when another open file (this process or another) holds it."""
        fd = self._open(valid_lock_name(name))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        return FileLock(name, fd)
