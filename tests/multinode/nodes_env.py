"""Several ``pochta serve`` nodes on one PostgreSQL database, on this machine: each a real process
with its own data directory and listeners on 127.0.0.1 (free ports), sharing one database on the
throw-away cluster of ``tests/pg_env.py``.

The nodes' larger blobs are files in one directory named by ``[store] blobs`` on every node: the
stand-in for the directory every node mounts (docs/scaling.md "Several nodes"), so that a node
reads the message another stored (a queued message delivered by another node, a FETCH).

Node settings keep the housekeeper's hand-overs quick (``server.housekeeper_retry``); everything
else is the default, the search indexer of every node included (their claims are disjoint).
"""

from __future__ import annotations

import concurrent.futures
import re
import shutil
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from serve_process import ServeProcess, init_data_dir, run_pochta

DOMAIN = "example.org"
_HOUSEKEEPER = re.compile(r"info housekeeper task=housekeeper pid=(\d+)")


class Node:
    """One node: ``pochta serve`` on ``data`` (started by ``start``, again after a kill)."""

    def __init__(self, name: str, data: Path, listeners: Sequence[str]) -> None:
        self.name = name
        self.data = data
        self.listeners = tuple(listeners)
        self.process: ServeProcess | None = None
        self.runs = 0

    def start(self) -> None:
        self.runs += 1
        self.process = ServeProcess(self.data, self.data.parent / f"{self.name}-{self.runs}.log")

    def wait_started(self, timeout: float = 120.0) -> None:
        assert self.process is not None
        self.process.wait_listening(self.listeners, timeout)

    def port(self, listener: str) -> int:
        assert self.process is not None
        return self.process.ports[listener]

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.process.poll() is None

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def housekeeper(self) -> bool:
        """Whether this run logged that it became the housekeeper."""
        return self.process is not None and bool(_HOUSEKEEPER.search(self.process.log_text()))

    def failures(self) -> list[str]:
        return [] if self.process is None else self.process.failures()


def node_config(url: str, blobs: Path, extra: str = "") -> str:
    return (
        f'[server]\nworkers = 1\nhousekeeper_retry = 0.3\n[store]\nurl = "{url}"\nblobs = "{blobs}"\n' + extra
    )


def make_nodes(
    root: Path,
    url: str,
    count: int,
    listeners: Iterable[str],
    accounts: dict[str, str],
    extra: str = "",
) -> list[Node]:
    """``count`` data directories on the database at ``url`` (accounts added once: the directory is
    the database's), not started."""
    listeners = tuple(listeners)
    shared_blobs = root / "blobs"
    shared_blobs.mkdir(parents=True)
    first = root / "a"
    config = node_config(url, shared_blobs, extra)
    init_data_dir(first, listeners=listeners, accounts={}, domain=DOMAIN, config=config)
    run_pochta("domain", "add", DOMAIN, "--data", str(first))
    for address, password in accounts.items():
        run_pochta("user", "add", address, "--password-stdin", "--data", str(first), stdin=password + "\n")
    # The other nodes are copies: the same configuration and the same server secret (SCRAM's fake
    # salts and app passwords' lookup digests must agree on every node a client may reach).
    nodes = [Node("a", first, listeners)]
    for name in "bcdefgh"[: count - 1]:
        shutil.copytree(first, root / name)
        nodes.append(Node(name, root / name, listeners))
    return nodes


def start_all(nodes: Sequence[Node], timeout: float = 120.0) -> None:
    for node in nodes:
        node.start()
    with concurrent.futures.ThreadPoolExecutor(len(nodes)) as pool:
        for future in [pool.submit(node.wait_started, timeout) for node in nodes]:
            future.result()


def wait_for(predicate: object, timeout: float, what: str) -> float:
    """Poll ``predicate()`` until true; the seconds it took. AssertionError naming ``what`` after
    ``timeout``."""
    assert callable(predicate)
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)
    return time.monotonic() - start
