"""Three ``pochta serve`` nodes on one PostgreSQL database (issue 16, "Several nodes"): the change
feed crosses nodes, a node killed loses no acknowledged message and its clients continue on
another without a full resync, one housekeeper runs at a time and another takes over, and the
outbound queue's lease of a killed node is taken over.

The nodes (``nodes_env``) start once for the module; a test that kills one starts it again at the
start of the next test that needs all three. The queue takeover is ``slow`` (``-m slow``).
"""

from __future__ import annotations

import poplib
import re
import smtplib
import socket
import socketserver
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from nodes_env import Node, make_nodes, start_all, wait_for

import pg_env
from imap_env import exchange, login_socket, read_line
from pochta.testing.pg_cluster import PgCluster

pg_cluster = pg_env.pg_cluster

ALICE = "alice@example.org"
PASSWORD = "PASSWORD"  # imap_env's login_socket logs in with it
REMOTE = "remote.example"
LISTENERS = ("lmtp", "imap", "submission", "pop3")


class StallingSink(socketserver.ThreadingTCPServer):
    """The remote MX of the queue test: SMTP on 127.0.0.1 that, while ``stall`` is set, takes a
    message's data but never answers it (the delivering node holds its lease meanwhile), and
    otherwise accepts; ``delivered`` holds the data of each message it acknowledged."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SinkHandler)
        self.stall = threading.Event()
        self.stalled: list[bytes] = []
        self.delivered: list[bytes] = []


class _SinkHandler(socketserver.StreamRequestHandler):
    server: StallingSink

    def handle(self) -> None:
        self.wfile.write(b"220 sink ESMTP\r\n")
        while line := self.rfile.readline():
            verb = line[:4].upper()
            if verb == b"DATA":
                self.wfile.write(b"354 go on\r\n")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk
                if self.server.stall.is_set():
                    self.server.stalled.append(data)
                    self.rfile.read()  # no answer: until the client goes away
                    return
                self.server.delivered.append(data)
                self.wfile.write(b"250 2.0.0 kept\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            elif verb == b"EHLO":
                self.wfile.write(b"250 sink\r\n")
            else:
                self.wfile.write(b"250 ok\r\n")


@pytest.fixture(scope="module")
def sink() -> Iterator[StallingSink]:
    server = StallingSink()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def nodes(
    pg_cluster: PgCluster, sink: StallingSink, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Node]]:
    name = f"multinode_{id(sink)}"
    url = pg_cluster.create_database(name, template=pg_env.TEMPLATE)
    queue = (
        "[queue]\n"
        f'transport = {{ "{REMOTE}" = "127.0.0.1:{sink.server_address[1]}" }}\n'
        "retry_schedule = [1.0]\npoll_interval = 0.3\nlease_seconds = 3\n"
        # A wake-up that reached a session through the store's poll would take this long: the
        # IDLE test's bound shows that it came through NOTIFY.
        "[imap]\nidle_check_seconds = 60\n"
        # The login test's lockout: four failures, two seconds (no delays before it).
        "[login]\nfailures_before_delay = 100\nlockout_after = 4\nlockout_seconds = 2\n"
    )
    made = make_nodes(tmp_path_factory.mktemp("nodes"), url, 3, LISTENERS, {ALICE: PASSWORD}, queue)
    try:
        start_all(made)
        yield made
    finally:
        for node in made:
            node.stop()
        failures = [line for node in made for line in node.failures()]
        pg_cluster.drop_database(name)
        assert not failures, failures


def running(nodes: list[Node]) -> list[Node]:
    """Start the nodes an earlier test killed; all of them."""
    dead = [node for node in nodes if not node.alive]
    if dead:
        start_all(dead)
    return nodes


def message(tag: str) -> bytes:
    return (
        f"From: bob@example.net\r\nTo: {ALICE}\r\nSubject: {tag}\r\nX-Tag: {tag}\r\n"
        f"Message-ID: <{tag}@example.net>\r\n\r\nbody of {tag}\r\n"
    ).encode()


def deliver(node: Node, tag: str) -> None:
    """One message over LMTP; returns once acknowledged (raises if it was not)."""
    with smtplib.LMTP("127.0.0.1", node.port("lmtp"), timeout=30) as lmtp:
        lmtp.sendmail("bob@example.net", [ALICE], message(tag))


def select(sock: socket.socket) -> tuple[int, int]:
    """SELECT INBOX (CONDSTORE): its UIDVALIDITY and HIGHESTMODSEQ."""
    lines = exchange(sock, b"S SELECT INBOX (CONDSTORE)")
    assert lines[-1].startswith(b"S OK"), lines
    text = b"".join(lines).decode()
    validity = re.search(r"UIDVALIDITY (\d+)", text)
    modseq = re.search(r"HIGHESTMODSEQ (\d+)", text)
    assert validity is not None, text
    assert modseq is not None, text
    return int(validity.group(1)), int(modseq.group(1))


def stored_tags(node: Node) -> Counter[str]:
    """How many messages in INBOX carry each X-Tag, read through ``node``'s IMAP."""
    sock = login_socket(node.port("imap"), user=ALICE, timeout=60)
    try:
        select(sock)
        lines = exchange(sock, b"F UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (X-TAG)])")
        assert lines[-1].startswith(b"F OK"), lines[-1]
        return Counter(re.findall(r"X-Tag: (\S+)", b"".join(lines).decode()))
    finally:
        sock.close()


