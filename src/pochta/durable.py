"""fsync of files and directories: the one place that makes a write or a rename survive a power cut.

A file's data is durable once the file is fsync'ed; its name (a create or a rename) once the
directory holding it is fsync'ed too. Every writer that acknowledges or publishes something
(blobs, the first run's data directory, certificates, backups) uses these.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def fsync_path(path: Path) -> None:
    """fsync one file or directory (opened read-only, which Linux allows for both)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """fsync every file and directory below ``root`` (before a rename publishes the tree)."""
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            fsync_path(Path(dirpath) / name)
        fsync_path(Path(dirpath))


def write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory: fsync, chmod, rename, fsync
    the directory. A crash leaves the old state or the whole new file, never a truncated key."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates the file 0600, so a key is never readable by others, not even briefly.
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    fsync_path(path.parent)
