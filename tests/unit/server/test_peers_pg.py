"""The peer channel on PostgreSQL (``server.peers_pg`` over ``store.pg.notify``): channels on one
throw-away cluster's database, each playing a process of its own node, on real connections."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

import pg_env
from pochta.config import Settings
from pochta.server.lease import hold_housekeeping
from pochta.server.peers import PeerChannel, open_peer_channel
from pochta.server.peers_codec import decode_changes, encode_changes
from pochta.server.peers_pg import NotifyPeerChannel
from pochta.store.model import Change, ChangeKind
from pochta.store.pg.locks import PgLocks
from pochta.store.pg.notify import PAYLOAD_LIMIT
from pochta.testing.pg_cluster import PgCluster
from server_env import eventually

pg_cluster = pg_env.pg_cluster
pg_url = pg_env.pg_url

Got = list[dict[str, object]]
NOWHERE = "postgresql+psycopg://nobody@/none?host=/nonexistent"

# Every kind main.py sends, with the fields it sends.
CROSSING = [
    {"t": "changes", "c": [["appended", 1, 2, 3], ["metadata", 1, 2, 4, ["/private/x"]]]},
    {"t": "resync"},
    {"t": "queue"},
    {"t": "login", "ip": "192.0.2.1", "a": "a@example.org", "f": True},
    {"t": "mx", "k": "conn", "ip": "192.0.2.7"},
    {"t": "unblocks"},
]
NODE_LOCAL = [
    {"t": "view", "m": 5},
    {"t": "snapshot", "m": 5, "n": 10},
    {"t": "forms", "i": [1, 2], "n": ["ENVELOPE"], "u": False},
    {"t": "order", "m": 5, "k": "date"},
    {"t": "thread", "m": 5, "a": "references"},
]


@pytest.fixture
async def channels(pg_url: str) -> AsyncIterator[tuple[dict[str, NotifyPeerChannel], dict[str, Got]]]:
    got: dict[str, Got] = {"a": [], "b": [], "c": []}
    opened = {name: NotifyPeerChannel(pg_url, 10_000) for name in got}
    for name, channel in opened.items():
        channel.open(got[name].append)
    try:
        for channel in opened.values():
            assert channel.listener is not None
            await asyncio.to_thread(channel.listener.listening.wait, 10)
        yield opened, got
    finally:
        for channel in opened.values():
            channel.close()
        for channel in opened.values():
            assert channel.listener is not None
            await asyncio.to_thread(channel.listener.join, 5)
            await asyncio.to_thread(channel.sender.join, 5)


async def test_every_kind_that_crosses_nodes_reaches_every_other_process_but_not_the_sender(
    channels: tuple[dict[str, NotifyPeerChannel], dict[str, Got]],
) -> None:
    opened, got = channels
    # From another thread (the store's job threads publish changes), without waiting.
    await asyncio.to_thread(opened["a"].send, [*NODE_LOCAL, *CROSSING])
    await eventually(lambda: len(got["b"]) == len(CROSSING) and len(got["c"]) == len(CROSSING), 10)
    assert got["b"] == CROSSING  # in order; the node-local head starts stayed home
    assert got["c"] == CROSSING
    opened["b"].send([{"t": "queue"}])
    await eventually(lambda: len(got["a"]) == 1 and len(got["c"]) == len(CROSSING) + 1, 10)
    await asyncio.sleep(0.2)
    assert got["a"] == [{"t": "queue"}]
    assert len(got["b"]) == len(CROSSING)  # never its own


def test_messages_are_packed_into_payloads_below_notifys_limit() -> None:
    channel = NotifyPeerChannel(NOWHERE, 10_000)
    logins = [{"t": "login", "ip": "192.0.2.1", "a": f"user{i}@example.org", "f": False} for i in range(500)]
    payloads = channel.pack(logins)
    assert len(payloads) > 1
    assert all(len(p.encode()) < 8000 and len(p.encode()) <= PAYLOAD_LIMIT for p in payloads)
    assert all(p.startswith(channel.sender_id + " ") for p in payloads)
    unpacked = [m for p in payloads for m in json.loads(p.partition(" ")[2])]
    assert unpacked == logins
    assert channel.pack(NODE_LOCAL) == []


def test_a_message_that_cannot_be_cut_to_fit_is_sent_as_resync() -> None:
    channel = NotifyPeerChannel(NOWHERE, 10_000)
    (payload,) = channel.pack(
        [{"t": "login", "ip": "192.0.2.1", "a": "x" * 9000 + "@example.org", "f": True}]
    )
    assert json.loads(payload.partition(" ")[2]) == [{"t": "resync"}]
    huge_name = "/shared/" + "n" * 9000
    (payload,) = channel.pack(encode_changes([Change(ChangeKind.METADATA, 1, 2, 3, entries=(huge_name,))]))
    assert json.loads(payload.partition(" ")[2]) == [{"t": "resync"}]


def test_the_transport_follows_the_store_url(tmp_path: Path) -> None:
    """Every process on one store chooses the same transport: from ``[store] url`` alone."""
    sqlite = open_peer_channel(tmp_path, Settings())
    assert isinstance(sqlite, PeerChannel)
    sqlite.close()
    postgresql = open_peer_channel(
        tmp_path, Settings.model_validate({"store": {"url": NOWHERE, "pg_notify_queue": 7}})
    )
    assert isinstance(postgresql, NotifyPeerChannel)  # nothing connects before ``open``
    assert postgresql.sender._max_queued == 7
    postgresql.close()


async def test_big_changes_are_split_across_payloads_and_arrive_whole(
    channels: tuple[dict[str, NotifyPeerChannel], dict[str, Got]],
) -> None:
    opened, got = channels
    names = tuple(f"/shared/vendor/x/{'n' * 200}\u00e9{i}" for i in range(300))  # ~64 KiB, escaped in JSON
    changes = [
        *(Change(ChangeKind.FLAGS, 3, 7, n) for n in range(2000)),
        Change(ChangeKind.METADATA, 0, 0, 0, entries=names),
    ]
    messages = encode_changes(changes)  # the datagram transport's sizes: far above NOTIFY's
    payloads = opened["a"].pack(messages)
    assert len(payloads) > 10
    assert max(len(p.encode()) for p in payloads) <= PAYLOAD_LIMIT
    opened["a"].send(messages)
    received: list[Change] = []

    def arrived() -> bool:
        # The names come as several changes, one per payload they were cut into: wait for all.
        received[:] = [c for m in got["b"] for c in decode_changes(m)]
        return sum(len(c.entries) for c in received) >= len(names)

    await eventually(arrived, 15)
    assert received[:2000] == changes[:2000]
    rest = received[2000:]
    assert {(c.kind, c.mailbox_id) for c in rest} == {(ChangeKind.METADATA, 0)}
    assert tuple(n for c in rest for n in c.entries) == names


def _terminate(cluster: PgCluster, database: str, pid: int) -> None:
    with psycopg.connect(cluster.conninfo(database), autocommit=True) as conn:
        assert conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)


async def test_a_dropped_listen_connection_resyncs_and_reconnects(
    pg_cluster: PgCluster, pg_url: str, channels: tuple[dict[str, NotifyPeerChannel], dict[str, Got]]
) -> None:
    opened, got = channels
    listener = opened["b"].listener
    assert listener is not None
    assert listener.backend_pid is not None
    old_pid = listener.backend_pid
    database = make_url(pg_url).database
    assert database is not None
    await asyncio.to_thread(_terminate, pg_cluster, database, old_pid)
    # Told at once that it may have missed messages, and again once it listens again.
    await eventually(lambda: {"t": "resync"} in got["b"], 10)
    await eventually(lambda: listener.listening.is_set() and listener.backend_pid != old_pid, 10)
    assert listener.drops == 1
    await eventually(lambda: got["b"].count({"t": "resync"}) == 2, 10)
    opened["a"].send([{"t": "queue"}])
    await eventually(lambda: {"t": "queue"} in got["b"], 10)
    assert {"t": "resync"} not in got["c"]  # the others lost nothing


async def test_a_failed_send_makes_the_others_resync_once_sending_works_again(
    pg_cluster: PgCluster, pg_url: str, channels: tuple[dict[str, NotifyPeerChannel], dict[str, Got]]
) -> None:
    opened, got = channels
    sender = opened["a"].sender
    opened["a"].send([{"t": "queue"}])  # connects the sender
    await eventually(lambda: got["b"] == [{"t": "queue"}], 10)
    assert sender.backend_pid is not None
    database = make_url(pg_url).database
    assert database is not None
    await asyncio.to_thread(_terminate, pg_cluster, database, sender.backend_pid)
    opened["a"].send([{"t": "unblocks"}])  # on the dead connection: fails, dropped
    await eventually(lambda: sender.failures == 1 and {"t": "resync"} in got["b"], 10)
    assert {"t": "resync"} in got["c"]
    assert {"t": "unblocks"} not in got["b"]
    opened["a"].send([{"t": "queue"}])
    await eventually(lambda: got["b"][-1] == {"t": "queue"}, 10)


async def test_payloads_past_the_queue_bound_are_dropped_for_a_resync(
    pg_url: str, channels: tuple[dict[str, NotifyPeerChannel], dict[str, Got]]
) -> None:
    """A process whose database is slow keeps ``store.pg_notify_queue`` payloads waiting; past
    that they go, and the others are told to read the store instead."""
    _, got = channels
    slow = NotifyPeerChannel(pg_url, 3)  # not open yet: nothing is sent, as on a stalled database
    for n in range(5):
        slow.send([{"t": "login", "ip": "192.0.2.1", "a": f"u{n}@example.org", "f": True}])
    assert slow.sender.dropped == 4  # the fourth found three waiting: all four went; the fifth waits
    slow.open(lambda message: None)
    try:
        await eventually(lambda: len(got["b"]) == 2, 10)
        assert got["b"] == [
            {"t": "resync"},
            {"t": "login", "ip": "192.0.2.1", "a": "u4@example.org", "f": True},
        ]
    finally:
        slow.close()


def _terminate_lock_holders(cluster: PgCluster, database: str) -> int:
    with psycopg.connect(cluster.conninfo(database), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
            " WHERE l.locktype = 'advisory' AND d.datname = %s",
            (database,),
        ).fetchall()
    return len(rows)


async def test_one_housekeeper_across_nodes_and_a_lost_lock_stops_its_jobs(
    pg_cluster: PgCluster, pg_url: str
) -> None:
    """Two nodes' housekeeping on one database: one runs the jobs. When its lock's session ends
    under it (the database ended it), it stops its jobs, the other takes them over, and the first
    waits for its turn again: never both for longer than a check's interval."""
    nodes = {"first": PgLocks(pg_url), "second": PgLocks(pg_url)}
    running: list[str] = []
    active: set[str] = set()

    def jobs(who: str) -> Callable[[], list[Awaitable[None]]]:
        async def job() -> None:
            running.append(who)
            active.add(who)
            try:
                await asyncio.Event().wait()
            finally:
                active.discard(who)

        return lambda: [job()]

    first = asyncio.create_task(hold_housekeeping(nodes["first"].try_lock, jobs("first"), 0.1))
    await eventually(lambda: running == ["first"], 10)
    second = asyncio.create_task(hold_housekeeping(nodes["second"].try_lock, jobs("second"), 0.1))
    try:
        await asyncio.sleep(0.5)
        assert running == ["first"]  # several tries, none took it
        database = make_url(pg_url).database
        assert database is not None
        assert await asyncio.to_thread(_terminate_lock_holders, pg_cluster, database) == 1
        # The first stopped its job; whichever tried first since holds the lock and runs them.
        await eventually(lambda: len(running) == 2 and len(active) == 1, 10)
        await asyncio.sleep(0.5)
        assert len(running) == 2  # the other tries again, and waits
        assert len(active) == 1
        (holder,) = active
        {"first": first, "second": second}[holder].cancel()
        other = "second" if holder == "first" else "first"
        await eventually(lambda: len(running) == 3 and active == {other}, 10)
    finally:
        first.cancel()
        second.cancel()
        await asyncio.gather(first, second, return_exceptions=True)
        for locks in nodes.values():
            locks.close()
