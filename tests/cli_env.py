"""The `pochta` command in tests: one-shot commands, and `pochta serve` as a real subprocess whose
log (stderr) is collected on a thread so that a test can wait for a line without blocking on it
(and read what the server printed on stdout). ``serve_process`` has the kind whose log goes to a
file, for the SIGKILL trials and the fuzz tests; both start pochta the same way."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType

from pochta.config import LISTENER_KINDS, load_settings
from serve_process import POCHTA, pochta_env
from store_env import init_options

# `init` options that put every listener on a free port (the server logs the real one).
PORT0 = [f"--listen={name}=127.0.0.1:0" for name in LISTENER_KINDS]


def run(
    *args: str, data: Path | None = None, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    command = [*POCHTA, *args]
    if data is not None:
        command += ["--data", str(data)]
    return subprocess.run(
        command, input=stdin, capture_output=True, text=True, timeout=120, cwd=cwd, env=pochta_env()
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (
        f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    )
    return result.stdout


def init_data(path: Path, *options: str) -> Path:
    """A data directory for example.org with every listener on port 0."""
    ok(run("init", "--domain", "example.org", *PORT0, *init_options(), *options, data=path))
    return path


class ServerProcess:
    """`pochta serve [--data DATA]` in a subprocess. ``lines`` is its log so far."""

    def __init__(self, data: Path | None = None, *, cwd: Path | None = None) -> None:
        command = [*POCHTA, "serve"] + (["--data", str(data)] if data is not None else [])
        self.data = data
        self.process = subprocess.Popen(
            command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=pochta_env()
        )
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._lock:
                self.lines.append(line)

    @property
    def log(self) -> str:
        with self._lock:
            return "".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 30.0, start: int = 0) -> re.Match[str]:
        """The first log line from index ``start`` on matching ``pattern``; fails if the server
        exits or nothing matches within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                lines = self.lines[start:]
            for line in lines:
                found = re.search(pattern, line)
                if found:
                    return found
            if time.monotonic() > deadline or self.process.poll() is not None:
                time.sleep(0.2)  # let the reader thread take the last lines
                raise AssertionError(f"no log line matching {pattern!r}:\n{self.log}")
            time.sleep(0.05)

    def wait_listening(self, count: int | None = None, timeout: float = 30.0) -> dict[str, tuple[str, int]]:
        """Wait until every listener of the config (or ``count``) logged its line; name -> address."""
        if count is None:
            assert self.data is not None
            count = len(load_settings(self.data / "pochta.toml").enabled_listeners())
        deadline = time.monotonic() + timeout
        while True:
            found = re.findall(r"listening name=(\w+) addr=(\S+?):(\d+)[\s,]", self.log)
            if len(found) >= count:
                return {name: (host, int(port)) for name, host, port in found}
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"server did not start:\n{self.log}")
            time.sleep(0.05)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=5)
        return self.process.returncode

    def stdout(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.read()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
        self._reader.join(timeout=5)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()


def port_is_free(port: int) -> bool:
    """Can a listener bind 127.0.0.1:port right now?"""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
