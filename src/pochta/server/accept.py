"""Accepting connections on a listening socket, shared fairly among the workers of one server.

All workers of a supervised ``pochta serve`` accept on the same listening sockets (``server.sockets``).
asyncio's own server accepts up to its whole backlog each time the socket is readable, so the first
worker awake takes a burst whole: ten LMTP sessions an MTA opens at once all landed in one process
(one GIL, one event loop) while the other worker idled, and stayed there for the sessions' lives.

Here each worker accepts one connection per readiness of the socket, and the workers publish how many
sessions each has open (``SessionCounts``, one 32-bit slot per worker in memory the supervisor shares
with them). A worker that has more sessions than the least busy of the others leaves a ready
connection to them: it stops watching the socket for ``server.accept_balance_wait`` seconds, and
then accepts whatever is still waiting (a peer that is busy, stuck or dead never keeps a connection
from being served; a connection waits at most that long). Nothing else changes: a connection stays
queued in the kernel (``sockets.BACKLOG``) until some worker accepts it.
"""

from __future__ import annotations

import asyncio
import errno
import mmap
import os
import socket
import struct
from collections.abc import Callable

from pochta.log import get_logger

__all__ = ["Acceptor", "SessionCounts"]

_SLOT = struct.Struct("=I")
# accept() errors that mean "no room for another descriptor now": asyncio's answer, retried later.
_RESOURCE_ERRORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_RESOURCE_RETRY = 1.0


class SessionCounts:
    """Each worker's number of open sessions, in a shared memory file (a memfd): the supervisor makes
    it (``create``) and passes its descriptor on; each worker maps it (``attach``) and writes its own
    slot. Plain aligned 32-bit stores and loads: a reader sees a slot's old or new value, never a mix."""

    def __init__(self, fd: int, workers: int, index: int | None = None) -> None:
        self.fd = fd
        self.workers = workers
        self.index = index  # this process's slot (None: the supervisor's view)
        self._map = mmap.mmap(fd, _SLOT.size * workers)
        self._all = struct.Struct(f"={workers}I")

    @classmethod
    def create(cls, workers: int) -> SessionCounts:
        fd = os.memfd_create("pochta-sessions")  # close-on-exec: passed by pass_fds
        os.ftruncate(fd, _SLOT.size * workers)
        return cls(fd, workers)

    def set(self, count: int) -> None:
        assert self.index is not None
        _SLOT.pack_into(self._map, _SLOT.size * self.index, count)

    def clear(self, index: int) -> None:
        """A worker died: its sessions died with it (the supervisor clears the slot)."""
        _SLOT.pack_into(self._map, _SLOT.size * index, 0)

    def counts(self) -> tuple[int, ...]:
        return self._all.unpack_from(self._map)

    def others_fewer(self, own: int) -> bool:
        """Has another worker fewer sessions than ``own``?"""
        counts = self.counts()
        return any(count < own for index, count in enumerate(counts) if index != self.index)

    def close(self) -> None:
        self._map.close()
        os.close(self.fd)


class Acceptor:
    """Accepts on one listening socket and hands each connection to ``factory``'s protocol, like the
    server of ``loop.create_server(factory, sock=sock)`` (whose ``close`` it also has), one connection
    per readiness and, with ``counts``, leaving it to a less busy worker first (module docstring)."""

    def __init__(
        self,
        sock: socket.socket,
        factory: Callable[[], asyncio.Protocol],
        *,
        counts: SessionCounts | None = None,
        own: Callable[[], int] = lambda: 0,
        wait: float = 0.0,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._sock = sock
        self._fd = sock.fileno()
        self._factory = factory
        self._counts = counts if wait > 0 else None
        self._own = own
        self._wait = wait
        self._on_change = on_change
        self._waited = False  # the last pause was to leave a connection to another worker
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._connecting: set[asyncio.Task[None]] = set()
        self._log = get_logger()
        sock.setblocking(False)
        self._loop.add_reader(self._fd, self._ready)

    def _ready(self) -> None:
        if self._counts is not None and not self._waited and self._counts.others_fewer(self._own()):
            self._waited = True
            self._pause(self._wait)
            return
        self._waited = False
        try:
            conn, _addr = self._sock.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return  # another worker took it, or the client gave up
        except OSError as exc:
            self._log.error("accept failed", error=str(exc))
            if exc.errno in _RESOURCE_ERRORS:
                self._pause(_RESOURCE_RETRY)
            return
        conn.setblocking(False)
        task = self._loop.create_task(self._connect(conn))
        self._connecting.add(task)
        task.add_done_callback(self._connected)
        self._on_change()  # counted from now on (``connecting``), not only once its session starts

    @property
    def connecting(self) -> int:
        """Connections accepted whose protocol is not made yet: a worker counts them as its sessions,
        or it would take several of a burst before its count showed the first."""
        return len(self._connecting)

    def _connected(self, task: asyncio.Task[None]) -> None:
        self._connecting.discard(task)
        self._on_change()

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._factory, conn)
        except Exception as exc:  # the transport could not be set up: drop this connection only
            self._log.warning("accepted connection dropped", error=str(exc))
            conn.close()

    def _pause(self, delay: float) -> None:
        self._loop.remove_reader(self._fd)
        self._timer = self._loop.call_later(delay, self._resume)

    def _resume(self) -> None:
        self._timer = None
        if not self._closed:
            self._loop.add_reader(self._fd, self._ready)

    def close(self) -> None:
        """Stop accepting and close the listening socket (this process's descriptor of it)."""
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._loop.remove_reader(self._fd)
        self._sock.close()

    async def wait_closed(self) -> None:
        """Until the connections accepted before ``close`` have their protocol (or failed)."""
        if self._connecting:
            await asyncio.gather(*self._connecting, return_exceptions=True)
