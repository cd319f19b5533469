"""Content-addressed message files: ``DATA/blobs/ab/cd/<sha256>``.

A blob becomes durable before any metadata refers to it (DESIGN.md principle 1): its bytes go to a
temporary file in ``blobs/tmp`` (same filesystem), the file is fsync'ed, renamed to its final name,
and the directory that received the name is fsync'ed, as is every directory created on the way.
A crash at any instant leaves either the complete blob under its name, or nothing but a stale
temporary file (swept by ``sweep_tmp``).

Blobs are immutable and stored once however many mailboxes hold them; writing one that exists is a
no-op that only refreshes its modification time, which protects a blob about to be referenced again
from garbage collection (collection only takes blobs older than a grace period).

The ``*_sync`` methods block; the async methods run them in a worker thread, never on the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import hashlib
import itertools
import os
import re
import shutil
import stat
import time
from collections.abc import Callable, Container, Iterator
from pathlib import Path
from typing import BinaryIO, TypeVar

from pochta.durable import fsync_path
from pochta.store.model import BlobRef

T = TypeVar("T")

CHUNK = 1024 * 1024
_BLOB_NAME = re.compile(r"[0-9a-f]{64}")  # a SHA-256 digest in lower-case hex
# Blob files are written once and never modified; group-readable so that an operator's backup user
# may read them.
FILE_MODE = 0o640


def is_blob_name(name: str) -> bool:
    return _BLOB_NAME.fullmatch(name) is not None


def _hash_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class BlobStore:
    def __init__(self, root: Path, *, write_threads: int = 0) -> None:
        """``write_threads``: a pool of its own for ``put``/``put_file`` (0: the loop's default
        executor). Their time is mostly fsync waits; with more of them in flight, concurrent
        deliveries share the filesystem's journal commits instead of queueing behind each other."""
        self.root = root
        self._root_text = os.fspath(root)
        self.tmp = root / "tmp"
        self._pid = os.getpid()
        self._serial = itertools.count()  # temporary file names (next() is atomic under the GIL)
        self._known_dirs: set[Path] = set()  # ab/ and ab/cd/ known to exist, durably (at most 65,792)
        self._writers: concurrent.futures.ThreadPoolExecutor | None = None
        if write_threads > 0:
            self._writers = concurrent.futures.ThreadPoolExecutor(
                write_threads, thread_name_prefix="pochta-blob"
            )

    def close(self) -> None:
        """Stop the write pool (after the writes already submitted)."""
        if self._writers is not None:
            self._writers.shutdown(wait=True)

    async def _in_writer(self, fn: Callable[[T], BlobRef], arg: T) -> BlobRef:
        if self._writers is None:
            return await asyncio.to_thread(fn, arg)
        return await asyncio.get_running_loop().run_in_executor(self._writers, fn, arg)

    # Layout

    def path_for(self, sha256: str) -> Path:
        if not is_blob_name(sha256):
            raise ValueError(f"not a blob name: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def ensure_dirs(self) -> None:
        for path in (self.root, self.tmp):
            if not path.is_dir():
                path.mkdir(parents=True, exist_ok=True)
                fsync_path(path.parent)

    def _make_parents(self, final: Path) -> None:
        """Create ab/ and ab/cd/ as needed, fsync'ing the parent of each directory created."""
        for directory in (final.parent.parent, final.parent):
            if directory in self._known_dirs:
                continue
            with contextlib.suppress(FileExistsError):
                directory.mkdir()
            # Also when it existed: another thread may have made it and not yet fsync'ed its
            # parent; a blob renamed into it must not be acknowledged before that name is durable.
            fsync_path(directory.parent)
            # It exists and stays (blobs are collected, their directories never are) and its name
            # is durable: later blobs skip the mkdir attempt and the fsync of its parent.
            self._known_dirs.add(directory)

    def _install(self, source: Path, final: Path) -> None:
        """Rename an fsync'ed file to its final name and make the name durable."""
        self._make_parents(final)
        try:
            os.replace(source, final)
        except FileNotFoundError:
            if not source.exists():
                raise
            # The directory went away after all (an operator's hand): make it again.
            self._known_dirs.discard(final.parent)
            self._known_dirs.discard(final.parent.parent)
            self._make_parents(final)
            os.replace(source, final)
        fsync_path(final.parent)

    def _refresh(self, final: Path, size: int) -> bool:
        """True if the blob exists; touches it so that garbage collection leaves it alone a while.

        A file of the wrong size (truncated by a failing disk) does not count: it is rewritten.
        """
        try:
            if os.stat(final).st_size != size:
                return False
            os.utime(final)
        except FileNotFoundError:
            return False
        return True

    # Writing

    def put_sync(self, data: bytes) -> BlobRef:
        sha256 = hashlib.sha256(data).hexdigest()
        ref = BlobRef(sha256, len(data))
        final = self.path_for(sha256)
        if self._refresh(final, len(data)):
            return ref
        fd, tmp_path = self._tmp_file()
        try:
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
            self._install(tmp_path, final)
        except BaseException:
            tmp_path.unlink(missing_ok=True)
            raise
        return ref

    def put_file_sync(self, path: str | Path) -> BlobRef:
        """Adopt a finished file (it is moved, or removed if the blob already exists)."""
        source = Path(path)
        sha256, size = _hash_file(source)
        ref = BlobRef(sha256, size)
        final = self.path_for(sha256)
        if self._refresh(final, size):
            source.unlink()
            return ref
        self.ensure_dirs()
        fd = os.open(source, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            self._install(source, final)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            # The spool file is on another filesystem: copy into tmp/ (same filesystem as the blob).
            self._copy_in(source, final)
            source.unlink()
        return ref

    def _copy_in(self, source: Path, final: Path) -> None:
        fd, tmp_path = self._tmp_file()
        try:
            with open(fd, "wb", closefd=True) as out, open(source, "rb") as inp:
                shutil.copyfileobj(inp, out, CHUNK)
                out.flush()
                os.fsync(out.fileno())
            self._install(tmp_path, final)
        except BaseException:
            tmp_path.unlink(missing_ok=True)
            raise

    def _tmp_file(self) -> tuple[int, Path]:
        """A new file in ``tmp/``: process id, a counter and the clock make its name unique (and
        O_EXCL makes sure), with no system call of their own. ``tmp/`` is made again if it went."""
        for attempt in range(100):
            path = self.tmp / f"{self._pid}-{next(self._serial)}-{time.monotonic_ns()}"
            try:
                return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE), path
            except FileExistsError:
                continue
            except FileNotFoundError:
                if attempt:
                    raise
                self.ensure_dirs()
        raise OSError(errno.EEXIST, "could not create a temporary blob file")

    async def put(self, data: bytes) -> BlobRef:
        return await self._in_writer(self.put_sync, data)

    async def put_file(self, path: str | Path) -> BlobRef:
        return await self._in_writer(self.put_file_sync, path)

    # Reading and checking

    def _path_text(self, sha256: str) -> str:
        # The path as a string: pathlib's joins cost more than the open itself (FETCH opens one
        # blob per message of a body FETCH, POP3 one per RETR). The layout is path_for's.
        if not is_blob_name(sha256):
            raise ValueError(f"not a blob name: {sha256!r}")
        return f"{self._root_text}/{sha256[:2]}/{sha256[2:4]}/{sha256}"

    def open(self, sha256: str) -> BinaryIO:
        """Raises FileNotFoundError when the blob is missing."""
        return open(self._path_text(sha256), "rb")

    def read(self, sha256: str, size: int) -> bytes:
        """The first ``size`` octets (a whole small message) in one read, without a buffered file
        object. Raises FileNotFoundError when the blob is missing."""
        fd = os.open(self._path_text(sha256), os.O_RDONLY | os.O_CLOEXEC)
        try:
            return os.read(fd, size)
        finally:
            os.close(fd)

    def exists_sync(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def verify_sync(self, sha256: str) -> bool:
        """Re-hash the file: False if it is missing or its content no longer matches its name."""
        try:
            actual, _ = _hash_file(self.path_for(sha256))
        except FileNotFoundError:
            return False
        return actual == sha256

    async def verify(self, sha256: str) -> bool:
        return await asyncio.to_thread(self.verify_sync, sha256)

    def iter_sync(self) -> Iterator[str]:
        """Every blob name on disk (in no particular order)."""
        if not self.root.is_dir():
            return
        for first in os.scandir(self.root):
            if len(first.name) != 2 or not first.is_dir():
                continue  # tmp/ and anything foreign
            for second in os.scandir(first.path):
                if len(second.name) != 2 or not second.is_dir():
                    continue
                for entry in os.scandir(second.path):
                    if is_blob_name(entry.name) and entry.is_file():
                        yield entry.name

    def list_sync(self) -> set[str]:
        return set(self.iter_sync())

    async def list_all(self) -> set[str]:
        return await asyncio.to_thread(self.list_sync)

    # Garbage collection. The caller decides what is referenced; see SqliteStore.collect_blobs for the
    # two-phase protocol that makes collection safe against a concurrent delivery of the same bytes.

    def collectable_sync(
        self, referenced: Container[str], grace_seconds: float, now: float | None = None
    ) -> list[str]:
        """Unreferenced blobs whose last write or refresh is older than the grace period."""
        cutoff = (time.time() if now is None else now) - grace_seconds
        found = []
        for name in self.iter_sync():
            if name in referenced:
                continue
            try:
                if os.stat(self.path_for(name)).st_mtime <= cutoff:
                    found.append(name)
            except FileNotFoundError:
                continue
        return found

    def remove_if_old_sync(self, sha256: str, grace_seconds: float, now: float | None = None) -> bool:
        """Delete one blob unless it was written or refreshed within the grace period."""
        cutoff = (time.time() if now is None else now) - grace_seconds
        path = self.path_for(sha256)
        try:
            if os.stat(path).st_mtime > cutoff:
                return False
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def collect_sync(
        self,
        is_referenced: Callable[[str], bool],
        grace_seconds: float,
        now: float | None = None,
    ) -> list[str]:
        """Remove unreferenced blobs older than the grace period; returns their names.

        ``is_referenced`` is asked again right before each removal, so a reference added after the
        scan began keeps its blob.
        """
        removed = []
        for name in self.collectable_sync((), grace_seconds, now):
            if not is_referenced(name) and self.remove_if_old_sync(name, grace_seconds, now):
                removed.append(name)
        return removed

    def sweep_tmp_sync(self, older_than: float = 3600.0) -> int:
        """Remove temporary files a crashed writer left behind (old enough not to be in use)."""
        if not self.tmp.is_dir():
            return 0
        cutoff = time.time() - older_than
        removed = 0
        for entry in os.scandir(self.tmp):
            try:
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISREG(st.st_mode) and st.st_mtime <= cutoff:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                continue
        return removed
