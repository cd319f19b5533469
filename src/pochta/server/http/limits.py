"""How large a request body may be, and how long it may take (``[http]``, docs/http.md "Request
bodies").

Every body is bounded by ``http.max_body_size`` unless a route of the application declares its
own bound with a ``RouteBodyLimit`` (JMAP's upload endpoint takes files of ``jmap.max_size_upload``
octets). The listener learns the bound before it reads a single octet of the body, so a
Content-Length over it is refused with 413 at once, and a chunked body is cut with 413 the moment it
grows past it. A body within ``max_body_size`` is read whole before the application runs; on a
route with its own bound the application receives the body in pieces as they arrive (``receive``
with ``more_body``), so a large one is never held whole by the listener.

Time: a body must keep arriving - no ``body_timeout`` seconds without an octet - and must be whole
within ``body_timeout`` seconds plus one second per ``body_min_rate`` octets received (a 50 MB
upload at the default 16 KiB/s minimum has about 53 minutes; a client dripping an octet now and
then is cut after ``body_timeout`` and the little it sent).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus

from pochta.config import Settings
from pochta.server.connection import Connection
from pochta.server.http.refusal import Refusal

__all__ = ["BodyBound", "BodyClock", "RouteBodyLimit", "body_limit", "read_before"]


@dataclass(frozen=True)
class RouteBodyLimit:
    """Requests whose path starts with ``prefix`` may carry a body of ``size(settings)`` octets
    instead of ``http.max_body_size`` (more or less). ``size`` is asked for each request with the
    settings of the moment, so a reload applies to the next request."""

    prefix: str
    size: Callable[[Settings], int]


@dataclass(frozen=True)
class BodyBound:
    """How a request's body is taken: at most ``size`` octets; ``streamed`` to the application in
    pieces as they arrive (a route with a bound of its own), or else read whole before the
    application is called (bodies within ``max_body_size``: small, and refused (413, 408, 400)
    before any application code runs, whatever the route)."""

    size: int
    streamed: bool


def body_limit(path: str, routes: Sequence[RouteBodyLimit], settings: Settings) -> BodyBound:
    """The bound of a request body for ``path``: the longest matching route prefix's, or the
    global ``http.max_body_size``."""
    chosen: RouteBodyLimit | None = None
    for route in routes:
        if path.startswith(route.prefix) and (chosen is None or len(route.prefix) > len(chosen.prefix)):
            chosen = route
    if chosen is None:
        return BodyBound(settings.http.max_body_size, streamed=False)
    return BodyBound(chosen.size(settings), streamed=True)


class BodyClock:
    """The two deadlines of a body being read: the next octet within ``stall`` seconds, the whole
    body within ``base`` seconds plus one second per ``min_rate`` octets received so far."""

    def __init__(self, now: float, *, base: float, min_rate: int) -> None:
        self._started = now
        self._base = base
        self._min_rate = min_rate
        self.received = 0

    def took(self, octets: int) -> None:
        self.received += octets

    def deadline(self, now: float) -> float:
        """When the read starting at ``now`` must have returned something."""
        whole = self._started + self._base + self.received / self._min_rate
        return min(now + self._base, whole)


async def read_before(conn: Connection, deadline: float | None, what: str) -> bytes:
    """What the client sends next, which must come before ``deadline`` (loop time; None: only the
    connection's idle timeout applies); else 408. ``b""`` when the client closed its side."""
    if deadline is None:
        return await conn.read_some()
    try:
        async with asyncio.timeout_at(deadline):
            return await conn.read_some()
    except TimeoutError:
        # Our deadline, or the connection's idle timeout when it is the shorter: the client sent
        # nothing in time either way.
        raise Refusal(HTTPStatus.REQUEST_TIMEOUT, f"{what} not complete in time") from None