def test_a_delivery_on_one_node_reaches_an_idle_session_on_another(nodes: list[Node]) -> None:
    """Issue 16: within 200 ms on a quiet machine; asserted with room for a loaded CI machine."""
    a, b, _ = running(nodes)
    sock = login_socket(b.port("imap"), user=ALICE, timeout=30)
    latencies = []
    try:
        select(sock)
        sock.sendall(b"I IDLE\r\n")
        assert read_line(sock).startswith(b"+")
        for n in range(10):
            deliver(a, f"idle-{n}")
            acknowledged = time.monotonic()
            while not re.match(rb"\* \d+ EXISTS", line := read_line(sock)):
                assert line, "the IDLE connection closed"
            latencies.append(time.monotonic() - acknowledged)
        sock.sendall(b"DONE\r\n")
    finally:
        sock.close()
    median = statistics.median(latencies)
    print(f"\ncross-node IDLE latency: median {median * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms")
    assert median < 2.0
    assert max(latencies) < 10.0  # far below idle_check_seconds (60): each came by NOTIFY


def test_a_node_killed_during_deliveries_loses_nothing_and_its_clients_continue_elsewhere(
    nodes: list[Node],
) -> None:
    """SIGKILL of one node in a burst of LMTP deliveries spread over the three: every acknowledged
    message is stored exactly once (one not acknowledged at most once). An IMAP client of the
    killed node reconnects to another and finds the same UIDVALIDITY and a HIGHESTMODSEQ not
    lower than it knew: it continues without a full resync."""
    running(nodes)
    victim = nodes[2]
    client = login_socket(victim.port("imap"), user=ALICE, timeout=30)
    known_validity, known_modseq = select(client)
    acknowledged: set[str] = set()
    attempted: set[str] = set()
    lock = threading.Lock()

    def sender(k: int) -> None:
        for i in range(15):
            tag = f"burst-{k}-{i}"
            node = nodes[(k + i) % len(nodes)]
            if not node.alive:
                node = nodes[(k + i + 1) % len(nodes)]
            with lock:
                attempted.add(tag)
            try:
                deliver(node, tag)
            except (OSError, smtplib.SMTPException):
                continue  # the node died under it: not acknowledged
            with lock:
                acknowledged.add(tag)

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(6)]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(acknowledged) >= 20, 60, "20 deliveries")
    victim.kill()
    for thread in threads:
        thread.join(120)
    assert len(acknowledged) >= 60  # the survivors took the rest
    tags = stored_tags(nodes[0])
    burst = {tag: count for tag, count in tags.items() if tag.startswith("burst-")}
    assert all(burst.get(tag) == 1 for tag in acknowledged), {t: burst.get(t) for t in acknowledged}
    assert set(burst) <= attempted
    assert max(burst.values()) == 1

    client.close()  # its connection went with the node
    again = login_socket(nodes[1].port("imap"), user=ALICE, timeout=30)
    try:
        validity, modseq = select(again)
    finally:
        again.close()
    assert validity == known_validity
    assert modseq >= known_modseq + len(acknowledged)


def _housekeepers(nodes: list[Node]) -> list[Node]:
    return [node for node in nodes if node.alive and node.housekeeper()]


