"""The narrow store interfaces every protocol and the CLI use.

Two halves: ``Directory`` (domains, accounts, aliases, app passwords) and ``MailStore`` (mailboxes,
messages, blobs, the change feed); the stores of single features beside them (queue, Sieve, DKIM,
DMARC, greylisting, fetching ...) are in ``api_features``, and ``Store`` is all of them. Each backend
implements them all (``sqlite.SqliteStore`` today, PostgreSQL later), exercised by one conformance
suite (``pochta.testing.store_suite``).

Rules every implementation keeps:
- a coroutine that writes returns only after the change is durable (fsync'ed) and published on the
  feed;
- methods take sets of UIDs, never one message at a time;
- no blocking call runs on the event loop thread;
- mailbox *semantics* (name validation, INBOX rules, flag rules, quota) live in ``pochta.mail.ops``;
  the store does what it is told, atomically, and raises the errors below on conflicts;
- except one check only the write transaction can make: ``deliver`` and ``copy``/``move`` refuse,
  atomically, to take an account or its domain past a limit of its quota, octets or messages
  (``QuotaExceeded``; the rule applied is ``pochta.mail.quota.exceeds``). Checked before the
  write, by a caller, two concurrent deliveries
  (in one process or in two) could both pass and overshoot; checked in the transaction that writes,
  they cannot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, BinaryIO, Literal, Protocol, TypeVar, overload, runtime_checkable

from pochta.mime import ParsedMessage
from pochta.store.api_features import (
    AccountStateStore,
    AclStore,
    DkimKeyStore,
    DmarcReportStore,
    FetchStore,
    GreylistStore,
    ImportJournalStore,
    JmapRecordStore,
    MailRuleStore,
    MigrateStateStore,
    OutboundQueue,
    SendLimitStore,
    SieveScriptStore,
    SieveStateStore,
    TransportSecurityStore,
    UploadStore,
    WebSessionStore,
)
from pochta.store.fetch_model import FetchMark
from pochta.store.model import (
    Account,
    AccountId,
    AccountQuota,
    Alias,
    AppPassword,
    BlobRef,
    CachedMessage,
    Change,
    ChangeSet,
    CopyResult,
    Domain,
    IndexResult,
    LoginUnblock,
    MailboxId,
    MailboxInfo,
    MailboxName,
    MailboxView,
    MessageId,
    MetadataLimits,
    ModSeq,
    ObjectRow,
    Placed,
    ProtocolSwitches,
    QuotaLimits,
    QuotaUsage,
    ReconstructReport,
    ScramCredentials,
    SortRow,
    Target,
    Uid,
    Unit,
    VerifyReport,
)

FlagOp = Literal["add", "remove", "replace"]

T = TypeVar("T")


class StoreError(Exception):
    """Base of the store's errors; messages are fit for an operator or a protocol reply."""


class NotFound(StoreError):
    pass


class AlreadyExists(StoreError):
    pass


class Conflict(StoreError):
    """The request contradicts the stored state (for example deleting a domain that has users)."""


class QuotaExceeded(StoreError):
    """``deliver``/``copy``/``move`` would take these accounts (or their domain) past a limit of
    their quota (RFC 9208 §3.1.2, ``pochta.mail.quota.exceeds``); nothing of the call was stored.
    The caller decides what to tell: LMTP refuses those recipients and stores for the others with
    another call."""

    def __init__(self, accounts: Iterable[AccountId], reason: str = "Quota exceeded") -> None:
        self.accounts = frozenset(accounts)
        self.reason = reason  # for the user: which root and resource (``pochta.mail.quota.refusal``)
        names = ", ".join(str(a) for a in sorted(self.accounts))
        super().__init__(f"over quota: account {names}")


