"""Deliveries per second into the embedded store, with 1 and with N concurrent writers.

    .venv/bin/python bench/store_deliver.py [--messages 2000] [--size 10240] [--writers 1,16]
                                            [--dir /tmp] [--strace]

Each run gets a fresh temporary data directory (removed afterwards), one account, and ``--messages``
distinct messages of about ``--size`` bytes, generated before the clock starts. A delivery is what an
SMTP/LMTP session does after DATA: ``put_blob`` (temp file, fsync, rename, directory fsync), MIME
parse (in a thread), ``deliver`` to INBOX (one writer job; the writer groups concurrent jobs into one
SQLite commit). ``--writers`` tasks pull messages from one queue until it is empty.

Printed per run: deliveries/s (whole pipeline), latency median/p99 of ``deliver`` alone and of the
whole pipeline, SQLite commits per delivery (the writer's commit counter: each COMMIT with
``synchronous=FULL`` in WAL mode costs one fsync of the WAL), and ``os.fsync`` calls per delivery
counted by wrapping ``os.fsync`` in this process: these are the blob store's (file + directory).
SQLite's own fsyncs happen in C and are not seen by the wrapper; commits are their estimate (WAL
checkpoints add a few more). ``--strace`` runs the same benchmark again under ``strace -f -c`` and
prints the real fsync/fdatasync syscall counts of the whole process, to check the estimate (strace
slows the process down: its timings are not reported).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pochta.config import Settings
from pochta.mime import parse_message
from pochta.store.model import Target
from pochta.store.sqlite.store import open_sqlite_store

# fmt: off
WORDS = [
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on", "not",
    "this", "are", "or", "from", "at", "which", "but", "have", "an", "they", "mail", "message", "store",
    "delivery", "commit", "fsync", "blob", "mailbox", "server", "client", "protocol", "header", "body",
]
# fmt: on


class FsyncCounter:
    """Counts os.fsync calls made from Python in this process (any thread)."""

    def __init__(self) -> None:
        self.calls = 0
        self._real = os.fsync

    def __enter__(self) -> FsyncCounter:
        def counting(fd: int) -> None:
            self.calls += 1  # a lost increment under a thread race would only undercount by one
            self._real(fd)

        os.fsync = counting
        return self

    def __exit__(self, *exc: object) -> None:
        os.fsync = self._real


def make_messages(count: int, size: int, seed: int) -> list[bytes]:
    rnd = random.Random(seed)
    out = []
    for n in range(count):
        header = (
            f"From: Sender {n % 97} <sender{n % 97}@example.net>\r\nTo: bench@example.org\r\n"
            f"Subject: bench message {n}\r\nMessage-ID: <{n}.{seed}@bench.example>\r\n"
            "Date: Mon, 04 May 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        )
        words = rnd.choices(WORDS, k=max(1, (size - len(header)) // 5))
        lines = [" ".join(words[i : i + 14]) for i in range(0, len(words), 14)]
        body = "\r\n".join(lines)[: max(0, size - len(header) - 2)] + "\r\n"
        out.append((header + body).encode())
    return out


class WriterWatch:
    """Times every job of the store's writer (bench only: wraps ``Writer.submit`` of this instance,
    which ``Writer.run`` calls): how long it waited from submit to its start inside its batch (the
    queue and the jobs before it, an indexer batch among them), and how long it ran."""

    def __init__(self, writer: Any) -> None:
        self.waits: list[float] = []
        self.runs: list[float] = []
        submit = writer.submit

        def timed(fn: Any, *args: Any, **kwargs: Any) -> Any:
            queued = time.perf_counter()

            def job(conn: Any) -> Any:
                started = time.perf_counter()
                self.waits.append(started - queued)
                try:
                    return fn(conn)
                finally:
                    self.runs.append(time.perf_counter() - started)

            return submit(job, *args, **kwargs)

        writer.submit = timed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Result:
    writers: int
    messages: int
    seconds: float
    per_second: float
    deliver_p50_ms: float
    deliver_p99_ms: float
    total_p50_ms: float
    total_p99_ms: float
    commits: int
    commits_per_delivery: float
    batch_mean: float
    py_fsyncs: int
    py_fsyncs_per_delivery: float
    index_catch_up: float = 0.0  # seconds the search indexer still needed after the last delivery
    wait_p50_ms: float = 0.0  # writer jobs: from submit to the start of the job in its batch
    wait_p99_ms: float = 0.0
    long_jobs: int = 0  # writer jobs that ran 5 ms or more (the indexer's batches)
    long_job_max_ms: float = 0.0

    @property
    def indexed_per_second(self) -> float:
        """Deliveries per second counting the time until the search index had them all."""
        return self.messages / (self.seconds + self.index_catch_up)


async def run(writers: int, messages: list[bytes], parent: str | None, max_seconds: float) -> Result:
    settings = Settings()
    data_dir = Path(tempfile.mkdtemp(prefix="pochta-bench-", dir=parent))
    try:
        store = await open_sqlite_store(data_dir, settings)
        try:
            await store.add_domain("example.org")
            account = await store.add_account("bench@example.org", "$argon2id$bench", None)
            inbox = await store.get_mailbox(account.id, "INBOX")
            assert inbox is not None
            queue: asyncio.Queue[bytes] = asyncio.Queue()
            for data in messages:
                queue.put_nowait(data)
            deliver_ms: list[float] = []
            total_ms: list[float] = []
            deadline = time.monotonic() + max_seconds

            async def worker() -> None:
                while not queue.empty() and time.monotonic() < deadline:
                    data = queue.get_nowait()
                    t0 = time.perf_counter()
                    blob = await store.put_blob(data)
                    parsed = await asyncio.to_thread(parse_message, data, settings.mime)
                    t1 = time.perf_counter()
                    await store.deliver(blob, parsed, [Target(inbox.id)])
                    t2 = time.perf_counter()
                    deliver_ms.append((t2 - t1) * 1000)
                    total_ms.append((t2 - t0) * 1000)

            watch = WriterWatch(store.writer)
            before = store.writer_stats.snapshot()
            with FsyncCounter() as fsyncs:
                start = time.perf_counter()
                await asyncio.gather(*(worker() for _ in range(writers)))
                seconds = time.perf_counter() - start
            after = store.writer_stats.snapshot()
            catch_up = 0.0
            if hasattr(store, "index_pending"):  # revision 0007 on: indexing is in the background
                t0 = time.perf_counter()
                while (await store.index_pending()).done:
                    pass
                catch_up = time.perf_counter() - t0
            done = len(deliver_ms)
            commits = after.commits - before.commits
            jobs = after.jobs - before.jobs
            return Result(
                writers=writers,
                messages=done,
                seconds=seconds,
                per_second=done / seconds,
                deliver_p50_ms=statistics.median(deliver_ms),
                deliver_p99_ms=percentile(deliver_ms, 0.99),
                total_p50_ms=statistics.median(total_ms),
                total_p99_ms=percentile(total_ms, 0.99),
                commits=commits,
                commits_per_delivery=commits / done,
                batch_mean=jobs / commits if commits else 0.0,
                py_fsyncs=fsyncs.calls,
                py_fsyncs_per_delivery=fsyncs.calls / done,
                index_catch_up=catch_up,
                wait_p50_ms=statistics.median(watch.waits) * 1000,
                wait_p99_ms=percentile(watch.waits, 0.99) * 1000,
                long_jobs=sum(1 for t in watch.runs if t >= 0.005),
                long_job_max_ms=max(watch.runs, default=0.0) * 1000,
            )
        finally:
            await store.close()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def print_table(results: list[Result]) -> None:
    print(
        f"{'writers':>7} {'msgs':>6} {'secs':>6} {'deliv/s':>8} {'deliver p50/p99 ms':>19} "
        f"{'pipeline p50/p99 ms':>20} {'commits/deliv':>13} {'jobs/commit':>11} {'py fsync/deliv':>14} "
        f"{'indexed/s':>9} {'job wait p50/p99 ms':>19} {'jobs >=5ms (max ms)':>19}"
    )
    for r in results:
        print(
            f"{r.writers:>7} {r.messages:>6} {r.seconds:>6.1f} {r.per_second:>8.0f} "
            f"{r.deliver_p50_ms:>9.1f} / {r.deliver_p99_ms:<7.1f} "
            f"{r.total_p50_ms:>9.1f} / {r.total_p99_ms:<8.1f} "
            f"{r.commits_per_delivery:>13.3f} {r.batch_mean:>11.1f} {r.py_fsyncs_per_delivery:>14.2f} "
            f"{r.indexed_per_second:>9.0f} {r.wait_p50_ms:>9.2f} / {r.wait_p99_ms:<7.2f} "
            f"{r.long_jobs:>8} ({r.long_job_max_ms:.1f})"
        )
    print(
        "deliver = store.deliver() alone; pipeline = put_blob + parse + deliver.\n"
        "commits = SQLite COMMITs (one WAL fsync each, synchronous=FULL); "
        "py fsync = os.fsync calls from Python (blob file + directories).\n"
        "indexed/s = deliveries per second until the search index held them all (the background "
        "indexer's catch-up after the last delivery added to the time).\n"
        "job wait = from a writer job's submit to its start in its batch (every job: deliveries and the "
        "indexer's); jobs >=5ms = jobs that ran that long (the indexer's batches), and the longest."
    )


def run_strace(args: argparse.Namespace) -> None:
    if shutil.which("strace") is None:
        print("strace not found: skipping the syscall count")
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "strace.txt"
        argv = [sys.argv[0], "--messages", str(args.messages), "--size", str(args.size)]
        argv += ["--writers", args.writers, "--json"] + (["--dir", args.dir] if args.dir else [])
        proc = subprocess.run(
            ["strace", "-f", "-c", "-e", "trace=fsync,fdatasync", "-o", str(out), sys.executable, *argv],
            capture_output=True,
            text=True,
            check=True,
        )
        runs = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        calls = {}
        for line in out.read_text().splitlines():
            fields = line.split()
            if fields and fields[-1] in ("fsync", "fdatasync"):
                calls[fields[-1]] = int(fields[3])
    total = sum(r["messages"] for r in runs)
    syscalls = sum(calls.values())
    py = sum(r["py_fsyncs"] for r in runs)
    commits = sum(r["commits"] for r in runs)
    print(f"\nunder strace -f (all runs together, {total} deliveries, plus store setup and close):")
    print(f"  fsync+fdatasync syscalls: {calls} = {syscalls / total:.2f} per delivery")
    print(
        f"  estimate: py os.fsync {py} + SQLite commits {commits} = {(py + commits) / total:.2f} "
        "per delivery (the rest: SQLite checkpoints, setup, and other batching under strace)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--size", type=int, default=10 * 1024)
    parser.add_argument("--writers", default="1,16", help="comma-separated concurrency levels")
    parser.add_argument("--dir", default=None, help="parent of the temporary data directory")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="per run; stops early past it")
    parser.add_argument("--strace", action="store_true", help="also count real fsync syscalls")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    results = []
    for writers in (int(w) for w in args.writers.split(",")):
        messages = make_messages(args.messages, args.size, seed=writers)
        result = asyncio.run(run(writers, messages, args.dir, args.max_seconds))
        results.append(result)
        if args.json:
            print(json.dumps(asdict(result)), flush=True)
    if args.json:
        return
    print(f"store_deliver: {args.messages} messages of {args.size} bytes per run, {os.cpu_count()} CPUs")
    print_table(results)
    if args.strace:
        run_strace(args)


if __name__ == "__main__":
    main()
