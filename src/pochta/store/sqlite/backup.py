"""``pochta backup`` and ``pochta restore``: a consistent copy of a data directory, with nothing but
Python (no ``sqlite3`` shell, no ``rsync``), while the server runs.

Backup, in this order:

1. the database, through SQLite's online backup API in one step: one read transaction, so the copy
   is one consistent snapshot, taken beside a server that keeps writing (WAL readers never block
   the writer);
2. every blob that snapshot refers to (stored messages and the outbound queue's). Blobs are
   immutable and named by their hash, so a copy made now is the blob the snapshot meant; each is
   hashed while it is copied. This order cannot miss a blob: a blob is on disk (fsync'ed) before
   the commit that first refers to it, so every blob the snapshot names existed when it was taken;
   one may only disappear later if every message holding it is deleted *and* it then stays
   unreferenced for ``store.blob_grace_seconds`` (a day by default) before collection -- a backup
   would have to take that long. The other order (blobs, then database) would miss the blobs of
   messages committed in between. Small messages kept inside the database (``inline_blobs``,
   ``sqlite/inline``) are in the snapshot itself, committed with the rows that refer to them: they
   are re-hashed there, not copied;
3. the config, the server secret and the TLS files;
4. a manifest, then ``fsync`` of every file and directory; the backup is built in a temporary
   sibling directory and renamed into place, so a backup directory is always complete.

Restore refuses a data directory a server runs on (``server.pidfile``), copies the backup into a
temporary sibling of the target (checking every blob's hash), renames it into place (an existing
directory is first moved aside, never deleted), and leaves ``verify`` to the caller.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine

from pochta.config import CONFIG_FILE_NAME, Settings, resolve_path
from pochta.durable import fsync_path, fsync_tree
from pochta.store.sqlite import inline
from pochta.store.sqlite.maintenance import referenced_blobs
from pochta.store.sqlite.store import BLOB_DIR_NAME, DB_FILE_NAME
from pochta.store.sqlite.writer import driver_connection

__all__ = ["MANIFEST_NAME", "BackupError", "BackupReport", "backup", "restore"]

MANIFEST_NAME = "pochta-backup.json"
_CHUNK = 1024 * 1024
# Small files of a data directory that belong in a backup besides the store (the TLS files are
# added from the config, wherever they are inside the data directory).
_SMALL_FILES = (CONFIG_FILE_NAME, "server-secret")


class BackupError(Exception):
    """The backup or restore cannot be made as asked; nothing was changed at the destination."""


@dataclass
class BackupReport:
    destination: Path
    blobs: int = 0
    blob_bytes: int = 0
    files: list[str] = field(default_factory=list)
    missing_blobs: list[str] = field(default_factory=list)  # referenced, not on disk
    corrupt_blobs: list[str] = field(default_factory=list)  # content does not match the name
    outside: list[str] = field(default_factory=list)  # configured files outside the data directory
    moved_aside: Path | None = None  # restore: where the directory it replaced went

    @property
    def damaged(self) -> bool:
        return bool(self.missing_blobs or self.corrupt_blobs)


def _blob_relpath(sha256: str) -> Path:
    return Path(BLOB_DIR_NAME) / sha256[:2] / sha256[2:4] / sha256


def _copy_hashed(source: Path, target: Path) -> tuple[str, int]:
    """Copy a file, returning the SHA-256 and size of what was copied."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with source.open("rb") as src, target.open("wb") as dst:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            dst.write(chunk)
            size += len(chunk)
    shutil.copymode(source, target)
    return digest.hexdigest(), size


def _copy_blobs(source_dir: Path, target_dir: Path, names: list[str], report: BackupReport) -> None:
    """Copy the named blobs from one data (or backup) directory to another, checking each hash."""
    for sha256 in sorted(names):
        relative = _blob_relpath(sha256)
        try:
            got, size = _copy_hashed(source_dir / relative, target_dir / relative)
        except FileNotFoundError:
            report.missing_blobs.append(sha256)
            continue
        if got != sha256:
            report.corrupt_blobs.append(sha256)
        report.blobs += 1
        report.blob_bytes += size


def _referenced(db_path: Path, report: BackupReport) -> list[str]:
    """The blob files the database at ``db_path`` refers to; its inline rows it refers to are
    counted (and re-hashed) into ``report`` instead."""
    engine = create_engine(f"sqlite:///{db_path}")
    try:
        with engine.connect() as conn:
            wanted = sorted(referenced_blobs(conn))
            raw = driver_connection(conn)
            rows: set[str] = set()
            for start in range(0, len(wanted), inline.IN_LIST_MAX):  # a bounded batch in memory
                for sha256, data in inline.get_many(raw, wanted[start : start + inline.IN_LIST_MAX]).items():
                    if hashlib.sha256(data).hexdigest() != sha256:
                        report.corrupt_blobs.append(sha256)
                    report.blobs += 1
                    report.blob_bytes += len(data)
                    rows.add(sha256)
    finally:
        engine.dispose()
    return [name for name in wanted if name not in rows]


