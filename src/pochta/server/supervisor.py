"""``pochta serve`` with several workers: one supervisor process and N worker processes.

The supervisor does what must happen once and nothing else: it holds the data directory's pid file,
applies store migrations and creates the server secret and the self-signed certificate (so workers
never race to), binds every listener, and starts the workers (``python -m pochta.server.worker``)
with the listening sockets as inherited descriptors. All workers accept on the same sockets; the
kernel hands each connection to one of them. The "listening" lines are printed once every worker
accepts, so whoever waits for them can connect at once.

While running it:
- replaces a worker that dies (logged with its exit status), at once the first time and with a
  doubling wait, up to ``server.worker_restart_delay_max``, for one that keeps dying soon after its
  start; connections queued on the listeners meanwhile are served by the others;
- serves the metrics endpoint with every worker's counters added up (``server.worker_metrics``);
- forwards SIGHUP (configuration reload) to the workers;
- on SIGTERM or SIGINT forwards SIGTERM, waits for the workers' graceful stop, closes the listeners
  and exits.
Workers are started with a parent-death signal (SIGKILL): if the supervisor itself is killed, no
worker outlives it holding the listeners.

What the workers share lives in the store and in the channels that cross processes: the change feed
and login attempts (``server.peers``), the housekeeper lease (``server.lease``), the POP3 lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from pochta.bootstrap import ensure_server_secret
from pochta.config import LISTENER_KINDS, Settings, parse_listen_address
from pochta.log import configure_logging, get_logger
from pochta.metrics import MetricsEndpoint
from pochta.server import sockets
from pochta.server.accept import SessionCounts
from pochta.server.connection import format_address
from pochta.server.listeners import StartupError, load_tls, stopped_early
from pochta.server.peers import clear_peers
from pochta.server.pidfile import AlreadyRunning, PidFile
from pochta.server.worker_metrics import METRICS_DIR, gather
from pochta.store.factory import open_store

__all__ = ["WORKER_MODULE", "supervise"]

WORKER_MODULE = "pochta.server.worker"
# A worker that lived this long before dying is restarted at once, whatever came before.
_STABLE_SECONDS = 10.0
_FIRST_RESTART_DELAY = 0.5


@dataclass(eq=False)
class _Slot:
    index: int
    process: asyncio.subprocess.Process | None = None
    started: float = 0.0
    quick_deaths: int = 0
    stopping: bool = False
    waiter: asyncio.Task[None] | None = field(default=None, repr=False)


async def supervise(data_dir: Path, settings: Settings, workers: int) -> None:
    """Run ``workers`` worker processes until SIGTERM/SIGINT; raises StartupError if the start fails."""
    configure_logging(settings.log)
    try:
        pid_file = PidFile.acquire(data_dir)
    except AlreadyRunning as exc:
        raise StartupError(str(exc)) from None
    try:
        await _Supervisor(data_dir, settings, workers).run()
    finally:
        pid_file.release()


class _Supervisor:
    def __init__(self, data_dir: Path, settings: Settings, workers: int) -> None:
        self.data_dir = data_dir
        self.settings = settings
        self.slots = [_Slot(i) for i in range(workers)]
        # Each worker's open sessions, for sharing bursts of connections (server.accept).
        self.sessions = SessionCounts.create(workers)
        self.bound: dict[str, sockets.BoundListener] = {}
        self.log = get_logger()  # lines as a single process writes them ("listening name=...")
        self.stopping = False
        self.wake = asyncio.Event()
        self.metrics_endpoint: MetricsEndpoint | None = None

    async def run(self) -> None:
        await self._prepare()
        loop = asyncio.get_running_loop()
        received: list[str] = []

        def on_stop(signum: signal.Signals) -> None:
            received.append(signum.name)
            self.stopping = True
            self.wake.set()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_stop, signum)
        loop.add_signal_handler(signal.SIGHUP, self._forward, signal.SIGHUP)
        if stopped_early():  # a SIGTERM whose interrupt of startup was dropped (listeners.py)
            on_stop(signal.SIGTERM)
        try:
            self._bind()
            await asyncio.gather(*(self._start(slot, startup=True) for slot in self.slots))
            if self.metrics_enabled:
                await self._open_metrics()
            for name, bound in self.bound.items():
                addr = ",".join(format_address(n) for n in bound.names())
                self.log.info("listening", name=name, addr=addr, tls=LISTENER_KINDS[name].tls.value)
            self.log.info("workers started", count=len(self.slots))
            while not self.stopping:
                await self.wake.wait()
                self.wake.clear()
            self.log.info("signal", name=received[0] if received else "-")
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(signum)
            if self.metrics_endpoint is not None:
                await self.metrics_endpoint.stop()
            await self._stop_workers()
            for name, bound in self.bound.items():
                sockets.close_all(bound.sockets)
                address = self.settings.enabled_listeners()[name]
                if address.path is not None:
                    sockets.release_unix_path(address.path, bound.unix_identity)
            self.sessions.close()
            self.log.info("stopped")

    async def _prepare(self) -> None:
        """What workers must not race to do: migrations, the secret, the certificate, stale peers."""
        store = await open_store(self.data_dir, self.settings)
        await store.close()
        ensure_server_secret(self.data_dir)
        enabled = self.settings.enabled_listeners()
        if any(LISTENER_KINDS[name].tls.value != "none" for name in enabled):
            load_tls(self.settings, self.data_dir)
        clear_peers(self.data_dir)

    def _bind(self) -> None:
        for name, address in self.settings.enabled_listeners().items():
            try:
                self.bound[name] = sockets.bind(address)
            except sockets.BindError as exc:
                if exc.complete:
                    raise StartupError(str(exc)) from None
                raise StartupError(f"listener {name}: cannot listen on {address.describe()}: {exc}") from None

    @property
    def metrics_enabled(self) -> bool:
        return self.settings.metrics.listen != "off"

    def _metrics_socket(self, index: int) -> Path:
        return self.data_dir / METRICS_DIR / f"{index}.sock"

    async def _open_metrics(self) -> None:
        """The endpoint: every worker's counters merged (``server.worker_metrics``)."""
        address = parse_listen_address(self.settings.metrics.listen, allow_unix=False)
        assert address.port is not None
        paths = [self._metrics_socket(slot.index) for slot in self.slots]
        endpoint = MetricsEndpoint(
            lambda: gather(paths), None if address.host == "*" else address.host, address.port
        )
        try:
            bound = await endpoint.start()
        except OSError as exc:
            raise StartupError(f"metrics: cannot listen on {address.describe()}: {exc}") from None
        self.metrics_endpoint = endpoint
        addr = ",".join(format_address(b) for b in bound)
        self.log.info("listening", name="metrics", addr=addr, tls="none")

    def _spec(self, slot: _Slot, ready_fd: int) -> str:
        listeners = {name: [s.fileno() for s in bound.sockets] for name, bound in self.bound.items()}
        return json.dumps(
            {
                "data": str(self.data_dir),
                "index": slot.index,
                "supervisor": os.getpid(),
                "listeners": listeners,
                "ready_fd": ready_fd,
                "metrics": str(self._metrics_socket(slot.index)) if self.metrics_enabled else None,
                "sessions_fd": self.sessions.fd,
                "workers": self.sessions.workers,
            }
        )

    async def _start(self, slot: _Slot, *, startup: bool) -> None:
        read_fd, write_fd = os.pipe()
        fds = [write_fd, self.sessions.fd, *(s.fileno() for b in self.bound.values() for s in b.sockets)]
        try:
            slot.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                WORKER_MODULE,
                self._spec(slot, write_fd),
                stdin=asyncio.subprocess.DEVNULL,
                pass_fds=fds,
            )
        finally:
            os.close(write_fd)
        slot.started = time.monotonic()
        try:
            ready = await _read_ready(read_fd, self.settings.server.worker_start_timeout)
        finally:
            os.close(read_fd)
        if not ready:
            with contextlib.suppress(ProcessLookupError):
                slot.process.kill()
            status = await slot.process.wait()
            if startup:
                raise StartupError(f"worker {slot.index} did not start ({_describe(status)})")
            self.log.error("worker did not start", worker=slot.index, status=_describe(status))
        elif not startup:
            self.log.info("worker restarted", worker=slot.index, pid=slot.process.pid)
        slot.waiter = asyncio.create_task(self._watch(slot, slot.process))

    async def _watch(self, slot: _Slot, process: asyncio.subprocess.Process) -> None:
        status = await process.wait()
        if self.stopping or slot.stopping:
            return
        lived = time.monotonic() - slot.started
        self.log.error("worker died", worker=slot.index, pid=process.pid, status=_describe(status))
        self.sessions.clear(slot.index)  # its sessions died with it
        slot.quick_deaths = slot.quick_deaths + 1 if lived < _STABLE_SECONDS else 0
        delay = 0.0
        if slot.quick_deaths:
            delay = min(
                self.settings.server.worker_restart_delay_max,
                _FIRST_RESTART_DELAY * 2 ** (slot.quick_deaths - 1),
            )
        if delay:
            await asyncio.sleep(delay)
        if not self.stopping:
            await self._start(slot, startup=False)

    def _forward(self, signum: signal.Signals) -> None:
        for slot in self.slots:
            if slot.process is not None and slot.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    slot.process.send_signal(signum)

    async def _stop_workers(self) -> None:
        self.stopping = True
        for slot in self.slots:
            slot.stopping = True
            if slot.waiter is not None:
                slot.waiter.cancel()
        self._forward(signal.SIGTERM)
        running = [s.process for s in self.slots if s.process is not None and s.process.returncode is None]
        if not running:
            return
        # Each worker gives running commands shutdown_grace seconds, then a few more to close.
        limit = self.settings.server.shutdown_grace + 10.0
        _done, pending = await asyncio.wait([asyncio.ensure_future(p.wait()) for p in running], timeout=limit)
        if pending:
            self.log.error("workers did not stop; killing them", count=len(pending))
            for process in running:
                if process.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
            await asyncio.wait(pending)
        for process in running:
            if process.returncode not in (0, None):
                self.log.warning("worker exited", pid=process.pid, status=_describe(process.returncode))


async def _read_ready(fd: int, seconds: float) -> bool:
    """True once the worker wrote its ready line; False if it closed the pipe (died) or timed out."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bool] = loop.create_future()
    os.set_blocking(fd, False)

    def readable() -> None:
        try:
            data = os.read(fd, 64)
        except BlockingIOError:
            return
        if not done.done():
            done.set_result(data.startswith(b"ready"))

    loop.add_reader(fd, readable)
    try:
        async with asyncio.timeout(seconds):
            return await done
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)


def _describe(status: int | None) -> str:
    if status is None:
        return "running"
    if status < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-status).name}"
        return f"killed by signal {-status}"
    return f"exit code {status}"
