"""The quota check inside a write (``sqlite/quota.enforce_quota``'s statement) alone, for one account.

    .venv/bin/python bench/quota_check.py [--mode none|unit] [--runs 20000] [--rounds 7]

A fresh temporary data directory, one domain with 200 accounts; ``--mode unit`` puts one of them
in a unit that sets ``quota.bytes`` (docs/units.md "Storage quota"), ``none`` leaves every unit
without a quota (the delivery hot path of an installation that uses no unit quotas). The statement
runs ``--runs`` times per round on a plain sqlite3 connection; printed: the median per check over
``--rounds`` rounds. Run it from another tree (PYTHONPATH=old/src) to compare with an older query:
one that has no ``_sql_limited`` is the query before unit quotas, bound with the id once.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from pochta.config import Settings
from pochta.store.sqlite import quota
from pochta.store.sqlite.store import DB_FILE_NAME, open_sqlite_store


async def prepare(data_dir: Path, unit_quota: bool) -> int:
    store = await open_sqlite_store(data_dir, Settings())
    try:
        await store.add_domain("example.org")
        for n in range(200):
            await store.add_account(f"u{n}@example.org", "!", None, None)
        if unit_quota:
            await store.add_unit("staff")
            await store.set_account_unit("u7@example.org", "staff")
            await store.set_unit_settings("staff", {"quota.bytes": 10**9})
        account = await store.get_account("u7@example.org")
        assert account is not None
        return int(account.id)
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["none", "unit"], default="none")
    parser.add_argument("--runs", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        account = asyncio.run(prepare(data_dir, args.mode == "unit"))
        if hasattr(quota, "_sql_limited"):
            sql, params = quota._sql_limited(1), (account,) * 3
        else:  # the query before unit quotas
            sql, params = quota._SQL_LIMITED + "(?)", (account,)
        conn = sqlite3.connect(data_dir / DB_FILE_NAME)
        rows = conn.execute(sql, params).fetchall()
        rounds = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            for _ in range(args.runs):
                conn.execute(sql, params).fetchall()
            rounds.append((time.perf_counter() - start) / args.runs * 1e6)
        conn.close()
    print(f"{args.mode}: {statistics.median(rounds):.1f} us per check (rows: {rows})")


if __name__ == "__main__":
    main()
