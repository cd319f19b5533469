"""`pochta import`: bring a Maildir, an mbox, .eml files (or a tree of them) into an account.

The source is found by looking (``scan``): a directory with ``cur/``/``new/`` (or Maildir++ ``.X/``
folders) is a Maildir with its subfolders; any other directory is walked, each mbox file becoming a
folder named after its path (without a ``.mbox``/``.mbx`` suffix), each ``.eml`` file (or other file
that begins with a header field: an MH folder's numbered files) a message of the folder of its
directory, each Maildir inside it a folder; a single file is an mbox or one message. Hidden entries
(".imap", ".subscriptions", editors' files) are left alone.

Where messages go (``target_name``): a top-level folder named INBOX (any case: an mbox file
``INBOX``, a Maildir++ ``.INBOX.Sub``) is the source's top, as a Maildir's own messages are. With
``--folder NAME`` the top is NAME and every other folder goes below NAME; without it the top is
INBOX, and a top-level folder of a special-use name (Sent, Sent Items, Drafts, Trash, Deleted
Items, Junk, Spam, Archive ... ``SPECIAL_NAMES``) goes into the account's mailbox of that use
(RFC 6154), created with the attribute when the account has none. Missing folders are created and
subscribed.

Each message is placed with its flags and internal date by ``Store.import_place`` in batches, its key
recorded in the import journal in the same transaction; a rerun reads the journal first and skips
what is there (docs/import-export.md "Resuming"). What cannot be imported is skipped with a reason
and counted in the report, never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import mmap
import os
import time
from collections import Counter
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pochta.config import Settings
from pochta.fetch.eml import EML_SUFFIXES, read_eml
from pochta.fetch.importer_source import Known, Skipped, SourceItem, SourceMessage, looks_like_message
from pochta.fetch.maildir import MaildirFolder, find_folders, is_maildir, read_folder
from pochta.fetch.mbox import is_mbox, read_mbox
from pochta.mail.errors import InvalidMailboxName
from pochta.mail.names import INBOX, NameLimits, canonical_name, parent_names
from pochta.mime import ParsedMessage, parse_message
from pochta.store.api import Store
from pochta.store.import_model import ImportItem
from pochta.store.model import Account, BlobRef, MailboxId, MailboxInfo

__all__ = ["SPECIAL_NAMES", "ImportReport", "Unit", "import_path", "scan"]

# RFC 6154 special-use attributes of common folder names (Thunderbird, Outlook, Apple Mail, Gmail's
# exports, Dovecot's and Courier's defaults), compared without case.
SPECIAL_NAMES: dict[str, str] = {
    "sent": "\\Sent",
    "sent items": "\\Sent",
    "sent messages": "\\Sent",
    "sent mail": "\\Sent",
    "drafts": "\\Drafts",
    "draft": "\\Drafts",
    "trash": "\\Trash",
    "deleted items": "\\Trash",
    "deleted messages": "\\Trash",
    "junk": "\\Junk",
    "junk e-mail": "\\Junk",
    "junk email": "\\Junk",
    "spam": "\\Junk",
    "archive": "\\Archive",
    "archives": "\\Archive",
}
_MBOX_SUFFIXES = (".mbox", ".mbx")
_HEAD = 4096
BATCH_MESSAGES = 200  # messages per write transaction (one fsync each)
BATCH_OCTETS = 16 * 1024 * 1024
READ_AHEAD = 32  # messages read from the source per trip to a worker thread


@dataclass(frozen=True)
class Unit:
    """One piece of the source: a Maildir folder, an mbox file or a message file."""

    kind: str  # "maildir", "mbox", "eml", "unreadable"
    path: Path
    folder: str  # relative mailbox name ("" = the top)
    key: str  # key (prefix) of its messages in the journal
    size: int  # octets, for the progress bar
    reason: str = ""  # "unreadable": why


@dataclass
class ImportReport:
    folders: set[str] = field(default_factory=set)
    created: list[str] = field(default_factory=list)
    placed: int = 0
    already: int = 0  # placed by an earlier run (the journal)
    octets: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    examples: list[Skipped] = field(default_factory=list)  # the first few, with their keys
    seconds: float = 0.0

    def skip(self, item: Skipped, reason: str | None = None) -> None:
        reason = reason or item.reason
        self.skipped[reason] += 1
        if len(self.examples) < 20:
            self.examples.append(Skipped(item.folder, item.key, reason))

    @property
    def rate(self) -> float:
        return self.placed / self.seconds if self.seconds > 0 else 0.0


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _head(path: Path) -> bytes:
    with open(path, "rb") as file:
        return file.read(_HEAD)


def _maildir_units(folders: list[MaildirFolder], root: Path, prefix: str) -> Iterator[Unit]:
    for folder in folders:
        size = 0
        for part in ("new", "cur"):
            with contextlib.suppress(OSError):
                size += sum(
                    entry.stat().st_size for entry in os.scandir(folder.path / part) if entry.is_file()
                )
        relative = folder.path.relative_to(root).as_posix()
        key = "" if relative == "." else relative + "/"
        name = f"{prefix}/{folder.name}".strip("/") if prefix else folder.name
        yield Unit("maildir", folder.path, name, key, size)


def _file_unit(path: Path, root: Path, folder: str) -> Unit | None:
    key = path.relative_to(root).as_posix() if path != root else path.name
    try:
        head = _head(path)
    except OSError as exc:
        return Unit("unreadable", path, folder, key, 0, f"unreadable: {exc.strerror}")
    if path.suffix.lower() in EML_SUFFIXES:
        return Unit("eml", path, folder, key, _size(path))
    if is_mbox(head):
        name = path.name
        for suffix in _MBOX_SUFFIXES:
            if name.lower().endswith(suffix) and len(name) > len(suffix):
                name = name[: -len(suffix)]
        if path != root:
            folder = f"{folder}/{name}".strip("/")
        return Unit("mbox", path, folder, key, _size(path))
    if looks_like_message(head):
        return Unit("eml", path, folder, key, _size(path))
    if path == root or head:
        return Unit("unreadable", path, folder, key, 0, "neither an mbox nor a message")
    return None  # an empty file: nothing to say


def scan(root: Path) -> list[Unit]:
    """The pieces of the source, in the order they are imported."""
    if root.is_file():
        unit = _file_unit(root, root, "")
        return [unit] if unit is not None else []
    if is_maildir(root) or any(child.name.startswith(".") and is_maildir(child) for child in root.iterdir()):
        return list(_maildir_units(find_folders(root), root, ""))
    units: list[Unit] = []
    _walk(root, root, "", units)
    return units


def _walk(root: Path, directory: Path, folder: str, units: list[Unit]) -> None:
    try:
        entries = sorted(directory.iterdir())
    except OSError as exc:
        units.append(
            Unit(
                "unreadable",
                directory,
                folder,
                directory.relative_to(root).as_posix(),
                0,
                f"unreadable: {exc.strerror}",
            )
        )
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            name = f"{folder}/{entry.name}".strip("/")
            if is_maildir(entry):
                units.extend(_maildir_units(find_folders(entry), root, name))
            else:
                _walk(root, entry, name, units)
        elif entry.is_file():
            unit = _file_unit(entry, root, folder)
            if unit is not None:
                units.append(unit)


def _messages(unit: Unit, quoting: str, known: Container[str]) -> Iterator[SourceItem]:
    if unit.kind == "maildir":
        yield from read_folder(MaildirFolder(unit.path, unit.folder), unit.key, known)
    elif unit.kind == "eml" and unit.key in known:
        yield Known(unit.folder, unit.key, unit.size)
    elif unit.kind == "eml":
        yield read_eml(unit.path, unit.folder, unit.key)
    elif unit.kind == "mbox":
        try:
            with open(unit.path, "rb") as file:
                if os.fstat(file.fileno()).st_size == 0:
                    return
                with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
                    yield from read_mbox(data, unit.folder, unit.key, quoting=quoting, known=known)  # type: ignore[arg-type]
        except OSError as exc:
            yield Skipped(unit.folder, unit.key, f"unreadable: {exc.strerror}", unit.size)
    else:
        yield Skipped(unit.folder, unit.key, unit.reason, unit.size)


class _Folders:
    """Mailbox names and ids of the account, creating what an import needs."""

    def __init__(self, store: Store, account: Account, base: str | None, limits: NameLimits) -> None:
        self.store = store
        self.account = account
        self.base = base
        self.limits = limits
        self.by_name: dict[str, MailboxInfo] = {}
        self.by_use: dict[str, MailboxInfo] = {}
        self.created: list[str] = []
        self.by_relative: dict[str, MailboxId] = {}  # source folder -> mailbox, once looked up

    async def load(self) -> None:
        for box in await self.store.mailboxes(self.account.id):
            self.by_name[box.name] = box
            if box.special_use:
                self.by_use.setdefault(box.special_use, box)

    def target_name(self, relative: str) -> tuple[str, str | None]:
        """The mailbox name a source folder goes into, and the special use to create it with."""
        top, _, rest = relative.partition("/")
        if top.upper() == INBOX:  # the source's INBOX (an mbox file, a Maildir++ ".INBOX.Sub") is its top
            relative = rest
        if self.base is not None:
            return (f"{self.base}/{relative}" if relative else self.base), None
        if not relative:
            return INBOX, None
        if top.upper() == INBOX:
            return f"{INBOX}/{relative}", None
        top, _, rest = relative.partition("/")
        use = SPECIAL_NAMES.get(top.lower())
        if use is None:
            return relative, None
        existing = self.by_use.get(use)
        if existing is not None:
            return (f"{existing.name}/{rest}" if rest else existing.name), None
        return relative, (use if not rest else None)

    async def mailbox_id(self, relative: str) -> MailboxId:
        """Raises InvalidMailboxName for a name no mailbox may have."""
        known = self.by_relative.get(relative)
        if known is not None:
            return known
        self.by_relative[relative] = found = await self._mailbox_id(relative)
        return found

    async def _mailbox_id(self, relative: str) -> MailboxId:
        name, use = self.target_name(relative)
        name = canonical_name(name, creating=name not in self.by_name, limits=self.limits)
        box = self.by_name.get(name)
        if box is not None:
            return box.id
        for parent in [*parent_names(name), name]:
            if parent in self.by_name:
                continue
            special = use if parent == name else None
            if special is not None and special in self.by_use:
                special = None
            created = await self.store.create_mailbox(self.account.id, parent, special)
            await self.store.set_subscribed(self.account.id, parent, True)
            self.by_name[parent] = created
            if special:
                self.by_use[special] = created
            self.created.append(parent)
        return self.by_name[name].id


@dataclass
class _Batch:
    items: list[tuple[SourceMessage, MailboxId]] = field(default_factory=list)
    octets: int = 0


def _take(iterator: Iterator[SourceItem], count: int) -> list[SourceItem]:
    return list(itertools.islice(iterator, count))


async def import_path(
    store: Store,
    settings: Settings,
    account: Account,
    path: Path,
    *,
    folder: str | None = None,
    quoting: str = "rd",
    progress: Callable[[int], None] | None = None,
    units: list[Unit] | None = None,
) -> ImportReport:
    """Import ``path`` into the account; ``progress`` is told the source octets done as they go."""
    started = time.monotonic()
    report = ImportReport()
    root = await asyncio.to_thread(path.resolve)
    limits = NameLimits(settings.limits.max_mailbox_name_bytes, settings.limits.max_mailbox_depth)
    base = canonical_name(folder, creating=True, limits=limits) if folder is not None else None
    folders = _Folders(store, account, base, limits)
    await folders.load()
    source = str(root) if base is None else f"{root} -> {base}"
    done = await store.import_journal(account.id, source)
    max_size = settings.limits.max_message_size
    pending: asyncio.Task[list[str | None]] | None = None
    pending_batch: _Batch | None = None

    def tick(octets: int) -> None:
        if progress is not None and octets:
            progress(octets)

    async def settle() -> None:
        nonlocal pending, pending_batch
        if pending is None or pending_batch is None:
            return
        outcome = await pending
        for (item, _), refused in zip(pending_batch.items, outcome, strict=True):
            if refused is None:
                report.placed += 1
                report.octets += len(item.data)
            else:
                report.skip(Skipped(item.folder, item.key, refused))
        pending, pending_batch = None, None

    async def flush(batch: _Batch) -> None:
        nonlocal pending, pending_batch
        # The batch's blobs are written (and fsync'ed) together, its messages parsed, while the
        # writer still commits the previous batch: concurrent fsyncs share the file system's
        # journal commits (store.blob_threads).
        stored = await asyncio.gather(*(_stored(store, item.data, settings) for item, _ in batch.items))
        placements = [
            ImportItem(item.key, mailbox_id, blob, parsed, item.flags, item.internal_date)
            for (item, mailbox_id), (blob, parsed) in zip(batch.items, stored, strict=True)
        ]
        await settle()
        if placements:
            pending = asyncio.create_task(store.import_place(account.id, source, placements))
            pending_batch = batch

    async def admit(item: SourceItem) -> tuple[SourceMessage, MailboxId] | None:
        """The message and its mailbox; None when it is counted as known or skipped instead."""
        tick(item.source_size)
        if isinstance(item, Skipped):
            report.skip(item)
            return None
        if isinstance(item, Known):
            report.already += 1
            return None
        if len(item.data) > max_size:
            reason = f"over the size limit (limits.max_message_size, {max_size} octets)"
            report.skip(Skipped(item.folder, item.key, reason))
            return None
        try:
            mailbox_id = await folders.mailbox_id(item.folder)
        except InvalidMailboxName as exc:
            report.skip(Skipped(item.folder, item.key, f"folder name refused: {exc}"))
            return None
        report.folders.add(folders.target_name(item.folder)[0])
        return item, mailbox_id

    batch = _Batch()
    try:
        for unit in units if units is not None else await asyncio.to_thread(scan, root):
            iterator = _messages(unit, quoting, done)
            while items := await asyncio.to_thread(_take, iterator, READ_AHEAD):
                for item in items:
                    admitted = await admit(item)
                    if admitted is None:
                        continue
                    batch.items.append(admitted)
                    batch.octets += len(admitted[0].data)
                    if len(batch.items) >= BATCH_MESSAGES or batch.octets >= BATCH_OCTETS:
                        await flush(batch)
                        batch = _Batch()
            if unit.kind == "mbox" or unit.kind == "maildir":
                # An empty folder of the source is still a folder of the account.
                with contextlib.suppress(InvalidMailboxName):
                    await folders.mailbox_id(unit.folder)
                    report.folders.add(folders.target_name(unit.folder)[0])
        await flush(batch)
        await settle()
    finally:
        if pending is not None:
            with contextlib.suppress(Exception):
                await pending
    report.created = folders.created
    report.seconds = time.monotonic() - started
    return report


async def _stored(store: Store, data: bytes, settings: Settings) -> tuple[BlobRef, ParsedMessage]:
    """The message's blob (a small one stored with its placement, a large one written and fsync'ed
    now) and its parse, made off the event loop."""
    blob = await store.new_blob(data)
    return blob, await asyncio.to_thread(parse_message, data, settings.mime)
