"""``pochta serve``: configure logging, build the server with its handlers, run until a signal."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pochta.acme import CertificateManager, renew_periodically
from pochta.auth.authenticator import Authenticator
from pochta.bootstrap import ensure_server_secret
from pochta.config import Settings
from pochta.delivery import Delivery
from pochta.delivery.dmarc_reports import send_reports_periodically
from pochta.delivery.gate import MxLimits
from pochta.fetch import Fetcher, run_fetch_scheduler
from pochta.log import bind_worker, configure_logging, get_logger
from pochta.metrics import METRICS
from pochta.queue.tls_rpt_job import TlsReporter, send_tls_reports_periodically
from pochta.queue.worker import QueueWorker
from pochta.server.accept import SessionCounts
from pochta.server.heap import freeze_startup_objects, set_mmap_threshold
from pochta.server.housekeeping import (
    collect_blobs_periodically,
    prune_expunged_periodically,
    prune_greylist_periodically,
    prune_send_counts_periodically,
    prune_sieve_state_periodically,
    prune_uploads_periodically,
    prune_web_sessions_periodically,
    refresh_snapshots_periodically,
)
from pochta.server.http import http_handlers
from pochta.server.imap import imap_handlers
from pochta.server.imap.handler import ImapHandler
from pochta.server.imap.sort import warm_thread
from pochta.server.jmap.submission_status import record_queue_outcomes
from pochta.server.lease import hold_housekeeping
from pochta.server.listeners import ProtocolHandler, Server, StartupError, run_until_signal
from pochta.server.managesieve import managesieve_handlers
from pochta.server.peers import (
    Message,
    PeerTransport,
    clear_peers,
    decode_changes,
    encode_changes,
    open_peer_channel,
)
from pochta.server.pidfile import AlreadyRunning, PidFile
from pochta.server.pop3 import Pop3Handler
from pochta.server.reload import Reconfigurable, Reloader
from pochta.server.smtp import smtp_handlers
from pochta.server.smtp.handler import SmtpHandler
from pochta.server.sockets import BoundListener
from pochta.server.tasks import cancel_and_wait
from pochta.server.worker_metrics import serve_worker_metrics
from pochta.store.api import NotFound, PeerWarmedCaches, Store
from pochta.store.factory import open_store
from pochta.store.model import Change, MessageId

__all__ = ["WorkerRole", "serve_forever", "serve_worker"]


async def serve_forever(
    data_dir: Path, settings: Settings, handlers: Mapping[str, ProtocolHandler] | None = None
) -> None:
    """Serve until SIGTERM/SIGINT, then stop gracefully and return. Raises StartupError (the
    message names listener and reason) if a listener cannot be opened or another server runs on
    the data directory. SIGHUP reloads the config file (``server.reload``).

    ``handlers`` replaces the handler of each protocol it names (tests use this).
    """
    configure_logging(settings.log)
    set_mmap_threshold(settings.server.malloc_mmap_threshold)  # per-process: each worker sets it
    try:
        pid_file = PidFile.acquire(data_dir)  # DATA/pochta.pid, locked until we exit
    except AlreadyRunning as exc:
        raise StartupError(str(exc)) from None
    try:
        clear_peers(data_dir)
        await _serve(data_dir, settings, handlers)
    finally:
        pid_file.release()


async def serve_worker(data_dir: Path, settings: Settings, role: WorkerRole) -> None:
    """One worker of a supervised run (``server.worker``): the supervisor holds the pid file."""
    configure_logging(settings.log)
    # Every line this worker logs says which it is (sessions' tasks inherit the binding).
    bind_worker(role.index)
    await _serve(data_dir, settings, None, role)


@dataclass(frozen=True)
class WorkerRole:
    """How a worker of a supervised run differs from a server running alone: its listeners'
    sockets come bound, ``ready`` is called once it accepts, and its metrics go to the supervisor
    through ``metrics_socket`` (``server.worker_metrics``) instead of an endpoint of its own."""

    index: int
    inherited: Mapping[str, BoundListener]
    ready: Callable[[], None]
    metrics_socket: Path | None
    session_counts: SessionCounts | None = None


async def _serve(
    data_dir: Path,
    settings: Settings,
    handlers: Mapping[str, ProtocolHandler] | None,
    role: WorkerRole | None = None,
) -> None:
    # Opening the store first applies pending migrations and fails early on a damaged database,
    # before any listener accepts a client.
    # The search indexer runs as a housekeeping job below: one process per data directory.
    store = await open_store(data_dir, settings)
    await store.start_readers()
    METRICS.watch_store_commits(store.commit_count)
    # UNIX datagrams between the workers on SQLite, NOTIFY between every node's on PostgreSQL.
    peers = open_peer_channel(data_dir, settings)
    background: list[asyncio.Task[None]] = []
    metrics_server: asyncio.Server | None = None
    try:
        merged: dict[str, ProtocolHandler] = {}
        # SCRAM fake salts for unknown users, the key of app passwords' lookup digests
        secret = ensure_server_secret(data_dir)
        # One authenticator for every protocol: failed logins over IMAP, POP3 and SMTP AUTH count
        # together towards an address's delays and lockout.
        authenticator = Authenticator(store, settings.login, server_secret=secret)
        METRICS.watch_locked_addresses(authenticator.limiter.locked_addresses)
        merged["pop3"] = Pop3Handler(store, settings, scram_secret=secret, authenticator=authenticator)
        # SMTP MX, submission(s) and LMTP share one delivery pipeline.
        delivery = Delivery(store, settings, data_dir)
        merged.update(
            smtp_handlers(store, settings, delivery, scram_secret=secret, authenticator=authenticator)
        )
        if not await delivery.postmaster_reachable():
            get_logger().warning(
                "no mailbox receives postmaster mail (RFC 5321 §4.5.1): add the account or alias "
                "postmaster@ the primary domain, or set smtp.postmaster"
            )
        merged.update(
            imap_handlers(
                store,
                settings,
                spool_dir=delivery.spool_dir,
                scram_secret=secret,
                authenticator=authenticator,
                outbound=delivery.send_outgoing,  # RFC 6785 §3.4: redirect on IMAP events
            )
        )
        merged.update(managesieve_handlers(store, settings, scram_secret=secret, authenticator=authenticator))
        # HTTP (docs/http.md): MTA-STS policy, client autoconfiguration, ACME http-01.
        web_handlers, web = http_handlers(
            store, settings, data_dir, authenticator=authenticator, delivery=delivery
        )
        merged.update(web_handlers)
        merged.update(handlers or {})
        # The queue worker, if this process becomes the housekeeper (server.lease).
        queue_worker = (
            QueueWorker(store, settings, delivery, dns=delivery.dns) if settings.queue.worker else None
        )

        def queued() -> None:
            if queue_worker is not None:
                queue_worker.wake()
            peers.send([{"t": "queue"}])

        delivery.on_queued = queued
        if queue_worker is not None:
            # JMAP EmailSubmission's deliveryStatus follows its queue entry (RFC 8621 section 7).
            queue_worker.on_outcomes = functools.partial(record_queue_outcomes, store)
        imap = merged.get("imap")
        mx = merged.get("smtp")
        _connect_peers(
            peers,
            store,
            authenticator,
            queue_worker,
            imap if isinstance(imap, ImapHandler) else None,
            mx.gate.limits if isinstance(mx, SmtpHandler) else None,
        )

        def housekeeping() -> list[Awaitable[None]]:
            # The housekeeper reports login lockouts for every process (Authenticator.reports_lockouts).
            authenticator.reports_lockouts = True
            jobs: list[Awaitable[None]] = [collect_blobs_periodically(store, settings.store)]
            if settings.store.expunge_record_days > 0:
                # RFC 7162 QRESYNC: old expunge records go, the mailbox's horizon remembers them.
                jobs.append(prune_expunged_periodically(store, settings.store))
            if settings.greylisting.enabled:
                # Greylisting triplets past their expiry or retain time (docs/antispam.md).
                jobs.append(prune_greylist_periodically(store, settings.greylisting))
            if settings.webmail.enabled:
                # Webmail sessions past their lifetime or idle time (docs/webmail.md).
                jobs.append(prune_web_sessions_periodically(store, settings.webmail))
            # JMAP uploads past their lifetime (docs/jmap.md), whether JMAP is on now or was.
            jobs.append(prune_uploads_periodically(store, settings.jmap))
            # Sending limits: the counts of ended hour and day windows.
            jobs.append(prune_send_counts_periodically(store, settings.store))
            # Sieve at delivery: expired vacation and duplicate records, old script errors.
            jobs.append(prune_sieve_state_periodically(store, settings.store, settings.sieve.error_days))
            if settings.store.view_snapshot_interval > 0 and isinstance(store, PeerWarmedCaches):
                # Stored view snapshots near the head: a worker's first SELECT of a big mailbox
                # reads one and a short delta (docs/architecture.md "Mailbox views"); SQLite's.
                jobs.append(refresh_snapshots_periodically(store, settings.store))
            if settings.search.indexer:
                # Full-text indexing of what deliveries queued (docs/architecture.md "Search index").
                jobs.append(store.run_indexer())
            if settings.mailauth.dmarc_reports:
                # DMARC aggregate reports (RFC 7489 section 7.2), once a day by default.
                jobs.append(send_reports_periodically(delivery))
            if queue_worker is not None:
                # The outbound queue: delivers what submission and forwarding queued (and bounces).
                jobs.append(queue_worker.run())
            if settings.fetch.enabled:
                # The external accounts users added: polled, delivered locally (docs/fetch.md).
                jobs.append(run_fetch_scheduler(Fetcher(delivery, data_dir, secret)))
            if settings.tls.acme:
                # RFC 8555: the certificate, obtained and renewed in time (docs/certificates.md);
                # the other workers load the new files by themselves (Server's TLS watch).
                jobs.append(renew_periodically(CertificateManager(data_dir, settings), domains, reload_tls))
            if settings.tls_rpt.enabled:
                # RFC 8460: yesterday's TLS results to the domains that ask, through the queue.
                reporter = TlsReporter(store, settings, on_queued=queued, resolver=delivery.dns)
                jobs.append(send_tls_reports_periodically(reporter, settings.tls_rpt.interval))
            return jobs

        async def domains() -> list[str]:
            return [domain.name for domain in await store.list_domains()]

        def reload_tls() -> None:
            server.reload_tls()

        background.append(
            asyncio.create_task(
                hold_housekeeping(store.try_lock, housekeeping, settings.server.housekeeper_retry)
            )
        )
        server = Server(
            settings,
            data_dir,
            merged,
            inherited=role.inherited if role is not None else None,
            serve_metrics=role is None,
            session_counts=role.session_counts if role is not None else None,
        )
        web.listening = server.bound_addresses  # autoconfig tells clients the ports really bound
        handler_parts = {id(h): h for h in merged.values() if isinstance(h, Reconfigurable)}
        parts: list[Reconfigurable] = [server, web, *handler_parts.values()]

        def apply(new: Settings) -> None:
            if new.log != server.settings.log:
                configure_logging(new.log)
            for part in parts:
                part.reconfigure(new)

        reloader = Reloader(data_dir, settings, apply)
        if role is not None:
            await server.start()
            if role.metrics_socket is not None:
                metrics_server = await serve_worker_metrics(METRICS, role.metrics_socket)
            role.ready()
        freeze_startup_objects()  # full collections walk only what serving makes (server.heap)
        await run_until_signal(server, on_reload=reloader.reload)
    finally:
        await cancel_and_wait(background)
        if metrics_server is not None:
            metrics_server.close()
        peers.close()
        await store.close()


async def _logged(job: Coroutine[Any, Any, None], kind: str, mailbox_id: int, *, quiet: bool = False) -> None:
    """A head start asked for by a peer (``warm_order``, ``warm_thread``, ``prefetch_forms``): a
    failure is logged, the next client's command does the work itself. ``quiet``: success is not
    logged at debug level only (forms are shared after every FETCH that read some)."""
    try:
        await job
    except NotFound:
        pass  # deleted since
    except Exception as exc:
        get_logger(task="peers").warning("peer warm-up failed", kind=kind, error=repr(exc))
    else:
        log = get_logger(task="peers")
        (log.debug if quiet else log.info)("kept for a peer", kind=kind, mailbox=mailbox_id)


def _connect_peers(
    peers: PeerTransport,
    store: Store,
    authenticator: Authenticator,
    queue_worker: QueueWorker | None,
    imap: ImapHandler | None,
    mx_limits: MxLimits | None = None,
) -> None:
    """Wire this process to the others on the data directory (``server.peers``): our commits,
    login attempts, the MX's per-address counts and the big mailbox views we read go out, theirs
    come in."""
    feed = store.feed()
    # The per-process caches of SQLite's store, warmed across workers; PostgreSQL's has none yet.
    caches = store if isinstance(store, PeerWarmedCaches) else None

    def relay(changes: Sequence[Change]) -> None:
        peers.send(encode_changes(changes))

    def share(remote_ip: str, address: str, failed: bool) -> None:
        peers.send([{"t": "login", "ip": remote_ip, "a": address, "f": failed}])

    pending: set[asyncio.Task[None]] = set()

    def received(message: Message) -> None:
        kind = message.get("t")
        try:
            if kind == "changes":
                feed.publish_local(decode_changes(message))
            elif kind == "resync":
                feed.resync_all()
            elif kind == "queue" and queue_worker is not None:
                queue_worker.wake()
            elif kind == "login":
                authenticator.apply_shared(str(message["ip"]), str(message["a"]), bool(message["f"]))
            elif kind == "mx" and mx_limits is not None:
                # A connection, message or block of the MX gate in another worker (delivery.gate.limits).
                mx_limits.apply_shared(str(message["k"]), str(message["ip"]))
            elif kind == "view" and caches is not None:
                # A client of another worker opened this big mailbox: read its view now, so that
                # a SELECT of it here needs no read (docs/architecture.md "Mailbox views").
                caches.prefetch_view(int(message["m"]))
            elif kind == "snapshot" and caches is not None:
                # The housekeeper stored a new snapshot of this big mailbox (a burst of deliveries):
                # warm this worker's view of it too, room permitting (store.view_snapshot_warm).
                caches.warm_view(int(message["m"]), int(message["n"]))
            elif kind == "order" and caches is not None:
                # A client of another worker sorted this big mailbox: keep its order here too.
                background(caches.warm_order(int(message["m"]), str(message["k"])), message)
            elif kind == "thread" and imap is not None:
                # ... or threaded it: keep the answer here too (server/imap/kept_threads.py).
                background(warm_thread(imap.services, int(message["m"]), str(message["a"])), message)
            elif kind == "forms" and caches is not None:
                # A client of another worker read these messages' kept forms (FETCH ENVELOPE ...):
                # hold them here too, for its next connection landing on this worker.
                ids = [MessageId(int(i)) for i in message["i"]]
                names = [str(n) for n in message["n"]]
                job = caches.prefetch_forms(ids, names, bool(message["u"]))
                task = asyncio.get_running_loop().create_task(_logged(job, "forms", 0, quiet=True))
                pending.add(task)
                task.add_done_callback(pending.discard)
            elif kind == "unblocks":
                task = asyncio.get_running_loop().create_task(authenticator.catch_up_unblocks())
                pending.add(task)
                task.add_done_callback(pending.discard)
        except (KeyError, TypeError, ValueError) as exc:
            get_logger(task="peers").error("peer channel: bad message", kind=kind, error=repr(exc))

    def background(job: Coroutine[Any, Any, None], message: Message) -> None:
        task = asyncio.get_running_loop().create_task(_logged(job, str(message["t"]), int(message["m"])))
        pending.add(task)
        task.add_done_callback(pending.discard)

    feed.relay = relay
    if caches is not None:
        caches.view_loaded = lambda mailbox_id: peers.send([{"t": "view", "m": int(mailbox_id)}])
        caches.forms_read = lambda ids, names, utf8: peers.send(
            [{"t": "forms", "i": [int(i) for i in ids], "n": names, "u": utf8}]
        )
        caches.snapshot_stored = lambda mailbox_id, count: peers.send(
            [{"t": "snapshot", "m": int(mailbox_id), "n": count}]
        )
        caches.order_built = lambda mailbox_id, name: peers.send(
            [{"t": "order", "m": int(mailbox_id), "k": name}]
        )
    if imap is not None:
        imap.services.threads.built = lambda mailbox_id, algorithm: peers.send(
            [{"t": "thread", "m": int(mailbox_id), "a": algorithm}]
        )
    authenticator.share = share
    if mx_limits is not None:
        mx_limits.share = lambda kind, key: peers.send([{"t": "mx", "k": kind, "ip": key}])
    authenticator.unblocked = lambda: peers.send([{"t": "unblocks"}])
    peers.open(received)
