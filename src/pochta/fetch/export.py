"""`pochta export`: an account's mailboxes (or one) written out as Maildir or mbox.

- Maildir: PATH is a Maildir++ tree (``maildir.MaildirWriter``): INBOX at the top, every other
  mailbox in ``.Name.Sub/``; flags in the file names, keywords in each folder's ``dovecot-keywords``,
  the internal date as each file's mtime. With ``--folder NAME`` PATH is a Maildir of that mailbox
  alone (its messages at the top).
- mbox: PATH is a directory with one mboxrd file per mailbox, ``<name>.mbox``, the hierarchy as
  directories (``Work.mbox`` and ``Work/Projects.mbox``); flags in Status/X-Status/X-Keywords, the
  internal date in the From line, the UIDs in X-UID and X-IMAPbase (``mbox.write_message``). With
  ``--folder NAME`` PATH is that mailbox's mbox file.

The export reads each mailbox's view (a snapshot: messages arriving meanwhile wait for the next
export) and streams blobs one at a time, so memory stays at one message. Files are fsync'ed. An
existing non-empty target is refused: exporting twice into one Maildir would double every message.
Importing the export into another account gives the same bytes, flags, keywords and internal dates
(up to the limits the formats have: docs/import-export.md).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pochta.fetch.maildir import MaildirWriter
from pochta.fetch.mbox import imap_base, write_message
from pochta.mail.flags import is_system_flag
from pochta.store.api import NotFound, Store
from pochta.store.model import Account, MailboxInfo, MailboxView

__all__ = ["FORMATS", "ExportReport", "export_account", "target_problem"]

FORMATS = ("maildir", "mbox")


@dataclass
class ExportReport:
    folders: list[str] = field(default_factory=list)
    messages: int = 0
    octets: int = 0
    seconds: float = 0.0


def target_problem(path: Path, single_mbox: bool) -> str | None:
    """Why ``path`` cannot take an export (None: it can)."""
    if single_mbox:
        if path.exists():
            return f"{path} exists already"
        return None
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        return f"{path} exists and is not an empty directory"
    return None


def _fsync_file(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _mbox_path(root: Path, name: str) -> Path:
    return root.joinpath(*name.split("/")).with_name(name.split("/")[-1] + ".mbox")


def view_uidnext(view: MailboxView, box: MailboxInfo) -> int:
    """The UIDNEXT the file says: above every UID written, even when mail arrived after ``box`` was read."""
    return max(box.uidnext, (view.uids[-1] + 1) if len(view) else 1)


async def _boxes(store: Store, account: Account, folder: str | None) -> list[MailboxInfo]:
    boxes = sorted(await store.mailboxes(account.id), key=lambda box: box.name)
    if folder is None:
        return boxes
    chosen = [box for box in boxes if box.name == folder]
    if not chosen:
        raise NotFound(f"no mailbox {folder!r} in {account.address}")
    return chosen


async def export_account(
    store: Store,
    account: Account,
    path: Path,
    fmt: str,
    *,
    folder: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> ExportReport:
    started = time.monotonic()
    report = ExportReport()
    for box in await _boxes(store, account, folder):
        view = await store.open_view(box.id)
        report.folders.append(box.name)
        if fmt == "maildir":
            writer = await asyncio.to_thread(
                MaildirWriter, path, "" if folder is not None or box.name == "INBOX" else box.name
            )
            for entry in view:
                data = await asyncio.to_thread(store.read_blob, entry.blob)
                await asyncio.to_thread(writer.add, data, entry.flags, entry.internal_date)
                report.messages += 1
                report.octets += len(data)
                if progress is not None:
                    progress(len(data))
            await asyncio.to_thread(writer.finish)
            continue
        target = path if folder is not None else _mbox_path(path, box.name)
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        keywords = sorted({flag for flags in set(view.flags) for flag in flags if not is_system_flag(flag)})
        base = imap_base(box.uidvalidity, view_uidnext(view, box), keywords)
        file = await asyncio.to_thread(open, target, "wb")
        try:
            for index, entry in enumerate(view):
                data = await asyncio.to_thread(store.read_blob, entry.blob)
                entry_text = write_message(
                    data, entry.flags, entry.internal_date, uid=entry.uid, base=base if index == 0 else b""
                )
                await asyncio.to_thread(file.write, entry_text)
                report.messages += 1
                report.octets += len(data)
                if progress is not None:
                    progress(len(data))
        finally:
            await asyncio.to_thread(file.close)
        await asyncio.to_thread(_fsync_file, target)
    report.seconds = time.monotonic() - started
    return report
