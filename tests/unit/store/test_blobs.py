"""Content-addressed blob files: durability order, idempotency, adoption, checks, collection."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pochta.store.blobs import BlobStore

DATA = b"From: a@example.org\r\nSubject: blob\r\n\r\nbody\r\n"
SHA = hashlib.sha256(DATA).hexdigest()

Event = tuple[str, str]


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "data" / "blobs")


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[Event]:
    """Record fsync (of a file or a directory, by path) and rename calls, in order."""
    recorded: list[Event] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        kind = "dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
        recorded.append((f"fsync {kind}", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        recorded.append(("rename", str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return recorded


def test_put_fsyncs_file_then_rename_then_directories(blobs: BlobStore, events: list[Event]) -> None:
    blobs.ensure_dirs()
    events.clear()
    ref = blobs.put_sync(DATA)
    final = blobs.path_for(SHA)
    assert (ref.sha256, ref.size) == (SHA, len(DATA))
    assert final == blobs.root / SHA[:2] / SHA[2:4] / SHA
    assert final.read_bytes() == DATA
    kinds = [kind for kind, _ in events]
    assert kinds == ["fsync file", "fsync dir", "fsync dir", "rename", "fsync dir"]
    assert Path(events[0][1]).parent == blobs.tmp  # the bytes are durable under a temporary name...
    assert events[1][1] == str(blobs.root)  # ...each directory created is made durable in its parent...
    assert events[2][1] == str(final.parent.parent)
    assert events[3][1] == str(final)  # ...then the name is given...
    assert events[4][1] == str(final.parent)  # ...and made durable
    assert list(blobs.tmp.iterdir()) == []


def test_second_blob_in_existing_directories(blobs: BlobStore, events: list[Event]) -> None:
    blobs.put_sync(DATA)
    other = DATA + b"x"
    sha = hashlib.sha256(other).hexdigest()
    events.clear()
    blobs.put_sync(other)
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "fsync file"
    assert kinds[-2:] == ["rename", "fsync dir"]
    assert events[-1][1] == str(blobs.path_for(sha).parent)


def test_directories_made_durable_once_per_process(tmp_path: Path, events: list[Event]) -> None:
    """A fan-out directory this store has made (or fsync'ed) is not fsync'ed in its parent again;
    one that already existed is, once, before the first blob is renamed into it: another process
    or thread may have made it without its name being durable yet."""
    root = tmp_path / "data" / "blobs"
    first = BlobStore(root)
    first.put_sync(DATA)
    sibling = _same_directory(DATA + b"sibling")
    events.clear()
    first.put_sync(sibling)  # same ab/cd/: only the file and the directory receiving its name
    assert [kind for kind, _ in events] == ["fsync file", "rename", "fsync dir"]
    again = BlobStore(root)  # a fresh process: the directories exist, but it has not seen them
    third = _same_directory(DATA + b"third")
    events.clear()
    again.put_sync(third)
    assert events[1:3] == [("fsync dir", str(root)), ("fsync dir", str(root / SHA[:2]))]
    assert [kind for kind, _ in events] == ["fsync file", "fsync dir", "fsync dir", "rename", "fsync dir"]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _same_directory(data: bytes) -> bytes:
    """``data`` with a suffix that puts its blob in DATA's ab/cd/ directory (1 in 65,536 tries)."""
    n = 0
    while _sha(found := data + str(n).encode())[:4] != SHA[:4]:
        n += 1
    return found


def test_put_is_idempotent(blobs: BlobStore, events: list[Event]) -> None:
    first = blobs.put_sync(DATA)
    path = blobs.path_for(SHA)
    past = time.time() - 10_000
    os.utime(path, (past, past))
    events.clear()
    assert blobs.put_sync(DATA) == first
    assert events == []  # nothing written, nothing to fsync
    assert path.stat().st_mtime > past + 5000  # refreshed: garbage collection leaves it alone
    assert blobs.list_sync() == {SHA}


def test_put_makes_a_missing_tmp_directory_again(blobs: BlobStore) -> None:
    blobs.put_sync(DATA)
    blobs.tmp.rmdir()  # an operator's hand
    other = DATA + b"more\r\n"
    ref = blobs.put_sync(other)
    assert blobs.tmp.is_dir()
    assert blobs.verify_sync(ref.sha256)
    assert list(blobs.tmp.iterdir()) == []


def test_put_rewrites_a_truncated_blob(blobs: BlobStore) -> None:
    blobs.put_sync(DATA)
    path = blobs.path_for(SHA)
    path.write_bytes(DATA[:10])  # what a failing disk might leave
    assert not blobs.verify_sync(SHA)
    blobs.put_sync(DATA)
    assert blobs.verify_sync(SHA)


def test_failed_rename_leaves_nothing(blobs: BlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    blobs.ensure_dirs()

    def broken(src: str, dst: str) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="I/O error"):
        blobs.put_sync(DATA)
    assert not blobs.exists_sync(SHA)
    assert list(blobs.tmp.iterdir()) == []


def test_put_file_adopts_the_spool_file(blobs: BlobStore, tmp_path: Path, events: list[Event]) -> None:
    spool = tmp_path / "spool"
    spool.write_bytes(DATA)
    blobs.ensure_dirs()
    events.clear()
    ref = blobs.put_file_sync(spool)
    assert (ref.sha256, ref.size) == (SHA, len(DATA))
    assert not spool.exists()
    assert blobs.path_for(SHA).read_bytes() == DATA
    assert events[0] == ("fsync file", str(spool))  # fsync'ed before it is renamed into place
    assert [kind for kind, _ in events][-2:] == ["rename", "fsync dir"]
    # The same bytes again: the existing blob stays, the duplicate spool file goes.
    again = tmp_path / "spool2"
    again.write_bytes(DATA)
    assert blobs.put_file_sync(again) == ref
    assert not again.exists()


def test_put_file_from_another_filesystem(
    blobs: BlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = tmp_path / "spool"
    spool.write_bytes(DATA * 1000)
    real_replace = os.replace

    def cross_device(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if Path(src) == spool:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", cross_device)
    ref = blobs.put_file_sync(spool)
    assert blobs.path_for(ref.sha256).read_bytes() == DATA * 1000
    assert not spool.exists()
    assert list(blobs.tmp.iterdir()) == []


def test_verify_list_and_open(blobs: BlobStore) -> None:
    blobs.put_sync(DATA)
    other = blobs.put_sync(b"second")
    (blobs.tmp / "leftover").write_bytes(b"partial")  # temporary files are not blobs
    (blobs.root / "README").write_text("not a blob")
    assert blobs.list_sync() == {SHA, other.sha256}
    with blobs.open(SHA) as f:
        assert f.read() == DATA
    assert blobs.verify_sync(SHA)
    path = blobs.path_for(other.sha256)
    path.write_bytes(b"secOnd")
    assert not blobs.verify_sync(other.sha256)
    path.unlink()
    assert not blobs.verify_sync(other.sha256)
    with pytest.raises(FileNotFoundError):
        blobs.open(other.sha256)


@pytest.mark.parametrize("bad", ["", "../../etc/passwd", "A" * 64, "g" * 64, "a" * 63])
def test_names_are_hex_digests_only(blobs: BlobStore, bad: str) -> None:
    with pytest.raises(ValueError, match="not a blob name"):
        blobs.path_for(bad)


def test_collect_takes_only_old_unreferenced_blobs(blobs: BlobStore) -> None:
    referenced = blobs.put_sync(b"referenced")
    old = blobs.put_sync(b"old")
    young = blobs.put_sync(b"young")
    past = time.time() - 7200
    for ref in (referenced, old):
        os.utime(blobs.path_for(ref.sha256), (past, past))
    is_referenced: Callable[[str], bool] = lambda name: name == referenced.sha256  # noqa: E731
    assert blobs.collect_sync(is_referenced, grace_seconds=3600) == [old.sha256]
    assert blobs.list_sync() == {referenced.sha256, young.sha256}
    assert sorted(blobs.collect_sync(is_referenced, grace_seconds=0, now=time.time() + 1)) == [young.sha256]


def test_sweep_tmp_removes_only_stale_files(blobs: BlobStore) -> None:
    blobs.ensure_dirs()
    stale, fresh = blobs.tmp / "stale", blobs.tmp / "fresh"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"y")
    past = time.time() - 7200
    os.utime(stale, (past, past))
    assert blobs.sweep_tmp_sync(older_than=3600) == 1
    assert sorted(p.name for p in blobs.tmp.iterdir()) == ["fresh"]


async def test_async_methods_work_off_the_loop_thread(
    blobs: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: set[int] = set()
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        threads.add(threading.get_ident())
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    ref = await blobs.put(DATA)
    assert await blobs.verify(ref.sha256)
    assert await blobs.list_all() == {SHA}
    assert threads
    assert threading.get_ident() not in threads
