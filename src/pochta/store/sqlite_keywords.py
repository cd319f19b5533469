"""Each mailbox's keyword list: every keyword (IMAP user flag) ever stored in it (revision 0022).

RFC 9051 §7.3.5: FLAGS lists the flags applicable to the mailbox, and a session already selected
keeps every keyword it was told of. So that a session selecting the mailbox later is told the same
list (as Dovecot does, which keeps each keyword a mailbox ever had), ``mailboxes.keywords`` keeps
them all, space-separated in the spelling first stored: the write jobs that store flags
(``sqlite_mail``: delivery and APPEND, STORE, COPY and MOVE) add to it in their own transaction, and
expunging leaves it as it is. Writes whose flags carry no keyword (most deliveries) read nothing
here. ``mail.ops`` counts the list against the keyword limit, which keeps it bounded.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from pochta.mail.flags import flag_key, is_system_flag
from pochta.store.model import MailboxId

__all__ = ["keywords_in_use", "merge_keywords", "remember_keywords", "text_keywords"]

_SQL_READ = "SELECT keywords FROM mailboxes WHERE id = ?"
_SQL_WRITE = "UPDATE mailboxes SET keywords = ? WHERE id = ?"
# Distinct flag texts holding a keyword (a word not starting with a backslash).
_SQL_IN_USE = "SELECT DISTINCT mailbox_id, flags FROM membership WHERE (' ' || flags) GLOB '* [^\\]*'"


def text_keywords(texts: Iterable[str]) -> dict[str, str]:
    """The keywords in stored flag texts (space-separated), by comparison key, first spelling kept."""
    found: dict[str, str] = {}
    for text in texts:
        for flag in text.split():
            if not is_system_flag(flag):
                found.setdefault(flag_key(flag), flag)
    return found


def merge_keywords(stored: str, found: dict[str, str]) -> str | None:
    """``stored`` (a keywords column) with the keywords of ``found`` it lacks appended, or None when
    it lacks none."""
    have = stored.split()
    keys = {flag_key(flag) for flag in have}
    added = [flag for key, flag in found.items() if key not in keys]
    return " ".join(have + added) if added else None


def remember_keywords(raw: sqlite3.Connection, mailbox_id: MailboxId, found: dict[str, str]) -> None:
    """Add the keywords of ``found`` (``text_keywords``) to the mailbox's list, in the caller's write
    transaction; nothing is read when ``found`` is empty."""
    if not found:
        return
    row = raw.execute(_SQL_READ, (mailbox_id,)).fetchone()
    if row is None:
        return  # the write that stored the flags raised NotFound already
    merged = merge_keywords(row[0], found)
    if merged is not None:
        raw.execute(_SQL_WRITE, (merged, mailbox_id))


def keywords_in_use(raw: sqlite3.Connection) -> dict[MailboxId, dict[str, str]]:
    """Per mailbox, the keywords its messages carry now (reconstruct adds any the list lacks)."""
    texts: dict[MailboxId, list[str]] = {}
    for mailbox_id, flags in raw.execute(_SQL_IN_USE):
        texts.setdefault(mailbox_id, []).append(flags)
    return {mailbox_id: text_keywords(found) for mailbox_id, found in texts.items()}
