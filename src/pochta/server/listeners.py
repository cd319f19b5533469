"""Listeners: bind the configured addresses, accept, enforce limits, run sessions, stop gracefully.

``Server`` knows nothing about any mail protocol. Each listener's protocol name (``LISTENER_KINDS``)
selects a ``ProtocolHandler`` that gets a ``Connection`` and runs the session; the server keeps
the books (limits, timeouts, TLS, metrics, logs) around it.
"""

from __future__ import annotations

import asyncio
import collections
import signal
import ssl
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pochta.config import LISTENER_KINDS, ListenAddress, ListenerKind, Settings, TlsMode, resolve_path
from pochta.config import TlsSettings as _TlsSettings
from pochta.log import bind_connection_id, get_logger
from pochta.metrics import METRICS, Metrics, MetricsEndpoint
from pochta.netaddr import ip_key
from pochta.server import sockets
from pochta.server.accept import Acceptor, SessionCounts
from pochta.server.connection import (
    Connection,
    ConnectionOptions,
    IdleTimeout,
    ServerShutdown,
    TlsHandshakeFailed,
    format_address,
    protocol_factory,
)
from pochta.server.tasks import cancel_and_wait
from pochta.server.tls import (
    CertificateError,
    ensure_certificate,
    file_stamps,
    reload_context,
    server_context,
)

__all__ = ["AddressCounts", "ProtocolHandler", "Server", "StartupError", "load_tls", "run_until_signal"]

# Seconds the busy greeting or the shutdown goodbye may take to write: both are one short line, and
# a client that does not read it must not delay a shutdown.
_GOODBYE_TIMEOUT = 2.0
# Seconds to wait for cancelled sessions to unwind after the grace period.
_CANCEL_TIMEOUT = 2.0


class ProtocolHandler(Protocol):
    """What a protocol plugs into the server.

    ``__call__`` runs one whole session (greeting, command loop, goodbye) and returns when it is
    over; the server closes the connection afterwards. ``busy`` writes the protocol's "too many
    connections" greeting; ``shutdown`` writes its goodbye when the server stops (SMTP ``421 4.3.2``,
    IMAP ``* BYE``, POP3 ``-ERR``).

    What ``__call__`` may let propagate, and what the server then does:
    ``ServerShutdown`` (from ``conn.read_some`` during a stop): writes ``shutdown(conn)`` and closes.
    ``IdleTimeout`` (also ``DeadlineExpired``: the login or line deadline passed): closes without a
    word; catch it to send an autologout line of your own (``421 4.4.2``, ``* BYE Autologout``) first.
    ``OSError``/``TlsHandshakeFailed``: the peer is gone; closes. Any other exception is a bug: logged
    with its traceback, the session is closed, the server carries on.

    A protocol without logins calls ``conn.end_login_phase()`` first thing (else the login deadline
    ends its sessions); the others call it on a successful login.
    """

    async def __call__(self, conn: Connection) -> None: ...

    async def busy(self, conn: Connection) -> None: ...

    async def shutdown(self, conn: Connection) -> None: ...


class StartupError(Exception):
    """The server cannot start (address in use, bad certificate, missing handler); the message
    says which listener and why."""


class AddressCounts:
    """Open connections per client, for ``server.max_connections_per_ip``: counted under
    ``netaddr.ip_key`` (an IPv4 address, an IPv6 /64), as login throttling counts them."""

    def __init__(self) -> None:
        self._counts: collections.Counter[str] = collections.Counter()

    def __getitem__(self, peer_ip: str) -> int:
        return self._counts[ip_key(peer_ip)]

    def add(self, peer_ip: str) -> str:
        """Count one more connection of ``peer_ip``; returns the key to ``remove`` it by."""
        key = ip_key(peer_ip)
        self._counts[key] += 1
        return key

    def remove(self, key: str) -> None:
        self._counts[key] -= 1
        if self._counts[key] <= 0:
            del self._counts[key]

    def __len__(self) -> int:
        return len(self._counts)


