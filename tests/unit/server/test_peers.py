"""The channel between the processes of one data directory (``server.peers``) and the housekeeper
housekeeper (``server.lease``), each process played by an object of its own on real sockets and locks."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

from pochta.server.lease import hold_housekeeping
from pochta.server.peers import PeerChannel, clear_peers, decode_changes, encode_changes
from pochta.store.changes import LocalChangeFeed
from pochta.store.locks import FileLock, FileLocks
from pochta.store.model import Change, ChangeKind
from server_env import eventually


def change(mailbox: int, modseq: int, kind: ChangeKind = ChangeKind.APPENDED) -> Change:
    return Change(kind, 1, mailbox, modseq)


def test_changes_survive_encoding_without_their_uids_and_in_bounded_datagrams() -> None:
    changes = [Change(ChangeKind.FLAGS, 3, 7, n, (1, 2, 3)) for n in range(1000)]
    messages = encode_changes(changes)
    assert len(messages) == 3  # 400 per datagram
    decoded = [c for m in messages for c in decode_changes(m)]
    assert decoded == [Change(ChangeKind.FLAGS, 3, 7, n) for n in range(1000)]


def test_metadata_entry_names_travel_and_datagrams_stay_bounded() -> None:
    """NOTIFY's METADATA events need the entry names in other processes too (RFC 5465 §5.6): they
    are kept; a change naming more than fits one datagram is cut into several with the same head."""
    names = tuple(f"/shared/vendor/x/{'n' * 200}{i}" for i in range(300))  # ~64 KiB of names
    changes = [
        Change(ChangeKind.METADATA, 3, 7, 5, entries=("/private/a", "/private/b")),
        Change(ChangeKind.APPENDED, 3, 7, 6, (1,)),
        Change(ChangeKind.METADATA, 0, 0, 0, entries=names),
    ]
    messages = encode_changes(changes)
    assert len(messages) > 2
    assert all(len(json.dumps(m, separators=(",", ":"))) < 60_000 for m in messages)
    decoded = [c for m in messages for c in decode_changes(m)]
    assert decoded[:2] == [changes[0], Change(ChangeKind.APPENDED, 3, 7, 6)]
    rest = decoded[2:]
    assert len(rest) > 1
    assert {(c.kind, c.account_id, c.mailbox_id, c.modseq) for c in rest} == {(ChangeKind.METADATA, 0, 0, 0)}
    assert tuple(n for c in rest for n in c.entries) == names


async def test_a_message_reaches_every_other_process_but_not_the_sender(tmp_path: Path) -> None:
    got: dict[str, list[dict[str, object]]] = {"a": [], "b": [], "c": []}
    channels = {name: PeerChannel(tmp_path) for name in got}
    for name, channel in channels.items():
        channel.open(got[name].append)
    try:
        await asyncio.to_thread(channels["a"].send, [{"t": "queue"}])  # from another thread, too
        await eventually(lambda: bool(got["b"] and got["c"]), 5)
        assert got["b"] == got["c"] == [{"t": "queue"}]
        assert got["a"] == []
    finally:
        for channel in channels.values():
            channel.close()
    assert list((tmp_path / "run" / "peers").iterdir()) == []


async def test_a_data_directory_too_deep_for_a_socket_address_still_works(tmp_path: Path) -> None:
    # unix(7): a socket path holds 107 bytes; deeper data directories reach their sockets through
    # /proc/self/fd (pochta.server.unix_address), sending and receiving alike.
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    assert len(str(deep / "run" / "peers" / "12345-abcdef01.sock")) > 107
    got: dict[str, list[dict[str, object]]] = {"a": [], "b": []}
    channels = {name: PeerChannel(deep) for name in got}
    for name, channel in channels.items():
        channel.open(got[name].append)
    try:
        channels["a"].send([{"t": "queue"}])
        await eventually(lambda: bool(got["b"]), 5)
        assert got["b"] == [{"t": "queue"}]
        assert sorted(p.name for p in (deep / "run" / "peers").iterdir()) == sorted(
            c.path.name for c in channels.values()
        )
    finally:
        for channel in channels.values():
            channel.close()
    assert list((deep / "run" / "peers").iterdir()) == []


async def test_the_socket_of_a_dead_process_is_removed_by_the_first_sender(tmp_path: Path) -> None:
    alive, dead = PeerChannel(tmp_path), PeerChannel(tmp_path)
    alive.open(lambda message: None)
    # A process killed with SIGKILL leaves its bound socket file behind, with nobody reading it.
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    stale.bind(str(dead.path))
    stale.close()
    assert dead.path.exists()
    alive.send([{"t": "queue"}])
    assert not dead.path.exists()
    alive.close()
    dead.close()


async def test_a_peer_whose_queue_filled_up_is_told_to_resync(tmp_path: Path) -> None:
    feed = LocalChangeFeed()
    subscription = feed.subscribe(7)
    sender, slow = PeerChannel(tmp_path), PeerChannel(tmp_path)
    received: list[dict[str, object]] = []

    def on_message(message: dict[str, object]) -> None:
        received.append(message)
        if message["t"] == "resync":
            feed.resync_all()

    slow.open(on_message)
    loop = asyncio.get_running_loop()
    loop.remove_reader(slow._receiver.fileno())  # type: ignore[union-attr]  # not reading: fills up
    sent = 0
    while not sender._behind:
        sender.send(encode_changes([change(7, sent + 1)]))
        sent += 1
        assert sent < 100_000
    loop.add_reader(slow._receiver.fileno(), slow._read)  # type: ignore[union-attr]
    await eventually(lambda: len(received) >= sender.sent, 5)
    sender.send(encode_changes([change(7, 10**6)]))
    await eventually(lambda: [m["t"] for m in received[-2:]] == ["resync", "changes"], 5)
    # The subscriber is told to catch up from the store rather than trust what it got.
    assert (await anext(subscription)).kind is ChangeKind.OVERFLOW
    sender.close()
    slow.close()


def test_clear_peers_removes_every_socket(tmp_path: Path) -> None:
    directory = tmp_path / "run" / "peers"
    directory.mkdir(parents=True)
    for name in ("1-aa.sock", "2-bb.sock"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(directory / name))
        sock.close()
    clear_peers(tmp_path)
    assert os.listdir(directory) == []


def test_relay_hears_what_is_published_but_not_what_was_relayed_to_us() -> None:
    feed = LocalChangeFeed()
    relayed: list[list[Change]] = []
    feed.relay = lambda changes: relayed.append(list(changes))
    feed.publish([change(1, 5)])
    feed.publish_local([change(1, 6)])
    assert relayed == [[change(1, 5)]]


async def test_one_housekeeper_runs_and_another_takes_over_when_it_stops(tmp_path: Path) -> None:
    """Two processes' housekeeping on one data directory (locks.py's flocks conflict between open
    files in one process too): one runs the jobs; when it ends, the other takes them over."""
    locks = FileLocks(tmp_path)
    running: list[str] = []

    async def try_lock(name: str) -> FileLock | None:
        return locks.try_lock(name)

    def jobs(who: str) -> Callable[[], list[Awaitable[None]]]:
        async def job() -> None:
            running.append(who)
            await asyncio.Event().wait()

        return lambda: [job()]

    first = asyncio.create_task(hold_housekeeping(try_lock, jobs("first"), 0.05))
    await eventually(lambda: running == ["first"], 5)
    second = asyncio.create_task(hold_housekeeping(try_lock, jobs("second"), 0.05))
    await asyncio.sleep(0.3)
    assert running == ["first"]  # several retries, none took it
    first.cancel()
    await eventually(lambda: running == ["first", "second"], 5)
    second.cancel()
    await asyncio.gather(first, second, return_exceptions=True)
