"""A worker process of a supervised ``pochta serve`` (started by ``server.supervisor``, never by hand).

``python -m pochta.server.worker SPEC``: SPEC is JSON with the data directory, the worker's index,
the supervisor's pid, the inherited listening sockets (listener name -> descriptors), the descriptor
to write ``ready`` to once accepting, the socket to serve its metrics on (or null), and the shared
memory of the workers' session counts (``server.accept``: its descriptor and the number of workers).
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import signal
import socket
import sys
from pathlib import Path

from pochta.config import CONFIG_FILE_NAME, ConfigError, load_settings
from pochta.server.accept import SessionCounts
from pochta.server.listeners import StartupError, interrupt_startup_on_sigterm
from pochta.server.main import WorkerRole, serve_worker
from pochta.server.sockets import BoundListener
from pochta.store.api import StoreError

_PR_SET_PDEATHSIG = 1


def _die_with_parent(supervisor: int) -> None:
    """SIGKILL when the supervisor dies, so that no worker outlives it holding the listeners.
    (prctl is Linux's; pochta runs on Linux.)"""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != supervisor:  # it died before the line above took effect
        os._exit(1)


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    _die_with_parent(int(spec["supervisor"]))
    data_dir = Path(spec["data"])
    ready_fd = int(spec["ready_fd"])
    by_name: dict[str, list[int]] = spec["listeners"]
    inherited = {name: BoundListener([socket.socket(fileno=n) for n in fds]) for name, fds in by_name.items()}

    def ready() -> None:
        os.write(ready_fd, b"ready\n")
        os.close(ready_fd)

    # Until the event loop installs its own handlers, SIGTERM interrupts startup cleanly.
    interrupt_startup_on_sigterm()
    try:
        settings = load_settings(data_dir / CONFIG_FILE_NAME)
        role = WorkerRole(
            index=int(spec["index"]),
            inherited=inherited,
            ready=ready,
            metrics_socket=Path(spec["metrics"]) if spec["metrics"] else None,
            session_counts=SessionCounts(int(spec["sessions_fd"]), int(spec["workers"]), int(spec["index"])),
        )
        asyncio.run(serve_worker(data_dir, settings, role))
    except KeyboardInterrupt:
        return 0
    except (ConfigError, StartupError, StoreError) as exc:  # StoreError: the database cannot be opened
        print(f"pochta worker {spec['index']}: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
