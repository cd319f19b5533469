"""Mailbox semantics, shared by IMAP, POP3, JMAP and delivery: the one place they live.

The store does what it is told, atomically; this module decides what may be told. Every method
raises ``OpsError`` with an RFC 5530 code that the protocol layers turn into their replies.

Semantics chosen where the RFCs leave a choice (documented for docs/ and the protocol layers):

- CREATE (RFC 9051 §6.3.4): a trailing separator is a declaration and is ignored; missing superior
  names are created as real (selectable) mailboxes, as Dovecot does with "/" names; creating INBOX
  or an existing name is ALREADYEXISTS. The optional special-use attribute (RFC 6154 §5.3
  CREATE-SPECIAL-USE) may be \\Archive, \\Drafts, \\Junk, \\Sent or \\Trash; \\All and \\Flagged need
  virtual mailboxes, which pochta does not have, so they are refused with USEATTR.
- DELETE (RFC 9051 §6.3.5): INBOX cannot be deleted (CANNOT). A mailbox with inferior names is
  refused with HASCHILDREN, the first choice the RFC offers: pochta has no \\Noselect placeholders
  to leave behind.
- RENAME (RFC 9051 §6.3.6): inferior names move along; missing superiors of the new name are
  created; renaming into one's own inferior is CANNOT. Renaming INBOX creates the new mailbox,
  moves every INBOX message into it (flags kept, one atomic Store.transfer) and leaves INBOX, and its
  inferiors, in place.
- SUBSCRIBE (RFC 9051 §6.3.7) does not require the mailbox to exist, and DELETE keeps the
  subscription (the store keeps names without a mailbox); the name must be creatable. UNSUBSCRIBE
  of a name that is not subscribed succeeds. RENAME carries subscriptions along with the mailboxes
  (the store keeps them on the mailbox row); RFC 9051 §6.3.6 tells clients not to count on either.
- APPEND/COPY/MOVE to a missing mailbox (RFC 9051 §6.3.12, §6.4.7, RFC 6851 §3.3): TRYCREATE when
  the name could be created, NONEXISTENT when it never could. No mailbox is created implicitly.
- MOVE to the source mailbox itself is allowed (RFC 6851 §3.3: "allowed when copying the message to
  the currently selected mailbox is allowed"): the messages get new UIDs at the end, flags kept.
- APPEND (RFC 9051 §6.3.12) stores the message in RFC 5322 form with CRLF line ends (DESIGN data
  model): a bare LF is turned into CRLF (RFC 5322 §2.3: CR and LF only occur together), as Dovecot
  does; everything else is stored as given. An empty message is refused (CANNOT). Several messages
  (RFC 3502 MULTIAPPEND, ``append_many``) are all or nothing: every check runs before any write, and
  should a later commit still fail, the messages already placed are expunged again (the store
  commits one message at a time, so another session may briefly see the first ones).
- Quota (RFC 9208 §3.1.2, §4.3.1 / RFC 2087): the limits of the account and of its domain
  (``pochta.mail.quota``: STORAGE and MESSAGE, None = unlimited) against the store's usage plus what an
  APPEND, COPY or delivery adds; OVERQUOTA when one would be exceeded. ``mail.quota.exceeds`` is THE
  rule. Every copy counts (the blob is shared, the usage is not);
  MOVE within an account never grows usage. The authority is the store: ``deliver`` and ``copy``
  apply the rule inside their write transaction and raise QuotaExceeded, storing nothing, so two
  concurrent APPENDs or deliveries (in one process or in several on one data directory) can never
  both pass and overshoot. ``check_quota`` runs the same rule earlier as a cheap first answer
  (before an APPEND's data is parsed and stored, at SMTP RCPT), knowing that the usage it read may
  have grown by the time of the write. A single APPEND of a message held in memory skips that early
  read (and the lookup of its mailbox, unless keywords need its view): its write looks the mailbox
  up and applies the quota itself, so the answer is the same and only the parse is spent.
- EXPUNGE (RFC 9051 §6.4.3, UID EXPUNGE §6.4.9): only messages carrying \\Deleted; POP3's UPDATE
  state (RFC 1939 §6) uses ``expunge_uids``, which removes exactly the UIDs given.
"""

from __future__ import annotations

