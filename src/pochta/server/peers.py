"""The wake-up channel between the processes serving one data directory.

Every worker process binds a UNIX datagram socket in ``DATA/run/peers/`` and sends what the others
must hear at once to every other socket there:

- ``changes``: after each commit, (kind, account, mailbox, MODSEQ) of what it changed. The store is
  the truth; this only wakes the IMAP sessions of other processes that watch those mailboxes, which
  then read the changes themselves (``changes_since``), exactly as for a change made in-process.
  UIDs are not sent: nothing reads them from the feed.
- ``resync``: "you may have missed changes", sent before the next message to a peer whose queue was
  full; every watching session of that peer then reads its mailbox's changes.
- ``queue``: something was queued for outbound delivery; the process running the queue worker
  wakes it.
- ``login``: a login attempt failed or succeeded (address, account): every process applies it to
  its own rate limiter, so delays and lockouts hold whichever worker a client reaches.
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

Datagrams on a local socket are never silently dropped: a send to a full queue fails at once
(non-blocking, so the writer thread never waits on a slow peer), and is answered by ``resync``.
A send to a socket nobody has bound any more (a worker that was killed) is refused, and that file is
removed. Peers are found by listing the directory again whenever its mtime changes.

Several machines on one database (PostgreSQL, later) keep this design and swap the transport: the
same messages as ``NOTIFY`` payloads on one channel that every process ``LISTEN``s to.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from pochta.log import get_logger
from pochta.server.unix_address import unix_address
from pochta.store.model import AccountId, Change, ChangeKind, MailboxId, ModSeq

__all__ = ["PEERS_DIR", "Message", "PeerChannel", "clear_peers", "decode_changes", "encode_changes"]

PEERS_DIR = Path("run") / "peers"
Message = dict[str, Any]
_SUFFIX = ".sock"
_MAX_DATAGRAM = 65536
_CHANGES_PER_DATAGRAM = 400  # ~40 octets each: far below _MAX_DATAGRAM
_NAMES_PER_DATAGRAM = 16384  # octets of METADATA entry names (JSON may double some): below it too
_RECEIVE_BUFFER = 1 << 20
_RECENT_NS = 100_000_000


def encode_changes(changes: Sequence[Change]) -> list[Message]:
    """Changes as one or more ``changes`` messages (UIDs left out: the feed is a wake-up signal;
    METADATA entry names kept, NOTIFY tells them). A message stays well below a datagram: at most
    ``_CHANGES_PER_DATAGRAM`` changes and about ``_NAMES_PER_DATAGRAM`` octets of entry names (a
    change naming more is sent as several changes, each with a part of its names)."""
    messages: list[Message] = []
    rows: list[list[Any]] = []
    size = 0
    for c in changes:
        head = [c.kind.value, int(c.account_id), int(c.mailbox_id), int(c.modseq)]
        for names in _name_parts(c.entries):
            cost = sum(len(n) + 4 for n in names)
            if rows and (len(rows) >= _CHANGES_PER_DATAGRAM or size + cost > _NAMES_PER_DATAGRAM):
                messages.append({"t": "changes", "c": rows})
                rows, size = [], 0
            rows.append([*head, list(names)] if names else head)
            size += cost
    if rows:
        messages.append({"t": "changes", "c": rows})
    return messages


def _name_parts(names: tuple[str, ...]) -> list[tuple[str, ...]]:
    """``names`` cut into parts of at most about ``_NAMES_PER_DATAGRAM`` octets (one: ``()``)."""
    parts: list[tuple[str, ...]] = []
    part: list[str] = []
    size = 0
    for name in names:
        if part and size + len(name) + 4 > _NAMES_PER_DATAGRAM:
            parts.append(tuple(part))
            part, size = [], 0
        part.append(name)
        size += len(name) + 4
    parts.append(tuple(part))
    return parts


def decode_changes(message: Message) -> list[Change]:
    out = []
    for kind, account, mailbox, modseq, *names in message["c"]:
        entries = tuple(str(n) for n in names[0]) if names else ()
        out.append(
            Change(ChangeKind(kind), AccountId(account), MailboxId(mailbox), ModSeq(modseq), entries=entries)
        )
    return out


def clear_peers(data_dir: Path) -> None:
    """Remove every peer socket: called by the holder of the pid file at start, when no other
    server process can be running on the data directory, so every socket there is stale."""
    directory = data_dir / PEERS_DIR
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(directory):
            if name.endswith(_SUFFIX):
                with contextlib.suppress(OSError):
                    os.unlink(directory / name)


class PeerChannel:
    """This process's end of the channel: ``open`` on the event loop, ``send`` from any thread."""

    def __init__(self, data_dir: Path) -> None:
        self.directory = data_dir / PEERS_DIR
        self.path = self.directory / f"{os.getpid()}-{secrets.token_hex(4)}{_SUFFIX}"
        self._receiver: socket.socket | None = None
        self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sender.setblocking(False)
        self._lock = threading.Lock()
        self._peers: list[str] = []
        self._listed_mtime = -1
        self._behind: set[str] = set()  # peers whose queue was full: they get ``resync`` first
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handler: Callable[[Message], None] | None = None
        self._log = get_logger(task="peers")
        self.sent = 0
        self.received = 0

    # -- receiving ---------------------------------------------------------------------------------

    def open(self, handler: Callable[[Message], None]) -> None:
        """Bind our socket and call ``handler`` on the running loop for each message received."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        receiver.setblocking(False)
        with contextlib.suppress(OSError):  # a larger queue where the system allows it
            receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER)
        receiver.bind(unix_address(self.path))
        self._receiver = receiver
        self._handler = handler
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(receiver.fileno(), self._read)

    def _read(self) -> None:
        assert self._receiver is not None
        assert self._handler is not None
        while True:
            try:
                data = self._receiver.recv(_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._log.error("peer channel receive failed", error=repr(exc))
                return
            self.received += 1
            try:
                message = json.loads(data)
            except ValueError:
                self._log.error("peer channel: undecodable message", size=len(data))
                continue
            if isinstance(message, dict):
                self._handler(message)

    def close(self) -> None:
        if self._receiver is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(self._receiver.fileno())
            self._receiver.close()
            self._receiver = None
            with contextlib.suppress(OSError):
                self.path.unlink()
        self._sender.close()

    # -- sending -----------------------------------------------------------------------------------

    def send(self, messages: Iterable[Message]) -> None:
        """To every other process; never blocks. Callable from any thread."""
        datagrams = [json.dumps(m, separators=(",", ":")).encode() for m in messages]
        if not datagrams:
            return
        with self._lock:
            for peer in self._current_peers():
                self._send_to(peer, datagrams)

    def _send_to(self, peer: str, datagrams: list[bytes]) -> None:
        if peer in self._behind:
            if not self._try(peer, b'{"t":"resync"}'):
                return
            self._behind.discard(peer)
        for datagram in datagrams:
            if not self._try(peer, datagram):
                return

    def _try(self, peer: str, datagram: bytes) -> bool:
        try:
            self._sender.sendto(datagram, unix_address(Path(peer)))
        except (BlockingIOError, InterruptedError):
            self._behind.add(peer)  # its queue is full: it resyncs when it has room again
            return False
        except (ConnectionRefusedError, FileNotFoundError):
            # Nobody reads it any more: a process that died without removing its socket.
            with contextlib.suppress(OSError):
                os.unlink(peer)
            self._listed_mtime = -1
            return False
        except OSError as exc:
            self._log.error("peer channel send failed", peer=peer, error=repr(exc))
            return False
        self.sent += 1
        return True

    def _current_peers(self) -> list[str]:
        try:
            mtime = os.stat(self.directory).st_mtime_ns
        except FileNotFoundError:
            return []
        # File times are coarse (a clock tick): a peer created in the tick of our last listing would
        # leave the mtime as we saw it, so a directory changed a moment ago is always listed again.
        if mtime != self._listed_mtime or time.time_ns() - mtime < _RECENT_NS:
            own = self.path.name
            self._peers = sorted(
                str(self.directory / name)
                for name in os.listdir(self.directory)
                if name.endswith(_SUFFIX) and name != own
            )
            self._behind.intersection_update(self._peers)
            self._listed_mtime = mtime
        return self._peers
