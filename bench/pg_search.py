"""IMAP SEARCH on PostgreSQL (pg_trgm) against SQLite (FTS5 trigram), on the same messages.

    .venv/bin/python bench/pg_search.py [--messages 10000] [--writers 1] [--engines pg,pg-noindex,sqlite]

For each engine: a fresh store (PostgreSQL: a throw-away cluster, ``pochta.testing.pg_cluster``,
fsync off as in the tests; SQLite: a temporary data directory), one INBOX filled with
``--messages`` messages of ``store_open.make_message`` by ``--writers`` concurrent deliveries
(put_blob + parse + deliver), then:

- deliveries per second, and how long the background indexer's batches take to empty the queue
  after the fill (on PostgreSQL only the queue rows: the trigram index was kept by each insert);
- on PostgreSQL, ``ANALYZE`` then (autovacuum's work, done at once: right after a bulk fill the
  planner has no statistics of the new rows and walks the mailbox instead of the trigram index;
  the first search is printed before it);
- ``search_text`` (median of 5, ms) of a word in 1 message in 10,000 (BODY and TEXT), of a word in
  most messages ("meeting", BODY), of a 2-character string (no trigram: the mailbox's texts are
  checked) and of an absent word; ``search_header`` SUBJECT of the rare word.

``pg-noindex`` is PostgreSQL with the trigram indexes dropped before the fill: what the indexes cost
each delivery and save each search.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pochta.config import Settings
from pochta.mime import parse_message
from pochta.store.api import Store
from pochta.store.model import Target
from pochta.store.pg.search import TRIGRAM_INDEXES
from pochta.store.pg.store import open_pg_store
from pochta.store.sqlite.store import open_sqlite_store
from pochta.testing import pg_cluster as clusters
from pochta.testing.store_suite import mailbox, make_account

try:  # the bench runs from the checkout: bench/ is not a package
    from store_open import RARE, make_message
except ImportError:  # pragma: no cover
    from bench.store_open import RARE, make_message


async def _median_ms(fn: Callable[[], Awaitable[Any]], repeat: int = 5) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = await fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, result


async def _fill(store: Store, mailbox_id: int, count: int, writers: int) -> float:
    settings = Settings()
    rnd = random.Random(1)
    messages = iter(range(count))

    async def writer() -> None:
        for n in messages:
            data = make_message(n, rnd)
            blob = await store.put_blob(data)
            parsed = parse_message(data, settings.mime)
            await store.deliver(blob, parsed, [Target(mailbox_id, frozenset(), None)])

    started = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(writers)))
    return count / (time.perf_counter() - started)


async def _run(name: str, store: Store, args: argparse.Namespace, analyze: Callable[[], None] | None) -> None:
    await store.stop_indexer()
    inbox = await mailbox(store, await make_account(store))
    rate = await _fill(store, inbox.id, args.messages, args.writers)
    started = time.perf_counter()
    while (await store.index_pending()).done:
        pass
    catch_up = time.perf_counter() - started
    print(f"{name}: {args.messages} messages, {rate:.0f} deliveries/s, indexer catch-up {catch_up:.2f} s")
    if analyze is not None:
        ms, _ = await _median_ms(lambda: store.search_text(inbox.id, RARE, "body"), 1)
        print(f"  BODY {RARE} before ANALYZE: {ms:.2f} ms")
        analyze()
    cases: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        (f"BODY {RARE}", lambda: store.search_text(inbox.id, RARE, "body")),
        (f"TEXT {RARE}", lambda: store.search_text(inbox.id, RARE, "text")),
        ("BODY meeting", lambda: store.search_text(inbox.id, "meeting", "body")),
        ("BODY qu (2 chars)", lambda: store.search_text(inbox.id, "qu", "body")),
        ("TEXT absentword", lambda: store.search_text(inbox.id, "absentword", "text")),
        (f"SUBJECT {RARE}", lambda: store.search_header(inbox.id, "subject", RARE)),
    ]
    for label, fn in cases:
        ms, result = await _median_ms(fn)
        found = len(result[0]) if isinstance(result, tuple) else len(result)
        print(f"  {label:<22} {ms:9.2f} ms  ({found} found)")


async def main_async(args: argparse.Namespace) -> None:
    engines = args.engines.split(",")
    cluster = clusters.start_cluster() if any(e.startswith("pg") for e in engines) else None
    try:
        for number, engine in enumerate(engines):
            with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
                data_dir = Path(tmp) / "data"
                store: Store
                analyze: Callable[[], None] | None = None
                if engine.startswith("pg"):
                    assert cluster is not None
                    url = cluster.create_database(f"bench{number}")
                    pg = await open_pg_store(url, data_dir, Settings())
                    if engine == "pg-noindex":
                        for index in TRIGRAM_INDEXES:
                            cluster.execute(f"DROP INDEX {index}", f"bench{number}")
                    store = pg
                    database = f"bench{number}"
                    analyze = lambda: cluster.execute("ANALYZE", database)  # noqa: E731, B023
                else:
                    store = await open_sqlite_store(data_dir, Settings(), indexer=False)
                try:
                    await _run(engine, store, args, analyze)
                finally:
                    await store.close()
    finally:
        if cluster is not None:
            cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--writers", type=int, default=1)
    parser.add_argument("--engines", default="pg,pg-noindex,sqlite")
    parser.add_argument("--dir", default=None, help="where the temporary data directories go")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