import asyncio
import mmap
import os
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pochta.config import MimeSettings, Settings
from pochta.mail import flags as flagrules
from pochta.mail import names
from pochta.mail.access import Access
from pochta.mail.errors import Code, OpsError
from pochta.mail.quota import quota_exceeded
from pochta.mime import ParsedMessage, parse_message
from pochta.mime.binary_content import BinaryContentError, storable_pieces
from pochta.store.api import AlreadyExists, Conflict, FlagOp, NotFound, QuotaExceeded, Store
from pochta.store.model import (
    AccountId,
    ChangeSet,
    CopyResult,
    MailboxId,
    MailboxInfo,
    MailboxName,
    MailboxView,
    Placed,
    Uid,
)
from pochta.store.spool import SpoolFile

# Messages larger than this are parsed in a worker thread so that the event loop never stalls.
PARSE_INLINE_MAX = 64 * 1024

# RFC 6154 §2 attributes a real (non-virtual) mailbox can carry, by lower-case key.
# RFC 6154 §2 attributes of real mailboxes, and RFC 8457 §3 \Important (here a real mailbox the user
# or a filter fills, which §3 allows; not a virtual view of the $Important messages).
CREATABLE_SPECIAL_USE = {
    attribute.lower(): attribute
    for attribute in ("\\Archive", "\\Drafts", "\\Junk", "\\Sent", "\\Trash", "\\Important")
}
_VIRTUAL_SPECIAL_USE = frozenset({"\\all", "\\flagged"})

_FLAG_OPS = frozenset({"add", "remove", "replace"})


@contextmanager
def _store_errors(missing: Code = Code.NONEXISTENT, what: str = "No such mailbox") -> Iterator[None]:
    """Translate the store's conflict errors (a concurrent session got there first, or filled the
    quota)."""
    try:
        yield
    except NotFound:
        raise OpsError(missing, what) from None
    except AlreadyExists:
        raise OpsError(Code.ALREADYEXISTS, "Mailbox already exists") from None
    except QuotaExceeded as exc:
        # RFC 9208 §4.3.1: OVERQUOTA; refused by the store's own check, in the write transaction.
        raise OpsError(Code.OVERQUOTA, exc.reason) from None
    except Conflict as exc:
        raise OpsError(Code.CANNOT, f"Refused by the store: {exc}") from None


_BARE_LF = re.compile(rb"(?<!\r)\n")


def _crlf(data: bytes) -> bytes:
    return _BARE_LF.sub(b"\r\n", data)


def _slices(view: memoryview, size: int = 1 << 20) -> Iterator[bytes]:
    for offset in range(0, len(view), size):
        yield bytes(view[offset : offset + size])


def binary_to_text(data: bytes, settings: MimeSettings) -> bytes:
    """The message of an APPEND literal8 as stored: its binary leaves in base64 (RFC 3516 §4.4,
    ``mime.binary_content``), then the line-end rule of ``MailOps.canonical_content``. Raises
    OpsError (UNKNOWN-CTE) for binary content that cannot be stored without loss."""
    try:
        pieces = storable_pieces(data, parse_message(data, settings))
    except BinaryContentError as exc:
        raise OpsError(Code.UNKNOWN_CTE, str(exc)) from None
    return _crlf(data if pieces is None else b"".join(pieces))


def binary_file_to_text(path: Path, into: SpoolFile, settings: MimeSettings) -> None:
    """``binary_to_text`` for a literal8 written to a file as it came: the file is read through a
    memory map and the result written to ``into`` a piece at a time (no copy of the whole message)."""
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) if size else nullcontext(b"") as data:
            try:
                pieces = storable_pieces(data, parse_message(data, settings))
            except BinaryContentError as exc:
                raise OpsError(Code.UNKNOWN_CTE, str(exc)) from None
            line_ends = LineEnds()
            for piece in pieces if pieces is not None else _slices(memoryview(data)):
                into.write(line_ends.convert(piece))