def test_exactly_one_housekeeper_and_another_takes_over_when_it_is_killed(nodes: list[Node]) -> None:
    running(nodes)
    wait_for(lambda: len(_housekeepers(nodes)) == 1, 30, "a housekeeper")
    time.sleep(1.0)  # several retries (server.housekeeper_retry = 0.3) of the other two
    (holder,) = _housekeepers(nodes)
    holder.kill()
    took = wait_for(lambda: len(_housekeepers(nodes)) == 1, 30, "another housekeeper")
    print(f"\nhousekeeper taken over {took:.2f} s after the kill")
    time.sleep(1.0)
    assert len(_housekeepers(nodes)) == 1


@pytest.mark.slow  # a node's restart and a lease's expiry: with the module's set-up, past 30 s
def test_a_killed_nodes_queue_lease_is_taken_over(nodes: list[Node], sink: StallingSink) -> None:
    """A message submitted on the housekeeper (which runs the queue worker) is being delivered
    under its lease when the node is killed; once the lease expires (queue.lease_seconds) the
    new housekeeper's worker delivers it, once."""
    running(nodes)
    wait_for(lambda: len(_housekeepers(nodes)) == 1, 30, "a housekeeper")
    (holder,) = _housekeepers(nodes)
    sink.stall.set()
    with smtplib.SMTP("127.0.0.1", holder.port("submission"), timeout=30) as submission:
        submission.login(ALICE, PASSWORD)  # plaintext AUTH is allowed from loopback
        submission.sendmail(ALICE, [f"friend@{REMOTE}"], b"Subject: leased\r\nX-Tag: leased\r\n\r\nhi\r\n")
    wait_for(lambda: bool(sink.stalled), 30, "the delivery under way")
    holder.kill()
    killed = time.monotonic()
    sink.stall.clear()
    wait_for(lambda: bool(sink.delivered), 60, "the delivery by another node")
    print(f"\nqueue entry delivered by another node {time.monotonic() - killed:.2f} s after the kill")
    time.sleep(1.0)
    assert len(sink.delivered) == 1
    assert b"X-Tag: leased" in sink.delivered[0]
    assert len(_housekeepers(nodes)) == 1


def test_a_pop3_maildrop_locked_on_one_node_is_in_use_on_the_others(nodes: list[Node]) -> None:
    """RFC 2449 §8.1.1: one POP3 session per maildrop, wherever the others connect (the lock is
    the database's advisory lock)."""
    a, b, _ = running(nodes)
    holder = poplib.POP3("127.0.0.1", a.port("pop3"), timeout=30)
    try:
        holder.user(ALICE)
        holder.pass_(PASSWORD)
        other = poplib.POP3("127.0.0.1", b.port("pop3"), timeout=30)
        try:
            other.user(ALICE)
            with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
                other.pass_(PASSWORD)
        finally:
            other.close()
    finally:
        holder.quit()  # releases the maildrop
    again = poplib.POP3("127.0.0.1", b.port("pop3"), timeout=30)
    try:
        again.user(ALICE)
        again.pass_(PASSWORD)
    finally:
        again.quit()


def _login(node: Node, password: str) -> bytes:
    sock = socket.create_connection(("127.0.0.1", node.port("imap")), timeout=30)
    try:
        read_line(sock)
        return exchange(sock, f"L LOGIN {ALICE} {password}".encode())[-1]
    finally:
        sock.close()


def test_login_failures_on_one_node_lock_the_address_out_on_the_others(nodes: list[Node]) -> None:
    """Last: the loopback address is locked out for ``login.lockout_seconds`` (2) afterwards. The
    failures counted by node A reach B and C through the peer channel (``login`` messages)."""
    a, b, c = running(nodes)
    assert _login(b, PASSWORD).startswith(b"L OK")
    for _ in range(4):
        assert _login(a, "wrong").startswith(b"L NO")
    time.sleep(0.5)  # the notifications' way (milliseconds: the IDLE test)
    assert _login(b, PASSWORD).startswith(b"L NO")  # the right password, refused: locked out
    assert _login(c, PASSWORD).startswith(b"L NO")
    time.sleep(2.5)
    assert _login(c, PASSWORD).startswith(b"L OK")  # the lockout ended on every node
