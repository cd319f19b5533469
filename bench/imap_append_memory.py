"""Unfinished IMAP APPENDs: what they cost the server's memory.

Starts a real ``pochta serve`` on loopback, opens ``--connections`` sessions that log in and start
an APPEND of a ``--size`` MB literal, sends all of it but the last MB, and reports the server's
resident memory (VmRSS) before and after. Issue 9 item 3c: with literals held in memory, 10
connections with unfinished 50 MB APPENDs took the server from 164 MB to 624 MB; written to spool
files as they arrive, memory stays flat.

    .venv/bin/python bench/imap_append_memory.py --connections 10 --size 50
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from imap_mailbox import LISTENERS, PASSWORD, USER, Client, Server, allow_many_connections, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--size", type=int, default=50, help="MB per APPEND literal")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="pochta-bench-append-"))
    try:
        run("init", "--domain", "example.org", "--data", str(data_dir), "--listen", "imap=127.0.0.1:0",
            *[f"--listen={name}=127.0.0.1:0" for name in LISTENERS])  # fmt: skip
        run("user", "add", USER, "--password-stdin", "--data", str(data_dir), stdin=PASSWORD + "\n")
        allow_many_connections(data_dir, args.connections)
        config = data_dir / "pochta.toml"
        config.write_text(config.read_text() + f"\n[limits]\nmax_message_size = {(args.size + 1) << 20}\n")
        server = Server(data_dir)
        try:
            clients = [Client(server.port) for _ in range(args.connections)]
            for client in clients:
                client.command(f"LOGIN {USER} {PASSWORD!r}".replace("'", '"'))
            time.sleep(1)
            before = server.rss_kb()
            block = b"x" * (1 << 20)
            started = time.monotonic()
            for client in clients:
                client.sock.sendall(b"a APPEND INBOX {%d}\r\n" % (args.size << 20))
                assert client.line().startswith(b"+"), "no continuation"
                client.sock.sendall(b"Subject: big\r\n\r\n")
                for _ in range(args.size - 1):
                    client.sock.sendall(block)
            seconds = time.monotonic() - started
            time.sleep(2)
            after = server.rss_kb()
            spooled = sum(p.stat().st_size for p in (data_dir / "blobs" / "tmp").glob("*") if p.is_file())
            print(
                f"{args.connections} unfinished APPENDs of {args.size} MB ({args.size - 1} MB sent each, "
                f"{args.connections * (args.size - 1) / seconds:.0f} MB/s): "
                f"server VmRSS {before / 1024:.0f} MB -> {after / 1024:.0f} MB; "
                f"{spooled / 2**20:.0f} MB in spool files"
            )
            for client in clients:
                client.sock.close()
        finally:
            server.stop()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