class MetadataRefused(StoreError):
    """``set_metadata`` would break a limit; nothing of the call was stored (RFC 5464 §4.3).
    ``code`` is the METADATA response code's argument: ``MAXSIZE n`` or ``TOOMANY``."""

    def __init__(self, code: str, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(reason)


class SieveQuotaExceeded(StoreError):
    """``put_sieve_script`` would take the account past its script count or storage; nothing was
    stored. ``code`` is ManageSieve's response code (RFC 5804 §1.3): ``QUOTA/MAXSCRIPTS`` or
    ``QUOTA/MAXSIZE``."""

    def __init__(self, code: str, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(reason)


class ScriptActive(Conflict):
    """``delete_sieve_script`` of the active script (RFC 5804 §2.10: deactivate it first)."""


class _Unset:
    """Marker for 'leave this field unchanged' in update methods."""


UNSET = _Unset()


class DirectoryReader(Protocol):
    """Blocking lookups inside one read transaction; handed to the function given to
    ``Directory.read_directory`` and valid only while it runs. Names and addresses are matched as by
    the async methods of the same meaning (case-insensitively); a malformed one raises ValueError."""

    def domain(self, name: str) -> Domain | None: ...
    def domains(self) -> list[Domain]: ...
    def account(self, address: str) -> Account | None: ...
    def account_by_id(self, account_id: AccountId) -> Account | None: ...
    def alias(self, source: str) -> Alias | None: ...
    def quota(self, account_id: AccountId) -> AccountQuota | None:
        """The account's and its domain's quota limits and usage (None: no such account), as
        ``MailStore.account_quota``."""

    def mailbox_id(self, account_id: AccountId, name: str) -> MailboxId | None:
        """The mailbox with exactly this (canonical) name, as ``MailStore.get_mailbox``."""

    def app_password(self, account_id: AccountId, lookup: bytes) -> AppPassword | None:
        """The account's app password whose ``lookup`` digest is exactly this one."""

    def mailbox_acl(self, mailbox_id: MailboxId) -> dict[str, str]:
        """The mailbox's ACL entries (identifier key -> rights as stored), as
        ``MailStore.mailbox_acl``."""


class Directory(Protocol):
    async def read_directory(self, fn: Callable[[DirectoryReader], T]) -> T:
        """Runs ``fn`` once, off the event loop, over one consistent snapshot, and returns its result.

        For callers that need several dependent lookups at once (recipient resolution follows alias
        chains; delivery reads accounts, quota usage and mailboxes together): one thread hop and one
        read transaction instead of one per lookup. ``fn`` must only read through the reader and
        compute: no other I/O, no waiting. Its exceptions propagate.
        """

    def directory_version(self) -> int | None:
        """A number that changes with every committed change, by any process, to what
        ``read_directory`` lookups of recipient resolution read: domains, aliases, the delivery
        fields of accounts (address, domain, quota, enabled) and mailbox names. Not moved by
        deliveries (quota usage, UIDs). None when it cannot be read now: cache nothing.

        Blocking but cheap (one one-row read, no thread hop): callable on the event loop, so that a
        process may keep what it looked up for as long as this number stays the same."""

    # Domains
    async def add_domain(self, name: str) -> Domain: ...
    async def get_domain(self, name: str) -> Domain | None: ...
    async def list_domains(self) -> list[Domain]: ...
    async def delete_domain(self, name: str) -> None:
        """Raises Conflict while accounts or aliases remain in it."""

    async def set_domain_protocols(self, name: str, switches: ProtocolSwitches) -> Domain: ...
    async def set_domain_quota(
        self,
        name: str,
        *,
        quota_bytes: int | _Unset | None = UNSET,
        quota_messages: int | _Unset | None = UNSET,
    ) -> Domain:
        """Changes the domain's quota root (None: unlimited); its usage is the sum over its accounts."""

    # Accounts. Addresses are matched case-insensitively; the domain must exist.
    async def add_account(
        self,
        address: str,
        password_hash: str,
        scram: ScramCredentials | None,
        quota_bytes: int | None = None,
        quota_messages: int | None = None,
    ) -> Account:
        """Creates the account and its default mailboxes (model.DEFAULT_MAILBOXES) in one commit."""

    async def add_shared_owner(self, domain: str) -> Account:
        """The domain's hidden owner of its public mailboxes (``model.SHARED_KIND``), added when
        missing: no mailbox, no password, no protocol; ``get_account(shared_owner_address(d))``
        reads it. NotFound without such a domain."""

    async def get_account(self, address: str) -> Account | None: ...
    async def get_account_by_id(self, account_id: AccountId) -> Account | None: ...
    async def list_accounts(self, domain: str | None = None) -> list[Account]: ...
    async def update_account(
        self,
        address: str,
        *,
        password_hash: str | _Unset = UNSET,
        scram: ScramCredentials | _Unset | None = UNSET,
        quota_bytes: int | _Unset | None = UNSET,
        enabled: bool | _Unset = UNSET,
        quota_messages: int | _Unset | None = UNSET,
        admin: bool | _Unset = UNSET,
    ) -> Account:
        """Changes the given fields (protocol switches, POP3 policy, APOP secret: the settings
        store, ``set_account_settings``)."""

    # The settings store and organisational units (docs/units.md). Keys, types and the rule of
    # inheritance: ``pochta.store.account_settings``; every Account carries its ``settings``.
    async def set_account_settings(self, address: str, values: Mapping[str, object | None]) -> Account:
        """Sets the account's own values (typed as ``KEYS`` says; None removes one, and the
        account follows its unit again); ValueError for an unknown key or a bad value, before
        anything is written. Switching POP3 on for an account that had it off (effectively) sets
        ``pop3.enabled_at`` to now."""

    async def record_account_setting(self, account_id: AccountId, key: str, value: object | None) -> None:
        """One own value, one write, nothing read back (``pop3.last_login`` at each POP3 login)."""

    async def set_account_unit(self, address: str, unit: str) -> Account:
        """Moves the account into ``unit`` (``ROOT_UNIT``: back to the root); NotFound without it."""

    async def add_unit(self, name: str, parent: str | None = None) -> Unit:
        """A new unit under ``parent`` (None: the root); AlreadyExists, NotFound for the parent,
        ValueError for a malformed name."""

    async def get_unit(self, name: str) -> Unit | None: ...
    async def list_units(self) -> list[Unit]:
        """Every unit, the root first and each unit's children after it, siblings by name."""

    async def set_unit_settings(self, name: str, values: Mapping[str, object | None]) -> Unit:
        """Sets (None: removes) the unit's own values; ValueError for a key only an account may
        hold (``SettingKey.unit``) or a bad value."""

    async def set_unit_parent(self, name: str, parent: str) -> Unit:
        """Moves the unit under ``parent``; Conflict for the root or when ``parent`` is the unit
        itself or below it (a cycle)."""

    async def delete_unit(self, name: str) -> None:
        """Conflict for the root or while accounts or units are in it."""

    async def delete_account(self, address: str) -> None:
        """Removes the account, its mailboxes, memberships and app passwords; blobs are collected later."""

    # Aliases ("@domain" is a catch-all)
    async def add_alias(self, source: str, targets: Iterable[str]) -> Alias:
        """Adds targets to the alias, creating it if needed."""

    async def list_aliases(self, domain: str | None = None) -> list[Alias]: ...
    async def get_alias(self, source: str) -> Alias | None: ...
    async def delete_alias(self, source: str, targets: Iterable[str] | None = None) -> None:
        """Removes the given targets, or the whole alias when targets is None."""

    # App passwords. ``lookup`` is the keyed digest a login finds one by (DirectoryReader.app_password).
    async def add_app_password(
        self, address: str, name: str, password_hash: str, lookup: bytes
    ) -> AppPassword: ...
    async def list_app_passwords(self, address: str) -> list[AppPassword]: ...
    async def revoke_app_password(self, address: str, name: str) -> None: ...
    async def touch_app_password(self, app_password_id: int, when: datetime) -> None: ...

    # Login unblocks: how `pochta auth unblock` reaches the rate limiter of running servers.
    async def add_login_unblock(self, target: str, keep_seconds: float) -> LoginUnblock:
        """Records an unblock of ``target`` now, and drops those older than ``keep_seconds`` (past
        the failure window and the lockout, an unblock can no longer change anything)."""

    async def login_unblocks_after(self, unblock_id: int) -> list[LoginUnblock]:
        """Unblocks with an id above ``unblock_id``, oldest first (0: every one kept)."""


class HeldLock(Protocol):
    """A lock ``MailStore.try_lock`` granted."""

    @property
    def name(self) -> str: ...
    async def release(self) -> None:
        """Gives the lock up; a second call does nothing."""

    async def check(self) -> bool:
        """Whether it is still held: False once it was lost without a release (on PostgreSQL,
        with its database session: the server restarted, the connection dropped)."""


class ChangeSubscription(Protocol):
    """What subscribe() returns: an async iterator of changes; aclose() (or dropping it) ends it."""

    def __aiter__(self) -> ChangeSubscription: ...
    async def __anext__(self) -> Change: ...
    async def aclose(self) -> None: ...


class ChangeFeed(Protocol):
    def subscribe(self, mailbox_id: MailboxId) -> ChangeSubscription:
        """Changes committed to this mailbox after the call, in commit order, until closed.

        A subscriber that falls far behind gets one ChangeKind.OVERFLOW change in place of what it
        missed, and resyncs with changes_since().
        """

    def subscribe_account(self, account_id: AccountId, max_pending: int | None = None) -> ChangeSubscription:
        """Changes committed to any mailbox of this account after the call (IMAP NOTIFY), with
        ChangeKind.OVERFLOW when more than ``max_pending`` wait unread."""

    # How the server joins the feeds of its processes (and nodes: ``server.peers``).
    relay: Callable[[Sequence[Change]], None] | None
    """Called with every batch this process commits, to pass it on to the other processes."""

    def publish_local(self, changes: Sequence[Change]) -> None:
        """Hand changes another process committed (and relayed) to this process's subscribers."""

    def resync_all(self) -> None:
        """Changes may have been missed: every subscription is told to catch up from the store."""


class MailStore(Protocol):
    # Mailboxes
    async def mailboxes(self, account_id: AccountId) -> list[MailboxInfo]: ...
    async def get_mailbox(self, account_id: AccountId, name: str) -> MailboxInfo | None: ...
    async def get_mailbox_by_id(self, mailbox_id: MailboxId) -> MailboxInfo | None: ...
    async def create_mailbox(
        self, account_id: AccountId, name: str, special_use: str | None = None
    ) -> MailboxInfo: ...
    async def rename_mailbox(self, account_id: AccountId, old: str, new: str) -> list[MailboxInfo]:
        """Renames the mailbox and every mailbox below it, atomically; returns the renamed ones."""

    async def delete_mailbox(self, account_id: AccountId, name: str) -> None:
        """Deletes one mailbox (not its children) and its memberships."""

    async def set_subscribed(self, account_id: AccountId, name: str, subscribed: bool) -> None: ...
    async def take_recent(self, mailbox_id: MailboxId, before: Uid) -> Uid:
        """RFC 3501 §2.3.2 \\Recent: the calling session takes the messages below UID ``before``
        that no session has taken; returns the first of them (UIDs from it up to ``before`` are
        \\Recent to this session alone; none when it is ``before`` or above). One write
        transaction: two sessions never take the same message. NotFound for a deleted mailbox."""

    async def subscriptions(self, account_id: AccountId) -> list[str]:
        """Every subscribed name, sorted, with names that have no mailbox (RFC 9051 §6.3.10)."""

    async def set_mailbox_sort_order(
        self, account_id: AccountId, mailbox_id: MailboxId, sort_order: int
    ) -> None:
        """JMAP's Mailbox sortOrder (RFC 8621 section 2, revision 0042); a change is a Mailbox
        change for Mailbox/changes. NotFound when the account has no such mailbox."""

    async def mailbox_sort_orders(self, account_id: AccountId) -> dict[MailboxId, int]:
        """Mailbox id -> sortOrder, for the account's mailboxes whose sortOrder is not 0."""

    # Blobs: bytes become durable before any metadata refers to them, or with it (``new_blob``).
    async def put_blob(self, data: bytes) -> BlobRef:
        """A blob file, durable when this returns."""

    async def put_blob_file(self, path: str) -> BlobRef:
        """Adopts a finished temporary file (for example a streamed SMTP DATA spool), hashing it."""

    async def new_blob(self, data: bytes) -> BlobRef:
        """The blob for new bytes: up to ``store.inline_blob_max`` a ``NewBlob`` (nothing stored
        yet: ``deliver``/``enqueue`` store its bytes in their own transaction), else ``put_blob``."""

    def open_blob(self, blob: BlobRef) -> BinaryIO:
        """On a worker thread, never the event loop (a blob may live in the database). NotFound
        when it is missing."""

    def read_blob(self, blob: BlobRef) -> bytes:
        """The blob's first ``blob.size`` octets (all of it), on a worker thread as ``open_blob``.
        NotFound when it is missing."""

    async def read_blobs(self, blobs: Sequence[BlobRef]) -> dict[str, bytes]:
        """Whole small blobs by digest, in one reader job (one query for those in the database, the
        files read there too): what a session thread reads ahead (FETCH, POP3 RETR) instead of
        reading on the event loop. A blob that is missing is left out."""

    # Messages
    async def deliver(
        self,
        blob: BlobRef,
        parsed: ParsedMessage,
        targets: list[Target],
        *,
        fetched: Sequence[FetchMark] = (),
    ) -> list[Placed]:
        """One message, many mailboxes, one commit. Assigns UIDs and MODSEQs, updates quota usage.
        ``fetched``: the fetcher's records of the message, written in the same commit (AlreadyFetched,
        storing nothing, when it exists: docs/fetch.md "Never twice").

        The same blob delivered again reuses its message record (single-instance store). A
        ``NewBlob``'s bytes are stored in the same commit. Raises
        QuotaExceeded, storing nothing, when the copies would take any account past its quota (every
        copy counts: two targets in one account add the size twice).
        """

    async def append(
        self,
        account_id: AccountId,
        mailbox: str,
        blob: BlobRef,
        parsed: ParsedMessage,
        flags: frozenset[str] = frozenset(),
        internal_date: datetime | None = None,
    ) -> Placed | None:
        """``deliver`` of one message to the account's mailbox of that canonical name, looked up in
        the write itself (no read before it): None when there is no such mailbox, nothing stored."""

    async def open_view(self, mailbox_id: MailboxId) -> MailboxView: ...
    async def open_named_view(
        self, account_id: AccountId, name: str, guess: MailboxId | None = None
    ) -> MailboxView | None:
        """The view of the account's mailbox of that (canonical) name, or None when there is none:
        the lookup and the view in one read. ``guess``: the id it probably has (``mailbox_hint``)."""

    def mailbox_hint(self, account_id: AccountId, name: str) -> MailboxId | None:
        """The id the mailbox of that name probably has (no I/O; None when unknown)."""

    def current_view(self, mailbox_id: MailboxId) -> MailboxView | None:
        """A view of the mailbox provably current without reading the store (no I/O), or None."""

    async def changes_since(self, mailbox_id: MailboxId, modseq: ModSeq) -> ChangeSet: ...
    async def expunged_since(self, mailbox_id: MailboxId, modseq: ModSeq) -> tuple[Uid, ...] | None:
        """UIDs expunged from the mailbox after ``modseq`` (ascending), from its expunge records;
        None when records after ``modseq`` were pruned (RFC 7162 QRESYNC: then every UID not in the
        mailbox may have gone)."""

    async def prune_expunged(self, older_than_seconds: float) -> int:
        """Delete expunge records older than this, remembering per mailbox the highest MODSEQ
        deleted (``expunged_since`` answers None below it); returns how many were deleted."""

    async def set_flags(
        self,
        mailbox_id: MailboxId,
        uids: Iterable[Uid],
        op: FlagOp,
        flags: Iterable[str],
        unchanged_since: ModSeq | None = None,
    ) -> ChangeSet: ...
    @overload
    async def transfer(
        self, source_id: MailboxId, uids: Iterable[Uid], to: MailboxId, *, move: bool
    ) -> CopyResult: ...
    @overload
    async def transfer(
        self, source_id: MailboxId, uids: Iterable[Uid], to: MailboxName, *, move: bool
    ) -> CopyResult | None: ...
    async def transfer(
        self, source_id: MailboxId, uids: Iterable[Uid], to: MailboxId | MailboxName, *, move: bool
    ) -> CopyResult | None:
        """COPY of these messages (those of ``uids`` in the source) to ``to``, or MOVE: the copy plus
        the expunge from the source in one commit (RFC 6851 §3.3 atomicity). Flags travel.

        ``to`` is a mailbox id (also of another account: a mailbox shared with the user), or a
        ``MailboxName`` looked up in the write itself (one write, no read before it): None when the
        account has no mailbox of that name (nothing copied), NotFound when ``source_id`` is not a
        mailbox of that account. Each copy counts against the destination account's quota
        (QuotaExceeded, nothing copied); a MOVE within one account leaves its usage as it was."""

    async def expunge(
        self, mailbox_id: MailboxId, uids: Iterable[Uid] | None, *, only_deleted: bool = False
    ) -> ChangeSet:
        """Remove messages from the mailbox: those of ``uids`` (None: every message), and with
        ``only_deleted`` only those among them carrying \\Deleted, chosen inside the write (IMAP
        EXPUNGE and UID EXPUNGE: no read before it, and no message flagged or unflagged between the
        choice and the expunge)."""

    async def cached(self, mailbox_id: MailboxId, uids: Iterable[Uid]) -> list[CachedMessage]: ...
    async def wire_forms(
        self, message_ids: Iterable[MessageId], names: Sequence[str], utf8: bool, *, share: bool = False
    ) -> list[tuple[Any, ...]]:
        """IMAP wire forms kept at delivery (``pochta.mime.imapform.wire_forms``):
        ``(message_id, form, ...)`` for the messages of ``message_ids`` that have them, in no
        particular order, one octet string per item of ``names`` (ENVELOPE, BODY, BODYSTRUCTURE) as
        a session with (``utf8``) or without UTF8=ACCEPT gets it. A message left out has none kept
        (stored before they were, or gone): the caller computes them from the parse record. By
        message id, which a session's view holds for every message it numbers: no membership read.
        A message's forms never change, so a store may answer from forms it read before (the SQLite
        store's ``wire_cache``), also for a message gone since (RFC 2180 section 4.1.1). ``share``:
        the messages are a big mailbox's, whose clients list them again on other connections; a
        store served by several processes may have the others read what it had to read too."""

    async def search_text(
        self, mailbox_id: MailboxId, query: str, field: Literal["body", "text"]
    ) -> set[Uid]:
        """Full-text search: 'body' is the body text, 'text' adds the header values.

        RFC 9051 §6.4.4 semantics: case-insensitive substring match; the query is plain text, never
        search syntax, and the empty string matches every message.
        """

    async def search_header(self, mailbox_id: MailboxId, name: str, query: str) -> tuple[set[Uid], set[Uid]]:
        """Header keys on a field of ``pochta.mime.search.SEARCH_FIELDS`` (kept at delivery):
        (UIDs with a ``name`` field whose decoded value contains ``query`` as ``fold`` compares, ""
        any such field; UIDs the store cannot decide yet, whose parse records the caller reads)."""

    async def sort_keys(
        self, mailbox_id: MailboxId, uids: Iterable[Uid], fields: Iterable[str]
    ) -> list[SortRow]:
        """What SORT and THREAD compare (RFC 5256, ``pochta.mime.sortkeys``) for these UIDs (those
        that exist), in UID order: the ``SortKeys`` fields named in ``fields`` ("size" too; the
        others hold their defaults, the internal date is always there). Kept per message, derived
        from the parse record (and then kept) for a message that has none yet."""

    async def sort_order(
        self, mailbox_id: MailboxId, uids: Iterable[Uid], order: Sequence[tuple[str, bool]]
    ) -> list[Uid]:
        """These UIDs (those that exist) sorted by their kept keys, no key returned: ``order`` is
        (key, descending) pairs, the first deciding first, ties by UID; keys are "arrival", "date"
        (the sent date, else the internal date), "size" and the string ``SortKeys`` fields. Messages
        without keys get theirs first (as ``sort_keys``)."""

    async def quota_usage(self, account_id: AccountId) -> int: ...
    async def account_quota(self, account_id: AccountId) -> AccountQuota | None:
        """The limits and usage of the account's two quota roots, its own and its domain's, in one
        snapshot (RFC 9208 §3.2); None: no such account."""

    async def domain_quota(self, name: str) -> tuple[QuotaLimits, QuotaUsage] | None:
        """A domain's quota limits and usage (the sum over its accounts); None: no such domain."""

    async def deleted_storage(self, mailbox_id: MailboxId) -> int:
        """Octets of the mailbox's messages flagged \\Deleted: what an EXPUNGE gives back to the
        quota (RFC 9208 §4.1.4 DELETED-STORAGE)."""

    async def metadata(self, mailbox_id: MailboxId | None, account_id: AccountId) -> dict[str, bytes]:
        """RFC 5464: the METADATA entries of a mailbox (None: the server) the account sees: the
        /shared ones and its own /private ones, by lower-cased name."""
        ...

    async def set_metadata(
        self,
        mailbox_id: MailboxId | None,
        account_id: AccountId,
        values: Sequence[tuple[str, bytes | None]],
        limits: MetadataLimits,
    ) -> tuple[str, ...]:
        """Set (None: remove) entries, all or none (RFC 5464 §4.3): MetadataRefused when a limit
        would be broken, NotFound when the mailbox is gone. Returns the names of the entries set or
        removed (not those removed that had no value) and publishes them as ``ChangeKind.METADATA``
        changes (``Change.entries``)."""
        ...

    async def copy_metadata(self, source_id: MailboxId, target_id: MailboxId) -> None:
        """Copy every METADATA entry of a mailbox onto a new one (RENAME INBOX, RFC 5464 §4.1)."""
        ...

    async def message_objects(
        self, mailbox_id: MailboxId, uids: Iterable[Uid] | None, *, preview: bool = False
    ) -> list[ObjectRow]:
        """EMAILID (the message id), THREADID (None while not threaded), SAVEDATE and, when asked,
        PREVIEW of these UIDs (None: every message of the mailbox), in UID order (RFC 8474, RFC 8514,
        RFC 8970). UIDs that do not exist are left out."""

    async def thread_now(self, mailbox_id: MailboxId) -> int:
        """Give every message of the mailbox its THREADID now, where the background indexer has not
        yet (RFC 8474 §5.2); returns how many were threaded."""

    # The background search indexer: deliveries only queue messages for the full-text index.
    async def index_pending(self, limit: int | None = None) -> IndexResult:
        """Index one batch of queued messages (at most ``limit``) in one transaction; safe to run in
        several processes at once."""

    async def index_backlog(self) -> int:
        """Messages waiting for the indexer."""

    def start_indexer(self) -> None:
        """Run the indexer in the background (a task of the running loop) until the store closes."""

    async def stop_indexer(self) -> None:
        """Stop the background indexer; searches stay exact, and ``index_pending`` still works."""

    async def run_indexer(self) -> None:
        """Index until cancelled, in batches as deliveries queue them (what ``start_indexer`` runs
        as a task): the server's housekeeper runs it, in one process per installation."""

    # The server's start and its metrics
    async def start_readers(self) -> None:
        """Open what the store reads with (threads, database connections) now, before the server
        accepts, rather than inside the first clients' commands."""

    def commit_count(self) -> int:
        """Write transactions this process committed (``pochta_store_commits``; on SQLite one
        group commit, one fsync of the WAL, carries many)."""

    def feed(self) -> ChangeFeed: ...

    # Locks held by a session (the POP3 maildrop lock, RFC 1939 §8)
    async def try_lock(self, name: str) -> HeldLock | None:
        """An exclusive lock named ``name`` (letters, digits, '.', '_', '-'), or None at once when
        anyone else holds it: another session of this process, another process on this store, or
        another machine on a shared database. Never waits.

        Held until ``HeldLock.release`` or until the holding process dies in any way (SIGKILL too):
        a crashed worker never leaves a lock behind. Not re-entrant: a second ``try_lock`` of a
        name this process already holds returns None as well.
        """

    # Maintenance
    async def reconstruct(self, dry_run: bool = False) -> ReconstructReport: ...
    async def verify(self) -> VerifyReport: ...
    async def collect_blobs(self, grace_seconds: float | None = None) -> list[str]:
        """Removes blobs nothing refers to: files once older than the grace period (default
        ``store.blob_grace_seconds``), blobs kept in the database at once. Their digests."""

    async def close(self) -> None: ...


@runtime_checkable
class PeerWarmedCaches(Protocol):
    """A capability of an engine that keeps caches in each process of what it read (SQLite's:
    mailbox views and their stored snapshots, SORT's kept orders, IMAP wire forms): the worker
    processes of a server tell each other what they read or stored (``server.peers``), so that the
    others warm their caches too. A store without such caches (PostgreSQL's, so far) lacks it, and
    the server neither sends nor applies these messages for it."""

    @property
    def view_loaded(self) -> Callable[[MailboxId], None] | None:
        """Told a big mailbox's id the first time this process serves a client its view."""

    @view_loaded.setter
    def view_loaded(self, callback: Callable[[MailboxId], None] | None) -> None: ...

    @property
    def snapshot_stored(self) -> Callable[[MailboxId, int], None] | None:
        """Told ``(id, messages)`` of each big mailbox whose snapshot ``refresh_snapshots`` stored."""

    @snapshot_stored.setter
    def snapshot_stored(self, callback: Callable[[MailboxId, int], None] | None) -> None: ...

    @property
    def order_built(self) -> Callable[[MailboxId, str], None] | None:
        """Told (mailbox, key) when a client's SORT built a kept order of a big mailbox."""

    @order_built.setter
    def order_built(self, callback: Callable[[MailboxId, str], None] | None) -> None: ...

    forms_read: Callable[[list[MessageId], list[str], bool], None] | None
    """Told the ids of the wire forms this process read from the database for a client."""

    def prefetch_view(self, mailbox_id: MailboxId) -> None:
        """Read the mailbox's view into this process's cache (another worker's client opened it)."""

    def warm_view(self, mailbox_id: MailboxId, messages: int) -> None:
        """Bring the cached view forward to the snapshot another process just stored."""

    async def warm_order(self, mailbox_id: MailboxId, name: str) -> None:
        """Build this process's kept order of the mailbox by ``name`` (another worker sorted it)."""

    async def prefetch_forms(
        self, message_ids: Sequence[MessageId], names: Sequence[str], utf8: bool
    ) -> None:
        """Read into this process's cache the forms another worker read for a client."""

    async def refresh_snapshots(self, limit: int = 100) -> int:
        """Store new view snapshots of the big mailboxes whose stored one is missing or behind (the
        housekeeper's job); how many were stored."""


class Store(
    Directory,
    MailStore,
    AccountStateStore,
    AclStore,
    SieveScriptStore,
    SieveStateStore,
    MailRuleStore,
    DkimKeyStore,
    DmarcReportStore,
    TransportSecurityStore,
    GreylistStore,
    SendLimitStore,
    WebSessionStore,
    UploadStore,
    JmapRecordStore,
    FetchStore,
    MigrateStateStore,
    ImportJournalStore,
    OutboundQueue,
    Protocol,
):
    """What a backend provides."""
