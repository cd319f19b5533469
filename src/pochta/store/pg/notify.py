"""``LISTEN``/``NOTIFY`` on PostgreSQL: the connections that carry the peer channel across nodes
(``server.peers_pg`` puts the messages in the payloads; this module knows only text payloads).

- ``NotifyListener`` holds one connection of its own, outside the store's pool (a pooled
  connection serves other jobs between them, and would miss or steal notifications), on a thread
  of its own that waits in ``Connection.notifies``: nothing runs on the event loop. When the
  connection drops (the database restarted, an operator ended the session, a network fault found
  by TCP keepalive) it calls ``on_gap`` at once, reconnects with a doubling pause, ``LISTEN``s
  again and calls ``on_gap`` once more: what was notified while nobody listened is lost, and the
  caller makes its sessions read the store (the database is the truth; the notification only
  wakes).
- ``NotifySender`` sends payloads from a thread of its own on another connection: ``post`` only
  queues (the event loop never waits on the database) and the thread sends what is queued in one
  transaction, after the commits that made it (the store publishes a write's changes once it has
  committed). When a send fails, or the queue reaches ``max_queued`` (``store.pg_notify_queue``:
  the database is down or slow), what is queued is dropped and ``lost`` is sent first once a send
  works again, so that
  the listeners read the store for what they missed.

Payloads are text of less than 8000 octets (PostgreSQL refuses longer ones in its default build:
``PAYLOAD_LIMIT``); notifications of one sending session arrive in the order it sent them, and a
transaction's arrive together at its commit.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

__all__ = ["CHANNEL", "PAYLOAD_LIMIT", "NotifyListener", "NotifySender", "connect"]

log = logging.getLogger(__name__)

CHANNEL = "pochta_peers"
PAYLOAD_LIMIT = 7999  # octets: PostgreSQL's NOTIFY takes payloads shorter than 8000
RECONNECT_FIRST = 0.05  # seconds before the first reconnection; doubled up to RECONNECT_MAX
RECONNECT_MAX = 5.0
_WAIT = 0.5  # seconds the listener waits for notifications before it looks whether it is closed
CONNECT_TIMEOUT = 5  # seconds (libpq's connect_timeout is whole seconds)
# As pg/locks' lock connections: a node lost without closing its sockets is noticed by keepalive.
_KEEPALIVE = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}


def connect(url: str) -> psycopg.Connection[Any]:
    """A connection of its own to the database of the SQLAlchemy ``url``, in autocommit."""
    _args, params = create_engine(url, poolclass=NullPool).dialect.create_connect_args(make_url(url))
    params.pop("context", None)  # SQLAlchemy's adapters: plain text is all this connection sends
    params.update(_KEEPALIVE)
    params["connect_timeout"] = CONNECT_TIMEOUT
    # An operator's idle_session_timeout would end a listener that waits for a quiet hour.
    params["options"] = "-c idle_session_timeout=0"
    return psycopg.Connection.connect(autocommit=True, **params)


class NotifyListener:
    """Calls ``on_payload`` (on its own thread) with each payload notified on ``channel``, and
    ``on_gap`` when some may have been missed. ``start`` once; ``close`` never blocks."""

    def __init__(
        self, url: str, channel: str, on_payload: Callable[[str], None], on_gap: Callable[[], None]
    ) -> None:
        self._url = url
        self._channel = channel
        self._on_payload = on_payload
        self._on_gap = on_gap
        self._stop = threading.Event()
        self.listening = threading.Event()  # set while a LISTEN is in place (tests wait on it)
        self.backend_pid: int | None = None  # the listening session's server process
        self.drops = 0
        self._thread = threading.Thread(target=self._run, name="pochta-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        pause = RECONNECT_FIRST
        listened = False
        while not self._stop.is_set():
            conn: psycopg.Connection[Any] | None = None
            try:
                conn = connect(self._url)
                conn.execute(f"LISTEN {self._channel}")  # an identifier: the constant, never input
                self.backend_pid = conn.info.backend_pid
                self.listening.set()
                if listened:
                    self._on_gap()  # listening again: what came while nobody listened is unknown
                listened = True
                pause = RECONNECT_FIRST
                while not self._stop.is_set():
                    for notify in conn.notifies(timeout=_WAIT):
                        self._on_payload(notify.payload)
            except psycopg.Error as error:
                self.listening.clear()
                if self._stop.is_set():
                    break
                self.drops += 1
                log.warning("peer channel: LISTEN connection lost (%s); reconnecting in %.2fs", error, pause)
                if listened:
                    self._on_gap()
                self._stop.wait(pause)
                pause = min(pause * 2, RECONNECT_MAX)
            finally:
                if conn is not None:
                    conn.close()
        self.listening.clear()


class NotifySender:
    """Sends the payloads ``post``-ed to it, in order, on ``channel`` from a thread of its own."""

    def __init__(self, url: str, channel: str, lost: str, max_queued: int) -> None:
        self._url = url
        self._max_queued = max_queued
        self._channel = channel
        self._lost_payload = lost
        self._queue: collections.deque[str] = collections.deque()
        self._lost = False  # payloads were dropped: send ``lost`` before the next ones
        self._wake = threading.Condition()
        self._stop = False
        self._conn: psycopg.Connection[Any] | None = None
        self.backend_pid: int | None = None  # the sending session's server process
        self.sent = 0
        self.failures = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="pochta-notify", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def post(self, payloads: list[str]) -> None:
        """Queue ``payloads`` (each below ``PAYLOAD_LIMIT`` octets); returns at once."""
        with self._wake:
            if len(self._queue) + len(payloads) > self._max_queued:
                self.dropped += len(self._queue) + len(payloads)
                self._queue.clear()
                self._lost = True
            else:
                self._queue.extend(payloads)
            self._wake.notify()

    def close(self) -> None:
        """The thread sends what is queued (one try) and ends; returns at once."""
        with self._wake:
            self._stop = True
            self._wake.notify()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        pause = RECONNECT_FIRST
        while True:
            with self._wake:
                # Lost payloads need no new ones to be answered: ``lost`` goes out on its own.
                while not self._queue and not self._lost and not self._stop:
                    self._wake.wait()
                if self._stop and not self._queue:
                    break
                batch = list(self._queue)
                self._queue.clear()
                if self._lost:
                    batch.insert(0, self._lost_payload)
                    self._lost = False
                stopping = self._stop
            if self._send(batch):
                pause = RECONNECT_FIRST
            elif not stopping:
                with self._wake:
                    self._lost = True  # the batch is gone: listeners must read the store
                    self._wake.wait(pause)  # a close() ends the pause
                pause = min(pause * 2, RECONNECT_MAX)
            if stopping:
                break
        if self._conn is not None:
            self._conn.close()

    def _send(self, batch: list[str]) -> bool:
        try:
            if self._conn is None:
                self._conn = connect(self._url)
                self.backend_pid = self._conn.info.backend_pid
            with self._conn.transaction():  # delivered together at the commit, in this order
                for payload in batch:
                    self._conn.execute("SELECT pg_notify(%s, %s)", (self._channel, payload))
        except psycopg.Error as error:
            self.failures += 1
            log.warning("peer channel: NOTIFY failed (%s); %d payloads dropped", error, len(batch))
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            return False
        self.sent += len(batch)
        return True
