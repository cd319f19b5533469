"""What the selected-mailbox state (``pochta.proto.imap.selected``) reads of the store's records.

Structural types (``typing.Protocol``), so that the sans-IO core names no store type: the store's
``MailboxView``, ``ChangeSet``, ``MailboxInfo`` and ``MessageEntry`` (``pochta.store.model``) fit
them, and mypy checks that where the server hands them over (``server.imap.select``,
``server.imap.session``: ``SelectedMailbox[MessageEntry]``). Each protocol lists exactly the
attributes the core reads, read-only; the entry type is a parameter, so that what the core gives
back (``SelectedMailbox.entry``) is the caller's own record, blob reference and all.

Why protocols rather than moving the records here: the records are the store's (their columns,
packing and fast constructors serve the store's queries and caches, and POP3, JMAP and the CLI read
them too); the core needs a dozen read-only attributes of them. A protocol keeps the dependency
pointing inwards (the store's model owes nothing to IMAP) and lets a test drive the core with plain
records.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, TypeVar


class Entry(Protocol):
    """One message as a mailbox holds it (``MessageEntry`` fits)."""

    @property
    def uid(self) -> int: ...
    @property
    def message_id(self) -> int: ...  # the store's id of its content (never reused)
    @property
    def flags(self) -> frozenset[str]: ...  # stored flags and keywords (no \\Recent)
    @property
    def modseq(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def internal_date(self) -> datetime: ...


EntryT = TypeVar("EntryT", bound=Entry)
EntryT_co = TypeVar("EntryT_co", bound=Entry, covariant=True)


class Mailbox(Protocol):
    """The mailbox a view is a snapshot of (``MailboxInfo`` fits)."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def uidvalidity(self) -> int: ...
    @property
    def uidnext(self) -> int: ...
    @property
    def highestmodseq(self) -> int: ...
    @property
    def keywords(self) -> tuple[str, ...]:
        """Every keyword ever stored in the mailbox (FLAGS lists them: RFC 9051 §7.3.5)."""


class View(Protocol[EntryT_co]):
    """A snapshot of a mailbox in UID order, as columns (``MailboxView`` fits): index ``i`` is the
    ``i``-th message by UID. The core never modifies a column: views are shared between sessions."""

    @property
    def mailbox(self) -> Mailbox: ...
    @property
    def uids(self) -> array[int]: ...  # ascending; the core slices and concatenates these in C
    @property
    def message_ids(self) -> Sequence[int]: ...
    @property
    def flags(self) -> Sequence[frozenset[str]]: ...
    @property
    def modseqs(self) -> Sequence[int]: ...
    @property
    def sizes(self) -> Sequence[int]: ...

    def position(self, uid: int) -> int | None:
        """The index of this UID, None when the view lacks it."""
        ...

    def entry(self, index: int) -> EntryT_co:
        """The record of the message at ``index``."""
        ...

    def internal_date(self, index: int) -> datetime: ...

    def flag_sets(self) -> list[frozenset[str]]:
        """The distinct flag sets of the view (for the mailbox's keywords)."""
        ...


class Changes(Protocol[EntryT_co]):
    """What a write or a catch-up read changed in one mailbox (``ChangeSet`` fits)."""

    @property
    def mailbox_id(self) -> int: ...
    @property
    def highestmodseq(self) -> int: ...
    @property
    def changed(self) -> Sequence[EntryT_co]: ...  # new or re-flagged messages, in UID order
    @property
    def expunged(self) -> Sequence[int]: ...  # ascending UIDs
    @property
    def live_uids(self) -> Sequence[int] | None: ...  # set when expunge records were pruned
