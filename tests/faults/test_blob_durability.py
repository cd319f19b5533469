"""A blob write killed at any instant leaves the whole blob under its name, or nothing under it.

``blob_crash_child.py`` writes blobs through ``pochta.store.blobs.BlobStore`` (``put_sync`` and
``put_file_sync``, the code behind ``store.put_blob``/``put_blob_file``) and is killed:

- at a chosen step of one write (half written, written but not fsync'ed, fsync'ed but not renamed,
  renamed but the directory not fsync'ed): the final name is absent before the rename and complete
  after it, a leftover temporary file is only ever in ``blobs/tmp``, the same bytes can be written
  again afterwards, and ``sweep_tmp`` clears the leftovers;
- at random moments while several threads write (1 KB - 4 MB, repeats, spool-file adoptions): every
  file under a final name hashes to its name, every acknowledged blob is there, nothing foreign is in
  the tree, and the store opened over the directory verifies clean.

SIGKILL keeps the page cache: these tests show a crash of the process never exposes a partial blob;
surviving power loss additionally rests on the fsync of file and directory, which they cannot show.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import shutil
from pathlib import Path

import pytest
from faults_support import Child, base_seed, read_log, scan_blob_tree

from pochta.config import Settings
from pochta.store.blobs import BlobStore
from pochta.store.sqlite.store import BLOB_DIR_NAME, open_sqlite_store

CHILD = Path(__file__).with_name("blob_crash_child.py")
POINTS = ("mid-write", "before-fsync", "before-rename", "after-rename")


# put_file writes no bytes of its own (the spool file is complete before it runs): no mid-write case.
CASES = [(point, "put") for point in POINTS] + [(point, "put_file") for point in POINTS[1:]]


@pytest.mark.parametrize(("point", "api"), CASES)
def test_put_blob_killed_at_each_step(tmp_path: Path, point: str, api: str) -> None:
    seed = base_seed()
    ctx = f"[seed={seed} point={point} api={api}]"
    root = tmp_path / "data" / BLOB_DIR_NAME
    log = tmp_path / "log.jsonl"
    child = Child([str(CHILD), str(root), str(log), str(seed), point, "--api", api], tmp_path / "stderr.txt")
    status = child.proc.wait(60)
    child.kill()
    assert status == -9, f"{ctx} child exited with {status}, not killed at the point: {child.stderr()}"
    (begin,) = read_log(log)
    sha, size = begin["sha"], begin["size"]
    data = random.Random(seed).randbytes(size)
    assert hashlib.sha256(data).hexdigest() == sha

    blobs, temps, problems = scan_blob_tree(root)
    assert not problems, f"{ctx} {problems}"
    spooled = tmp_path / "data" / "spool" / "spooled"
    if point == "after-rename":
        assert blobs == {sha: size}, f"{ctx} renamed blob missing or incomplete: {blobs}"
        assert temps == [], f"{ctx} temporary file left after the rename: {temps}"
    else:
        assert blobs == {}, f"{ctx} a blob is visible under its final name before its rename: {blobs}"
        if api == "put":
            (temp,) = temps
            content = (root / "tmp" / temp).read_bytes()
            expected = data[: size // 2] if point == "mid-write" else data
            assert content == expected, f"{ctx} temporary file holds {len(content)} unexpected bytes"
        else:
            assert temps == [], f"{ctx} put_file made a temporary file: {temps}"
            assert spooled.read_bytes() == data, f"{ctx} the spool file was damaged"

    # Recovery: the same bytes can be stored again, and stale temporary files are swept.
    store = BlobStore(root)
    if api == "put_file" and spooled.exists():
        ref = store.put_file_sync(spooled)
        assert not spooled.exists(), f"{ctx} spool file not adopted"
    else:
        ref = store.put_sync(data)
    assert (ref.sha256, ref.size) == (sha, size)
    assert store.verify_sync(sha), f"{ctx} blob written after the crash does not verify"
    assert store.sweep_tmp_sync(older_than=0) == len(temps)
    blobs, temps, problems = scan_blob_tree(root)
    assert (blobs, temps, problems) == ({sha: size}, [], []), f"{ctx} after recovery"


def _random_kill_round(tmp_path: Path, seed: int, n: int) -> tuple[int, int]:
    """One child killed at a random moment; returns (acknowledged blobs, temporary files left)."""
    delay = random.Random(seed).uniform(0.05, 0.6)
    ctx = f"[seed={seed} round={n} kill_after={delay:.3f}s]"
    data_dir = tmp_path / f"round-{n}"
    root = data_dir / BLOB_DIR_NAME
    log = data_dir / "log.jsonl"
    data_dir.mkdir()
    child = Child([str(CHILD), str(root), str(log), str(seed), "random"], data_dir / "stderr.txt")
    child.wait_ready()
    child.kill_after(delay)

    records = read_log(log)
    begun = {r["sha"]: r["size"] for r in records if r["t"] == "begin"}
    acked = {r["sha"] for r in records if r["t"] == "ack"}
    blobs, temps, problems = scan_blob_tree(root)
    ctx = ctx[:-1] + f" begun={len(begun)} acked={len(acked)} temps={len(temps)}]"
    assert not problems, f"{ctx} {problems}"
    assert blobs.keys() <= begun.keys(), f"{ctx} blobs nobody wrote: {sorted(blobs.keys() - begun.keys())}"
    missing = sorted(acked - blobs.keys())
    assert not missing, f"{ctx} acknowledged blobs missing: {missing}"
    assert all(blobs[sha] == begun[sha] for sha in blobs), f"{ctx} blob of the wrong size"

    async def reopen() -> None:
        store = await open_sqlite_store(data_dir, Settings())
        try:
            report = await store.verify()
            assert not report.damaged, f"{ctx} {report}"
            assert set(report.unreferenced_blobs) == blobs.keys(), f"{ctx} verify lists other blobs"
        finally:
            await store.close()

    asyncio.run(reopen())
    assert BlobStore(root).sweep_tmp_sync(older_than=0) == len(temps)
    shutil.rmtree(data_dir)  # a hundred rounds of up to 4 MB blobs add up
    return len(acked), len(temps)


def _random_kills(tmp_path: Path, rounds: int) -> None:
    seed = base_seed()
    results = [_random_kill_round(tmp_path, seed * 1000 + n, n) for n in range(rounds)]
    assert sum(acked for acked, _ in results) > 0, f"[seed={seed}] no blob was acknowledged before a kill"


def test_sigkill_while_writing_blobs(tmp_path: Path) -> None:
    _random_kills(tmp_path, 5)


@pytest.mark.slow
def test_sigkill_while_writing_blobs_many_rounds(tmp_path: Path) -> None:
    _random_kills(tmp_path, 100)
