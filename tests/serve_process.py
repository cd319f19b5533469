"""A real ``pochta serve`` child process on a data directory made by ``pochta init``.

Used where a test (or bench script) must SIGKILL the server or read what it logged: the crash
trials (``bench/crash_trials.py``) and the whole-server fuzz tests. Every listener asked for binds
127.0.0.1 on a free port (``127.0.0.1:0``); the ports are read from the server's ``listening
name=... addr=127.0.0.1:PORT`` log lines. The log (stderr) goes to a file, never to a pipe that
nobody reads (a full pipe would block the server).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from pochta.config import LISTENER_KINDS
from store_env import init_options

POCHTA = [sys.executable, "-m", "pochta"]
_LISTENING = re.compile(r"listening name=(\w+) addr=127\.0\.0\.1:(\d+)")
# What a server must never write to its log: a traceback is a bug (connection.py, listeners.py).
FAILURE_MARKERS = ("Traceback", "session failed", "goodbye failed", "exception was never retrieved")


def pochta_env() -> dict[str, str]:
    """The environment for a pochta child: the data directory comes from --data only."""
    return {k: v for k, v in os.environ.items() if k != "POCHTA_DATA"}


def run_pochta(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run one ``pochta`` command to completion (60 s at most)."""
    result = subprocess.run(
        [*POCHTA, *args], input=stdin, capture_output=True, text=True, timeout=60, env=pochta_env()
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"pochta {' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        )
    return result


def init_data_dir(
    data: Path,
    *,
    listeners: Iterable[str],
    accounts: dict[str, str],
    domain: str = "example.org",
    config: str = "",
) -> None:
    """``pochta init`` with ``listeners`` on 127.0.0.1:0 and the others off, the accounts (address ->
    password), and ``config`` (TOML sections) appended to pochta.toml."""
    wanted = set(listeners)
    unknown = wanted - set(LISTENER_KINDS)
    if unknown:
        raise ValueError(f"unknown listeners {sorted(unknown)}")
    listen = [f"--listen={name}=" + ("127.0.0.1:0" if name in wanted else "off") for name in LISTENER_KINDS]
    run_pochta("init", "--domain", domain, *listen, *init_options(), "--data", str(data))
    for address, password in accounts.items():
        run_pochta("user", "add", address, "--password-stdin", "--data", str(data), stdin=password + "\n")
    if config:
        with open(data / "pochta.toml", "a", encoding="utf-8") as file:
            file.write("\n" + config)


class ServeProcess:
    """``pochta serve --data DATA [ARGS]`` with its log in ``log``; ``ports`` once ``wait_listening``
    returned."""

    def __init__(
        self, data: Path, log: Path, args: Sequence[str] = (), command: Sequence[str] = POCHTA
    ) -> None:
        """``command`` runs pochta (another checkout's ``[python, "-m", "pochta"]`` to compare two)."""
        self.data = data
        self.log = log
        self.ports: dict[str, int] = {}
        with open(log, "ab") as err:
            self._log_start = err.tell()
            self.process = subprocess.Popen(
                [*command, "serve", "--data", str(data), *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=pochta_env(),
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        """What this process logged so far (the log file may hold earlier runs before it)."""
        with open(self.log, "rb") as file:
            file.seek(self._log_start)
            return file.read().decode("utf-8", "replace")

    def tail(self, chars: int = 4000) -> str:
        return self.log_text()[-chars:]

    def failures(self) -> list[str]:
        """Log lines that show a bug (a traceback, a failed session), with their context."""
        lines = self.log_text().splitlines()
        return [line for line in lines if any(marker in line for marker in FAILURE_MARKERS)]

    def wait_listening(self, names: Iterable[str], timeout: float = 60.0) -> dict[str, int]:
        """Wait for the ``listening`` line of each listener in ``names``; their ports by name."""
        wanted = set(names)
        deadline = time.monotonic() + timeout
        while True:
            self.ports = {m.group(1): int(m.group(2)) for m in _LISTENING.finditer(self.log_text())}
            if wanted <= set(self.ports):
                return self.ports
            if self.process.poll() is not None or time.monotonic() > deadline:
                status = self.process.poll()
                self.kill()
                raise RuntimeError(f"pochta serve did not start (status {status}):\n{self.tail()}")
            time.sleep(0.02)

    def kill(self) -> int | None:
        """SIGKILL (if still running) and reap; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        return self.process.wait(30)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (a graceful stop) and reap; SIGKILL if it takes longer than ``timeout``."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.send_signal(signal.SIGKILL)
        return self.process.wait(30)
