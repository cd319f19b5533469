"""The peer channel's transport on one machine with SQLite (``server.peers``): UNIX datagrams.

Every worker process binds a UNIX datagram socket in ``DATA/run/peers/`` and sends what the others
must hear at once to every other socket there.

Datagrams on a local socket are never silently dropped: a send to a full queue fails at once
(non-blocking, so the writer thread never waits on a slow peer), and is answered by ``resync``
before the next message to that peer. A send to a socket nobody has bound any more (a worker that
was killed) is refused, and that file is removed. Peers are found by listing the directory again
whenever its mtime changes.
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
from collections.abc import Callable, Iterable
from pathlib import Path

from pochta.log import get_logger
from pochta.server.peers_codec import Message, dumps
from pochta.server.unix_address import unix_address

__all__ = ["PEERS_DIR", "PeerChannel", "clear_peers"]

PEERS_DIR = Path("run") / "peers"
_SUFFIX = ".sock"
_MAX_DATAGRAM = 65536  # peers_codec.encode_changes' defaults keep a changes message well below it
_RECEIVE_BUFFER = 1 << 20
_RECENT_NS = 100_000_000


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
        datagrams = [dumps(m).encode() for m in messages]
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
