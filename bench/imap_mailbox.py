"""A big mailbox over IMAP: what a client waits for, and what idle sessions cost the server.

    .venv/bin/python bench/imap_mailbox.py [--messages 100000] [--idle 1000] [--dir /tmp] [--keep DIR]

Fills one INBOX with ``--messages`` small distinct messages (``store_open.fill``: 300 B - 4 KB, a rare
word in one message of 10,000), starts a real ``pochta serve`` on loopback and times, with a raw
socket client (median of 3):

- the first ``SELECT INBOX`` of the new server process (nothing of the mailbox in its memory);
- ``SELECT INBOX`` on a new connection, no other session holding the mailbox (then LOGOUT);
- ``SELECT INBOX`` again in the same session;
- ``FETCH 1:* (UID FLAGS)`` (what a syncing client asks first), read to the end;
- ``FETCH`` of 100 ENVELOPEs spread over the mailbox;
- ``UID SEARCH TEXT <rare word>``, ``UID SEARCH TEXT meeting`` (a word in most messages) and
  ``UID SEARCH SUBJECT "meeting"`` (in about one subject in ten);

then opens ``--idle`` connections that log in, SELECT INBOX and IDLE (NOOP when the server does
not offer IDLE), and reports the server's resident memory (RSS) and proportional set size (PSS,
``/proc/PID/smaps_rollup``: shared pages divided among the processes sharing them) before and after,
per connection.

``--keep DIR`` keeps (or reuses, when it exists) the filled data directory, so the fill, which
takes minutes, is paid once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from store_open import RARE, fill

from pochta.config import load_settings
from pochta.store.sqlite.store import open_sqlite_store

POCHTA = [sys.executable, "-m", "pochta"]
USER, PASSWORD = "bench@example.org", "bench password 1"
LISTENERS = ["smtp", "submission", "submissions", "lmtp", "imaps", "pop3", "pop3s"]


def run(*args: str, stdin: str | None = None) -> None:
    subprocess.run([*POCHTA, *args], input=stdin, text=True, check=True, capture_output=True)


async def prepare(data_dir: Path, messages: int) -> None:
    run("init", "--domain", "example.org", "--data", str(data_dir), "--listen", "imap=127.0.0.1:0",
        *[f"--listen={name}=127.0.0.1:0" for name in LISTENERS])  # fmt: skip
    run("user", "add", USER, "--password-stdin", "--data", str(data_dir), stdin=PASSWORD + "\n")
    store = await open_sqlite_store(data_dir, load_settings(data_dir / "pochta.toml"))
    try:
        account = await store.get_account(USER)
        assert account is not None
        inbox = await store.get_mailbox(account.id, "INBOX")
        assert inbox is not None
        print(f"filling INBOX with {messages} messages ...", flush=True)
        seconds, size = await fill(store, inbox.id, messages, 64)
        print(f"  filled in {seconds:.0f} s ({messages / seconds:.0f} msg/s, {size / 2**20:.0f} MB)")
        (data_dir / "bench-message-bytes").write_text(str(size))
        if hasattr(store, "index_pending"):  # the background search indexer (revision 0007 on)
            t0 = time.perf_counter()
            while (await store.index_pending()).done:
                pass
            print(f"  search index caught up {time.perf_counter() - t0:.1f} s after the fill")
    finally:
        await store.close()


def allow_many_connections(data_dir: Path, count: int) -> None:
    """The per-IP and total connection limits must admit the idle sessions (all from 127.0.0.1)."""
    config = data_dir / "pochta.toml"
    marker = "\n# bench: connection limits\n"
    text = config.read_text().split(marker)[0]
    limit = count + 100
    text += marker + f"[server]\nmax_connections = {limit}\nmax_connections_per_ip = {limit}\n"
    config.write_text(text)


class Server:
    def __init__(self, data_dir: Path) -> None:
        self.log = data_dir / "bench-serve.log"
        self.process = subprocess.Popen(
            [*POCHTA, "serve", "--data", str(data_dir)],
            stdout=open(self.log, "w"),  # noqa: SIM115 - closed with the process
            stderr=subprocess.STDOUT,
        )
        self.port = self._port()

    def _port(self) -> int:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = re.search(r"listening\s.*addr=127\.0\.0\.1:(\d+) name=imap ", self.log.read_text())
            found = found or re.search(r"name=imap\s.*?addr=127\.0\.0\.1:(\d+)", self.log.read_text())
            if found:
                return int(found.group(1))
            time.sleep(0.1)
        raise RuntimeError("the server did not start:\n" + self.log.read_text())

    def memory_kb(self) -> tuple[int, int]:
        """(RSS, PSS) of the server, in KB: the process and its worker processes (a supervised
        ``pochta serve``), summed."""
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        rss = pss = 0
        for each in [pid, *map(int, children)]:
            for line in Path(f"/proc/{each}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        return rss, pss

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


class Client:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=300)
        self.buffer = b""
        self.n = 0
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._read_until(b"\r\n* ")  # greeting

    def _read_until(self, marker: bytes) -> bytes:
        """Everything up to the end of the line where ``marker`` is found (searched from the start
        of a line: the data is seen with a CRLF in front); reads in big chunks, searches new data."""
        data = bytearray(b"\r\n" + self.buffer)
        start = 0
        while True:
            found = data.find(marker, max(0, start - len(marker)))
            end = data.find(b"\r\n", found + len(marker)) if found >= 0 else -1
            if end >= 0:
                self.buffer = bytes(data[end + 2 :])
                return bytes(data[2 : end + 2])
            start = len(data)
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("closed")
            data += chunk

    def command(self, text: str) -> list[bytes]:
        """Send a command and read up to its tagged reply (literals are read as lines: enough here)."""
        self.n += 1
        tag = f"t{self.n}".encode()
        self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        data = self._read_until(b"\r\n" + tag + b" ")
        lines = data.split(b"\r\n")[:-1]
        if not lines[-1].startswith(tag + b" OK"):
            raise RuntimeError(lines[-1].decode(errors="replace"))
        return lines

    def close(self) -> None:
        self.sock.close()


def timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def select_once(port: int) -> float:
    """A SELECT INBOX on a new connection (timed alone), then LOGOUT."""
    client = Client(port)
    client.command(f'LOGIN {USER} "{PASSWORD}"')
    t0 = time.perf_counter()
    client.command("SELECT INBOX")
    t = time.perf_counter() - t0
    client.command("LOGOUT")
    client.close()
    return t


def measure(port: int, messages: int) -> list[tuple[str, str]]:
    rows = []
    first = select_once(port)
    rows.append(("first SELECT INBOX of the process", f"{first * 1000:.1f} ms"))
    t = statistics.median(select_once(port) for _ in range(3))
    rows.append(("SELECT INBOX, new connection", f"{t * 1000:.1f} ms (no other session holds it)"))
    client = Client(port)
    client.command(f'LOGIN {USER} "{PASSWORD}"')
    t, lines = timed(lambda: client.command("SELECT INBOX"))
    exists = next(int(x.split()[1]) for x in lines if x.endswith(b" EXISTS"))
    rows.append(("SELECT INBOX, same session", f"{t * 1000:.1f} ms ({exists} messages)"))
    t, lines = timed(lambda: client.command("FETCH 1:* (UID FLAGS)"))
    rows.append(("FETCH 1:* (UID FLAGS)", f"{t * 1000:.1f} ms ({len(lines) - 1} responses)"))
    t, lines = timed(lambda: client.command("UID FETCH 1:* (UID FLAGS)"))
    rows.append(("UID FETCH 1:* (UID FLAGS)", f"{t * 1000:.1f} ms ({len(lines) - 1} responses)"))
    step = max(1, exists // 100)
    spread = ",".join(str(n) for n in range(1, exists + 1, step)[:100])
    t, lines = timed(lambda: client.command(f"FETCH {spread} ENVELOPE"))
    rows.append(("FETCH 100 ENVELOPE", f"{t * 1000:.1f} ms (spread over the mailbox)"))
    t, lines = timed(lambda: client.command("FETCH 1:100 ENVELOPE"))
    rows.append(("FETCH 1:100 ENVELOPE", f"{t * 1000:.1f} ms (one range)"))
    t, lines = timed(lambda: client.command(f"UID SEARCH TEXT {RARE}"))
    hits = len(lines[0].split()) - 2 if lines[0].startswith(b"* SEARCH") else 0
    rows.append((f"UID SEARCH TEXT {RARE}", f"{t * 1000:.1f} ms ({hits} hits)"))
    for key in ("TEXT meeting", 'SUBJECT "meeting"'):
        t, lines = timed(lambda k=key: client.command(f"UID SEARCH {k}"))
        hits = len(lines[0].split()) - 2 if lines[0].startswith(b"* SEARCH") else 0
        rows.append((f"UID SEARCH {key}", f"{t * 1000:.1f} ms ({hits} hits)"))
    capabilities = client.command("CAPABILITY")[0]
    client.close()
    rows.append(("(IDLE offered)", str(b" IDLE" in capabilities)))
    return rows


async def idle_sessions(
    port: int, count: int, idle: bool
) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    async def one() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await reader.readline()
        for line in (f'a LOGIN {USER} "{PASSWORD}"', "b SELECT INBOX"):
            writer.write(line.encode() + b"\r\n")
            tag = line.split()[0].encode()
            while not (await reader.readline()).startswith(tag + b" "):
                pass
        writer.write(b"c IDLE\r\n" if idle else b"c NOOP\r\n")
        await reader.readline()  # "+ idling" (or NOOP's OK)
        return reader, writer

    sessions = []
    for start in range(0, count, 50):  # 50 at a time: the server's listen backlog stays small
        sessions += await asyncio.gather(*(one() for _ in range(min(50, count - start))))
    return sessions


async def main_async(args: argparse.Namespace) -> None:
    keep = Path(args.keep) if args.keep else None
    data_dir = keep or Path(tempfile.mkdtemp(prefix="pochta-bench-imap-", dir=args.dir))
    db_size = ""
    try:
        if not (data_dir / "pochta.toml").exists():
            await prepare(data_dir, args.messages)
        db = data_dir / "pochta.db"
        size_file = data_dir / "bench-message-bytes"
        if db.exists() and size_file.exists():
            size = int(size_file.read_text())
            db_size = (
                f"{db.stat().st_size / 2**20:.0f} MB / {size / 2**20:.0f} MB = {db.stat().st_size / size:.1f}"
            )
        allow_many_connections(data_dir, args.idle)
        server = Server(data_dir)
        try:
            rows = await asyncio.to_thread(measure, server.port, args.messages)
            idle = rows[-1][1] == "True"
            await asyncio.sleep(1)
            rss0, pss0 = server.memory_kb()
            sessions = await idle_sessions(server.port, args.idle, idle)
            await asyncio.sleep(2)
            rss1, pss1 = server.memory_kb()
            count = max(args.idle, 1)
            state = "IDLE" if idle else "SELECTED (no IDLE)"
            rows.append(
                (
                    f"{args.idle} sessions in {state}",
                    f"server RSS {rss0 / 1024:.0f} MB -> {rss1 / 1024:.0f} MB, "
                    f"{(rss1 - rss0) / count:.0f} KB per session; "
                    f"PSS {pss0 / 1024:.0f} MB -> {pss1 / 1024:.0f} MB, "
                    f"{(pss1 - pss0) / count:.0f} KB per session",
                )
            )
            for _reader, writer in sessions:
                writer.close()
        finally:
            server.stop()
    finally:
        if keep is None:
            shutil.rmtree(data_dir, ignore_errors=True)
    print(f"\nimap_mailbox: {args.messages} messages in INBOX, {os.cpu_count()} CPUs")
    if db_size:
        rows.append(("database / message bytes", db_size))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--idle", type=int, default=1000, help="idle sessions to open")
    parser.add_argument("--dir", default=None, help="parent of the temporary data directory")
    parser.add_argument("--keep", default=None, help="data directory to keep (and reuse when filled)")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
