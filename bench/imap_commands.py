"""Server CPU per IMAP command, one command kind at a time, one client (raw socket, no pipelining).

    .venv/bin/python bench/imap_commands.py [--count 200] [--workers 1] [--only NAME]

Starts ``pochta serve`` (one worker by default, so that the figures are one process's), logs in as
user1, APPENDs 50 realistic messages to INBOX, selects it, then runs each probe ``--count`` times
(some fewer) and prints the server's CPU time (user + system of the process tree, from /proc) and
the wall time per command. The CPU column is what to compare between trees: it moves far less with
the machine's load than the wall column. ``--only`` runs the probes whose name contains the text.
What imaptest's default mix sends is here one kind at a time: connection setup with LOGIN and
LOGOUT, LIST, STATUS, SELECT, the FETCH forms, STORE, APPEND, COPY, MOVE, EXPUNGE.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from proc_stats import tree_cpu_seconds  # noqa: E402
from vs_dovecot import IMAPTEST_USERS, PASSWORD, load, pochta_server, say, serve_args  # noqa: E402
from workloads import realistic_mailbox  # noqa: E402


class Client:
    """A blocking IMAP client that sends one command and reads up to its tagged reply."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        self.count = 0
        self._line()  # the greeting

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self._more()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _more(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        self.buffer += data

    def command(self, text: bytes, literal: bytes | None = None) -> bytes:
        """Send ``tag text`` (with ``literal`` as a synchronising literal) and return the tagged line;
        untagged responses (with their literals) are skipped by looking for the tag at a line start."""
        self.count += 1
        tag = b"t%d " % self.count
        if literal is None:
            self.sock.sendall(tag + text + b"\r\n")
        else:
            self.sock.sendall(tag + text + b" {%d}\r\n" % len(literal))
            if not self._line().startswith(b"+"):
                raise RuntimeError(f"no continuation for {text!r}")
            self.sock.sendall(literal + b"\r\n")
        while True:
            start = self.buffer.find(tag)
            while start > 0 and self.buffer[start - 2 : start] != b"\r\n":
                start = self.buffer.find(tag, start + 1)
            end = self.buffer.find(b"\r\n", start) if start >= 0 else -1
            if start >= 0 and end >= 0:
                line = self.buffer[start:end]
                self.buffer = self.buffer[end + 2 :]
                if not line.startswith(tag + b"OK"):
                    raise RuntimeError(f"{text!r}: {line!r}")
                return line
            self._more()

    def close(self) -> None:
        self.sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    n = args.count
    say(f"imap_commands.py: {n} of each, --workers {args.workers}; load at start {load()}")
    parent = Path(tempfile.mkdtemp(prefix="pochta-imap-commands-"))
    try:
        probe(parent, args)
    finally:
        shutil.rmtree(parent, ignore_errors=True)  # the server's data directory, as every script here
    say(f"load at end {load()}")


def probe(parent: Path, args: argparse.Namespace) -> None:
    n = args.count
    messages = realistic_mailbox(60, "user1@example.org", seed=3)
    login = f'LOGIN user1@example.org "{PASSWORD}"'.encode()
    with pochta_server(parent, ["imap"], IMAPTEST_USERS, serve_args(args.workers)) as target:
        port = target.ports["imap"]
        client = Client(port)
        client.command(login)
        for data in messages[:50]:
            client.command(b"APPEND INBOX (\\Seen $Label1)", data)
        client.command(b"CREATE Other")
        client.command(b"SELECT INBOX")

        def measure(name: str, probe: Callable[[int], object], count: int = n) -> None:
            if args.only not in name:
                return
            time.sleep(0.3)
            before = tree_cpu_seconds(target.pid)
            started = time.perf_counter()
            for i in range(count):
                probe(i)
            wall = time.perf_counter() - started
            used = tree_cpu_seconds(target.pid) - before
            say(f"  {name:38s} {used * 1000 / count:7.3f} ms CPU {wall * 1000 / count:8.3f} ms wall")

        def connect_login_logout(_: int) -> None:
            other = Client(port)
            other.command(login)
            other.command(b"LOGOUT")
            other.close()

        def store_and_expunge(i: int) -> None:
            client.command(b"STORE %d +FLAGS (\\Deleted)" % (60 + i))
            client.command(b"EXPUNGE")

        measure("connect+LOGIN+LOGOUT", connect_login_logout, n // 2)
        measure("NOOP", lambda i: client.command(b"NOOP"))
        measure("LIST", lambda i: client.command(b'LIST "" "*"'))
        measure("STATUS", lambda i: client.command(b"STATUS INBOX (MESSAGES UNSEEN UIDNEXT)"))
        measure("SELECT", lambda i: client.command(b"SELECT INBOX"))
        measure("FETCH 1:50 (UID FLAGS)", lambda i: client.command(b"FETCH 1:50 (UID FLAGS)"))
        measure("FETCH 1:50 ENVELOPE", lambda i: client.command(b"FETCH 1:50 (ENVELOPE)"))
        measure(
            "FETCH 1:50 BODYSTRUCTURE+HEADER.FIELDS",
            lambda i: client.command(b"FETCH 1:50 (BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (From To)])"),
        )
        measure(
            "FETCH n (UID BODY.PEEK[])",
            lambda i: client.command(b"FETCH %d (UID BODY.PEEK[])" % (i % 50 + 1)),
        )
        measure(
            "STORE n +/-FLAGS ($Label2)",
            lambda i: client.command(b"STORE %d %sFLAGS ($Label2)" % (i % 50 + 1, b"+-"[i % 2 : i % 2 + 1])),
        )
        measure(
            "APPEND (\\Seen)", lambda i: client.command(b"APPEND INBOX (\\Seen)", messages[i % 50]), n // 2
        )
        measure(
            "APPEND ($Label3)", lambda i: client.command(b"APPEND INBOX ($Label3)", messages[i % 50]), n // 2
        )
        measure("COPY n INBOX", lambda i: client.command(b"COPY %d INBOX" % (i % 50 + 1)), n // 2)
        measure("STORE +\\Deleted, EXPUNGE", store_and_expunge, n // 4)
        measure("MOVE n Other", lambda i: client.command(b"MOVE %d Other" % (60 + i)), n // 4)
        measure("EXAMINE", lambda i: client.command(b"EXAMINE INBOX"))
        client.close()


if __name__ == "__main__":
    main()
