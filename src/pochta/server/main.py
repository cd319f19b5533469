"""``pochta serve``: configure logging, build the server with its handlers, run until a signal."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from pathlib import Path

from pochta.auth.authenticator import Authenticator
from pochta.bootstrap import ensure_server_secret
from pochta.config import Settings
from pochta.delivery import Delivery
from pochta.log import configure_logging, get_logger
from pochta.metrics import METRICS
from pochta.queue.worker import QueueWorker
from pochta.server.heap import set_mmap_threshold
from pochta.server.housekeeping import collect_blobs_periodically
from pochta.server.imap import imap_handlers
from pochta.server.listeners import ProtocolHandler, Server, StartupError, run_until_signal
from pochta.server.pidfile import AlreadyRunning, PidFile
from pochta.server.pop3 import Pop3Handler
from pochta.server.reload import Reconfigurable, Reloader
from pochta.server.smtp import smtp_handlers
from pochta.store.sqlite import open_sqlite_store

__all__ = ["serve_forever"]


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
        await _serve(data_dir, settings, handlers)
    finally:
        pid_file.release()


async def _serve(data_dir: Path, settings: Settings, handlers: Mapping[str, ProtocolHandler] | None) -> None:
    # Opening the store first applies pending migrations and fails early on a damaged database,
    # before any listener accepts a client.
    store = await open_sqlite_store(data_dir, settings)
    await store.start_readers()
    METRICS.watch_store_commits(lambda: store.writer_stats.commits)
    background = [asyncio.create_task(collect_blobs_periodically(store, settings.store))]
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
            )
        )
        merged.update(handlers or {})
        if settings.queue.worker:
            # The outbound queue: delivers what submission and forwarding queued (and bounces).
            worker = QueueWorker(store, settings, delivery)
            delivery.on_queued = worker.wake
            background.append(asyncio.create_task(worker.run()))
        server = Server(settings, data_dir, merged)
        parts = [server, *{id(h): h for h in merged.values() if isinstance(h, Reconfigurable)}.values()]

        def apply(new: Settings) -> None:
            if new.log != server.settings.log:
                configure_logging(new.log)
            for part in parts:
                part.reconfigure(new)

        reloader = Reloader(data_dir, settings, apply)
        await run_until_signal(server, on_reload=reloader.reload)
    finally:
        for task in background:
            task.cancel()
        for task in background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await store.close()
