"""JMAP's event source (RFC 8620 section 7.3): ``GET /jmap/eventsource/?types=&closeafter=&ping=``
answers ``text/event-stream``, a ``state`` event (a StateChange object) each time the state of a
wanted type of the user's account moves, and a ``ping`` event when ``ping`` seconds passed
without an event. docs/jmap.md "Push".

Login as ``/jmap/api`` (Basic, or the webmail's cookie: a GET needs no CSRF token). No event is sent
on connecting (section 7.3 asks for none): with ``closeafter=state`` the stream is a long poll that
ends with the next change. Each user may have ``jmap.max_push_connections`` streams and WebSockets
open in a worker process. The stream is open-ended: the HTTP listener lets a graceful stop end it
(docs/http.md "Streaming"), and the client's EventSource reconnects.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from pochta.proto.jmap.push import (
    EventSourceQuery,
    parse_event_source_query,
    ping_event,
    state_change,
    state_event,
)
from pochta.server.jmap.push import StateWatch
from pochta.store.model import AccountId

if TYPE_CHECKING:
    from pochta.web.jmap import JmapEndpoints

__all__ = ["EVENT_SOURCE_PATH", "EVENT_STREAM_MEDIA_TYPE", "event_source"]

EVENT_SOURCE_PATH = "/jmap/eventsource/"
EVENT_STREAM_MEDIA_TYPE = "text/event-stream"


async def event_source(endpoints: JmapEndpoints, request: Request) -> Response:
    principal = await endpoints.login(request, "GET")
    if isinstance(principal, Response):
        return principal
    jmap = endpoints.services.settings.jmap
    query = parse_event_source_query(
        request.query_params, min_ping=jmap.push_min_ping, max_ping=jmap.push_max_ping
    )
    if isinstance(query, str):
        return PlainTextResponse(query + "\n", status_code=400)
    if request.method == "HEAD":  # the head a GET would have, without opening a stream
        return Response(media_type=EVENT_STREAM_MEDIA_TYPE, headers={"Cache-Control": "no-store"})
    user = principal.own_id
    if not endpoints.push_connections.acquire(user, jmap.max_push_connections):
        return PlainTextResponse(f"over {jmap.max_push_connections} push connections open\n", status_code=429)
    try:
        # Subscribed before the head goes out: a change committed once the client has it is told.
        watch = StateWatch(
            endpoints.services.store,
            AccountId(principal.account.id),
            max_pending=jmap.push_max_pending,
            coalesce=jmap.push_coalesce,
        )
        await watch.start()
    except BaseException:
        endpoints.push_connections.release(user)
        raise
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}  # no proxy buffering of events
    release = _Release(endpoints, user)
    events = _events(user, release, watch, query)
    # The generator's ``finally`` gives the place back; a stream cut before its first piece (the
    # client left at once) never starts its generator, so its collection does it instead.
    weakref.finalize(events, release)
    return StreamingResponse(events, media_type=EVENT_STREAM_MEDIA_TYPE, headers=headers)


class _Release:
    """Gives the user's push connection place back, once however often it is called."""

    def __init__(self, endpoints: JmapEndpoints, user: str) -> None:
        self._endpoints: JmapEndpoints | None = endpoints
        self._user = user

    def __call__(self) -> None:
        endpoints, self._endpoints = self._endpoints, None
        if endpoints is not None:
            endpoints.push_connections.release(self._user)


async def _events(
    account: str, release: _Release, watch: StateWatch, query: EventSourceQuery
) -> AsyncIterator[bytes]:
    """The stream of ``account`` (its JMAP id)."""
    loop_time = asyncio.get_running_loop().time
    try:
        # A comment line (ignored by EventSource clients): the listener writes the head with the
        # first piece, and the client learns at once that its stream is open.
        yield b": open\n\n"
        last_event = loop_time()
        while not watch.ended:
            timeout = None if not query.ping else max(0.0, last_event + query.ping - loop_time())
            moved = await watch.next(timeout, lambda name: query.types is None or name in query.types)
            if moved:
                yield state_event(state_change({account: moved}))
                last_event = loop_time()
                if query.close_after_state:
                    return  # RFC 8620 section 7.3: closeafter=state ends the response after one
            elif query.ping and loop_time() >= last_event + query.ping:
                # RFC 8620 section 7.3: ping "whenever this time elapses since the previous event".
                yield ping_event(query.ping)
                last_event = loop_time()
    finally:
        release()
        await watch.close()
