"""Prometheus counters and gauges, and the optional ``/metrics`` endpoint.

All metrics live in one dedicated ``CollectorRegistry`` per ``Metrics`` object (never the
prometheus-client global one), so that tests can make a fresh set and so that nothing a library
registers globally leaks into our endpoint. ``METRICS`` is the process-wide instance the server
and the protocol handlers use.

The endpoint is a tiny asyncio HTTP/1.0 responder: one request per connection, ``GET``/``HEAD
/metrics`` only, the request head bounded in size and time. It needs no thread and no web framework.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from pochta.log import get_logger

__all__ = ["METRICS", "Metrics", "MetricsEndpoint"]

# The request head of a scraper is a few hundred bytes; anything bigger is not a scraper.
_MAX_REQUEST_HEAD = 8192
# Seconds a client gets to send its request head.
_REQUEST_TIMEOUT = 10.0


class _StoreCommitsCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "pochta_store_commits", "Store transactions committed (after group commit: WAL fsyncs)."
        )
        read = self._metrics._store_commits
        family.add_metric([], float(read() if read is not None else 0))
        yield family


class Metrics:
    """The server's counters, in their own registry."""

    # Gauges each worker process holds whole rather than its own share of (a supervised server
    # reports their largest value, not their sum: ``server.worker_metrics``).
    SHARED_GAUGES = frozenset({"pochta_login_locked_addresses"})

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.connections_opened = Counter(
            "pochta_connections_opened", "Connections accepted, per listener.", ["listener"], registry=r
        )
        self.connections_active = Gauge(
            "pochta_connections_active", "Sessions being served now, per listener.", ["listener"], registry=r
        )
        self.connections_rejected = Counter(
            "pochta_connections_rejected",
            "Connections turned away with the 'too busy' greeting, per listener and limit.",
            ["listener", "reason"],
            registry=r,
        )
        self.tls_handshakes_failed = Counter(
            "pochta_tls_handshakes_failed",
            "TLS handshakes (implicit or STARTTLS) that failed or timed out, per listener.",
            ["listener"],
            registry=r,
        )
        self.logins = Counter(
            "pochta_logins",
            "Login attempts per protocol; result is ok or failed.",
            ["protocol", "result"],
            registry=r,
        )
        self.login_lockouts = Counter(
            "pochta_login_lockouts",
            "Source addresses (IPv4, IPv6 /64) locked out after too many failed logins.",
            registry=r,
        )
        self.login_locked_addresses = Gauge(
            "pochta_login_locked_addresses",
            "Source addresses whose logins are refused now (locked out).",
            registry=r,
        )
        self.messages_delivered = Counter(
            "pochta_messages_delivered",
            "Messages placed in mailboxes (one per recipient), per receiving protocol.",
            ["protocol"],
            registry=r,
        )
        self.mx_refusals = Counter(
            "pochta_mx_refusals",
            "Refusals and deferrals of the MX gate (docs/antispam.md), per check: dnsbl, dbl, greylist, "
            "helo, early_talker, unknown_recipients, blocked, connection_rate, message_rate.",
            ["check"],
            registry=r,
        )
        self.send_limit_hits = Counter(
            "pochta_send_limit_hits",
            "Submissions refused by a sending limit (docs/antispam.md), per scope (account, domain) "
            "and window (hour, day).",
            ["scope", "window"],
            registry=r,
        )
        self.queue_results = Counter(
            "pochta_queue_recipient_attempts",
            "Outbound queue: recipients attempted, per result (delivered, deferred, failed).",
            ["result"],
            registry=r,
        )
        for result in ("delivered", "deferred", "failed"):
            self.queue_results.labels(result=result)
        self._store_commits: Callable[[], int] | None = None
        r.register(_StoreCommitsCollector(self))

    def init_listener(self, listener: str) -> None:
        """Create a listener's series at 0 so dashboards see them before the first connection."""
        self.connections_opened.labels(listener=listener)
        self.connections_active.labels(listener=listener)
        self.tls_handshakes_failed.labels(listener=listener)
        for reason in ("max_connections", "max_connections_per_ip"):
            self.connections_rejected.labels(listener=listener, reason=reason)

    def watch_store_commits(self, read: Callable[[], int]) -> None:
        """Export the store writer's commit count (each commit is one fsync of the WAL).

        Read at scrape time from the store's own counter, so the writer thread never calls into
        prometheus-client on its hot path.
        """
        self._store_commits = read

    def watch_locked_addresses(self, read: Callable[[], int]) -> None:
        """Export how many addresses the login rate limiter has locked out, read at scrape time."""
        self.login_locked_addresses.set_function(read)

    def login(self, protocol: str, ok: bool) -> None:
        self.logins.labels(protocol=protocol, result="ok" if ok else "failed").inc()

    def render(self) -> bytes:
        """The text exposition format of every metric in this registry."""
        data: bytes = generate_latest(self.registry)
        return data


METRICS = Metrics()


class MetricsEndpoint:
    """Serves ``GET /metrics`` for one ``Metrics`` on ``host:port`` (port 0: an ephemeral port)."""

    def __init__(
        self, metrics: Metrics | Callable[[], Awaitable[bytes]], host: str | None, port: int
    ) -> None:
        """``metrics``: what to serve, or a coroutine function making the exposition (a supervisor
        gathering its workers')."""
        self._metrics = metrics
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()
        self._log = get_logger()

    async def start(self) -> list[tuple[str, int]]:
        """Bind and start serving; returns the bound (host, port) of every socket."""
        self._server = await asyncio.start_server(
            self._client, self._host, self._port, reuse_address=True, limit=_MAX_REQUEST_HEAD
        )
        return [sock.getsockname()[:2] for sock in self._server.sockets]

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._clients):
            task.cancel()
        if self._clients:
            await asyncio.wait(self._clients)
        await self._server.wait_closed()
        self._server = None

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        try:
            await self._serve(reader, writer)
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            pass  # a scraper that went away or sent garbage: nothing to answer
        finally:
            self._clients.discard(task)
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_REQUEST_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            await self._respond(writer, 431, "Request Header Fields Too Large", b"request head too large\n")
            return
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            await self._respond(writer, 400, "Bad Request", b"bad request\n")
            return
        method, target, _version = parts
        path = target.split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            allow = b"Allow: GET, HEAD\r\n"
            await self._respond(writer, 405, "Method Not Allowed", b"only GET\n", extra=allow)
        elif path != "/metrics":
            await self._respond(writer, 404, "Not Found", b"try /metrics\n")
        else:
            body = self._metrics.render() if isinstance(self._metrics, Metrics) else await self._metrics()
            await self._respond(
                writer, 200, "OK", body, content_type=CONTENT_TYPE_LATEST, head_only=method == "HEAD"
            )

    async def _respond(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        reason: str,
        body: bytes,
        *,
        content_type: str = "text/plain; charset=utf-8",
        extra: bytes = b"",
        head_only: bool = False,
    ) -> None:
        header = (
            f"HTTP/1.0 {status} {reason}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n"
        ).encode("ascii")
        writer.write(header + extra + b"\r\n" + (b"" if head_only else body))
        await writer.drain()