class LineEnds:
    """``MailOps.canonical_content`` for a message that arrives in pieces (an APPEND literal written
    to a spool file as it comes): bare LF becomes CRLF, also when a CR ends the previous piece."""

    def __init__(self) -> None:
        self._after_cr = False

    def convert(self, piece: bytes) -> bytes:
        if not piece:
            return piece
        after_cr, self._after_cr = self._after_cr, piece.endswith(b"\r")
        if b"\n" not in piece:
            return piece
        if after_cr and piece.startswith(b"\n"):
            return b"\n" + self._convert(piece[1:])  # the CR was in the previous piece
        return self._convert(piece)

    @staticmethod
    def _convert(piece: bytes) -> bytes:
        return piece if piece.count(b"\n") == piece.count(b"\r\n") else _crlf(piece)


@dataclass(frozen=True)
class NewMessage:
    """One message to APPEND: its octets (or a finished spool file holding them, line ends already
    canonical, see ``LineEnds``), flags and internal date (None: now)."""

    data: bytes | SpoolFile
    flags: tuple[str, ...] = ()
    internal_date: datetime | None = None


def _unique_uids(uids: Iterable[Uid]) -> list[Uid]:
    return sorted(set(uids))


def _knows_all(known: Mapping[str, str] | None, keywords: Iterable[str]) -> bool:
    """Whether every keyword is in ``known`` (a session's keywords of the mailbox, by comparison
    key): then they are spelt as the mailbox spells them without reading it, and none is new, so
    the keyword limit cannot be passed (a keyword removed meanwhile everywhere only comes back)."""
    return known is not None and all(flagrules.flag_key(keyword) in known for keyword in keywords)


