"""How long an IMAP session in IDLE waits for a change made by another worker process.

Starts ``pochta serve --workers N`` (default 2) on a temporary data directory, opens ``--sessions``
IMAP sessions that SELECT INBOX and IDLE, and finds from the server's log which worker serves each.
Then, ``--changes`` times: delivers one message over LMTP (one session, so one worker makes every
change), and measures from the LMTP 250 reply to the ``* N EXISTS`` line in every IDLE session.
Prints p50/p90/max, separately for sessions in the worker that committed the change and in the
others (the cross-process path: the committing worker's datagram, the other's feed, its session's
store read). Nothing is asserted; the issue's target is 50 ms across workers.
"""

from __future__ import annotations

import argparse
import os
import re
import selectors
import smtplib
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests")]

from serve_process import ServeProcess, init_data_dir  # noqa: E402

ACCOUNT = "alice@example.org"
PASSWORD = "correct horse battery"


def read_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def command(sock: socket.socket, tag: str, line: str) -> None:
    sock.sendall(f"{tag} {line}\r\n".encode())
    while not read_line(sock).startswith(tag.encode() + b" "):
        pass


def worker_of(log: str, sock: socket.socket) -> int:
    port = sock.getsockname()[1]
    for line in log.splitlines():
        if " connect " in line and f"peer=127.0.0.1:{port} " in line + " ":
            found = re.search(r"worker=(\d+)", line)
            return int(found.group(1)) if found else 0
    return -1


def wait_for_exists(sessions: list[socket.socket], since: float) -> dict[socket.socket, float]:
    """Milliseconds from ``since`` until each session received an EXISTS line (all read at once)."""
    selector = selectors.DefaultSelector()
    buffers: dict[socket.socket, bytes] = {}
    for sock in sessions:
        selector.register(sock, selectors.EVENT_READ, sock)
        buffers[sock] = b""
    arrived: dict[socket.socket, float] = {}
    deadline = time.monotonic() + 30
    while len(arrived) < len(sessions) and time.monotonic() < deadline:
        for key, _events in selector.select(timeout=1):
            sock = key.data
            buffers[sock] += sock.recv(65536)
            if b"EXISTS\r\n" in buffers[sock] and sock not in arrived:
                arrived[sock] = (time.perf_counter() - since) * 1000
                selector.unregister(sock)
    selector.close()
    return arrived


def percentiles(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return f"p50 {statistics.median(ordered):6.1f} ms  p90 {p90:6.1f} ms  max {ordered[-1]:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--changes", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pochta-idle-push-") as tmp:
        data = Path(tmp) / "data"
        init_data_dir(data, listeners=("imap", "lmtp"), accounts={ACCOUNT: PASSWORD})
        server = ServeProcess(data, Path(tmp) / "serve.log", workers=args.workers)
        try:
            ports = server.wait_listening(["imap", "lmtp"])
            sessions: list[socket.socket] = []
            for _ in range(args.sessions):
                sock = socket.create_connection(("127.0.0.1", ports["imap"]), timeout=30)
                read_line(sock)
                command(sock, "L", f'LOGIN {ACCOUNT} "{PASSWORD}"')
                command(sock, "S", "SELECT INBOX")
                sock.sendall(b"I IDLE\r\n")
                read_line(sock)  # + idling
                sessions.append(sock)
            time.sleep(0.5)
            log = server.log_text()
            where = [worker_of(log, sock) for sock in sessions]
            same: list[float] = []
            other: list[float] = []
            committer = -1
            with smtplib.LMTP("127.0.0.1", ports["lmtp"], timeout=30) as lmtp:
                for n in range(1, args.changes + 1):
                    body = f"From: b@example.net\r\nSubject: push {n}\r\n\r\nx\r\n".encode()
                    lmtp.sendmail("b@example.net", [ACCOUNT], body)
                    acknowledged = time.perf_counter()
                    if committer < 0:
                        committer = worker_of(server.log_text(), lmtp.sock) if lmtp.sock else -1
                    for sock, elapsed in wait_for_exists(sessions, acknowledged).items():
                        worker = where[sessions.index(sock)]
                        (same if worker == committer else other).append(elapsed)
            load = os.getloadavg()
            what = f"{args.sessions} IDLE sessions, {args.changes} deliveries"
            print(f"pochta serve --workers {args.workers}: {what}")
            print(
                f"sessions per worker: {dict(sorted((w, where.count(w)) for w in set(where)))}; "
                f"LMTP served by worker {committer}; load {load[0]:.2f}"
            )
            print(f"same worker as the commit:  {percentiles(same)}  ({len(same)} pushes)")
            print(f"another worker:             {percentiles(other)}  ({len(other)} pushes)")
            print(
                "(time from the LMTP 250 to the EXISTS line in each session; client and server share 2 cores)"
            )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
