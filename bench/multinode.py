"""Several ``pochta serve`` nodes on one PostgreSQL database (docs/scaling.md "Several nodes"): the
same client load against 1, 2 and 3 nodes in one run, spread over the nodes round-robin.

- deliveries/s: ``--sessions`` LMTP sessions, each on its own connection to one node, deliver
  ``--messages`` messages of ``--size`` octets in all to one account;
- IMAP commands/s: ``--sessions`` imaplib sessions (LOGIN, SELECT INBOX) each run ``--commands``
  commands of a fixed mix over the delivered messages: NOOP, ``FETCH 1:20 (FLAGS)``, one ENVELOPE,
  ``STORE +FLAGS (\\Seen)`` on one message, ``STATUS`` and ``LIST``.

Each node count gets a fresh database on one throw-away cluster (``pochta.testing.pg_cluster``)
and nodes made as the multi-node tests make them (``tests/multinode/nodes_env.py``: one worker
each, blob files in one shared directory). Every process, the database's included, shares this
machine's cores: more nodes add no CPU here, so the figures show the cost of the coordination
(NOTIFY, advisory locks, serializable retries) more than a gain.

    .venv/bin/python bench/multinode.py [--nodes 1,2,3] [--messages 600] [--sessions 6] [--commands 200]
"""

from __future__ import annotations

import argparse
import imaplib
import shutil
import smtplib
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "multinode")]

from nodes_env import Node, make_nodes, start_all  # noqa: E402

from pochta.testing import pg_cluster as clusters  # noqa: E402

ALICE = "alice@example.org"
PASSWORD = "bench password"


def _message(n: int, size: int) -> bytes:
    head = (
        f"From: bob@example.net\r\nTo: {ALICE}\r\nSubject: bench {n}\r\n"
        f"Message-ID: <b{n}@example.net>\r\n\r\n"
    )
    line = b"the quick brown fox jumps over the lazy dog 0123456789\r\n"
    return head.encode() + line * max(1, (size - len(head)) // len(line))


def _spread(sessions: int, work: Callable[[int], None]) -> float:
    """Run ``work(k)`` for k in range(sessions) on threads; wall seconds."""
    errors: list[BaseException] = []

    def run(k: int) -> None:
        try:
            work(k)
        except BaseException as error:  # reported after the join
            errors.append(error)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(sessions)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - start


def deliveries(nodes: list[Node], messages: int, sessions: int, size: int) -> float:
    per = messages // sessions

    def work(k: int) -> None:
        node = nodes[k % len(nodes)]
        with smtplib.LMTP("127.0.0.1", node.port("lmtp"), timeout=120) as lmtp:
            for i in range(per):
                lmtp.sendmail("bob@example.net", [ALICE], _message(k * per + i, size))

    return per * sessions / _spread(sessions, work)


def imap_commands(nodes: list[Node], sessions: int, commands: int, messages: int) -> float:
    mix: list[Callable[[imaplib.IMAP4, int], object]] = [
        lambda c, i: c.noop(),
        lambda c, i: c.fetch("1:20", "(FLAGS)"),
        lambda c, i: c.fetch(str(1 + i % messages), "(ENVELOPE)"),
        lambda c, i: c.store(str(1 + i % messages), "+FLAGS", "(\\Seen)"),
        lambda c, i: c.status("INBOX", "(MESSAGES UNSEEN)"),
        lambda c, i: c.list('""', "*"),
    ]

    def work(k: int) -> None:
        node = nodes[k % len(nodes)]
        client = imaplib.IMAP4("127.0.0.1", node.port("imap"), timeout=120)
        client.login(ALICE, PASSWORD)
        client.select("INBOX")
        for i in range(commands):
            typ, _ = mix[i % len(mix)](client, k * commands + i)  # type: ignore[misc]
            if typ != "OK":
                raise RuntimeError(f"command {i % len(mix)} answered {typ}")
        client.logout()

    return sessions * commands / _spread(sessions, work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", default="1,2,3")
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--sessions", type=int, default=6)
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--size", type=int, default=4096)
    args = parser.parse_args()
    counts = [int(n) for n in args.nodes.split(",")]
    cluster = clusters.start_cluster()
    work_dir = Path(tempfile.mkdtemp(prefix="pochta-multinode-"))
    rows = []
    try:
        for count in counts:
            url = cluster.create_database(f"bench{count}")
            nodes = make_nodes(work_dir / f"n{count}", url, count, ["lmtp", "imap"], {ALICE: PASSWORD})
            start_all(nodes)
            try:
                delivered = deliveries(nodes, args.messages, args.sessions, args.size)
                commands = imap_commands(nodes, args.sessions, args.commands, args.messages)
            finally:
                for node in nodes:
                    node.stop()
            rows.append((count, delivered, commands))
            print(
                f"{count} node(s): {delivered:.1f} deliveries/s, {commands:.1f} IMAP commands/s", flush=True
            )
    finally:
        cluster.stop()
        shutil.rmtree(work_dir, ignore_errors=True)
    print(
        f"\n{args.sessions} sessions; {args.messages} messages of {args.size} octets; "
        f"{args.commands} IMAP commands each"
    )
    print("| nodes | deliveries/s (LMTP) | IMAP commands/s |")
    print("|---|---|---|")
    for count, delivered, commands in rows:
        print(f"| {count} | {delivered:.1f} | {commands:.1f} |")


if __name__ == "__main__":
    main()
