"""Other processes an async test runs: an external client binary (fetchmail, swaks, curl ...),
or another pochta process holding a session lock."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path


async def run(*argv: str, stdin: bytes = b"", env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run a client to completion (60 s at most); its exit code and combined output."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    async with asyncio.timeout(60):
        out, _ = await process.communicate(stdin)
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace")


class LockBusy(Exception):
    """``lock_holder``'s process found the lock held."""


@contextlib.asynccontextmanager
async def lock_holder(
    data_dir: Path, name: str, store_url: str = ""
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Another process holding the store's session lock ``name`` on ``data_dir`` (as another worker
    would) until it is killed or the block ends; yields it once it holds the lock. LockBusy when
    the lock is held already (by this process or another). ``store_url``: a PostgreSQL store's
    (its locks are advisory locks in the database, pg/locks.py), "" for SQLite's files."""
    if store_url:
        take = (
            "from pochta.store.pg.locks import PgLocks\n"
            f"lock = PgLocks({store_url!r}).try_lock_sync({name!r})\n"
        )
    else:
        take = (
            "from pochta.store.locks import FileLocks\n"
            f"lock = FileLocks(Path({str(data_dir)!r})).try_lock({name!r})\n"
        )
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        f"{take}"
        "print('busy' if lock is None else 'locked', flush=True)\n"
        "sys.stdin.read()  # held until the parent closes stdin or kills us\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(60):
            line = await process.stdout.readline()
        if line == b"busy\n":
            raise LockBusy(name)
        assert line == b"locked\n", (line, await process.wait())
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
