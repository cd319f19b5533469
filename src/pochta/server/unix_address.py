"""The address of a UNIX socket the server keeps in its data directory (worker peers, worker
metrics), whatever the length of the data directory's path.

A UNIX socket address holds at most 107 bytes of path (``sun_path``, unix(7)); a data directory a
little deep (``/srv/mail/customers/...``) passes that with ``run/peers/<pid>-<token>.sock``. Such a
socket is then bound and reached through ``/proc/self/fd/<fd>/<name>``, where ``fd`` is the socket's
directory held open by this process: the same file, by a path that always fits (Linux)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

__all__ = ["unix_address"]

_SUN_PATH_MAX = 107  # unix(7): sun_path is 108 bytes with its terminating NUL
_directories: dict[str, int] = {}  # directory -> its descriptor, open for the process's lifetime
_lock = threading.Lock()


def unix_address(path: Path) -> str:
    """What to bind, connect or send to for the socket file ``path`` (its directory must exist)."""
    text = str(path)
    if len(os.fsencode(text)) <= _SUN_PATH_MAX:
        return text
    directory = str(path.parent)
    with _lock:
        fd = _directories.get(directory)
        if fd is None:
            fd = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            _directories[directory] = fd
    short = f"/proc/self/fd/{fd}/{path.name}"
    if len(os.fsencode(short)) > _SUN_PATH_MAX:
        raise OSError(f"UNIX socket path too long ({len(os.fsencode(text))} bytes, at most 107): {text}")
    return short
