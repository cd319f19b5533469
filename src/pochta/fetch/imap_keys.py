"""The rules of an IMAP external account, without I/O: its options (which remote folders, whether
flags are mirrored), the keys its fetched messages are recorded under, and which records are stale
(docs/fetch.md "IMAP accounts").

A message is recorded as ``imap:<folder>:<UIDVALIDITY>:<UID>``: a UID names one message of one
folder for as long as the folder's UIDVALIDITY stays (RFC 9051 §2.3.1.1), so that key is never
fetched twice. Next to it goes ``imap-sha256:<folder>:<UIDVALIDITY>:<UID>:<digest>``, the SHA-256 of
the bytes fetched: when the folder's UIDVALIDITY changes (the server rebuilt or restored it) every
UID is new, and a message whose digest was fetched from that folder before is recorded under its new
UID instead of being delivered again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "ImapOptions",
    "InvalidOptions",
    "ListedFolder",
    "content_key",
    "local_folder",
    "message_key",
    "parse_folders",
    "parse_key",
    "stale_keys",
]

_KEY = "imap:"
_DIGEST = "imap-sha256:"
DEFAULT_FOLDERS = ("INBOX",)


class InvalidOptions(ValueError):
    """The folders or options given cannot be used; the message says why."""


@dataclass(frozen=True)
class ImapOptions:
    """What ``fetch_accounts.options`` holds for an IMAP account."""

    folders: tuple[str, ...] = DEFAULT_FOLDERS
    mirror_flags: bool = False

    def to_json(self) -> str:
        return json.dumps({"folders": list(self.folders), "mirror_flags": self.mirror_flags})

    @classmethod
    def from_json(cls, text: str) -> ImapOptions:
        try:
            data = json.loads(text or "{}")
        except ValueError:
            data = {}
        folders = data.get("folders") if isinstance(data, dict) else None
        mirror = bool(data.get("mirror_flags", False)) if isinstance(data, dict) else False
        if not isinstance(folders, list) or not folders or not all(isinstance(f, str) for f in folders):
            folders = list(DEFAULT_FOLDERS)
        return cls(tuple(folders), mirror)


def parse_folders(text: str | None) -> tuple[str, ...]:
    """``--imap-folders A,B``: the remote folders, as the server names them, each once (INBOX in
    any case is INBOX, RFC 9051 §5.1); INBOX alone when none are given."""
    if text is None:
        return DEFAULT_FOLDERS
    found: list[str] = []
    for part in text.split(","):
        if any(c in part for c in "\r\n\0"):
            raise InvalidOptions(f"a folder name must be one line: {part!r}")
        name = part.strip(" ")
        if not name:
            raise InvalidOptions(f"an empty folder name in --imap-folders {text!r}")
        if name.upper() == "INBOX":
            name = "INBOX"
        if name not in found:
            found.append(name)
    return tuple(found)


def local_folder(remote: str, delimiter: str | None, base: str | None) -> str | None:
    """Where the messages of remote folder ``remote`` are filed here (None: INBOX), as a mail
    client shows another account: its INBOX into ``base`` (``--folder``, or INBOX), any other
    folder into a folder of the same name, below ``base`` when there is one. The remote's hierarchy
    delimiter becomes ours (``Lists.python`` is ``Lists/python``); a ``/`` inside one level of a
    server whose delimiter is another is written ``_``, as `pochta migrate` does."""
    if remote.upper() == "INBOX":
        return base
    levels = remote.split(delimiter) if delimiter else [remote]
    name = "/".join(level.replace("/", "_") for level in levels)
    return f"{base}/{name}" if base else name


def message_key(folder: str, uidvalidity: int, uid: int) -> str:
    return f"{_KEY}{folder}:{uidvalidity}:{uid}"


def content_key(folder: str, uidvalidity: int, uid: int, data: bytes) -> str:
    return f"{_DIGEST}{folder}:{uidvalidity}:{uid}:{hashlib.sha256(data).hexdigest()}"


@dataclass(frozen=True)
class ParsedKey:
    folder: str
    uidvalidity: int
    uid: int
    digest: str | None  # set for a content key

    @property
    def message_key(self) -> str:
        return message_key(self.folder, self.uidvalidity, self.uid)


def parse_key(key: str) -> ParsedKey | None:
    """A message or content key of an IMAP account; None for anything else. The folder may hold
    ``:`` itself: the numbers are taken from the end."""
    if key.startswith(_DIGEST):
        rest, count = key[len(_DIGEST) :], 3
    elif key.startswith(_KEY):
        rest, count = key[len(_KEY) :], 2
    else:
        return None
    parts = rest.rsplit(":", count)
    if len(parts) != count + 1 or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    digest = parts[3] if count == 3 else None
    return ParsedKey(parts[0], int(parts[1]), int(parts[2]), digest)


@dataclass(frozen=True)
class ListedFolder:
    """One remote folder as a run listed it: its UIDVALIDITY and the UIDs in it."""

    name: str
    uidvalidity: int
    uids: frozenset[int]


def earlier_digests(known: Iterable[str], folder: ListedFolder) -> set[str]:
    """The digests of messages fetched from ``folder`` under another UIDVALIDITY than its current
    one: those a message of the current one may match."""
    found: set[str] = set()
    for key in known:
        parsed = parse_key(key)
        if (
            parsed is not None
            and parsed.digest is not None
            and parsed.folder == folder.name
            and parsed.uidvalidity != folder.uidvalidity
        ):
            found.add(parsed.digest)
    return found


def stale_keys(known: Iterable[str], listed: Sequence[ListedFolder]) -> set[str]:
    """The records of ``known`` (as they are after a run) that serve nothing any more:

    - a message of a listed folder under its current UIDVALIDITY whose UID is not there any more
      (deleted or moved away on the remote), with its content key;
    - the records under an older UIDVALIDITY of a folder whose every current message is recorded
      (all matched or fetched; until then their digests may still match one);
    - a content key whose message key is gone.

    Records of folders this run did not list (not configured any more, or that could not be
    opened) stay: the run knows nothing about them."""
    keys = set(known)
    by_name: Mapping[str, ListedFolder] = {folder.name: folder for folder in listed}
    complete = {
        folder.name
        for folder in listed
        if all(message_key(folder.name, folder.uidvalidity, uid) in keys for uid in folder.uids)
    }
    stale: set[str] = set()
    for key in keys:
        parsed = parse_key(key)
        if parsed is None or parsed.folder not in by_name:
            continue
        folder = by_name[parsed.folder]
        if parsed.uidvalidity == folder.uidvalidity:
            gone = parsed.uid not in folder.uids
        else:
            gone = folder.name in complete
        if gone or (parsed.digest is not None and parsed.message_key not in keys):
            stale.add(key)
    return stale
