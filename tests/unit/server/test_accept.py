"""``server.accept``: the workers' shared session counts, and an acceptor that takes one connection
per readiness and leaves it to a less busy worker for ``wait`` seconds before taking it itself."""

from __future__ import annotations

import asyncio
import socket

from pochta.server.accept import Acceptor, SessionCounts


def test_session_counts_are_shared_through_the_descriptor() -> None:
    supervisor = SessionCounts.create(3)
    workers = [SessionCounts(supervisor.fd, 3, index) for index in range(3)]
    try:
        assert supervisor.counts() == (0, 0, 0)
        workers[0].set(4)
        workers[1].set(2)
        workers[2].set(7)
        assert supervisor.counts() == (4, 2, 7)
        assert workers[0].others_fewer(4)  # worker 1 has 2
        assert not workers[1].others_fewer(2)  # nobody has fewer than 2
        supervisor.clear(1)  # worker 1 died
        assert workers[2].counts() == (4, 0, 7)
        assert not workers[1].others_fewer(0)
    finally:
        for counts in workers:
            counts._map.close()
        supervisor.close()


class _Probe(asyncio.Protocol):
    def __init__(self, made: list[tuple[float, asyncio.BaseTransport]]) -> None:
        self.made = made

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.made.append((asyncio.get_running_loop().time(), transport))


async def _accepting(counts: SessionCounts | None, own: int, wait: float) -> list[float]:
    """Three clients connect at once; when each was served, in seconds after the connects."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=16)
    port = listener.getsockname()[1]
    made: list[tuple[float, asyncio.BaseTransport]] = []
    loop = asyncio.get_running_loop()
    acceptor = Acceptor(listener, lambda: _Probe(made), counts=counts, own=lambda: own, wait=wait)
    clients = []
    try:
        start = loop.time()
        for _ in range(3):
            clients.append(await asyncio.open_connection("127.0.0.1", port))
        while len(made) < 3:
            await asyncio.sleep(0.01)
            assert loop.time() - start < 20, f"{len(made)} of 3 connections accepted"
        return [when - start for when, _ in made]
    finally:
        acceptor.close()
        await acceptor.wait_closed()
        for _, transport in made:
            transport.close()
        for _, writer in clients:
            writer.close()


def test_an_acceptor_alone_serves_every_connection() -> None:
    assert len(asyncio.run(_accepting(None, 3, 60.0))) == 3


def test_a_busier_worker_leaves_a_connection_to_the_others_for_the_wait_then_serves_it() -> None:
    # Worker 0 has 3 sessions, worker 1 none: worker 0 leaves each connection to it for the wait
    # first. Nobody else accepts here (the other worker is only a count), so it then serves each
    # itself: a connection waits at most that long, whatever the other worker does.
    counts = SessionCounts.create(2)
    worker = SessionCounts(counts.fd, 2, 0)
    try:
        served = asyncio.run(_accepting(worker, 3, 0.3))
    finally:
        worker._map.close()
        counts.close()
    assert len(served) == 3
    assert min(served) >= 0.3  # not one was taken before a wait


def test_a_worker_with_the_fewest_sessions_accepts_without_waiting() -> None:
    # Worker 1 has more sessions than worker 0: no wait (a wait of a minute would outlast the
    # helper's 20 s).
    counts = SessionCounts.create(2)
    worker = SessionCounts(counts.fd, 2, 0)
    SessionCounts(counts.fd, 2, 1).set(5)
    try:
        served = asyncio.run(_accepting(worker, 3, 60.0))
    finally:
        worker._map.close()
        counts.close()
    assert len(served) == 3