@dataclass(eq=False)
class _Session:
    conn: Connection
    listener: _Listener
    counted: bool
    ip_key: str = ""  # what the connection is counted under for max_connections_per_ip
    task: asyncio.Task[None] | None = None
    # "handshake" (implicit TLS), "serving" (handler runs), "closing" (goodbye / close under way)
    phase: str = "handshake"
    aborted: bool = False
    # Whether it was inside busy_section when cancelled (the section is unwound by the time the
    # CancelledError reaches the session runner, so this is recorded before cancelling).
    aborted_in_command: bool = False


@dataclass(eq=False)
class _Listener:
    name: str
    kind: ListenerKind
    address: ListenAddress
    handler: ProtocolHandler
    servers: list[Acceptor] = field(default_factory=list)
    bound: list[str] = field(default_factory=list)
    first: tuple[str, int] | str | None = None
    sessions: set[_Session] = field(default_factory=set)
    active: int = 0
    per_ip: AddressCounts = field(default_factory=AddressCounts)
    unix_identity: tuple[int, int] | None = None


class Server:
    """All listeners of one pochta process."""

    def __init__(
        self,
        settings: Settings,
        data_dir: Path,
        handlers: Mapping[str, ProtocolHandler],
        *,
        metrics: Metrics | None = None,
        ssl_context: ssl.SSLContext | None = None,
        inherited: Mapping[str, sockets.BoundListener] | None = None,
        serve_metrics: bool = True,
        session_counts: SessionCounts | None = None,
    ) -> None:
        """``handlers`` maps protocol names (smtp, submission, lmtp, imap, pop3) to handlers.
        ``ssl_context`` overrides the configured certificate (tests use this). ``inherited``: the
        listeners' sockets, already bound by the supervisor (a worker then logs no "listening" lines:
        the supervisor does, once its workers are ready). ``serve_metrics``: open the metrics
        endpoint if configured (in a supervised run, one worker does). ``session_counts``: the
        workers' shared session counts (``server.accept``), this process's slot set; None alone."""
        self.settings = settings
        self.data_dir = data_dir
        self._handlers = dict(handlers)
        self.metrics = metrics if metrics is not None else METRICS
        self._ssl_context = ssl_context
        self._ssl_from_settings = ssl_context is None
        self._inherited = dict(inherited or {})
        self._serve_metrics = serve_metrics
        self._counts = session_counts
        self._open_sessions = 0  # on every listener, published in self._counts
        self._listeners: dict[str, _Listener] = {}
        self._metrics_endpoint: MetricsEndpoint | None = None
        self._metrics_address: tuple[str, int] | None = None
        self._started = False
        self._stopping = False
        self._stopped = asyncio.Event()
        self._tls_watch: asyncio.Task[None] | None = None
        self._log = get_logger()

    # -- public ----------------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._started

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        return self._ssl_context

    async def start(self) -> None:
        """Bind every enabled listener and start accepting. On any failure, whatever was already
        bound is closed again and StartupError is raised."""
        if self._started:
            raise RuntimeError("server already started")
        self._started = True
        enabled = self.settings.enabled_listeners()
        for name in enabled:
            protocol = LISTENER_KINDS[name].protocol
            if protocol not in self._handlers:
                raise StartupError(f"listener {name}: no handler for protocol {protocol!r}")
        if self._ssl_context is None and any(LISTENER_KINDS[n].tls is not TlsMode.NONE for n in enabled):
            self._ssl_context = self._load_tls()
        try:
            for name, address in enabled.items():
                await self._open(name, LISTENER_KINDS[name], address)
            if self.settings.metrics.listen != "off" and self._serve_metrics:
                await self._open_metrics()
        except BaseException:
            await self._close_listeners()
            raise
        if self._ssl_context is not None and self._ssl_from_settings:
            self._tls_watch = asyncio.create_task(self._watch_tls(file_stamps(*self._tls_paths())))

    def bound_addresses(self) -> dict[str, tuple[str, int] | str]:
        """Listener name -> (host, port) of its first socket, or the UNIX socket path. Includes
        ``metrics`` when the endpoint is enabled. Port 0 in the config shows up as the real port."""
        result: dict[str, tuple[str, int] | str] = {
            name: listener.first for name, listener in self._listeners.items() if listener.first is not None
        }
        if self._metrics_address is not None:
            result["metrics"] = self._metrics_address
        return result

    def reconfigure(self, settings: Settings) -> None:
        """New settings from a reload (``server.reload``): connection limits and the shutdown grace
        apply at once; the certificate and key are loaded again for new handshakes. Addresses and
        connection options stay as started (the reloader keeps their running values)."""
        self.settings = settings
        self.reload_tls()

    def reload_tls(self) -> bool:
        """Reload the configured certificate and key into the live context (SIGHUP). New handshakes
        use the new pair; on error the old one stays and the error is logged. Returns success."""
        if self._ssl_context is None or not self._ssl_from_settings:
            return False
        cert, key = self._tls_paths()
        try:
            reload_context(self._ssl_context, cert, key)
        except CertificateError as exc:
            self._log.error("tls reload failed", error=str(exc))
            return False
        self._log.info("tls reloaded", certificate=str(cert))
        return True

    async def _watch_tls(self, stamp: tuple[object, ...]) -> None:
        """Until the server stops: reload the pair when either file changes from ``stamp`` (an ACME
        renewal by the housekeeper process, certbot, an operator's copy), looked at every
        ``tls.reload_check_interval`` seconds. Every worker process watches for itself."""
        while True:
            await asyncio.sleep(self.settings.tls.reload_check_interval)
            now = file_stamps(*self._tls_paths())
            if now != stamp:
                stamp = now
                self.reload_tls()

    async def stop(self) -> None:
        """Graceful shutdown: stop accepting; sessions between commands get the protocol's goodbye
        at once; sessions inside a command get ``server.shutdown_grace`` seconds to finish it and
        then their goodbye; whatever still runs after that is cancelled and its socket dropped
        (without a goodbye if it was mid-command, so that no reply is ever cut by one)."""
        if not self._started:
            return
        if self._stopping:
            await self._stopped.wait()
            return
        self._stopping = True
        try:
            await self._stop()
        finally:
            self._stopped.set()

    # -- start-up --------------------------------------------------------------------------------

    def _tls_paths(self) -> tuple[Path, Path]:
        tls = self.settings.tls
        return resolve_path(self.data_dir, tls.certificate), resolve_path(self.data_dir, tls.key)

    def _load_tls(self) -> ssl.SSLContext:
        return load_tls(self.settings, self.data_dir)

    async def _open(self, name: str, kind: ListenerKind, address: ListenAddress) -> None:
        listener = _Listener(name, kind, address, self._handlers[kind.protocol])
        options = ConnectionOptions(
            listener_name=name,
            protocol=kind.protocol,
            tls_mode=kind.tls,
            ssl_context=self._ssl_context if kind.tls is not TlsMode.NONE else None,
            idle_timeout=self.settings.server.idle_timeout_unauthenticated,
            handshake_timeout=self.settings.tls.handshake_timeout,
            metrics=self.metrics,
            login_timeout=self.settings.server.login_timeout,
            line_timeout=self.settings.server.line_timeout,
        )

        def accepted(conn: Connection) -> None:
            self._accepted(listener, conn)

        factory = protocol_factory(options, accepted)
        inherited = self._inherited.get(name)
        if inherited is not None:
            bound = inherited  # bound by the supervisor, shared with the other workers
        else:
            try:
                bound = await asyncio.to_thread(sockets.bind, address)
            except sockets.BindError as exc:
                if exc.complete:
                    raise StartupError(str(exc)) from None
                raise StartupError(f"listener {name}: cannot listen on {address.describe()}: {exc}") from None
            listener.unix_identity = bound.unix_identity
        # Registered before the servers exist: a failure below closes what was already started.
        self._listeners[name] = listener
        for sock in bound.sockets:
            # One connection per readiness, a less busy worker first (server.accept).
            acceptor = Acceptor(
                sock,
                factory,
                counts=self._counts,
                own=self._sessions_now,
                wait=self.settings.server.accept_balance_wait,
                on_change=self._publish_sessions,
            )
            listener.servers.append(acceptor)
        names = bound.names()
        listener.first = names[0]
        listener.bound = [format_address(n) for n in names]
        self.metrics.init_listener(name)
        if inherited is None:
            self._log.info("listening", name=name, addr=",".join(listener.bound), tls=kind.tls.value)

    async def _open_metrics(self) -> None:
        from pochta.config import parse_listen_address

        address = parse_listen_address(self.settings.metrics.listen, allow_unix=False)
        host = None if address.host == "*" else address.host
        assert address.port is not None
        endpoint = MetricsEndpoint(self.metrics, host, address.port)
        try:
            bound = await endpoint.start()
        except OSError as exc:
            raise StartupError(f"metrics: cannot listen on {address.describe()}: {exc}") from None
        self._metrics_endpoint = endpoint
        self._metrics_address = bound[0]
        addr = ",".join(format_address(b) for b in bound)
        self._log.info("listening", name="metrics", addr=addr, tls="none")

    # -- sessions --------------------------------------------------------------------------------

    def _accepted(self, listener: _Listener, conn: Connection) -> None:
        """A new connection (synchronously from connection_made): count it and start its task."""
        if self._stopping:
            conn.abort()  # accepted in the same loop turn as the stop; nobody will serve it
            return
        self.metrics.connections_opened.labels(listener=listener.name).inc()
        limits = self.settings.server
        reason: str | None = None
        if listener.active >= limits.max_connections:
            reason = "max_connections"
        elif conn.peer_ip != "unix" and listener.per_ip[conn.peer_ip] >= limits.max_connections_per_ip:
            # UNIX-socket peers (LMTP from the local MTA) have no address to count per.
            reason = "max_connections_per_ip"
        session = _Session(conn, listener, counted=reason is None)
        if session.counted:
            listener.active += 1
            session.ip_key = listener.per_ip.add(conn.peer_ip)  # IPv6: per /64
            self.metrics.connections_active.labels(listener=listener.name).inc()
        else:
            assert reason is not None
            self.metrics.connections_rejected.labels(listener=listener.name, reason=reason).inc()
        listener.sessions.add(session)
        self._count_sessions(1)
        session.task = asyncio.get_running_loop().create_task(
            self._run(session, reason), name=f"pochta-{listener.name}-{conn.id}"
        )

    def _count_sessions(self, change: int) -> None:
        self._open_sessions += change
        self._publish_sessions()

    def _sessions_now(self) -> int:
        """Open sessions on every listener, and connections accepted whose session is starting."""
        starting = sum(a.connecting for listener in self._listeners.values() for a in listener.servers)
        return self._open_sessions + starting

    def _publish_sessions(self) -> None:
        if self._counts is not None:
            self._counts.set(self._sessions_now())

    def _release(self, session: _Session) -> None:
        listener = session.listener
        if session in listener.sessions:
            listener.sessions.discard(session)
            self._count_sessions(-1)
        if session.counted:
            session.counted = False
            listener.active -= 1
            listener.per_ip.remove(session.ip_key)
            self.metrics.connections_active.labels(listener=listener.name).dec()

    async def _run(self, session: _Session, reject_reason: str | None) -> None:
        conn, listener = session.conn, session.listener
        bind_connection_id(conn.id)
        started = time.monotonic()
        conn.log.info("connect", listener=listener.name, peer=conn.peer, local=conn.local_address)
        reason = "closed"
        try:
            if listener.kind.tls is TlsMode.IMPLICIT:
                await conn.handshake()
            session.phase = "serving"
            if reject_reason is not None:
                conn.log.warning("too many connections", limit=reject_reason)
                reason = reject_reason
                session.phase = "closing"
                await self._say(conn, listener.handler.busy)
            elif self._stopping:
                reason = "shutdown"
                session.phase = "closing"
                await self._say(conn, listener.handler.shutdown)
            else:
                await listener.handler(conn)
        except ServerShutdown:
            reason = "shutdown"
            session.phase = "closing"
            await self._say(conn, listener.handler.shutdown)
        except IdleTimeout as exc:
            reason = "idle timeout"
            conn.log.info("idle timeout", error=str(exc))
        except TlsHandshakeFailed:
            reason = "tls failed"
        except asyncio.CancelledError:
            if not session.aborted:
                raise
            reason = "aborted at shutdown"
            # Mid-command (busy section) a goodbye could land inside a reply: drop the line instead.
            if session.phase == "serving" and not session.aborted_in_command:
                session.phase = "closing"
                await self._say(conn, listener.handler.shutdown)
        except OSError as exc:
            reason = "connection lost"
            conn.log.info("connection lost", error=str(exc) or type(exc).__name__)
        except Exception:
            # A bug in a handler must end this session, not the server (Principle 5).
            reason = "error"
            conn.log.exception("session failed")
        finally:
            session.phase = "closing"
            try:
                if session.aborted_in_command:
                    conn.abort()
                else:
                    await conn.close()
            finally:
                self._release(session)
                conn.log.info(
                    "disconnect",
                    reason=reason,
                    duration=round(time.monotonic() - started, 3),
                    bytes_in=conn.bytes_in,
                    bytes_out=conn.bytes_out,
                )

    async def _say(self, conn: Connection, what: _Greeting) -> None:
        """Write a busy greeting or goodbye, bounded in time, ignoring a peer that is gone."""
        if conn.closed:
            return
        try:
            async with asyncio.timeout(_GOODBYE_TIMEOUT):
                await what(conn)
        except (OSError, ServerShutdown):
            pass  # TimeoutError/IdleTimeout are OSErrors too: the peer does not read; we close
        except Exception:
            conn.log.exception("goodbye failed")

    # -- shutdown --------------------------------------------------------------------------------

    async def _stop(self) -> None:
        if self._tls_watch is not None:
            await cancel_and_wait([self._tls_watch])
        for listener in self._listeners.values():
            for server in listener.servers:
                server.close()
        sessions = [s for listener in self._listeners.values() for s in listener.sessions]
        grace = self.settings.server.shutdown_grace
        self._log.info("stopping", sessions=len(sessions), grace=grace)
        for session in sessions:
            session.conn.request_shutdown()
        tasks = {s.task for s in sessions if s.task is not None}
        if tasks:
            # Sessions between commands end at once with their goodbye; in-command ones get the
            # grace period. Goodbyes and closes already under way are bounded on their own.
            _done, pending = await asyncio.wait(tasks, timeout=grace)
            for session in sessions:
                if session.task in pending and session.phase != "closing":
                    session.aborted = True
                    session.aborted_in_command = session.conn.in_command
                    session.task.cancel()
            if pending:
                _done, pending = await asyncio.wait(pending, timeout=_CANCEL_TIMEOUT + _GOODBYE_TIMEOUT)
            if pending:
                self._log.error("sessions did not end", count=len(pending))
                for task in pending:
                    task.cancel()
        await self._close_listeners()
        self._log.info("stopped")

    async def _close_listeners(self) -> None:
        for listener in self._listeners.values():
            for server in listener.servers:
                server.close()
                await server.wait_closed()
            listener.servers.clear()
            if listener.address.path is not None:
                sockets.release_unix_path(listener.address.path, listener.unix_identity)
                listener.unix_identity = None
        if self._metrics_endpoint is not None:
            await self._metrics_endpoint.stop()
            self._metrics_endpoint = None