def _small_files(data_dir: Path, settings: Settings, report: BackupReport) -> list[Path]:
    """Relative paths of the config, secret and TLS files to copy (those that exist)."""
    wanted: list[Path] = [Path(name) for name in _SMALL_FILES]
    root = data_dir.resolve()
    # The SRS secret file: without it, bounces to addresses made before the restore are refused.
    for value in (settings.tls.certificate, settings.tls.key, settings.srs.secret_file):
        path = resolve_path(data_dir, value).resolve()
        if path.is_relative_to(root):
            wanted.append(path.relative_to(root))
        else:
            report.outside.append(str(path))  # the operator's (a CA's) files: backed up with /etc
    return [p for p in dict.fromkeys(wanted) if (data_dir / p).is_file()]


@contextlib.contextmanager
def _building(destination: Path, purpose: str) -> Iterator[Path]:
    """A temporary sibling of ``destination``; removed again unless the body renames it."""
    parent = destination.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{destination.name}.{purpose}-", dir=parent))
    try:
        os.chmod(work, 0o700)  # holds the TLS key and password hashes
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _publish(work: Path, destination: Path) -> None:
    fsync_tree(work)
    if destination.exists():
        destination.rmdir()  # empty (checked by the callers)
    os.rename(work, destination)
    fsync_path(destination.resolve().parent)


def _require_empty(path: Path, what: str) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise BackupError(f"{path} already exists and is not empty; {what}")


def backup(
    data_dir: Path, settings: Settings, destination: Path, *, busy_timeout: float = 30.0
) -> BackupReport:
    """Copy the data directory's store, blobs, config and TLS files into ``destination`` (new or
    empty). Safe while the server runs."""
    source_db = data_dir / DB_FILE_NAME
    if not source_db.is_file():
        raise BackupError(f"{source_db}: no such file; is {data_dir} a pochta data directory?")
    _require_empty(destination, "choose a new directory for each backup")
    report = BackupReport(destination)
    with _building(destination, "backup") as work:
        started = time.time()
        # 1. One consistent snapshot of the database (see the module docstring for the order).
        source = sqlite3.connect(source_db, timeout=busy_timeout)  # only reads
        try:
            target = sqlite3.connect(work / DB_FILE_NAME)
            try:
                source.backup(target)  # pages=-1: the whole database in one step, one snapshot
                target.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            finally:
                target.close()
        finally:
            source.close()
        # 2. The blobs that snapshot refers to.
        _copy_blobs(data_dir, work, _referenced(work / DB_FILE_NAME, report), report)
        # 3. Config, secret, certificate and key.
        for relative in _small_files(data_dir, settings, report):
            (work / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(data_dir / relative, work / relative)
            report.files.append(str(relative))
        manifest = {
            "format": 1,
            "source": str(data_dir.resolve()),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "blobs": report.blobs,
            "blob_bytes": report.blob_bytes,
            "files": report.files,
            "missing_blobs": report.missing_blobs,
            "corrupt_blobs": report.corrupt_blobs,
        }
        (work / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        _publish(work, destination)
    return report


def restore(
    backup_dir: Path,
    data_dir: Path,
    *,
    replace: bool,
    holding_lock: Callable[[Path], contextlib.AbstractContextManager[object]],
) -> BackupReport:
    """Copy a backup into ``data_dir`` (new or empty; with ``replace`` an existing directory is
    moved aside to ``DATA.before-restore-TIME``). ``holding_lock(data_dir)`` is held around the
    change (the server's pid file lock: raises if a server runs there)."""
    manifest_path = backup_dir / MANIFEST_NAME
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"{manifest_path}: not a pochta backup ({exc})") from None
    if not (backup_dir / DB_FILE_NAME).is_file():
        raise BackupError(f"{backup_dir / DB_FILE_NAME}: no such file; the backup is incomplete")
    if not replace:
        _require_empty(data_dir, "pass --replace to move it aside and restore in its place")
    report = BackupReport(data_dir)
    with _building(data_dir, "restore") as work:
        shutil.copy2(backup_dir / DB_FILE_NAME, work / DB_FILE_NAME)
        _copy_blobs(backup_dir, work, _referenced(work / DB_FILE_NAME, report), report)
        for relative in manifest.get("files", []):
            if (backup_dir / relative).is_file():
                (work / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(backup_dir / relative, work / relative)
                report.files.append(str(relative))
        fsync_tree(work)
        # A server can only run on a directory that is not empty (serve on an empty one would
        # initialise it, and init wants it empty): that is where the lock is needed.
        in_use = data_dir.is_dir() and any(data_dir.iterdir())
        with holding_lock(data_dir) if in_use else contextlib.nullcontext():
            if data_dir.exists() and any(data_dir.iterdir()):
                aside = data_dir.with_name(f"{data_dir.name}.before-restore-{time.strftime('%Y%m%dT%H%M%S')}")
                os.rename(data_dir, aside)
                report.moved_aside = aside
            _publish(work, data_dir)
    return report
