"""The Maildir format, read and written: folders, file names, flags and keywords.

A folder is a directory with ``cur/`` and ``new/`` (and ``tmp/``, whose files are deliveries in
progress and never read). The top directory is INBOX; subfolders come in two layouts, both read:

- Maildir++ (Courier, Dovecot's default): ``.Sub.Folder/`` beside ``cur/``, levels separated by "."
  and each level in modified UTF-7 (RFC 3501 §5.1.3), as Dovecot writes them; a "." or "\\" inside a
  level is written ``\\2e`` / ``\\5c`` (Dovecot's listescape plugin).
- the ``/`` layout (Dovecot's ``LAYOUT=fs``): ``Sub/Folder/`` nested directories.

A message is one file; its name is ``<unique>:2,<flags>`` (the "info"; ``!`` instead of ``:`` where
file systems forbid it). The unique part never changes, so it keys the message in the import journal
while another program renames the file (new/ to cur/, flags). Flags are letters in ASCII order:
D \\Draft, F \\Flagged, P passed ($Forwarded), R \\Answered, S \\Seen, T \\Deleted (trashed); a
lowercase letter is keyword number 0-25 of the folder's ``dovecot-keywords`` file (``N name`` lines).
Courier keeps keywords in ``courierimapkeywords/``: a ``:list`` file (the names, an empty line, then
``unique:N N`` lines) and per-message files (``unique`` or ``.N.unique``, one name a line) written
since, which win. The file's mtime is the internal date, as Dovecot takes it (and sets it on save).

Writing (``MaildirWriter``): Maildir++ folder names, files written to ``tmp/``, fsync'ed and renamed
into ``cur/`` with their info and mtime, LF line ends as Dovecot writes them, and each folder's
``dovecot-keywords`` written at the end.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
from collections.abc import Container, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pochta.fetch.importer_source import (
    Known,
    Skipped,
    SourceItem,
    SourceMessage,
    crlf,
    keyword_flags,
    looks_like_message,
)
from pochta.mail.flags import ANSWERED, DELETED, DRAFT, FLAGGED, SEEN, is_system_flag
from pochta.mail.names import modified_utf7_decode, modified_utf7_encode

__all__ = [
    "FORWARDED",
    "MaildirFolder",
    "MaildirWriter",
    "find_folders",
    "info_flags",
    "is_maildir",
    "read_folder",
]

FORWARDED = "$Forwarded"  # RFC 5788 keyword registry: what the "P" (passed) letter means
_LETTERS = {"D": DRAFT, "F": FLAGGED, "P": FORWARDED, "R": ANSWERED, "S": SEEN, "T": DELETED}
_LETTER_OF = {flag: letter for letter, flag in _LETTERS.items() if flag != FORWARDED}
_PARTS = ("cur", "new", "tmp")
DOVECOT_KEYWORDS = "dovecot-keywords"
COURIER_KEYWORDS = "courierimapkeywords"


@dataclass(frozen=True)
class MaildirFolder:
    path: Path
    name: str  # relative mailbox name, "/" between levels; "" for the top (INBOX or --folder)


def is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() or (path / "new").is_dir()


_ESCAPED = re.compile(r"\\([0-9a-fA-F]{2})")


def _decode_level(level: str) -> str:
    # Dovecot's listescape: "\2e" is a "." inside a level (the Maildir++ separator), "\5c" a "\".
    unescaped = _ESCAPED.sub(lambda match: chr(int(match.group(1), 16)), level)
    try:
        return modified_utf7_decode(unescaped)
    except ValueError:
        return unescaped  # not modified UTF-7 (a name some other program wrote in UTF-8): as it is


def _encode_level(level: str) -> str:
    return modified_utf7_encode(level).replace("\\", "\\5c").replace(".", "\\2e")


def find_folders(root: Path) -> list[MaildirFolder]:
    """Every folder under ``root``, the top first, in both layouts."""
    found = [MaildirFolder(root, "")] if is_maildir(root) else []
    for child in sorted(root.iterdir()):
        if not child.is_dir() or child.name in _PARTS or child.name == COURIER_KEYWORDS:
            continue
        if child.name.startswith(".") and child.name not in (".", ".."):
            if is_maildir(child):
                levels = [_decode_level(level) for level in child.name[1:].split(".") if level]
                found.append(MaildirFolder(child, "/".join(levels)))
            continue
        found.extend(_nested(child, _decode_level(child.name)))
    return found


def _nested(directory: Path, name: str) -> Iterator[MaildirFolder]:
    if is_maildir(directory):
        yield MaildirFolder(directory, name)
    for child in sorted(directory.iterdir()):
        skipped = child.name in _PARTS or child.name == COURIER_KEYWORDS or child.name.startswith(".")
        if child.is_dir() and not skipped:
            yield from _nested(child, f"{name}/{_decode_level(child.name)}")


def split_name(file_name: str) -> tuple[str, str | None]:
    """(unique part, flag letters or None when the name has no ``:2,`` info)."""
    for separator in (":2,", "!2,"):
        unique, found, letters = file_name.partition(separator)
        if found:
            return unique, letters
    return file_name.partition(":")[0], None


def dovecot_keywords(folder: Path) -> dict[int, str]:
    """The folder's ``dovecot-keywords``: keyword number -> name."""
    try:
        text = (folder / DOVECOT_KEYWORDS).read_text("utf-8", "replace")
    except OSError:
        return {}
    names: dict[int, str] = {}
    for line in text.splitlines():
        number, _, name = line.strip().partition(" ")
        if number.isdigit() and name:
            names[int(number)] = name.strip()
    return names


