"""What the store answers about an account's state for JMAP (RFC 8620 §5.2 ``/changes``, RFC 8621
Mailbox/changes, Email/changes, Thread/changes): the account's MODSEQ counter, the Email and
Mailbox changes since a state, page by page, and the Email rows JMAP builds its objects from
(``store/sql/account_changes`` computes them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pochta.store.model import BlobRef, MailboxId, MessageId, ModSeq

__all__ = [
    "AccountEmail",
    "CannotCalculateChanges",
    "ChangesPosition",
    "EmailChanges",
    "EmailPage",
    "EmailRecord",
    "EmailThread",
    "MailboxChanges",
    "MailboxCounts",
]


class CannotCalculateChanges(Exception):
    """The state is older than the account's pruned change records, or newer than its counter
    (RFC 8620 §5.2 ``cannotCalculateChanges``)."""


@dataclass(frozen=True, order=True)
class ChangesPosition:
    """Where a page of changes stopped: the (MODSEQ, id) of the last record it examined, in the
    order records are walked. The next page starts after it, with the same ``since``."""

    modseq: ModSeq
    item: int


@dataclass(frozen=True)
class EmailChanges:
    """Email ids (messages.id) relative to ``since``, as RFC 8620 §5.2 defines them.

    ``state`` is the account's counter at the read. When ``position`` is None the changes are
    complete up to ``state`` (``hasMoreChanges`` false, ``newState`` = ``state``); else more remain
    (``hasMoreChanges`` true) and the intermediate ``newState`` must encode ``since`` and
    ``position`` both, to be given back as they are (``sql/account_changes`` tells why)."""

    created: tuple[MessageId, ...]
    updated: tuple[MessageId, ...]
    destroyed: tuple[MessageId, ...]
    state: ModSeq
    position: ChangesPosition | None = None

    @property
    def has_more(self) -> bool:
        return self.position is not None


@dataclass(frozen=True)
class MailboxChanges:
    """``EmailChanges`` for mailboxes; ``counts_only``: the updated mailboxes of which only the
    counts may have changed (RFC 8621 §2.2 ``updatedProperties``)."""

    created: tuple[MailboxId, ...]
    updated: tuple[MailboxId, ...]
    destroyed: tuple[MailboxId, ...]
    counts_only: frozenset[MailboxId]
    state: ModSeq
    position: ChangesPosition | None = None

    @property
    def has_more(self) -> bool:
        return self.position is not None


@dataclass(frozen=True)
class AccountEmail:
    """One Email of an account (RFC 8621 §4.1.1): the message, the mailboxes holding it, its
    keywords as IMAP flags (the union of its memberships' flags, except \\Seen, which it has only
    when every membership has it; \\Deleted is left to the caller), size, receivedAt (the internal
    date of its earliest membership, epoch seconds and its UTC offset in minutes) and thread (None
    while not threaded: ``MailStore.thread_now`` threads a mailbox)."""

    message_id: MessageId
    mailbox_ids: tuple[MailboxId, ...]
    flags: frozenset[str]
    size: int
    received_at: int
    received_tz: int
    thread_id: int | None


@dataclass(frozen=True)
class EmailThread:
    """An Email's thread and record, for Thread/changes: ``thread_id`` None while not threaded (a
    live Email) or when the message was never threaded before it went (a destroyed one)."""

    message_id: MessageId
    thread_id: int | None
    created: ModSeq
    destroyed: ModSeq | None


@dataclass(frozen=True)
class EmailRecord:
    """An Email's message as kept: its blob and its parse record (``messages.parsed_json``,
    ``ParsedMessage.to_json(with_text=False)``), for Email/get's header and body properties and for
    a download (RFC 8620 section 6.2)."""

    message_id: MessageId
    blob: BlobRef
    parsed_json: bytes = field(repr=False)


@dataclass(frozen=True)
class MailboxCounts:
    """A mailbox's counts as RFC 8621 section 2 defines them (``sql/mailbox_counts`` tells how):
    Emails (distinct messages) it holds, those unread (neither $seen nor $draft, by the Email's
    keywords: ``AccountEmail``), threads with an Email in it, and threads with an Email in it and
    an unread Email anywhere, the trash counted apart. ``unthreaded``: its Emails the indexer has
    not threaded yet, each counted as a thread of its own (``MailStore.thread_now`` threads them,
    after which the thread counts are the final ones)."""

    total_emails: int = 0
    unread_emails: int = 0
    total_threads: int = 0
    unread_threads: int = 0
    unthreaded: int = 0


@dataclass(frozen=True)
class EmailPage:
    """A page of a mailbox's Emails by internal date (JMAP Email/query's common query): the
    account's state at the read, the Email ids (messages.id) of the page, and the number of Emails
    in the mailbox when asked (else None)."""

    state: ModSeq
    ids: tuple[MessageId, ...]
    total: int | None
