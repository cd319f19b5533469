"""The wake-up channel between the processes serving one store: the worker processes of one data
directory, and with PostgreSQL every process of every node on the database.

Each process sends what the others must hear at once:

- ``changes``: after each commit, (kind, account, mailbox, MODSEQ) of what it changed. The store is
  the truth; this only wakes the IMAP sessions of other processes that watch those mailboxes, which
  then read the changes themselves (``changes_since``), exactly as for a change made in-process.
  UIDs are not sent: nothing reads them from the feed.
- ``resync``: "you may have missed changes" (a queue overflowed, a connection dropped); every
  watching session then reads its mailbox's changes.
- ``queue``: something was queued for outbound delivery; the process running the queue worker
  wakes it.
- ``login``: a login attempt failed or succeeded (address, account): every process applies it to
  its own rate limiter, so delays and lockouts hold whichever worker (or node) a client reaches.
- ``mx``: the MX gate counted a connection or a message of an address, or blocked it (kind, key):
  every process applies it to its own counters (``delivery.gate.limits``).
- ``unblocks``: this process applied ``pochta auth unblock`` records; the others read them now
  rather than at their next delayed login.
- ``view``: this process served a client a big mailbox's view for the first time; the others read
  it into their view caches too unless they hold it (``SqliteStore.prefetch_view``).
- ``snapshot``: the housekeeper stored a new snapshot of a big mailbox (id and message count); the
  others bring their view of it forward, or read it when it fits in their caches without evicting
  another (``SqliteStore.warm_view``, ``store.view_snapshot_warm``).
- ``forms``: a FETCH here read the kept wire forms (ENVELOPE, BODY, BODYSTRUCTURE) of these message
  ids from the database; the others read them into their caches in the background
  (``SqliteStore.prefetch_forms``, ``store.wire_cache_share``), so the client's next connection
  is answered without a read on whichever worker it lands.
- ``order`` and ``thread``: a client's SORT built this process's kept order of a big mailbox by one
  key, or its THREAD kept an answer over a whole big mailbox; the others build theirs in the
  background (``SqliteStore.warm_order``, ``imap.sort.warm_thread``).

Two transports carry them, chosen from the store's engine by ``open_peer_channel`` (the one
function the server calls):

- SQLite (one machine): UNIX datagrams between the processes of the data directory
  (``server.peers_unix``);
- PostgreSQL (several nodes): ``NOTIFY`` payloads on one channel every process ``LISTEN``s to
  (``server.peers_pg`` over ``store.pg.notify``). Every process of every node is a peer on it,
  the workers of one node too, so there is one transport and one ordering per sender.

Which messages cross nodes: ``changes``, ``resync``, ``queue``, ``login``, ``mx`` and ``unblocks``
do: they keep promises that hold across the whole service (an IDLE client hears a delivery made on
any node, the queue worker wherever it runs wakes for a message queued anywhere, a login
throttled on one node is throttled on all). ``view``, ``snapshot``, ``forms``, ``order`` and
``thread`` (``peers_codec.NODE_LOCAL_KINDS``) do not: they warm caches of SQLite's per-process
store (views, snapshots, wire forms, sort orders) or of one process's IMAP threads, a head start
that pays because a local read is cheap; on PostgreSQL every such warm-up would be a read of the
shared database by every process of every node for a client that lands on one, and the caches
they fill do not exist in ``PgStore``. A lost message never loses an update: the database is the
truth, a ``resync`` makes sessions read it, and IMAP sessions read it every
``imap.idle_check_seconds`` in any case.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

from pochta.config import Settings
from pochta.server.peers_codec import Message, decode_changes, encode_changes
from pochta.server.peers_unix import PeerChannel, clear_peers

__all__ = [
    "Message",
    "PeerChannel",
    "PeerTransport",
    "clear_peers",
    "decode_changes",
    "encode_changes",
    "open_peer_channel",
]


class PeerTransport(Protocol):
    """One process's end of the channel: ``open`` on the event loop (``handler`` is called there
    for each message another process sent), ``send`` from any thread, never blocking."""

    def open(self, handler: Callable[[Message], None]) -> None: ...

    def send(self, messages: Iterable[Message]) -> None: ...

    def close(self) -> None: ...


def open_peer_channel(data_dir: Path, settings: Settings) -> PeerTransport:
    """The transport of the store ``settings`` names: every process on one store must choose the
    same, so the choice follows ``[store] url`` alone."""
    engine = settings.store.engine
    if engine.engine == "postgresql":
        assert engine.postgresql_url is not None  # parse_store_url sets it for this engine
        from pochta.server.peers_pg import NotifyPeerChannel  # psycopg only where it is used

        return NotifyPeerChannel(engine.postgresql_url, settings.store.pg_notify_queue)
    return PeerChannel(data_dir)
