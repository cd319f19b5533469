"""A big mailbox: fill it, then time what a session does with it.

    .venv/bin/python bench/store_open.py [--messages 100000] [--writers 64] [--threads 64] [--dir /tmp]

Fills one INBOX with ``--messages`` small distinct messages (300 B - 4 KB, varied headers and words)
by ``--writers`` concurrent deliveries (put_blob + parse + deliver, as the store_deliver bench; the
event loop's default thread pool is raised to ``--threads`` so that blob fsyncs overlap), then times:

- ``open_view`` of the mailbox (what IMAP SELECT and POP3 login load), median of 5;
- ``cached()`` of 100 messages spread over the mailbox (FETCH ENVELOPE/BODYSTRUCTURE data), median of 5;
- how long the background search indexer takes to catch up after the fill (revision 0007 on);
- ``search_text`` of a word found in 10 messages, BODY and TEXT, and of a word in most messages
  ("meeting", TEXT), median of 5; ``search_header`` SUBJECT "meeting" (revision 0007 on), median of 5;
- ``reconstruct()`` (full, not a dry run: every blob re-read and re-parsed, counters recomputed).

The temporary data directory is removed at the end (``--keep`` keeps it and prints its path).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pochta.config import Settings
from pochta.mime import parse_message
from pochta.store.model import Target
from pochta.store.sqlite.store import DB_FILE_NAME, SqliteStore, open_sqlite_store

RARE = "quetzalcoatlus"
RARE_EVERY = 10_000  # one message in this many contains the rare word (at least one in all)

# fmt: off
WORDS = [
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on", "not",
    "this", "are", "or", "from", "at", "which", "but", "have", "an", "they", "meeting", "report", "invoice",
    "project", "tomorrow", "please", "thanks", "attached", "review", "deadline", "budget", "schedule",
    "weekend", "coffee", "release", "server", "backup", "offsite", "quarterly", "draft", "agenda", "notes",
]
# fmt: on


def make_message(n: int, rnd: random.Random) -> bytes:
    size = int(rnd.lognormvariate(7.0, 0.7))  # median ~1.1 KB
    size = min(max(size, 300), 4096)
    words = rnd.choices(WORDS, k=max(5, size // 6))
    if n % RARE_EVERY == 7:
        words[len(words) // 2] = RARE
    body = "\r\n".join(" ".join(words[i : i + 12]) for i in range(0, len(words), 12))
    return (
        f"From: {rnd.choice(WORDS).title()} Sender <s{n % 1000}@example.net>\r\n"
        f"To: bench@example.org\r\nSubject: {' '.join(rnd.choices(WORDS, k=5))} #{n}\r\n"
        f"Message-ID: <{n}.{rnd.getrandbits(32):x}@bench.example>\r\n"
        f"Date: Mon, 04 May 2026 {n % 24:02d}:{n % 60:02d}:00 +0000\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{body}\r\n"
    ).encode()


async def fill(store: SqliteStore, mailbox_id: int, count: int, writers: int) -> tuple[float, int]:
    settings = store.settings
    rnd = random.Random(1)
    next_n = 0
    total_bytes = 0
    started = time.perf_counter()
    last_report = started

    async def worker() -> None:
        nonlocal next_n, total_bytes, last_report
        while next_n < count:
            n = next_n
            next_n += 1
            data = make_message(n, rnd)
            total_bytes += len(data)
            blob = await store.put_blob(data)
            parsed = await asyncio.to_thread(parse_message, data, settings.mime)
            await store.deliver(blob, parsed, [Target(mailbox_id)])
            now = time.perf_counter()
            if now - last_report > 30:
                last_report = now
                print(f"  ... {next_n} / {count} after {now - started:.0f} s", flush=True)

    await asyncio.gather(*(worker() for _ in range(writers)))
    return time.perf_counter() - started, total_bytes


async def timed(fn: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, Any]:
    times = []
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = await fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def disk_usage(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


async def main_async(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(args.threads))
    data_dir = Path(tempfile.mkdtemp(prefix="pochta-bench-open-", dir=args.dir))
    rows: list[tuple[str, str]] = []
    try:
        store = await open_sqlite_store(data_dir, Settings())
        try:
            await store.add_domain("example.org")
            account = await store.add_account("bench@example.org", "$argon2id$bench", None)
            inbox = await store.get_mailbox(account.id, "INBOX")
            assert inbox is not None
            print(f"filling INBOX with {args.messages} messages ({args.writers} writers) ...", flush=True)
            before = store.writer_stats.snapshot()
            seconds, total_bytes = await fill(store, inbox.id, args.messages, args.writers)
            after = store.writer_stats.snapshot()
            commits = after.commits - before.commits
            rows.append(
                (
                    "fill",
                    f"{args.messages / seconds:.0f} msg/s ({seconds:.0f} s, {total_bytes / 2**20:.0f} MB, "
                    f"{commits} commits, {args.messages / max(commits, 1):.1f} deliveries/commit)",
                )
            )

            if hasattr(store, "index_pending"):
                t0 = time.perf_counter()
                while (await store.index_pending()).done:
                    pass
                rows.append(("index catch-up", f"{time.perf_counter() - t0:.1f} s after the fill"))

            t, view = await timed(lambda: store.open_view(inbox.id), 5)
            assert len(view.messages) == args.messages
            rows.append(("open_view", f"{t * 1000:.0f} ms ({len(view.messages)} messages)"))

            step = max(1, args.messages // 100)
            uids = [entry.uid for entry in view.messages[::step]][:100]
            t, cached = await timed(lambda: store.cached(inbox.id, uids), 5)
            assert len(cached) == len(uids)
            rows.append((f"cached x{len(uids)}", f"{t * 1000:.1f} ms (spread over the mailbox)"))
            first = [entry.uid for entry in view.messages[:100]]
            t, _ = await timed(lambda: store.cached(inbox.id, first), 5)
            rows.append((f"cached x{len(first)}", f"{t * 1000:.1f} ms (one UID range)"))

            expected = len(range(7, args.messages, RARE_EVERY))
            for field in ("body", "text"):
                t, found = await timed(lambda f=field: store.search_text(inbox.id, RARE, f), 5)
                assert len(found) == expected, (found, expected)
                rows.append((f"search_text {field}", f"{t * 1000:.1f} ms ({len(found)} hits)"))
            t, found = await timed(lambda: store.search_text(inbox.id, "meeting", "text"), 5)
            rows.append(("search_text text common", f"{t * 1000:.1f} ms ({len(found)} hits)"))
            if hasattr(store, "search_header"):
                t, (found, _) = await timed(lambda: store.search_header(inbox.id, "subject", "meeting"), 5)
                rows.append(("search_header subject", f"{t * 1000:.1f} ms ({len(found)} hits)"))
            t, found = await timed(lambda: store.search_text(inbox.id, "qz", "body"), 1)
            rows.append(("search_text 2 chars", f"{t * 1000:.0f} ms (LIKE scan, {len(found)} hits)"))

            t0 = time.perf_counter()
            report = await store.reconstruct(dry_run=False)
            t = time.perf_counter() - t0
            rows.append(
                (
                    "reconstruct",
                    f"{t:.1f} s ({report.messages_reparsed} reparsed, "
                    f"{report.messages_reparsed / t:.0f} msg/s, "
                    f"{report.caches_changed} caches changed)",
                )
            )
        finally:
            await store.close()
        db = data_dir / DB_FILE_NAME
        rows.append(
            (
                "on disk",
                f"db {db.stat().st_size / 2**20:.0f} MB ({db.stat().st_size / total_bytes:.1f} x the "
                f"message bytes), all {disk_usage(data_dir) / 2**20:.0f} MB",
            )
        )
    finally:
        if args.keep:
            print(f"kept {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    print(f"\nstore_open: {args.messages} messages in one mailbox, {os.cpu_count()} CPUs")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--writers", type=int, default=64, help="concurrent deliveries while filling")
    parser.add_argument("--threads", type=int, default=64, help="default thread pool size")
    parser.add_argument("--dir", default=None, help="parent of the temporary data directory")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    args = parser.parse_args()
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
