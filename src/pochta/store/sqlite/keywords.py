"""Each mailbox's keyword list: every keyword (IMAP user flag) ever stored in it (revision 0022).

RFC 9051 §7.3.5: FLAGS lists the flags applicable to the mailbox, and a session already selected
keeps every keyword it was told of. So that a session selecting the mailbox later is told the same
list (as Dovecot does, which keeps each keyword a mailbox ever had), ``mailboxes.keywords`` keeps
them all, space-separated in the spelling first stored: the write jobs that store flags
(``sqlite/mail``: delivery and APPEND, STORE, COPY and MOVE) add to it in their own transaction, and
expunging leaves it as it is. Writes whose flags carry no keyword (most deliveries) read nothing
here.

The list is bounded here (``limits.max_keywords_per_mailbox``), in the write itself: ``mail.ops``
refuses a STORE or APPEND past the limit with NO [LIMIT] (RFC 5530 §3) before it writes, but a
delivery (Sieve's imap4flags), a COPY or MOVE of messages carrying keywords the target lacks, and
two sessions adding keywords at once reach the store without that check. Keywords that do not fit
are left off the stored message instead (never the message itself: the mail is kept).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from pochta.mail.flags import flag_key, is_system_flag
from pochta.store.model import MailboxId

__all__ = ["admit_keywords", "keywords_in_use", "merge_keywords", "text_keywords", "without_keys"]

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


def merge_keywords(
    stored: str, found: dict[str, str], limit: int | None = None
) -> tuple[str | None, frozenset[str]]:
    """``stored`` (a keywords column) with the keywords of ``found`` it lacks appended while the list
    holds fewer than ``limit`` (in ``found``'s order; no limit: all of them), or None when nothing
    was added; and the comparison keys of the keywords that did not fit."""
    have = stored.split()
    keys = {flag_key(flag) for flag in have}
    new = [(key, flag) for key, flag in found.items() if key not in keys]
    room = len(new) if limit is None else max(limit - len(have), 0)
    added = [flag for _, flag in new[:room]]
    refused = frozenset(key for key, _ in new[room:])
    return (" ".join(have + added) if added else None), refused


def admit_keywords(
    raw: sqlite3.Connection, mailbox_id: MailboxId, found: dict[str, str], limit: int
) -> frozenset[str]:
    """Add the keywords of ``found`` (``text_keywords``) to the mailbox's list, in the caller's write
    transaction and before the flags are stored; return the comparison keys of those that did not
    fit (usually none), which the caller leaves off the messages. Nothing is read when ``found`` is
    empty."""
    if not found:
        return frozenset()
    row = raw.execute(_SQL_READ, (mailbox_id,)).fetchone()
    if row is None:
        return frozenset()  # a missing mailbox: the write raises NotFound on its own
    merged, refused = merge_keywords(row[0], found, limit)
    if merged is not None:
        raw.execute(_SQL_WRITE, (merged, mailbox_id))
    return refused


def without_keys(text: str, refused: frozenset[str]) -> str:
    """A stored flag text without the flags whose comparison key is in ``refused``."""
    return " ".join(flag for flag in text.split() if flag_key(flag) not in refused)


def keywords_in_use(raw: sqlite3.Connection) -> dict[MailboxId, dict[str, str]]:
    """Per mailbox, the keywords its messages carry now (reconstruct adds any the list lacks)."""
    texts: dict[MailboxId, list[str]] = {}
    for mailbox_id, flags in raw.execute(_SQL_IN_USE):
        texts.setdefault(mailbox_id, []).append(flags)
    return {mailbox_id: text_keywords(found) for mailbox_id, found in texts.items()}
