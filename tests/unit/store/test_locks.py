"""Session locks (``store.locks``, ``Store.try_lock``) across processes: held by another process,
refused here at once; dropped by the kernel when the holder dies, SIGKILL included."""

from __future__ import annotations

import asyncio
import signal
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from client_process import LockBusy, lock_holder
from pochta.config import Settings
from pochta.server.pop3.maildrop import MaildropLocks
from pochta.store.locks import LOCK_DIR, FileLocks
from pochta.store.sqlite.store import SqliteStore, open_sqlite_store


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
async def store(data_dir: Path) -> AsyncIterator[SqliteStore]:
    opened = await open_sqlite_store(data_dir, Settings())
    try:
        yield opened
    finally:
        await opened.close()


async def test_lock_held_by_another_process_until_it_is_killed(store: SqliteStore, data_dir: Path) -> None:
    locks = MaildropLocks(store)
    name = MaildropLocks.name(42, recent=False)
    async with lock_holder(data_dir, name) as holder:
        # RFC 1939 §8 / RFC 2449 §8.1.1 [IN-USE]: refused at once, not waited for.
        assert not await locks.acquire(42, recent=False)
        assert not locks.held(42)
        # The recent: lock and other accounts are other locks.
        assert await locks.acquire(42, recent=True)
        assert await locks.acquire(43, recent=False)
        # A worker killed while holding it: the kernel gives the lock back.
        holder.send_signal(signal.SIGKILL)
        assert await holder.wait() == -signal.SIGKILL
        assert await locks.acquire(42, recent=False)
        assert locks.held(42)
    # Now this process holds it: another process is refused.
    with pytest.raises(LockBusy):
        async with lock_holder(data_dir, name):
            pass
    await locks.release(42, recent=False)
    async with lock_holder(data_dir, name) as holder:
        holder.terminate()  # any death releases it, a clean one too
        await holder.wait()
    assert await locks.acquire(42, recent=False)
    for account, recent in ((42, False), (42, True), (43, False)):
        await locks.release(account, recent)
    assert not locks.held(42)


async def test_locks_between_sessions_of_one_process(store: SqliteStore, data_dir: Path) -> None:
    # Two POP3 handlers of one worker use one MaildropLocks; two stores in one process (as two
    # handles) are refused by flock itself: each try_lock opens the file anew.
    first, second = FileLocks(data_dir), FileLocks(data_dir)
    held = first.try_lock("pop3-1")
    assert held is not None
    assert first.try_lock("pop3-1") is None
    assert second.try_lock("pop3-1") is None
    assert await store.try_lock("pop3-1") is None
    await held.release()
    assert not held.held
    again = second.try_lock("pop3-1")
    assert again is not None
    again.release_sync()


async def test_lock_files_stay_and_are_private(data_dir: Path) -> None:
    locks = FileLocks(data_dir)
    lock = locks.try_lock("pop3-5")
    assert lock is not None
    await lock.release()
    directory = data_dir / LOCK_DIR
    path = directory / "pop3-5"
    # Never deleted: unlinking on release would race a process that opened the path just before.
    assert path.exists()
    assert stat.S_IMODE(directory.stat().st_mode) & 0o077 == 0
    assert stat.S_IMODE(directory.parent.stat().st_mode) & 0o077 == 0
    assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0
    # A symlink planted in place of a lock file is not followed.
    (directory / "pop3-6").symlink_to(data_dir / "elsewhere")
    with pytest.raises(OSError, match="symbolic link"):  # ELOOP
        locks.try_lock("pop3-6")
    assert not (data_dir / "elsewhere").exists()


async def test_a_dropped_lock_is_given_back(data_dir: Path) -> None:
    locks = FileLocks(data_dir)
    lock = locks.try_lock("pop3-9")
    assert lock is not None
    del lock  # a bug would lose it; collecting the object closes its descriptor
    await asyncio.sleep(0)
    again = locks.try_lock("pop3-9")
    assert again is not None
    again.release_sync()
