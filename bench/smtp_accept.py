"""Messages/s accepted over SMTP (the MX listener) and LMTP, with Postfix's smtp-sink as the ceiling.

    .venv/bin/python bench/smtp_accept.py [--messages 1000] [--sessions 10] [--size 10240] [--dir /tmp]
                                          [--no-sink]

A temporary data directory is made with ``pochta init`` (every listener on 127.0.0.1:0 or off, the
domain example.org) and 5 accounts (``pochta user add --password-stdin``); ``pochta serve`` runs as a
child process with its default settings, and the real ports are read from its ``listening name=...
addr=127.0.0.1:PORT`` log lines (stderr, kept in a file in the temp dir).

For each case (SMTP and LMTP, 1 and 5 recipients) ``--sessions`` client sessions share ``--messages``
distinct messages of ``--size`` bytes (generated before the clock starts). Each session sends many
messages over one connection: MAIL, RCPT x n, DATA, the text, "." and then waits for the final reply
(LMTP: one reply per recipient, RFC 2033 §4.2); no pipelining. The server's
``smtp.max_messages_per_connection`` (default 100; ``lmtp.max_messages_per_connection`` for LMTP,
default unlimited) is honoured: a session QUITs and reconnects after that many messages (the
reconnect is in the wall time, not in the latency). The client is a minimal asyncio client (raw
streams), the same for all targets; smtplib.LMTP reads only one reply after DATA, so it cannot be
used for LMTP with several recipients.

Printed per case: messages/s accepted (final 2xx replies, over the wall time of the case), the median
and p99 time from writing the final "." to the final reply, and any refused message (non-2xx final
reply) or error. Then the same workloads against ``/usr/sbin/smtp-sink`` (Postfix's test server: it
reads the message and throws it away), the ceiling of this client on this machine.

The client runs in this process, the server in another: on a 2-vCPU machine they share the CPUs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from proc_stats import tree_cpu_seconds

PYTHON = sys.executable
POCHTA = [PYTHON, "-m", "pochta"]
DOMAIN = "example.org"
ACCOUNTS = [f"user{i}@{DOMAIN}" for i in range(1, 6)]
LISTENERS = (
    "smtp",
    "submission",
    "submissions",
    "imap",
    "imaps",
    "pop3",
    "pop3s",
    "lmtp",
    "managesieve",
)
WANTED = {"smtp", "lmtp"}
SINK = "/usr/sbin/smtp-sink"


def pochta(*args: str, data: Path, stdin: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "POCHTA_DATA"}
    result = subprocess.run(
        [*POCHTA, *args, "--data", str(data)], input=stdin, capture_output=True, text=True, env=env
    )
    if result.returncode != 0:
        raise SystemExit(f"pochta {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result.stdout


def make_messages(count: int, size: int, recipients: list[str], tag: str) -> list[bytes]:
    """``count`` distinct CRLF messages of ``size`` bytes, already dot-stuffed (no line starts with ".")."""
    filler_line = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n"
    out = []
    for n in range(count):
        head = (
            f"From: Bench Sender <sender@example.net>\r\nTo: {', '.join(recipients)}\r\n"
            f"Subject: bench {tag} message {n}\r\nMessage-ID: <{tag}.{n}.{time.time_ns()}@example.net>\r\n"
            f"Date: Sun, 22 Nov 2026 02:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=us-ascii\r\n\r\nmessage {tag} {n}\r\n"
        ).encode()
        body = bytearray(head)
        while len(body) + len(filler_line) <= size - 2:
            body += filler_line
        body += b"x" * max(0, size - 2 - len(body)) + b"\r\n"
        out.append(bytes(body))
    return out


class SmtpFailure(Exception):
    pass


@dataclass
class CaseResult:
    latencies: list[float] = field(default_factory=list)
    accepted: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    connections: int = 0
    wall: float = 0.0


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def reply(self) -> tuple[int, str]:
        lines = []
        while True:
            line = await self.reader.readline()
            if not line:
                raise SmtpFailure("connection closed")
            lines.append(line.decode("ascii", "replace").rstrip("\r\n"))
            if len(line) < 4 or line[3:4] != b"-":
                return int(lines[-1][:3]), "\n".join(lines)

    async def command(self, text: str) -> tuple[int, str]:
        self.writer.write(text.encode() + b"\r\n")
        return await self.reply()


async def run_case(
    host: str,
    port: int,
    lmtp: bool,
    messages: list[bytes],
    recipient_sets: list[list[str]],
    sessions: int,
    per_connection: int,
) -> CaseResult:
    result = CaseResult()
    next_index = 0

    def take() -> int | None:
        nonlocal next_index
        if next_index >= len(messages):
            return None
        next_index += 1
        return next_index - 1

    async def connect() -> Client:
        reader, writer = await asyncio.open_connection(host, port)
        client = Client(reader, writer)
        code, text = await client.reply()
        if code != 220:
            raise SmtpFailure(f"greeting: {text}")
        code, text = await client.command(("LHLO" if lmtp else "EHLO") + " bench.example.net")
        if code != 250:
            raise SmtpFailure(f"hello: {text}")
        result.connections += 1
        return client

    async def close(client: Client) -> None:
        with contextlib.suppress(SmtpFailure, OSError):
            await client.command("QUIT")
        client.writer.close()
        with contextlib.suppress(OSError):
            await client.writer.wait_closed()

    async def session() -> None:
        client: Client | None = None
        sent_here = 0
        index = take()
        while index is not None:
            try:
                if client is None or (per_connection and sent_here >= per_connection):
                    if client is not None:
                        await close(client)
                    client, sent_here = await connect(), 0
                rcpts = recipient_sets[index % len(recipient_sets)]
                code, text = await client.command("MAIL FROM:<sender@example.net>")
                if code == 421:  # the per-connection limit (or shutdown): reconnect, same message
                    await close(client)
                    client = None
                    continue
                if code != 250:
                    raise SmtpFailure(f"MAIL: {text}")
                for rcpt in rcpts:
                    code, text = await client.command(f"RCPT TO:<{rcpt}>")
                    if code != 250:
                        raise SmtpFailure(f"RCPT: {text}")
                code, text = await client.command("DATA")
                if code != 354:
                    raise SmtpFailure(f"DATA: {text}")
                client.writer.write(messages[index])
                await client.writer.drain()
                started = time.perf_counter()
                client.writer.write(b".\r\n")
                finals = [await client.reply() for _ in range(len(rcpts) if lmtp else 1)]
                result.latencies.append(time.perf_counter() - started)
                sent_here += 1
                bad = [text for code, text in finals if not 200 <= code < 300]
                if bad:
                    key = bad[0].splitlines()[-1][:80]
                    result.refused[key] = result.refused.get(key, 0) + 1
                else:
                    result.accepted += 1
                index = take()
            except (SmtpFailure, OSError) as exc:
                result.errors.append(f"message {index}: {exc}")
                if client is not None:
                    client.writer.close()
                client = None
                index = take()
        if client is not None:
            await close(client)

    started = time.perf_counter()
    await asyncio.gather(*(session() for _ in range(sessions)))
    result.wall = time.perf_counter() - started
    return result


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def report(name: str, rcpts: int, result: CaseResult, cpu: float = float("nan")) -> str:
    lat = result.latencies
    median = statistics.median(lat) * 1000 if lat else float("nan")
    p99 = percentile(lat, 0.99) * 1000
    refused = sum(result.refused.values())
    per_message = cpu / result.accepted * 1000 if result.accepted else float("nan")
    line = (
        f"| {name} | {rcpts} | {result.accepted / result.wall:8.1f} | {median:7.2f} | {p99:7.2f} | "
        f"{result.accepted} | {refused} | {len(result.errors)} | {result.connections} | {result.wall:6.1f} "
        f"| {per_message:5.2f} |"
    )
    for reason, count in result.refused.items():
        line += f"\n    refused x{count}: {reason}"
    for error in result.errors[:5]:
        line += f"\n    error: {error}"
    return line


HEADER = (
    "| target | rcpts | msg/s | final reply p50 ms | p99 ms | accepted | refused | errors "
    "| connections | wall s | server CPU ms/msg |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def start_pochta(
    data: Path, log_path: Path, workers: int | None = None, src: Path | None = None
) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    """``src``: run the server from another tree's ``src`` (first on PYTHONPATH), for a before/after."""
    env = {k: v for k, v in os.environ.items() if k != "POCHTA_DATA"}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    log = open(log_path, "wb")  # noqa: SIM115 - the child keeps writing to it
    process = subprocess.Popen(
        [*POCHTA, "serve", "--data", str(data), *([] if workers is None else ["--workers", str(workers)])],
        stdout=subprocess.DEVNULL,
        stderr=log,
        env=env,
    )
    log.close()
    ports: dict[str, int] = {}
    deadline = time.monotonic() + 60
    pattern = re.compile(r"listening name=(\w+) addr=127\.0\.0\.1:(\d+)")
    while not ports.keys() >= WANTED:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit("pochta serve did not start:\n" + log_path.read_text(errors="replace"))
        for match in pattern.finditer(log_path.read_text(errors="replace")):
            ports[match.group(1)] = int(match.group(2))
        time.sleep(0.1)
    return process, ports


