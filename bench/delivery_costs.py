"""Where LMTP delivery time goes: the `lmtp1` case of smtp_accept.py against several `pochta serve`
set-ups in turns, with the server's CPU per message split by process, its catch-up after the clients
are done (the indexer's work on what was just delivered), and optionally the fsyncs per message.

    .venv/bin/python bench/delivery_costs.py --variant default= --variant noindex=search.indexer=false \\
        --runs 3 --messages 2000 --size 4096 [--strace]

A variant is NAME[@SRC]=SETTING[,SETTING...] (SETTING as in smtp_accept.py --setting; none for
defaults; SRC: run that server from another tree's src, e.g. `git archive main src | tar -x -C /tmp/b`
and `--variant main@/tmp/b/src=`);
each gets its own data directory and server, started once and driven in turns (variant A, B, A, B,
...), so the machine's load moves them alike. Columns per variant (medians over the runs):
- msg/s: accepted messages per second of the case's wall time;
- CPU ms/msg: user + system of the whole server tree over the case; + catch-up: also what it spent
  after the case until it went idle (100 ms of CPU within 1 s), i.e. indexing what was delivered;
- per process: the same (with catch-up) for the supervisor and each worker by PID;
- fsync/msg (`--strace`, in an extra untimed run per variant): fsync + fdatasync calls of the tree
  (strace -c -f attached to every process) per message, including the catch-up.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from proc_stats import _stat_fields, process_tree, tree_cpu_seconds
from smtp_accept import (
    ACCOUNTS,
    DOMAIN,
    LISTENERS,
    WANTED,
    add_settings,
    make_messages,
    pochta,
    run_case,
    start_pochta,
    stop,
)


@dataclass
class Variant:
    name: str
    settings: list[str]
    data: Path
    src: Path | None = None
    server: subprocess.Popen[bytes] | None = None
    port: int = 0
    rates: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # ms/msg during the case
    cpu_all: list[float] = field(default_factory=list)  # ms/msg with the catch-up
    per_process: dict[str, list[float]] = field(default_factory=dict)
    fsyncs: float = float("nan")


def cpu_by_process(root: int) -> dict[int, float]:
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in process_tree(root):
        fields = _stat_fields(pid)
        if fields is not None:
            out[pid] = sum(int(fields[i]) for i in (11, 12, 13, 14)) / ticks
    return out


def wait_idle(root: int, limit: float = 120) -> None:
    """Until the tree used less than 0.1 s of CPU in a second (or ``limit`` seconds passed)."""
    deadline = time.monotonic() + limit
    last = tree_cpu_seconds(root)
    while time.monotonic() < deadline:
        time.sleep(1)
        now = tree_cpu_seconds(root)
        if now - last < 0.1:
            return
        last = now


def one_case(
    variant: Variant, messages: list[bytes], sessions: int
) -> tuple[float, float, float, dict[int, float]]:
    assert variant.server is not None
    root = variant.server.pid
    before = cpu_by_process(root)
    sets = [[ACCOUNTS[i % 5]] for i in range(5)]
    result = asyncio.run(run_case("127.0.0.1", variant.port, True, messages, sets, sessions, 0))
    during = sum(cpu_by_process(root).values()) - sum(before.values())
    wait_idle(root)
    after = cpu_by_process(root)
    if result.errors or result.refused:
        print(f"    {variant.name}: {len(result.errors)} errors, refused {result.refused}", flush=True)
    n = max(result.accepted, 1)
    per = {pid: (after[pid] - before.get(pid, 0.0)) * 1000 / n for pid in after}
    total = sum(after.values()) - sum(before.values())
    return result.accepted / result.wall, during * 1000 / n, total * 1000 / n, per


def count_fsyncs(variant: Variant, messages: list[bytes], sessions: int) -> float:
    assert variant.server is not None
    pids = process_tree(variant.server.pid)
    out = variant.data.parent / f"strace-{variant.name}.txt"
    args = ["strace", "-c", "-f", "-e", "trace=fsync,fdatasync", "-o", str(out)]
    for pid in pids:
        args += ["-p", str(pid)]
    tracer = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1)
        sets = [[ACCOUNTS[i % 5]] for i in range(5)]
        result = asyncio.run(run_case("127.0.0.1", variant.port, True, messages, sets, sessions, 0))
        wait_idle(variant.server.pid)
    finally:
        os.kill(tracer.pid, signal.SIGINT)
        tracer.wait(30)
    calls = 0
    for line in out.read_text().splitlines():
        match = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(fsync|fdatasync)$", line)
        if match:
            calls += int(match.group(1))
    return calls / max(result.accepted, 1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variant", action="append", default=[], help="NAME[@SRC]=SETTING[,SETTING...]")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--strace", action="store_true", help="also count fsyncs per message (untimed run)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pochta-bench-delivery-"))
    variants: list[Variant] = []
    for spec in args.variant or ["default="]:
        name, _, settings = spec.partition("=")
        name, _, src = name.partition("@")
        chosen = [s for s in settings.split(",") if s]
        variants.append(Variant(name, chosen, tmp / name / "data", Path(src) if src else None))
    try:
        print(f"load average at start: {os.getloadavg()}", flush=True)
        for v in variants:
            listen = [f"--listen={n}={'127.0.0.1:0' if n in WANTED else 'off'}" for n in LISTENERS]
            pochta("init", "--domain", DOMAIN, *listen, data=v.data)
            for address in ACCOUNTS:
                pochta("user", "add", address, "--password-stdin", data=v.data, stdin="bench password 123\n")
            add_settings(v.data / "pochta.toml", v.settings)
            v.server, ports = start_pochta(v.data, v.data.parent / "serve.log", args.workers, v.src)
            v.port = ports["lmtp"]
        time.sleep(2)
        for run in range(args.runs):
            for v in variants:
                messages = make_messages(args.messages, args.size, [ACCOUNTS[0]], f"{v.name}{run}")
                rate, cpu, cpu_all, per = one_case(v, messages, args.sessions)
                v.rates.append(rate)
                v.cpu.append(cpu)
                v.cpu_all.append(cpu_all)
                assert v.server is not None
                for pid, ms in per.items():
                    role = "supervisor" if pid == v.server.pid else f"worker {pid}"
                    v.per_process.setdefault(role, []).append(ms)
                shown = ", ".join(f"{pid} {ms:.2f}" for pid, ms in per.items())
                print(
                    f"  run {run + 1} {v.name}: {rate:,.0f} msg/s, CPU {cpu:.2f} ms/msg, "
                    f"with catch-up {cpu_all:.2f} ({shown}); load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
        if args.strace:
            for v in variants:
                messages = make_messages(args.messages, args.size, [ACCOUNTS[0]], f"{v.name}strace")
                v.fsyncs = count_fsyncs(v, messages, args.sessions)
        print(f"load average at end: {os.getloadavg()}")
        print("| variant | msg/s | CPU ms/msg | + catch-up | per process (with catch-up) | fsync/msg |")
        print("|---|---:|---:|---:|---|---:|")
        for v in variants:
            parts = ", ".join(f"{role} {statistics.median(ms):.2f}" for role, ms in v.per_process.items())
            print(
                f"| {v.name} {' '.join(v.settings)} | {statistics.median(v.rates):,.0f} | "
                f"{statistics.median(v.cpu):.2f} | {statistics.median(v.cpu_all):.2f} | {parts} | "
                f"{v.fsyncs:.2f} |"
            )
    finally:
        for v in variants:
            if v.server is not None:
                stop(v.server)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