class MailOps:
    """Mailbox operations for one store. Stateless apart from configuration: share one instance."""

    def __init__(
        self,
        store: Store,
        mime_settings: MimeSettings,
        *,
        name_limits: names.NameLimits = names.DEFAULT_LIMITS,
        max_keywords: int = flagrules.MAX_KEYWORDS_PER_MAILBOX,
        max_message_size: int | None = None,
    ) -> None:
        self.store = store
        self.mime_settings = mime_settings
        self.name_limits = name_limits
        self.access = Access(store, self.canonical_name)  # other users' mailboxes and rights (RFC 4314)
        self.max_keywords = max_keywords
        self.max_message_size = max_message_size

    @classmethod
    def from_settings(cls, store: Store, settings: Settings) -> MailOps:
        """MailOps with every limit taken from the configuration."""
        limits = settings.limits
        return cls(
            store,
            settings.mime,
            name_limits=names.NameLimits(limits.max_mailbox_name_bytes, limits.max_mailbox_depth),
            max_keywords=limits.max_keywords_per_mailbox,
            max_message_size=limits.max_message_size,
        )

    # --- names and lookup ---------------------------------------------------------------------------

    def canonical_name(self, name: str, *, creating: bool = False) -> str:
        """See ``names.canonical_name``; the limits are this instance's."""
        return names.canonical_name(name, creating=creating, limits=self.name_limits)

    async def mailboxes(self, account_id: AccountId) -> list[MailboxInfo]:
        return await self.store.mailboxes(account_id)

    async def lookup(self, account_id: AccountId, name: str) -> MailboxInfo:
        """The mailbox of that name (any INBOX spelling, any normalisation form), or NONEXISTENT.
        No read when this process holds a provably current view of it (``Store.current_view``)."""
        canonical = self.canonical_name(name)
        view = self._known_view(account_id, canonical)
        if view is not None:
            return view.mailbox
        info = await self.store.get_mailbox(account_id, canonical)
        if info is None:
            raise OpsError(Code.NONEXISTENT, "No such mailbox")
        return info

    async def open_mailbox(
        self, account_id: AccountId, name: str, watch: Callable[[MailboxId], Awaitable[None]]
    ) -> MailboxView:
        """The view of the mailbox of that name (NONEXISTENT if none), ``watch(id)`` awaited before
        the view is read (subscribe to its changes there, so that none falls between; awaited again
        if the id turns out different). No read at all when this process holds a view of it that
        is provably current (``Store.current_view``), else one read (the lookup and the view); a
        second one only when the mailbox's id was not known and some mailbox changed meanwhile."""
        canonical = self.canonical_name(name)
        store = self.store
        guess = store.mailbox_hint(account_id, canonical)
        view = None
        if guess is not None:
            await watch(guess)
            view = store.current_view(guess)
            if view is not None and (view.mailbox.name, view.mailbox.account_id) != (canonical, account_id):
                view = None
        if view is None:
            view = await store.open_named_view(account_id, canonical, guess)
            if view is None:
                raise OpsError(Code.NONEXISTENT, "No such mailbox")
            mailbox_id = view.mailbox.id
            if mailbox_id != guess:
                await watch(mailbox_id)
                # Read before the watch: usable only if provably unchanged since, else read again.
                view = store.current_view(mailbox_id) or await store.open_view(mailbox_id)
        return view

    def _known_view(self, account_id: AccountId, canonical: str) -> MailboxView | None:
        """This process's view of the account's mailbox of that canonical name when it is provably
        current (``Store.current_view``): its row and keywords without a read. None otherwise."""
        store = self.store
        guess = store.mailbox_hint(account_id, canonical)
        view = None if guess is None else store.current_view(guess)
        if view is None or (view.mailbox.name, view.mailbox.account_id) != (canonical, account_id):
            return None
        return view

    async def _named_view(self, account_id: AccountId, canonical: str) -> MailboxView | None:
        """The view of the account's mailbox of that canonical name (None: there is none): this
        process's when provably current, else one read."""
        view = self._known_view(account_id, canonical)
        if view is not None:
            return view
        guess = self.store.mailbox_hint(account_id, canonical)
        return await self.store.open_named_view(account_id, canonical, guess)

    def missing_destination(self, name: str) -> OpsError:
        """The error for an APPEND/COPY/MOVE destination that does not exist."""
        try:
            self.canonical_name(name, creating=True)
        except OpsError:
            # RFC 9051 §6.3.12: no TRYCREATE when "certain that the destination mailbox can not be
            # created".
            return OpsError(Code.NONEXISTENT, "No such mailbox, and that name cannot be created")
        # RFC 9051 §6.3.12, §6.4.7: MUST NOT create it automatically; tell the client it may.
        return OpsError(Code.TRYCREATE, "No such mailbox")

    # --- mailbox management ----------------------------------------------------------------------

    async def create(self, account_id: AccountId, name: str, special_use: str | None = None) -> MailboxInfo:
        """CREATE (RFC 9051 §6.3.4), with missing superiors created as real mailboxes."""
        # RFC 9051 §6.3.4: a trailing separator declares intent to create inferiors; ignore it.
        if len(name) > 1 and name.endswith(names.SEPARATOR):
            name = name[: -len(names.SEPARATOR)]
        canonical = self.canonical_name(name, creating=True)
        use = self._special_use(special_use)
        if names.is_inbox(canonical):
            # RFC 9051 §6.3.4: "It is an error to attempt to create INBOX".
            raise OpsError(Code.ALREADYEXISTS, "INBOX always exists")
        existing = {info.name for info in await self.store.mailboxes(account_id)}
        if canonical in existing:
            raise OpsError(Code.ALREADYEXISTS, "Mailbox already exists")
        await self._create_parents(account_id, canonical, existing)
        with _store_errors():
            return await self.store.create_mailbox(account_id, canonical, use)

    @staticmethod
    def _special_use(special_use: str | None) -> str | None:
        if special_use is None:
            return None
        key = special_use.lower()
        if key in CREATABLE_SPECIAL_USE:
            return CREATABLE_SPECIAL_USE[key]
        if key in _VIRTUAL_SPECIAL_USE:
            raise OpsError(Code.USEATTR, f"{special_use} needs a virtual mailbox, which is not supported")
        raise OpsError(Code.USEATTR, "Unknown special-use attribute")

    async def _create_parents(self, account_id: AccountId, name: str, existing: set[str]) -> None:
        # RFC 9051 §6.3.4 and §6.3.6: create any superior names that are needed.
        for parent in names.parent_names(name):
            if parent in existing:
                continue
            try:
                await self.store.create_mailbox(account_id, parent)
            except AlreadyExists:
                pass  # created concurrently: just as good
            except NotFound:
                raise OpsError(Code.NONEXISTENT, "No such account") from None
            existing.add(parent)

    async def delete(self, account_id: AccountId, name: str) -> None:
        """DELETE (RFC 9051 §6.3.5): not INBOX, not a mailbox with inferiors (HASCHILDREN)."""
        canonical = self.canonical_name(name)
        if names.is_inbox(canonical):
            raise OpsError(Code.CANNOT, "INBOX cannot be deleted")
        all_names = {info.name for info in await self.store.mailboxes(account_id)}
        if canonical not in all_names:
            raise OpsError(Code.NONEXISTENT, "No such mailbox")
        # RFC 9051 §6.3.5: a server that does not permit deleting a name with inferiors "SHOULD
        # disallow the DELETE command by returning a tagged NO response ... HASCHILDREN".
        if any(names.is_inferior(other, canonical) for other in all_names):
            raise OpsError(Code.HASCHILDREN, "Mailbox has children that need to be deleted first")
        with _store_errors():
            await self.store.delete_mailbox(account_id, canonical)

    async def rename(self, account_id: AccountId, old: str, new: str) -> list[MailboxInfo]:
        """RENAME (RFC 9051 §6.3.6). Returns the mailboxes under their new names.

        For INBOX the result is the one new mailbox holding INBOX's former messages.
        """
        old_name = self.canonical_name(old)
        new_name = self.canonical_name(new, creating=True)
        by_name = {info.name: info for info in await self.store.mailboxes(account_id)}
        if old_name not in by_name:
            raise OpsError(Code.NONEXISTENT, "No such mailbox")
        if new_name in by_name or names.is_inbox(new_name):
            raise OpsError(Code.ALREADYEXISTS, "Mailbox already exists")
        if names.is_inbox(old_name):
            return [await self._rename_inbox(account_id, by_name[old_name], new_name, set(by_name))]
        if names.is_inferior(new_name, old_name):
            raise OpsError(Code.CANNOT, "Cannot rename a mailbox into its own inferior")
        # Inferior names move along (RFC 9051 §6.3.6): each must fit the limits and be free.
        for other in by_name:
            if names.is_inferior(other, old_name):
                moved = self.canonical_name(new_name + other[len(old_name) :], creating=True)
                if moved in by_name:
                    raise OpsError(Code.ALREADYEXISTS, "A mailbox below the new name already exists")
        await self._create_parents(account_id, new_name, set(by_name))
        with _store_errors():
            return await self.store.rename_mailbox(account_id, old_name, new_name)

    async def _rename_inbox(
        self, account_id: AccountId, inbox: MailboxInfo, new_name: str, existing: set[str]
    ) -> MailboxInfo:
        # RFC 9051 §6.3.6: "It moves all messages in INBOX to a new mailbox with the given name,
        # leaving INBOX empty. ... inferior hierarchical names of INBOX ... are unaffected".
        await self._create_parents(account_id, new_name, existing)
        with _store_errors():
            target = await self.store.create_mailbox(account_id, new_name)
            # RFC 5464 §4.1: the new mailbox gets copies of INBOX's annotations; INBOX keeps them.
            await self.store.copy_metadata(inbox.id, target.id)
        view = await self.store.open_view(inbox.id)
        uids = list(view.uids)  # the columns, not 100,000 entries built on the loop thread
        if uids:
            try:
                with _store_errors():
                    await self.store.transfer(inbox.id, uids, target.id, move=True)
            except OpsError:
                # The store refused the move, which is atomic: nothing moved. Undo the create so
                # that RENAME fails as a whole. (Not on cancellation: the move may have committed.)
                with suppress(Exception):  # best effort; the original error matters more
                    await self.store.delete_mailbox(account_id, new_name)
                raise
        refreshed = await self.store.get_mailbox_by_id(target.id)
        return refreshed if refreshed is not None else target

    async def subscribe(self, account_id: AccountId, name: str) -> None:
        """SUBSCRIBE (RFC 9051 §6.3.7). The mailbox need not exist (the RFC's "MAY validate" is not
        taken), but the name must be one that could be created."""
        canonical = self.canonical_name(name, creating=True)
        with _store_errors(what="No such account"):
            await self.store.set_subscribed(account_id, canonical, True)

    async def unsubscribe(self, account_id: AccountId, name: str) -> None:
        """UNSUBSCRIBE (RFC 9051 §6.3.8); also of names with no mailbox. Not subscribed: OK."""
        canonical = self.canonical_name(name)
        with _store_errors(what="No such account"):
            await self.store.set_subscribed(account_id, canonical, False)

    async def subscriptions(self, account_id: AccountId) -> list[str]:
        """Every subscribed name, including names with no mailbox (RFC 9051 §6.3.7)."""
        return await self.store.subscriptions(account_id)

    # --- quota ------------------------------------------------------------------------------------

    async def check_quota(self, account_id: AccountId, additional: int, messages: int = 1) -> None:
        """OVERQUOTA (RFC 9208 §4.3.1) when ``additional`` octets in ``messages`` messages would take
        the account or its domain past a limit (``mail.quota.quota_exceeded``).

        Also for delivery, which checks each recipient before accepting a message.
        """
        quota = await self.store.account_quota(account_id)
        if quota is None:
            raise OpsError(Code.NONEXISTENT, "No such account")
        refused = quota_exceeded(quota, additional, messages)
        if refused is not None:
            raise OpsError(Code.OVERQUOTA, refused)

    # --- messages ---------------------------------------------------------------------------------

    async def _keywords(self, mailbox_id: MailboxId) -> dict[str, str]:
        """The mailbox's keywords, by comparison key (see flags.listed_keywords), from this process's
        view when it is provably current, else from a read."""
        view = self.store.current_view(mailbox_id)
        if view is None:
            with _store_errors():
                view = await self.store.open_view(mailbox_id)
        # Distinct flag sets, not one per message.
        return flagrules.listed_keywords(view.mailbox.keywords, view.flag_sets())

    async def _resolve_flags(
        self,
        mailbox_id: MailboxId,
        flags: Iterable[str],
        *,
        creating: bool = True,
        known: Mapping[str, str] | None = None,
    ) -> frozenset[str]:
        normalized = flagrules.normalize_flags(flags)
        wanted = flagrules.keywords(normalized)
        if not wanted:
            return normalized  # system flags only: no need to read the mailbox
        if not creating:
            return normalized  # removing: flags compare without case, and no keyword is created
        if known is not None and _knows_all(known, wanted):
            existing = dict(known)  # the caller's view of the mailbox spells them all already
        else:
            existing = await self._keywords(mailbox_id)
        return flagrules.resolve_keywords(
            normalized, existing, max_keywords=self.max_keywords, creating=creating
        )

    async def parse(self, data: bytes) -> ParsedMessage:
        """Parse a message, off the event loop when it is large (DESIGN.md performance rules)."""
        if len(data) > PARSE_INLINE_MAX:
            return await asyncio.to_thread(parse_message, data, self.mime_settings)
        return parse_message(data, self.mime_settings)

    async def append(
        self,
        account_id: AccountId,
        mailbox_name: str,
        data: bytes,
        flags: Iterable[str] = (),
        internal_date: datetime | None = None,
    ) -> Placed:
        """APPEND (RFC 9051 §6.3.12): one message into a mailbox of the account."""
        [placed] = await self.append_many(
            account_id, mailbox_name, [NewMessage(data, tuple(flags), internal_date)]
        )
        return placed

    async def append_many(
        self,
        account_id: AccountId,
        mailbox_name: str,
        messages: Sequence[NewMessage],
        known_keywords: tuple[str, Mapping[str, str]] | None = None,
    ) -> list[Placed]:
        """APPEND of one or more messages (RFC 3502 MULTIAPPEND): all or nothing, in the given order.
        ``known_keywords``: (canonical name, keywords by comparison key) of a mailbox the caller
        knows, a session its selected one: when the APPEND goes there with keywords it spells
        already, they need no read of the mailbox."""
        # Validated before any I/O: a bad flag is the client's bug.
        normalized = [flagrules.normalize_flags(new.flags) for new in messages]
        if not messages:
            return []
        contents = [
            new.data if isinstance(new.data, SpoolFile) else await self.canonical_content(new.data)
            for new in messages
        ]
        sizes = [data.size if isinstance(data, SpoolFile) else len(data) for data in contents]
        for size in sizes:
            if not size:
                # RFC 9051 §6.3.12: NO when the server cannot append; an empty message is no RFC 5322
                # message (the literal syntax allows it, so this is NO, not BAD).
                raise OpsError(Code.CANNOT, "Cannot store an empty message")
            if self.max_message_size is not None and size > self.max_message_size:
                # RFC 7889 §4: APPENDLIMIT exceeded.
                raise OpsError(Code.TOOBIG, f"Messages may be at most {self.max_message_size} octets")
        canonical = self.canonical_name(mailbox_name)
        # Several messages, or one spooled (large): the checks run before any is parsed or stored
        # (RFC 3502 §3 all or nothing). One message held in memory needs neither read: the write
        # looks the mailbox up itself (``Store.append``) and applies the quota in its transaction,
        # refusing it just the same; the reads would only save parsing it.
        careful = len(contents) > 1 or isinstance(contents[0], SpoolFile)
        known = known_keywords[1] if known_keywords is not None and known_keywords[0] == canonical else None
        resolved = await self._append_flags(account_id, mailbox_name, canonical, normalized, known, careful)
        if careful:
            # RFC 3502 §3: all or nothing, so the quota is checked for the messages together.
            await self.check_quota(account_id, sum(sizes), len(sizes))
        parsed = [
            await (data.parse(self.mime_settings) if isinstance(data, SpoolFile) else self.parse(data))
            for data in contents
        ]
        # A spool file becomes its blob by a rename (the caller discards what is not adopted); a
        # small message's bytes are stored by its deliver, in the same commit (Store.new_blob).
        blobs = [
            await (data.adopt(self.store) if isinstance(data, SpoolFile) else self.store.new_blob(data))
            for data in contents
        ]
        placed: list[Placed] = []
        try:
            for blob, message, flags, new in zip(blobs, parsed, resolved, messages, strict=True):
                with _store_errors(Code.TRYCREATE):  # deleted since the keyword lookup
                    date = new.internal_date
                    one = await self.store.append(account_id, canonical, blob, message, flags, date)
                if one is None:  # RFC 9051 §6.3.12: TRYCREATE, or NONEXISTENT
                    raise self.missing_destination(mailbox_name)
                placed.append(one)
        except BaseException:
            # RFC 3502 §3: "If the server fails to append any message, then none of the messages
            # are appended".
            by_mailbox: dict[MailboxId, list[Uid]] = {}
            for done in placed:
                by_mailbox.setdefault(done.mailbox_id, []).append(done.uid)
            for mailbox_id, uids in by_mailbox.items():
                with suppress(Exception):
                    await self.store.expunge(mailbox_id, uids)
            raise
        return placed

    async def canonical_binary(self, data: bytes) -> bytes:
        """The message of an APPEND literal8 as stored (``binary_to_text``), off the loop when large."""
        if len(data) > PARSE_INLINE_MAX:
            return await asyncio.to_thread(binary_to_text, data, self.mime_settings)
        return binary_to_text(data, self.mime_settings)

    async def _append_flags(
        self,
        account_id: AccountId,
        mailbox_name: str,
        canonical: str,
        normalized: list[frozenset[str]],
        known: Mapping[str, str] | None,
        careful: bool,
    ) -> list[frozenset[str]]:
        """The flags each message is stored with: keywords spelt as the mailbox spells them, within
        its limit, from ``known`` when it spells them all, else from the mailbox's view (current, or
        one read of it by name). A ``careful`` APPEND makes sure the mailbox exists before anything
        is parsed or stored; otherwise the write finds out."""
        wanted = [keyword for flags in normalized for keyword in flagrules.keywords(flags)]
        existing: Mapping[str, str] | None = None
        found = False
        if wanted:
            if known is not None and _knows_all(known, wanted):
                existing = known
            else:
                view = await self._named_view(account_id, canonical)
                if view is None:
                    raise self.missing_destination(mailbox_name)
                existing, found = flagrules.listed_keywords(view.mailbox.keywords, view.flag_sets()), True
        if (
            careful
            and not found
            and self._known_view(account_id, canonical) is None
            and await self.store.get_mailbox(account_id, canonical) is None
        ):
            raise self.missing_destination(mailbox_name)
        if existing is None:
            return normalized
        spelt = dict(existing)
        return [
            flagrules.resolve_keywords(flags, spelt, max_keywords=self.max_keywords, creating=True)
            for flags in normalized
        ]

    async def canonical_content(self, data: bytes) -> bytes:
        """The message as stored: bare LF becomes CRLF (see the module docstring); off the loop when
        large."""
        if data.count(b"\n") == data.count(b"\r\n"):
            return data  # the usual case: nothing to change, no copy
        if len(data) > PARSE_INLINE_MAX:
            return await asyncio.to_thread(_crlf, data)
        return _crlf(data)

    async def copy(
        self, account_id: AccountId, source_id: MailboxId, uids: Iterable[Uid], destination_name: str
    ) -> CopyResult:
        """COPY / UID COPY (RFC 9051 §6.4.7); UIDs not in the source are ignored. Each copy counts
        against the quota, as in Dovecot, even though the blob is shared: the store checks it in
        the write transaction. One write, no read before it (``Store.transfer``)."""
        return await self._transfer(account_id, source_id, uids, destination_name, move=False)

    async def move(
        self, account_id: AccountId, source_id: MailboxId, uids: Iterable[Uid], destination_name: str
    ) -> CopyResult:
        """MOVE / UID MOVE (RFC 6851 §3): atomic copy + expunge; flags travel; quota unchanged."""
        # RFC 6851 §3.3: moving into the source mailbox itself is allowed, as COPY into it is.
        return await self._transfer(account_id, source_id, uids, destination_name, move=True)

    async def transfer_between(
        self, source_id: MailboxId, uids: Iterable[Uid], destination_id: MailboxId, *, move: bool
    ) -> CopyResult:
        """COPY or MOVE between mailboxes known by id, also of two accounts (a mailbox shared with the
        user, RFC 4314): the destination's quota applies (``Store.transfer``)."""
        with _store_errors(Code.TRYCREATE):  # one of them was deleted meanwhile
            return await self.store.transfer(source_id, _unique_uids(uids), destination_id, move=move)

    async def _transfer(
        self, account_id: AccountId, source_id: MailboxId, uids: Iterable[Uid], name: str, *, move: bool
    ) -> CopyResult:
        canonical = self.canonical_name(name)
        with _store_errors():  # NotFound: the source is gone (or not the account's)
            result = await self.store.transfer(
                source_id, _unique_uids(uids), MailboxName(account_id, canonical), move=move
            )
        if result is None:
            raise self.missing_destination(name)
        return result

    async def store_flags(
        self,
        mailbox_id: MailboxId,
        uids: Iterable[Uid],
        op: FlagOp,
        flags: Iterable[str],
        unchanged_since: int | None = None,
        known_keywords: Mapping[str, str] | None = None,
    ) -> ChangeSet:
        """STORE / UID STORE (RFC 9051 §6.4.6): \\Recent dropped, keyword case and limit applied.
        ``known_keywords``: the caller's keywords of the mailbox by comparison key (a session's of its
        selected mailbox): keywords it spells already need no read of the mailbox."""
        if op not in _FLAG_OPS:
            raise OpsError(Code.CLIENTBUG, "Unknown flag operation")
        resolved = await self._resolve_flags(mailbox_id, flags, creating=op != "remove", known=known_keywords)
        with _store_errors():
            return await self.store.set_flags(mailbox_id, _unique_uids(uids), op, resolved, unchanged_since)

    async def expunge(self, mailbox_id: MailboxId, uids: Iterable[Uid] | None = None) -> ChangeSet:
        """EXPUNGE (all \\Deleted, RFC 9051 §6.4.3) or UID EXPUNGE (those of ``uids``, §6.4.9).

        No I/O when this process's view of the mailbox is provably current and counts no \\Deleted
        message; otherwise one write that picks the \\Deleted messages in its own transaction."""
        view = self.store.current_view(mailbox_id)
        if view is not None and view.mailbox.deleted == 0:
            return ChangeSet(mailbox_id, view.mailbox.highestmodseq)
        with _store_errors():
            return await self.store.expunge(
                mailbox_id, None if uids is None else _unique_uids(uids), only_deleted=True
            )

    async def expunge_uids(self, mailbox_id: MailboxId, uids: Iterable[Uid]) -> ChangeSet:
        """Remove exactly these UIDs, flags regardless (POP3 UPDATE state, RFC 1939 §6 QUIT)."""
        wanted = _unique_uids(uids)
        with _store_errors():
            if not wanted:
                info = await self.store.get_mailbox_by_id(mailbox_id)
                if info is None:
                    raise NotFound
                return ChangeSet(mailbox_id, info.highestmodseq)
            return await self.store.expunge(mailbox_id, wanted)