def add_settings(path: Path, settings: list[str]) -> None:
    """Append ``SECTION.KEY=VALUE`` settings to a pochta.toml made by ``pochta init`` (which writes no
    section but [listeners] and [tls])."""
    sections: dict[str, list[str]] = {}
    for setting in settings:
        name, _, value = setting.partition("=")
        section, _, key = name.partition(".")
        if not (section and key and value):
            raise SystemExit(f"--setting {setting!r}: expected SECTION.KEY=VALUE")
        sections.setdefault(section, []).append(f"{key} = {value}")
    with path.open("a") as out:
        for section, lines in sections.items():
            out.write(f"\n[{section}]\n" + "\n".join(lines) + "\n")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_sink(lmtp: bool) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    args = [SINK, *(["-L"] if lmtp else []), "-m", "256"]
    if os.geteuid() == 0:
        args += ["-u", "nobody"]
    process = subprocess.Popen([*args, f"127.0.0.1:{port}", "1000"], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("smtp-sink did not start") from None
            time.sleep(0.05)


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=1000, help="messages per case")
    parser.add_argument("--sessions", type=int, default=10, help="parallel client sessions")
    parser.add_argument("--size", type=int, default=10240, help="message size in bytes")
    parser.add_argument("--dir", type=Path, default=None, help="parent of the temporary data directory")
    parser.add_argument("--no-sink", action="store_true", help="skip the smtp-sink ceiling")
    parser.add_argument(
        "--cases",
        default="smtp1,smtp5,lmtp1,lmtp5",
        help="which cases to run, comma-separated (protocol and recipient count: smtp1,lmtp1,...)",
    )
    parser.add_argument("--save-log", type=Path, default=None, help="copy the server's log here at the end")
    parser.add_argument("--runs", type=int, default=1, help="run each case this many times (alternating)")
    parser.add_argument("--workers", type=int, default=None, help="pochta serve --workers (default: its own)")
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="add to pochta.toml (VALUE as TOML, e.g. search.indexer=false); repeatable",
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="pochta-bench-smtp-", dir=args.dir))
    data = tmp / "data"
    server: subprocess.Popen[bytes] | None = None
    lines = [HEADER]
    try:
        pochta(
            "init",
            "--domain",
            DOMAIN,
            *[f"--listen={name}={'127.0.0.1:0' if name in WANTED else 'off'}" for name in LISTENERS],
            data=data,
        )
        for address in ACCOUNTS:
            pochta("user", "add", address, "--password-stdin", data=data, stdin="bench password 123\n")
        add_settings(data / "pochta.toml", args.setting)
        from pochta.config import load_settings

        settings = load_settings(data / "pochta.toml")
        limits = {
            "smtp": settings.smtp.max_messages_per_connection,
            "lmtp": settings.lmtp.max_messages_per_connection,
        }
        server, ports = start_pochta(data, tmp / "serve.log", args.workers)
        print(
            f"pochta serve pid {server.pid}: smtp 127.0.0.1:{ports['smtp']}, lmtp 127.0.0.1:{ports['lmtp']}; "
            f"{args.sessions} sessions, {args.messages} messages of {args.size} B per case, "
            f"messages per connection: smtp {limits['smtp'] or 'unlimited'}, "
            f"lmtp {limits['lmtp'] or 'unlimited'}",
            flush=True,
        )
        chosen = set(args.cases.split(","))
        cases = [(proto, n) for proto in ("smtp", "lmtp") for n in (1, 5) if f"{proto}{n}" in chosen]
        for proto, n in [case for _ in range(args.runs) for case in cases]:
            sets = [[ACCOUNTS[i % 5]] for i in range(5)] if n == 1 else [ACCOUNTS[:]]
            messages = make_messages(args.messages, args.size, sets[0], f"{proto}{n}")
            cpu = tree_cpu_seconds(server.pid)
            result = asyncio.run(
                run_case(
                    "127.0.0.1", ports[proto], proto == "lmtp", messages, sets, args.sessions, limits[proto]
                )
            )
            cpu = tree_cpu_seconds(server.pid) - cpu
            lines.append(report(f"pochta {proto.upper()}", n, result, cpu))
            print(lines[-1], flush=True)
        stop(server)
        code = server.returncode
        server = None
        log = (tmp / "serve.log").read_text(errors="replace")
        if args.save_log is not None:
            args.save_log.write_text(log)
        delivered = sum(int(m) for m in re.findall(r"smtp delivered .*?delivered=(\d+)", log))
        problems = [
            line for line in log.splitlines() if re.search(r"\b(error|warning|critical)\b", line, re.I)
        ]
        print(
            f"pochta serve exited {code}; log: {delivered} recipient deliveries, "
            f"{len(problems)} warning/error lines"
        )
        for line in problems[:10]:
            print("   ", line[:200])
        if not args.no_sink:
            for proto, n in cases:
                sink, port = start_sink(proto == "lmtp")
                try:
                    sets = [[ACCOUNTS[i % 5]] for i in range(5)] if n == 1 else [ACCOUNTS[:]]
                    messages = make_messages(args.messages, args.size, sets[0], f"sink{proto}{n}")
                    result = asyncio.run(
                        run_case(
                            "127.0.0.1", port, proto == "lmtp", messages, sets, args.sessions, limits[proto]
                        )
                    )
                finally:
                    stop(sink)
                lines.append(report(f"smtp-sink {proto.upper()}", n, result))
                print(lines[-1], flush=True)
        print()
        print("\n".join(lines))
    finally:
        if server is not None:
            stop(server)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
