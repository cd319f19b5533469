"""The channel between the processes of one data directory (``server.peers``) and the housekeeper
lease (``server.lease``), each process played by an object of its own on real sockets and locks."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

from pochta.server.lease import Lease
from pochta.server.peers import PeerChannel, clear_peers, decode_changes, encode_changes
from pochta.store.changes import LocalChangeFeed
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


def test_the_housekeeper_lease_has_one_holder_and_is_free_when_it_goes(tmp_path: Path) -> None:
    path = tmp_path / "run" / "housekeeper.lock"
    first, second = Lease(path), Lease(path)
    assert first.try_acquire()
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()


def test_the_lease_of_a_killed_process_is_free(tmp_path: Path) -> None:
    path = tmp_path / "run" / "housekeeper.lock"
    code = (
        "import sys, time; from pathlib import Path; from pochta.server.lease import Lease; "
        f"assert Lease(Path({str(path)!r})).try_acquire(); print('held', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        assert not Lease(path).try_acquire()
        holder.kill()
        holder.wait(10)
        assert Lease(path).try_acquire()
    finally:
        holder.kill()
        holder.wait(10)
        if holder.stdout is not None:
            holder.stdout.close()
