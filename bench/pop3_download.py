"""Download a whole mailbox over POP3 with poplib: messages/s and MB/s, plain and TLS.

    .venv/bin/python bench/pop3_download.py [--messages 2000] [--size 0] [--seed 1] [--dir /tmp] [--runs 1]
                                            [--modes plain/poplib,plain/raw,...]

A child process runs the pochta server (store + POP3 handler on 127.0.0.1, STLS-capable pop3 and
implicit-TLS pop3s on ephemeral ports, a throw-away CA) with one account whose INBOX gets
``--messages`` messages of a realistic size mix between 2 KB and 2 MB: 70% 2-20 KB, 20% 20-200 KB,
8% 200 KB-1 MB, 2% 1-2 MB (or, with ``--size N``, every message N bytes). The parent (a separate
process, so client and server do not share a GIL) logs in with poplib, lists the mailbox (UIDL +
LIST), RETRs every message and QUITs without deleting, over plain TCP, over STLS, and over POP3S
(``--modes`` picks some). Printed per mode: messages/s and MB/s of message octets, and the time of
login+LIST+UIDL, and the server process's CPU time (user + system, all threads) per message: less
sensitive to the machine's load than the rate. The server's pid is printed first (for ``py-spy``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import poplib
import random
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from proc_stats import tree_cpu_seconds

ADDRESS = "bench@example.org"
PASSWORD = "bench password"


def sizes(count: int, seed: int, fixed: int = 0) -> list[int]:
    if fixed:
        return [fixed] * count
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        r = rng.random()
        if r < 0.70:
            out.append(rng.randint(2_000, 20_000))
        elif r < 0.90:
            out.append(rng.randint(20_000, 200_000))
        elif r < 0.98:
            out.append(rng.randint(200_000, 1_000_000))
        else:
            out.append(rng.randint(1_000_000, 2_000_000))
    return out


def make_message(n: int, size: int, rng: random.Random) -> bytes:
    head = (
        f"From: Sender {n} <s{n}@example.net>\r\nTo: {ADDRESS}\r\nSubject: bench message {n}\r\n"
        f"Message-ID: <{n}.bench@example.net>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\n\r\n"
    ).encode()
    line_words = [rng.choice(("lorem", "ipsum", "dolor", ".sit", "amet", "consectetur")) for _ in range(200)]
    body = bytearray()
    i = 0
    while len(head) + len(body) < size:
        body += " ".join(line_words[i % 150 : i % 150 + 12]).encode() + b"\r\n"
        i += 7
    return head + bytes(body[: max(0, size - len(head) - 2)]) + b"\r\n"


async def serve(data_dir: Path, count: int, seed: int, fixed: int) -> None:
    import trustme

    from pochta.auth.authenticator import Authenticator
    from pochta.auth.passwords import hash_password, make_scram_credentials
    from pochta.config import LISTENER_KINDS, Settings
    from pochta.log import configure_logging
    from pochta.mail.ops import MailOps
    from pochta.metrics import Metrics
    from pochta.server.listeners import Server
    from pochta.server.pop3 import Pop3Handler
    from pochta.store.sqlite.store import open_sqlite_store

    settings = Settings.model_validate(
        {
            "listeners": {name: "off" for name in LISTENER_KINDS}
            | {"pop3": "127.0.0.1:0", "pop3s": "127.0.0.1:0"},
            "log": {"level": "warning"},
        }
    )
    configure_logging(settings.log, stream=sys.stderr)
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost", "127.0.0.1", common_name="localhost").configure_cert(context)
    ca_path = data_dir / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    store = await open_sqlite_store(data_dir, settings)
    await store.add_domain("example.org")
    account = await store.add_account(ADDRESS, hash_password(PASSWORD), make_scram_credentials(PASSWORD))
    ops = MailOps.from_settings(store, settings)
    rng = random.Random(seed)
    wanted = sizes(count, seed, fixed)
    started = time.perf_counter()
    total = 0
    for first in range(0, count, 64):
        batch = [make_message(n, wanted[n], rng) for n in range(first, min(count, first + 64))]
        total += sum(len(m) for m in batch)
        await asyncio.gather(*(ops.append(account.id, "INBOX", m) for m in batch))
    fill = time.perf_counter() - started
    handler = Pop3Handler(store, settings, authenticator=Authenticator(store, settings.login), ops=ops)
    server = Server(settings, data_dir, {"pop3": handler}, metrics=Metrics(), ssl_context=context)
    await server.start()
    bound = server.bound_addresses()
    print(
        "READY "
        + json.dumps(
            {
                "pop3": bound["pop3"],
                "pop3s": bound["pop3s"],
                "ca": str(ca_path),
                "octets": total,
                "fill_seconds": fill,
            }
        ),
        flush=True,
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop()
    await store.close()


def download(mode: str, info: dict[str, object]) -> tuple[int, int, float, float]:
    context = ssl.create_default_context(cafile=str(info["ca"]))
    host, port = info["pop3s" if mode == "pop3s" else "pop3"]  # type: ignore[misc]
    started = time.perf_counter()
    if mode == "pop3s":
        client: poplib.POP3 = poplib.POP3_SSL(host, port, context=context)
    else:
        client = poplib.POP3(host, port)
        if mode == "stls":
            client.stls(context)
    client.user(ADDRESS)
    client.pass_(PASSWORD)
    _, listing, _ = client.list()
    client.uidl()
    listed = time.perf_counter() - started
    octets = 0
    for line in listing:
        number, size = line.split()
        client.retr(int(number))
        octets += int(size)
    client.quit()
    return len(listing), octets, time.perf_counter() - started, listed


def download_raw(mode: str, info: dict[str, object]) -> tuple[int, int, float, float]:
    """The same download with a minimal client: RETR pipelined 16 at a time (RFC 2449 PIPELINING),
    responses found by their terminator, no per-line work. Shows the server's own rate where poplib
    (which reads line by line) is the bottleneck."""
    import socket

    context = ssl.create_default_context(cafile=str(info["ca"]))
    host, port = info["pop3s" if mode == "pop3s" else "pop3"]  # type: ignore[misc]
    started = time.perf_counter()
    sock: socket.socket = socket.create_connection((host, port))
    if mode == "pop3s":
        sock = context.wrap_socket(sock, server_hostname="localhost")
    buffer = bytearray()

    def reply(multi: bool) -> bytes:
        # A byte-stuffed body never holds CRLF "." CRLF: its first occurrence ends the response.
        end = b"\r\n.\r\n" if multi else b"\r\n"
        scanned = 0
        while True:
            position = buffer.find(end, scanned)
            if position >= 0:
                data = bytes(buffer[: position + len(end)])
                del buffer[: position + len(end)]
                return data
            scanned = max(0, len(buffer) - len(end))
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("closed")
            buffer.extend(chunk)

    reply(False)
    if mode == "stls":
        sock.sendall(b"STLS\r\n")
        reply(False)
        sock = context.wrap_socket(sock, server_hostname="localhost")
    sock.sendall(f"USER {ADDRESS}\r\nPASS {PASSWORD}\r\nLIST\r\n".encode())
    reply(False)
    reply(False)
    listing = reply(True).split(b"\r\n")[1:-2]
    listed = time.perf_counter() - started
    count = len(listing)
    octets = sum(int(line.split()[1]) for line in listing)
    window = 16
    sent = 0
    for received in range(count):
        while sent < count and sent < received + window:
            sent += 1
            sock.sendall(f"RETR {sent}\r\n".encode())
        reply(True)
    sock.sendall(b"QUIT\r\n")
    reply(False)
    sock.close()
    return count, octets, time.perf_counter() - started, listed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--size", type=int, default=0, help="every message this many bytes (0: the mix)")
    parser.add_argument(
        "--modes",
        default="",
        help="comma-separated mode/client pairs to run (default: all), e.g. plain/poplib,plain/raw",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--serve", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        asyncio.run(serve(args.serve, args.messages, args.seed, args.size))
        return
    root = Path(tempfile.mkdtemp(prefix="pochta-bench-pop3-", dir=args.dir))
    child = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            str(root),
            "--messages",
            str(args.messages),
            "--seed",
            str(args.seed),
            "--size",
            str(args.size),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        while line and not line.startswith("READY "):
            line = child.stdout.readline()
        info = json.loads(line.removeprefix("READY "))
        print(f"server pid {child.pid}", flush=True)
        print(
            f"mailbox: {args.messages} messages, {info['octets'] / 1e6:.1f} MB "
            f"(filled in {info['fill_seconds']:.1f} s); CPUs: {os.cpu_count()}"
        )
        print(
            f"{'mode/client':14} {'msgs':>6} {'MB':>8} {'seconds':>8} {'msg/s':>8} {'MB/s':>8}"
            f" {'login+LIST':>14} {'server CPU us/msg':>18}"
        )
        pairs = [(m, c) for c in ("poplib", "raw") for m in ("plain", "stls", "pop3s")]
        if args.modes:
            wanted = set(args.modes.split(","))
            pairs = [(m, c) for m, c in pairs if f"{m}/{c}" in wanted]
        for _ in range(args.runs):
            for mode, client in pairs:
                run = download if client == "poplib" else download_raw
                cpu = tree_cpu_seconds(child.pid)
                count, octets, seconds, listed = run(mode, info)
                cpu = tree_cpu_seconds(child.pid) - cpu
                print(
                    f"{mode + '/' + client:14} {count:6d} {octets / 1e6:8.1f} {seconds:8.2f} "
                    f"{count / seconds:8.0f} "
                    f"{octets / 1e6 / seconds:8.1f} {listed * 1000:11.0f} ms {cpu / count * 1e6:18.0f}"
                )
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