def load_tls(settings: Settings, data_dir: Path) -> ssl.SSLContext:
    """The server's TLS context from the configured pair; on a first run (default paths, no files)
    the self-signed certificate is created first. Raises StartupError."""
    tls = settings.tls
    cert, key = resolve_path(data_dir, tls.certificate), resolve_path(data_dir, tls.key)
    defaults = _TlsSettings()
    # DESIGN.md: the first run creates a self-signed certificate at the default place. A path the
    # operator configured is never invented: a typo there must be an error, not a silent
    # self-signed certificate.
    if tls.certificate == defaults.certificate and tls.key == defaults.key:
        try:
            if ensure_certificate(cert, key, settings.hostname):
                get_logger().info("created self-signed certificate", certificate=str(cert), key=str(key))
        except (CertificateError, OSError) as exc:
            raise StartupError(f"tls: {exc}") from None
    try:
        return server_context(cert, key)
    except CertificateError as exc:
        raise StartupError(f"tls: {exc}") from None


# SIGTERM before ``run_until_signal`` installs its handlers (``interrupt_startup_on_sigterm``):
# remembered, since the KeyboardInterrupt that interrupts startup is dropped (and printed as
# "Exception ignored") when it lands in a garbage collector's callback or a finaliser, as seen on
# PostgreSQL, whose store opens more slowly; the process would then serve on, deaf to the signal.
_stopped_early = threading.Event()


