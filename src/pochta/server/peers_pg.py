"""The peer channel's transport on PostgreSQL (``server.peers``): ``NOTIFY`` payloads on one
channel that every process of every node ``LISTEN``s to (``store.pg.notify``).

A payload is the sending process's id (random, 16 hex digits), a space and a JSON list of
messages; a process ignores the payloads that carry its own id (its sessions heard its changes on
its own feed). Messages are packed into as few payloads as fit below ``PAYLOAD_LIMIT`` octets, and
a ``changes`` message too long for one is cut into several (``peers_codec.split_to_fit``).
Messages of ``NODE_LOCAL_KINDS`` are not sent (``server.peers`` says why).

Nothing here loses an update, only delays it: when the LISTEN connection drops, or this process's
sends failed, the handler (here or on the other nodes) gets ``resync``, which makes every watching
session read the store; the sessions read it every ``imap.idle_check_seconds`` in any case.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Callable, Iterable

from pochta.log import get_logger
from pochta.server.peers_codec import NODE_LOCAL_KINDS, Message, dumps, split_to_fit
from pochta.store.pg.notify import CHANNEL, PAYLOAD_LIMIT, NotifyListener, NotifySender

__all__ = ["NotifyPeerChannel"]

_RESYNC = dumps({"t": "resync"})


class NotifyPeerChannel:
    """This process's end of the channel on the database at ``url`` (a SQLAlchemy URL):
    ``open`` on the event loop, ``send`` from any thread. ``max_queued``: payloads kept waiting
    for a slow database (``store.pg_notify_queue``)."""

    def __init__(self, url: str, max_queued: int, channel: str = CHANNEL) -> None:
        self._url = url
        self._channel = channel
        self.sender_id = secrets.token_hex(8)
        self._prefix = self.sender_id + " "
        # Octets left for the messages' JSON list in one payload, brackets included.
        self._room = PAYLOAD_LIMIT - len(self._prefix)
        lost = self._prefix + "[" + _RESYNC + "]"
        self.sender = NotifySender(url, channel, lost=lost, max_queued=max_queued)
        self.listener: NotifyListener | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handler: Callable[[Message], None] | None = None
        self._closed = False
        self._log = get_logger(task="peers")
        self.received = 0

    # -- receiving ---------------------------------------------------------------------------------

    def open(self, handler: Callable[[Message], None]) -> None:
        """Start listening and sending; ``handler`` is called on the running loop for each
        message another process sent (and with ``resync`` when some may have been missed)."""
        self._loop = asyncio.get_running_loop()
        self._handler = handler
        self.listener = NotifyListener(self._url, self._channel, self._received, self._gap)
        self.listener.start()
        self.sender.start()

    def _received(self, payload: str) -> None:
        """On the listener's thread."""
        sender, _, body = payload.partition(" ")
        if sender == self.sender_id:
            return
        try:
            messages = json.loads(body)
        except ValueError:
            self._log.error("peer channel: undecodable payload", size=len(payload))
            return
        if isinstance(messages, list):
            self.received += 1
            self._to_loop(self._dispatch, messages)

    def _gap(self) -> None:
        """On the listener's thread: notifications may have been missed."""
        self._to_loop(self._dispatch, [{"t": "resync"}])

    def _to_loop(self, fn: Callable[[list[object]], None], messages: list[object]) -> None:
        loop = self._loop
        if loop is None or self._closed:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: the process is stopping
            loop.call_soon_threadsafe(fn, messages)

    def _dispatch(self, messages: list[object]) -> None:
        if self._closed or self._handler is None:
            return
        for message in messages:
            if isinstance(message, dict):
                self._handler(message)

    def close(self) -> None:
        """Stops both threads without waiting for them (what is queued is sent, one try)."""
        self._closed = True
        if self.listener is not None:
            self.listener.close()
        self.sender.close()

    # -- sending -----------------------------------------------------------------------------------

    def send(self, messages: Iterable[Message]) -> None:
        """To every other process on the database; never blocks. Callable from any thread."""
        payloads = self.pack(messages)
        if payloads:
            self.sender.post(payloads)

    def pack(self, messages: Iterable[Message]) -> list[str]:
        """The payloads that carry ``messages`` (those that cross nodes), in order."""
        payloads: list[str] = []
        group: list[str] = []
        size = 2  # the list's brackets
        for message in messages:
            if message.get("t") in NODE_LOCAL_KINDS:
                continue
            parts = split_to_fit(message, self._room - 2)
            if parts is None:
                # Not one of the kinds that grow (a bug if it happens): the others read the store.
                self._log.error("peer channel: message too long for NOTIFY", kind=message.get("t"))
                parts = [_RESYNC]
            for part in parts:
                if group and size + len(part) + 1 > self._room:
                    payloads.append(self._prefix + "[" + ",".join(group) + "]")
                    group, size = [], 2
                group.append(part)
                size += len(part) + 1
        if group:
            payloads.append(self._prefix + "[" + ",".join(group) + "]")
        return payloads
