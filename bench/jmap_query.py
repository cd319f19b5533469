"""Email/query on a big mailbox: the common query (``inMailbox`` sorted by receivedAt descending,
``limit`` 50) and a few others, timed through the real handler (``server/jmap/email_query``) on a
store filled as ``store_open.py`` fills it.

    .venv/bin/python bench/jmap_query.py [--messages 100000] [--writers 64] [--dir /tmp] [--keep PATH]

``--keep PATH`` keeps the filled data directory at PATH, and reuses it when it exists (the fill of
100,000 messages takes minutes). Each query is timed first (cold: the mailbox view is read) and
as the median of 5 more. No HTTP: the figures are the method's own.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE)]

from store_open import fill  # noqa: E402

from pochta.config import Settings  # noqa: E402
from pochta.proto.jmap import MAIL_CAPABILITY, CreatedIds  # noqa: E402
from pochta.proto.jmap.mail.ids import mailbox_id  # noqa: E402
from pochta.server.jmap import CallContext, RequestState, principal_of  # noqa: E402
from pochta.server.jmap.email_query import email_query  # noqa: E402
from pochta.store.sqlite.store import open_sqlite_store  # noqa: E402

USER = "bench@example.org"


async def main_async(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(args.threads))
    data_dir = (
        Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pochta-bench-jq-", dir=args.dir))
    )
    fresh = not (data_dir / "pochta.db").exists()
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings()
    try:
        store = await open_sqlite_store(data_dir, settings)
        try:
            if fresh:
                await store.add_domain("example.org")
                await store.add_account(USER, "$argon2id$bench", None)
            account = await store.get_account(USER)
            assert account is not None
            inbox = await store.get_mailbox(account.id, "INBOX")
            assert inbox is not None
            if fresh:
                print(f"filling INBOX with {args.messages} messages ...", flush=True)
                seconds, _ = await fill(store, inbox.id, args.messages, args.writers)
                print(f"filled in {seconds:.0f} s; indexing ...", flush=True)
                while (r := await store.index_pending(1000)).added or r.filled or r.dropped or r.threaded:
                    pass
            principal = principal_of(account, {MAIL_CAPABILITY})
            queries: dict[str, dict[str, Any]] = {
                "inMailbox, receivedAt desc, limit 50": {
                    "filter": {"inMailbox": mailbox_id(inbox.id)},
                    "sort": [{"property": "receivedAt", "isAscending": False}],
                    "limit": 50,
                },
                "same, calculateTotal": {
                    "filter": {"inMailbox": mailbox_id(inbox.id)},
                    "sort": [{"property": "receivedAt", "isAscending": False}],
                    "limit": 50,
                    "calculateTotal": True,
                },
                "same, position 50000": {
                    "filter": {"inMailbox": mailbox_id(inbox.id)},
                    "sort": [{"property": "receivedAt", "isAscending": False}],
                    "position": 50_000,
                    "limit": 50,
                },
                "text rare word, limit 50": {"filter": {"text": "quetzalcoatlus"}, "limit": 50},
                "subject sort, limit 50": {"sort": [{"property": "subject"}], "limit": 50},
            }
            rows = []
            for name, arguments in queries.items():
                times = []
                result: dict[str, Any] = {}
                for _ in range(6):
                    context = CallContext(
                        "Email/query",
                        "c",
                        frozenset({MAIL_CAPABILITY}),
                        MAIL_CAPABILITY,
                        principal,
                        settings,
                        store,
                        RequestState(CreatedIds.starting_with(None)),
                    )
                    started = time.perf_counter()
                    result = await email_query(context, {"accountId": principal.own_id, **arguments})
                    times.append((time.perf_counter() - started) * 1000)
                rows.append((name, times[0], statistics.median(times[1:]), len(result["ids"])))
            count = await store.get_mailbox(account.id, "INBOX")
            print(f"\nEmail/query on a mailbox of {count.messages if count else '?'} messages (ms)")
            print(f"{'query':42} {'first':>9} {'median':>9} {'ids':>5}")
            for name, first, median, ids in rows:
                print(f"{name:42} {first:9.1f} {median:9.1f} {ids:5}")
        finally:
            await store.close()
    finally:
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--writers", type=int, default=64)
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--dir", default=None)
    parser.add_argument("--keep", default=None)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