def interrupt_startup_on_sigterm() -> None:
    """Until ``run_until_signal`` (or the supervisor) installs its own handlers, SIGTERM interrupts
    startup (KeyboardInterrupt) and is remembered, so that a startup going on after an interrupt
    that was dropped stops as soon as it serves; the dropped interrupt is not printed."""
    signal.signal(signal.SIGTERM, _interrupt_startup)
    sys.unraisablehook = _quiet_dropped_interrupt


def _interrupt_startup(signum: int, frame: object) -> None:
    _stopped_early.set()
    raise KeyboardInterrupt


def _quiet_dropped_interrupt(unraisable: sys.UnraisableHookArgs) -> None:
    if _stopped_early.is_set() and isinstance(unraisable.exc_value, KeyboardInterrupt):
        return  # our own interrupt of startup, dropped where it landed: heeded once serving
    sys.__unraisablehook__(unraisable)


def stopped_early() -> bool:
    """Whether ``interrupt_startup`` was called (for a supervisor, which installs its own handlers)."""
    return _stopped_early.is_set()


class _Greeting(Protocol):
    async def __call__(self, conn: Connection, /) -> None: ...


async def run_until_signal(server: Server, on_reload: Callable[[], object] | None = None) -> None:
    """Start ``server`` if needed, serve until SIGTERM or SIGINT, then stop gracefully and return.
    SIGHUP calls ``on_reload`` (``pochta serve``: the config reload), by default it reloads the TLS
    certificate. The CLI's ``pochta serve`` exits 0 after this returns."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    received: list[str] = []

    def on_stop(signum: signal.Signals) -> None:
        received.append(signum.name)
        stop.set()

    installed: list[signal.Signals] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_stop, signum)
        installed.append(signum)
    if hasattr(signal, "SIGHUP"):
        loop.add_signal_handler(signal.SIGHUP, on_reload or server.reload_tls)
        installed.append(signal.SIGHUP)
    if _stopped_early.is_set():  # a SIGTERM whose interrupt of startup was dropped: heed it now
        on_stop(signal.SIGTERM)
    try:
        # Handlers go in before the listeners open: a supervisor that sees the "listening" lines
        # may signal at once, and that signal must mean a graceful stop, not a default kill.
        if not server.started:
            await server.start()
        await stop.wait()
        get_logger().info("signal", name=received[0] if received else "-")
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
        await server.stop()