def courier_keywords(folder: Path) -> dict[str, list[str]]:
    """Courier-IMAP's keywords of the folder: unique part -> keyword names."""
    directory = folder / COURIER_KEYWORDS
    if not directory.is_dir():
        return {}
    found: dict[str, list[str]] = {}
    try:
        listed = (directory / ":list").read_text("utf-8", "replace")
    except OSError:
        listed = ""
    names, _, assignments = listed.partition("\n\n")
    numbered = [name for name in names.splitlines() if name]
    for line in assignments.splitlines():
        unique, _, numbers = line.rpartition(":")
        picked = [numbered[int(n)] for n in numbers.split() if n.isdigit() and int(n) < len(numbered)]
        if unique:
            found[unique] = picked
    # Updates since the list was last rewritten: one file per message, the newest counter wins.
    updates: dict[str, tuple[int, Path]] = {}
    for entry in directory.iterdir():
        if entry.name == ":list" or not entry.is_file():
            continue
        counter, unique = -1, entry.name
        if entry.name.startswith("."):
            number, _, rest = entry.name[1:].partition(".")
            if number.isdigit() and rest:
                counter, unique = int(number), rest
        if unique not in updates or counter > updates[unique][0]:
            updates[unique] = (counter, entry)
    for unique, (_, path) in updates.items():
        try:
            found[unique] = [
                line.strip() for line in path.read_text("utf-8", "replace").splitlines() if line.strip()
            ]
        except OSError:
            continue
    return found


def info_flags(letters: str, keywords: dict[int, str]) -> frozenset[str]:
    flags = {_LETTERS[letter] for letter in letters if letter in _LETTERS}
    numbered = [
        keywords[ord(letter) - ord("a")]
        for letter in letters
        if "a" <= letter <= "z" and ord(letter) - ord("a") in keywords
    ]
    return frozenset(flags) | keyword_flags(numbered)


def read_folder(folder: MaildirFolder, key_prefix: str, known: Container[str] = ()) -> Iterator[SourceItem]:
    """Every message of one folder, new/ then cur/, in name order (deliveries are named by time);
    those in ``known`` are only named, their files not read."""
    keywords = dovecot_keywords(folder.path)
    courier = courier_keywords(folder.path)
    for part in ("new", "cur"):
        directory = folder.path / part
        try:
            names = sorted(entry for entry in os.listdir(directory) if not entry.startswith("."))
        except FileNotFoundError:
            continue
        except OSError as exc:
            yield Skipped(folder.name, f"{key_prefix}{part}", f"unreadable directory: {exc.strerror}")
            continue
        for file_name in names:
            unique, letters = split_name(file_name)
            key = f"{key_prefix}{unique}"
            if key in known:
                with contextlib.suppress(OSError):
                    yield Known(folder.name, key, os.stat(directory / file_name).st_size)
                continue
            path = directory / file_name
            try:
                with open(path, "rb") as file:
                    stat = os.fstat(file.fileno())
                    data = file.read()
            except IsADirectoryError:
                continue
            except OSError as exc:
                yield Skipped(folder.name, key, f"unreadable: {exc.strerror}")
                continue
            if not data.strip():
                yield Skipped(folder.name, key, "empty message", len(data))
                continue
            if not looks_like_message(data):
                yield Skipped(
                    folder.name, key, "not a message: it does not begin with a header field", len(data)
                )
                continue
            flags = info_flags(letters or "", keywords) | keyword_flags(courier.get(unique, []))
            when = datetime.fromtimestamp(int(stat.st_mtime), UTC)
            yield SourceMessage(folder.name, key, crlf(data), flags, when, len(data))


def folder_directory(root: Path, name: str) -> Path:
    """Where the Maildir++ folder of a mailbox name (relative, "" the top) lives."""
    if not name:
        return root
    return root / ("." + ".".join(_encode_level(level) for level in name.split("/")))


class MaildirWriter:
    """Writes the messages of one folder, then its ``dovecot-keywords``."""

    def __init__(self, root: Path, name: str) -> None:
        self.path = folder_directory(root, name)
        for part in _PARTS:
            (self.path / part).mkdir(parents=True, exist_ok=True)
        self._keywords: dict[str, int] = {}
        self._count = 0
        self._host = socket.gethostname().replace("/", "\\057").replace(":", "\\072")

    def _letters(self, flags: frozenset[str]) -> str:
        letters = [_LETTER_OF[flag] for flag in flags if flag in _LETTER_OF]
        for flag in sorted(flag for flag in flags if not is_system_flag(flag)):
            number = self._keywords.setdefault(flag, len(self._keywords))
            if number < 26:  # a Maildir file name has room for 26 keywords (a-z)
                letters.append(chr(ord("a") + number))
        return "".join(sorted(letters))

    def add(self, message: bytes, flags: frozenset[str], when: datetime) -> Path:
        """Write one message (CRLF as stored) with LF line ends; returns its path in cur/."""
        self._count += 1
        stamp = int(when.timestamp())
        unique = f"{stamp}.M{self._count}P{os.getpid()}.{self._host}"
        temporary = self.path / "tmp" / unique
        with open(temporary, "wb") as file:
            file.write(message.replace(b"\r\n", b"\n"))
            file.flush()
            os.fsync(file.fileno())
        os.utime(temporary, (stamp, stamp))
        final = self.path / "cur" / f"{unique}:2,{self._letters(flags)}"
        os.rename(temporary, final)
        return final

    def finish(self) -> None:
        if self._keywords:
            lines = "".join(f"{number} {name}\n" for name, number in self._keywords.items() if number < 26)
            (self.path / DOVECOT_KEYWORDS).write_text(lines, "utf-8")
        for part in ("cur", ""):
            descriptor = os.open(self.path / part, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
