"""How long a failed login takes, per kind of account: does the time tell who exists, and who has
app passwords?

    .venv/bin/python bench/login_timing.py [--rounds 40] [--dir /tmp]

A real SQLite store and the real ``Authenticator`` (delays and lockouts switched off), one login
at a time, the cases taken in turn: a wrong password for an unknown user, a known user, a known
user with 1 and with 5 app passwords; for reference, a right password and a right app password.
Prints the median and the 90th percentile in milliseconds, and how many argon2 verifications each
login ran (counted by wrapping ``argon2.PasswordHasher.verify``).

It also runs against a tree from before app passwords had a lookup digest (``PYTHONPATH=old/src``),
for before/after figures: there ``add_app_password`` takes no digest and the authenticator has no
server secret.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher

from pochta.auth import passwords
from pochta.auth.authenticator import Authenticator, AuthOk
from pochta.config import Settings
from pochta.store.sqlite.store import open_sqlite_store

SECRET = b"s" * 32
VERIFICATIONS = 0


def _count_verifications() -> None:
    real = PasswordHasher.verify

    def verify(hasher: PasswordHasher, encoded: str | bytes, password: str | bytes) -> bool:
        global VERIFICATIONS
        VERIFICATIONS += 1
        return real(hasher, encoded, password)

    PasswordHasher.verify = verify  # type: ignore[method-assign]


async def _add_app_password(store: Any, address: str, name: str, password: str) -> None:
    digest_args = len(inspect.signature(store.add_app_password).parameters) == 4
    password_hash = passwords.hash_password(password)
    if digest_args:
        await store.add_app_password(
            address, name, password_hash, passwords.app_password_lookup(SECRET, password)
        )
    else:  # an older tree
        await store.add_app_password(address, name, password_hash)


def _authenticator(store: Any, settings: Settings) -> Authenticator:
    if "server_secret" in inspect.signature(Authenticator).parameters:
        return Authenticator(store, settings.login, server_secret=SECRET)
    return Authenticator(store, settings.login)  # an older tree


async def run(rounds: int, root: Path) -> None:
    settings = Settings.model_validate({"login": {"failures_before_delay": 10**9, "lockout_after": 10**9}})
    store = await open_sqlite_store(root, settings)
    try:
        await store.add_domain("example.org")
        for name, apps in (("plain", 0), ("one", 1), ("five", 5)):
            address = f"{name}@example.org"
            await store.add_account(address, passwords.hash_password("right"), None)
            for n in range(apps):
                await _add_app_password(store, address, f"device{n}", f"app-secret-{n}")
        auth = _authenticator(store, settings)
        cases = [
            ("unknown user, wrong password", "nobody@example.org", "wrong"),
            ("known user, wrong password", "plain@example.org", "wrong"),
            ("known user + 1 app password, wrong password", "one@example.org", "wrong"),
            ("known user + 5 app passwords, wrong password", "five@example.org", "wrong"),
            ("known user, right password", "plain@example.org", "right"),
            ("known user + 5 app passwords, right app password", "five@example.org", "app-secret-4"),
        ]
        # Round-robin over the cases, so that a machine's changing load weighs on each alike.
        times: dict[str, list[float]] = {label: [] for label, _, _ in cases}
        counts: dict[str, int] = {}
        oks: dict[str, bool] = {}
        global VERIFICATIONS
        for _ in range(rounds):
            for label, address, password in cases:
                VERIFICATIONS = 0
                start = time.perf_counter()
                result = await auth.check_password(address, password, protocol="imap", remote_ip="127.0.0.1")
                times[label].append((time.perf_counter() - start) * 1000)
                counts[label], oks[label] = VERIFICATIONS, isinstance(result, AuthOk)
        print(f"{'login':<50} {'p50 ms':>8} {'p90 ms':>8} {'argon2':>7} {'ok':>4}")
        for label, _, _ in cases:
            p50 = statistics.median(times[label])
            p90 = statistics.quantiles(times[label], n=10)[-1]
            print(f"{label:<50} {p50:8.1f} {p90:8.1f} {counts[label]:7d} {'yes' if oks[label] else 'no':>4}")
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    _count_verifications()
    root = Path(tempfile.mkdtemp(prefix="pochta-login-", dir=args.dir))
    try:
        asyncio.run(run(args.rounds, root / "data"))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
