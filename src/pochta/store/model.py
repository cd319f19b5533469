"""Records the store hands out: frozen dataclasses, and ``MailboxView`` (a compact snapshot). No I/O."""

from __future__ import annotations

import time
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from enum import StrEnum
from typing import NamedTuple, overload

from pochta.mime.sortkeys import SortKeys
from pochta.store.account_settings import AccountSettings

AccountId = int
DomainId = int
MailboxId = int
MessageId = int  # the store's internal id of one stored message (one blob + its parse results)
Uid = int
ModSeq = int

# IMAP hierarchy separator for mailbox names. Names are stored as UTF-8 with this separator.
HIERARCHY_SEPARATOR = "/"

# The protocols an administrator can switch off per domain (per account and unit: the settings store,
# ``account_settings.SWITCHED_PROTOCOLS``).
SWITCHABLE_PROTOCOLS = ("imap", "pop3", "submission")

# Mailboxes every new account gets, with their RFC 6154 special-use attribute.
DEFAULT_MAILBOXES: tuple[tuple[str, str | None], ...] = (
    ("INBOX", None),
    ("Drafts", "\\Drafts"),
    ("Sent", "\\Sent"),
    ("Junk", "\\Junk"),
    ("Trash", "\\Trash"),
    ("Archive", "\\Archive"),
)


@dataclass(frozen=True)
class BlobRef:
    """A message's exact bytes, stored once under their SHA-256 (hex)."""

    sha256: str
    size: int


@dataclass(frozen=True, eq=False)
class NewBlob(BlobRef):
    """A small blob not stored yet: its bytes go into the database (``store.inline_blob_max``), in
    the transaction of the write that first refers to it (``Store.deliver``, ``Store.enqueue``), so
    that one commit makes the bytes and the metadata durable together. ``Store.new_blob`` makes one;
    everywhere else it is the ``BlobRef`` it extends."""

    data: bytes = field(repr=False)


@dataclass(frozen=True)
class ProtocolSwitches:
    imap: bool = True
    pop3: bool = True
    submission: bool = True

    def allows(self, protocol: str) -> bool:
        return bool(getattr(self, protocol))


@dataclass(frozen=True)
class Domain:
    id: DomainId
    name: str  # lower-case, IDNA A-label form
    protocols: ProtocolSwitches
    created: datetime
    # The domain's quota root (RFC 9208 §3.2): limits on the sum over its accounts; None: unlimited.
    quota_bytes: int | None = None
    quota_messages: int | None = None


@dataclass(frozen=True)
class ScramCredentials:
    """RFC 5802 stored keys for SCRAM-SHA-256, kept beside the argon2 hash."""

    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes


# Account kinds (revision 0023): a user, or a domain's hidden owner of its public mailboxes (the IMAP
# "Shared" namespace, ``mail.access``): it cannot log in, is no recipient by its own address, and its
# address ``SHARED_OWNER_LOCAL@domain`` is no dot-atom, so no administrator command can name it.
USER_KIND = "user"
SHARED_KIND = "shared"
SHARED_OWNER_LOCAL = "(shared)"


def shared_owner_address(domain: str) -> str:
    """The address of ``domain``'s hidden owner of public mailboxes."""
    return f"{SHARED_OWNER_LOCAL}@{domain.lower()}"


@dataclass(frozen=True)
class Account:
    id: AccountId
    address: str  # local@domain, local part as given (case kept), domain lower-case
    domain_id: DomainId
    password_hash: str  # argon2id encoded hash
    scram: ScramCredentials | None
    quota_bytes: int | None  # None: unlimited
    enabled: bool
    created: datetime
    quota_messages: int | None = None  # RFC 9208 §5.2 MESSAGE limit; None: unlimited
    admin: bool = False  # may SETQUOTA and read any quota root over IMAP (docs/imap.md "QUOTA")
    kind: str = USER_KIND  # USER_KIND, or SHARED_KIND: a domain's hidden owner of public mailboxes
    # Protocol switches, POP3 policy, APOP secret ...: the settings store (revision 0034), the
    # account's own and those of its organisational unit's chain (docs/units.md).
    settings: AccountSettings = field(default_factory=AccountSettings)

    @property
    def is_user(self) -> bool:
        """A user who logs in and receives mail (not a hidden owner of public mailboxes)."""
        return self.kind == USER_KIND

    @property
    def domain_name(self) -> str:
        """The account's domain, as stored (lower-case A-labels)."""
        return self.address.rpartition("@")[2].lower()


@dataclass(frozen=True)
class Unit:
    """An organisational unit (docs/units.md): accounts belong to one, units nest under a parent,
    and settings set here apply to every account below that does not set its own."""

    id: int
    name: str
    parent: str | None  # None: the root unit (account_settings.ROOT_UNIT)
    settings: Mapping[str, object]  # its own settings, typed (account_settings.KEYS)
    accounts: int  # how many accounts belong to it directly
    created: datetime


@dataclass(frozen=True)
class QuotaUsage:
    """What a quota root holds: octets (RFC822.SIZE summed) and messages; a message in two mailboxes
    counts twice, as each copy is what IMAP shows (the blob is stored once all the same)."""

    bytes: int = 0
    messages: int = 0


@dataclass(frozen=True)
class MetadataLimits:
    """What METADATA entries may hold (RFC 5464 §4.1, §4.3; config ``imap.metadata_*``)."""

    entry_size: int  # octets of one value
    mailbox_entries: int  # entries of one mailbox (or of the server) that one user sees
    account_entries: int  # entries one account holds (its private ones, the shared ones of its mailboxes)
    account_bytes: int  # octets of the values one account holds


@dataclass(frozen=True)
class QuotaLimits:
    """A quota root's limits; None: that resource is unlimited (RFC 9208 §4.2.1)."""

    bytes: int | None = None
    messages: int | None = None

    @property
    def unlimited(self) -> bool:
        return self.bytes is None and self.messages is None


@dataclass(frozen=True)
class AccountQuota:
    """The two quota roots of an account's mailboxes as of one snapshot: the account's own and its
    domain's (RFC 9208 §3.2: every mailbox of the account is under both)."""

    account_limits: QuotaLimits
    account_used: QuotaUsage
    domain: str
    domain_limits: QuotaLimits
    domain_used: QuotaUsage

    @property
    def unlimited(self) -> bool:
        return self.account_limits.unlimited and self.domain_limits.unlimited


@dataclass(frozen=True)
class AppPassword:
    id: int
    account_id: AccountId
    name: str
    password_hash: str  # argon2id
    created: datetime
    last_used: datetime | None
    # The keyed digest a login finds it by (pochta.auth.passwords.app_password_lookup); None for one
    # made before revision 0005, which no longer logs in and must be re-issued.
    lookup: bytes | None = None


@dataclass(frozen=True)
class LoginUnblock:
    """A `pochta auth unblock` request: the server forgets failures of ``target`` up to ``created``."""

    id: int
    target: str  # an account address or an IP network (pochta.auth.ratelimit.unblock_target)
    created: datetime


@dataclass(frozen=True)
class Alias:
    source: str  # "local@domain", or "@domain" for a catch-all
    targets: tuple[str, ...]  # addresses, local or external


@dataclass(frozen=True)
class MailboxInfo:
    id: MailboxId
    account_id: AccountId
    name: str  # UTF-8, HIERARCHY_SEPARATOR between levels; "INBOX" is always spelled so
    uidvalidity: int
    uidnext: Uid
    highestmodseq: ModSeq
    special_use: str | None  # "\\Sent" ... (RFC 6154) or None
    subscribed: bool
    messages: int
    unseen: int
    deleted: int  # messages with \Deleted
    size: int  # octets of all messages
    # RFC 3501 §2.3.2: messages from this UID on are \Recent, not yet taken by any session; how many.
    first_recent_uid: Uid = 1
    recent: int = 0
    # Every keyword ever stored in the mailbox, as first spelled (store.sqlite_keywords): FLAGS.
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class SharedMailbox:
    """A mailbox of another account whose ACL names a user (RFC 4314): its row, its owner's address,
    its whole ACL (identifier key -> rights as stored), and whether the owner is a domain's hidden
    owner of public mailboxes (``SHARED_KIND``)."""

    mailbox: MailboxInfo
    owner: str
    acl: dict[str, str]
    public: bool = False


@dataclass(frozen=True)
class MessageEntry:
    """One message as a mailbox holds it: what a mailbox view lists per UID."""

    uid: Uid
    message_id: MessageId
    flags: frozenset[str]  # system flags ("\\Seen" ...) and keywords, case kept as first stored
    modseq: ModSeq
    size: int
    internal_date: datetime
    blob: BlobRef


# Internal dates are kept as epoch seconds and the UTC offset in minutes of the zone they were given
# in. A view packs both into one integer per message: epoch * DATE_SCALE + offset + DATE_BIAS. Python
# limits UTC offsets to under 24 hours (1,440 minutes), so the offset always fits below DATE_SCALE.
DATE_SCALE = 4096
DATE_BIAS = 2048
_ZONES: dict[int, tzinfo] = {0: UTC}


def zone(minutes: int) -> tzinfo:
    """The fixed-offset zone of a UTC offset in minutes (shared objects: a mailbox uses a handful)."""
    tz = _ZONES.get(minutes)
    if tz is None:
        tz = _ZONES.setdefault(minutes, timezone(timedelta(minutes=minutes)))
    return tz


def date_parts(when: datetime | None) -> tuple[int, int]:
    """Epoch seconds and UTC offset in minutes; None is now, a naive datetime is taken as UTC."""
    if when is None:
        return int(time.time()), 0
    offset = when.utcoffset()
    if offset is None:
        return int(when.replace(tzinfo=UTC).timestamp()), 0
    return int(when.timestamp()), int(offset.total_seconds() // 60)


def date_from_parts(epoch: int, tz_minutes: int) -> datetime:
    return datetime.fromtimestamp(epoch, zone(tz_minutes))


def pack_date(epoch: int, tz_minutes: int) -> int:
    if not -DATE_BIAS < tz_minutes < DATE_BIAS:
        raise ValueError(f"UTC offset out of range: {tz_minutes} minutes")
    return epoch * DATE_SCALE + tz_minutes + DATE_BIAS


def unpack_date(packed: int) -> datetime:
    epoch, offset = divmod(packed, DATE_SCALE)
    return datetime.fromtimestamp(epoch, zone(offset - DATE_BIAS))


# A view builds its records without the dataclasses' __init__: a frozen dataclass sets each field
# through object.__setattr__, which made building a MessageEntry cost more than everything else
# about it. These fill the same fields (a test compares them with the regular constructors).
_new = object.__new__


def _blob_ref(sha256: str, size: int) -> BlobRef:
    ref: BlobRef = _new(BlobRef)
    fields = ref.__dict__
    fields["sha256"] = sha256
    fields["size"] = size
    return ref


def _message_entry(
    uid: int, message_id: int, flags: frozenset[str], modseq: int, size: int, date: datetime, blob: BlobRef
) -> MessageEntry:
    entry: MessageEntry = _new(MessageEntry)
    fields = entry.__dict__
    fields["uid"] = uid
    fields["message_id"] = message_id
    fields["flags"] = flags
    fields["modseq"] = modseq
    fields["size"] = size
    fields["internal_date"] = date
    fields["blob"] = blob
    return entry


def digests_from_hex(joined: str, count: int) -> bytes | None:
    """32 bytes per name from ``count`` concatenated blob names (64 lower-case hex digits each), or
    None if ``joined`` is not that."""
    if len(joined) != 64 * count:
        return None
    try:
        digests = bytes.fromhex(joined)
    except ValueError:
        return None
    return digests if digests.hex() == joined else None


def pack_digests(names: Sequence[str]) -> bytes | tuple[str, ...]:
    """Blob names as 32 bytes each; names of another form are kept as they are."""
    digests = None
    if all(len(name) == 64 for name in names):
        digests = digests_from_hex("".join(names), len(names))
    return tuple(names) if digests is None else digests


class MailboxView(Sequence[MessageEntry]):
    """A snapshot of a mailbox at one MODSEQ, in UID order: ``view[i]`` is sequence number ``i + 1``.

    Kept as columns, not as one record per message, so that opening a mailbox of 100,000 messages
    (IMAP SELECT, POP3 login) builds a few arrays instead of 100,000 objects:

    - ``uids``, ``message_ids``, ``modseqs``, ``sizes``: ``array('q')``, one item per message;
    - ``flags``: one frozenset per message, shared between messages with the same flags (a mailbox
      holds a handful of combinations);
    - internal dates and blob digests packed, read through ``internal_date(i)`` and ``blob(i)``.

    ``view[i]`` (and iteration, and slices) build ``MessageEntry`` records on demand; code that needs
    one attribute of many messages reads the column instead (``view.uids``, ``view.flags[i]``).
    ``position(uid)`` finds a UID's index by binary search. The columns are shared by everyone
    holding the view: never modify them.
    """

    # __weakref__: the store keeps the latest view of each mailbox in a weak cache, so that sessions
    # opening a mailbox at the same MODSEQ share one view instead of one copy each.
    __slots__ = (
        "__weakref__",
        "_dates",
        "_digests",
        "_distinct",
        "flags",
        "mailbox",
        "message_ids",
        "modseqs",
        "sizes",
        "uids",
    )

    mailbox: MailboxInfo
    uids: array[int]
    message_ids: array[int]
    flags: tuple[frozenset[str], ...]
    modseqs: array[int]
    sizes: array[int]
    _dates: array[int]
    _digests: bytes | tuple[str, ...]

    def __init__(
        self,
        mailbox: MailboxInfo,
        *,
        uids: array[int],
        message_ids: array[int],
        flags: tuple[frozenset[str], ...],
        modseqs: array[int],
        sizes: array[int],
        dates: array[int],
        digests: bytes | tuple[str, ...],
    ) -> None:
        """Columns as described above; ``dates`` packed (``pack_date``), ``digests`` by ``pack_digests``."""
        n = len(uids)
        digest_count = len(digests) // 32 if isinstance(digests, bytes) else len(digests)
        if not (
            len(message_ids) == len(flags) == len(modseqs) == len(sizes) == len(dates) == digest_count == n
        ) or (isinstance(digests, bytes) and len(digests) != 32 * n):
            raise ValueError("mailbox view columns differ in length")
        self.mailbox = mailbox
        self.uids = uids
        self.message_ids = message_ids
        self.flags = flags
        self.modseqs = modseqs
        self.sizes = sizes
        self._dates = dates
        self._digests = digests if isinstance(digests, bytes) else pack_digests(digests)
        self._distinct: tuple[frozenset[str], ...] | None = None

    @classmethod
    def from_entries(cls, mailbox: MailboxInfo, entries: Iterable[MessageEntry]) -> MailboxView:
        """A view of these entries (which must be in ascending UID order), for tests and other backends."""
        items = list(entries)
        interned: dict[frozenset[str], frozenset[str]] = {}
        return cls(
            mailbox,
            uids=array("q", (e.uid for e in items)),
            message_ids=array("q", (e.message_id for e in items)),
            flags=tuple(interned.setdefault(e.flags, e.flags) for e in items),
            modseqs=array("q", (e.modseq for e in items)),
            sizes=array("q", (e.size for e in items)),
            dates=array("q", (pack_date(*date_parts(e.internal_date)) for e in items)),
            digests=pack_digests([e.blob.sha256 for e in items]),
        )

    # Compatibility: ``view.messages`` was a tuple of entries; the view is that sequence itself.
    @property
    def messages(self) -> MailboxView:
        return self

    # The packed columns, for code that stores or rebuilds views (``sqlite/views``)

    @property
    def packed_dates(self) -> array[int]:
        """Internal dates as ``pack_date`` packs them, one per message; do not modify."""
        return self._dates

    @property
    def packed_digests(self) -> bytes | None:
        """Blob digests, 32 bytes per message; None when some blob name is not a SHA-256 in hex."""
        return self._digests if isinstance(self._digests, bytes) else None

    # One message

    def blob(self, index: int) -> BlobRef:
        size = self.sizes[index]  # IndexError when out of range
        digests = self._digests
        if not isinstance(digests, bytes):
            return _blob_ref(digests[index], size)
        if index < 0:
            index += len(self.sizes)
        return _blob_ref(digests[32 * index : 32 * index + 32].hex(), size)

    def internal_date(self, index: int) -> datetime:
        return unpack_date(self._dates[index])

    def internal_epoch(self, index: int) -> int:
        """The internal date of the message at ``index`` in epoch seconds (no datetime made)."""
        return self._dates[index] // DATE_SCALE

    def entry(self, index: int) -> MessageEntry:
        """The record of the message at ``index`` (its sequence number minus one)."""
        return _message_entry(
            self.uids[index],
            self.message_ids[index],
            self.flags[index],
            self.modseqs[index],
            self.sizes[index],
            unpack_date(self._dates[index]),
            self.blob(index),
        )

    # Finding UIDs (binary search on the ascending UID column)

    def position(self, uid: int) -> int | None:
        """The index of this UID (its sequence number minus one), or None if the view lacks it."""
        index = bisect_left(self.uids, uid)
        return index if index < len(self.uids) and self.uids[index] == uid else None

    def positions(self, first_uid: int, last_uid: int) -> range:
        """Indexes of the UIDs from ``first_uid`` to ``last_uid`` inclusive (an IMAP UID range)."""
        return range(bisect_left(self.uids, first_uid), bisect_right(self.uids, last_uid))

    def flag_sets(self) -> list[frozenset[str]]:
        """The distinct flag sets of the mailbox, in the order first met (by UID). Computed once per
        view (every SELECT of a shared view asks)."""
        if self._distinct is None:
            self._distinct = tuple(dict.fromkeys(self.flags))
        return list(self._distinct)

    # Sequence

    def __len__(self) -> int:
        return len(self.uids)

    @overload
    def __getitem__(self, index: int) -> MessageEntry: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[MessageEntry, ...]: ...

    def __getitem__(self, index: int | slice) -> MessageEntry | tuple[MessageEntry, ...]:
        if isinstance(index, slice):
            return tuple(self.entry(i) for i in range(*index.indices(len(self.uids))))
        n = len(self.uids)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("mailbox view index out of range")
        return self.entry(index)

    def __iter__(self) -> Iterator[MessageEntry]:
        digests = self._digests
        names: Iterator[str]
        if isinstance(digests, bytes):
            names = (digests[start : start + 32].hex() for start in range(0, len(digests), 32))
        else:
            names = iter(digests)
        columns = zip(
            self.uids, self.message_ids, self.flags, self.modseqs, self.sizes, self._dates, names, strict=True
        )
        for uid, message_id, flags, modseq, size, date, name in columns:
            yield _message_entry(
                uid, message_id, flags, modseq, size, unpack_date(date), _blob_ref(name, size)
            )

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, MessageEntry):
            return False
        index = self.position(value.uid)
        return index is not None and self.entry(index) == value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MailboxView):
            return NotImplemented
        return (
            self.mailbox == other.mailbox
            and self.uids == other.uids
            and self.message_ids == other.message_ids
            and self.modseqs == other.modseqs
            and self.sizes == other.sizes
            and self._dates == other._dates
            and self.flags == other.flags
            and self._digests == other._digests
        )

    __hash__ = None  # type: ignore[assignment]  # mutable columns: not hashable

    def __repr__(self) -> str:
        return f"MailboxView({self.mailbox!r}, {len(self.uids)} messages)"


class ChangeKind(StrEnum):
    APPENDED = "appended"
    FLAGS = "flags"
    EXPUNGED = "expunged"
    MAILBOX = "mailbox"  # created, renamed, deleted, subscription or status change
    # RFC 5464: a METADATA entry of the mailbox was set or removed; mailbox_id SERVER_METADATA: one of
    # the server's. The hook for NOTIFY's MailboxMetadataChange/ServerMetadataChange (RFC 5465 §5.6, §5.7).
    METADATA = "metadata"
    # The subscriber fell too far behind and changes were dropped: resync with changes_since().
    OVERFLOW = "overflow"


@dataclass(frozen=True)
class Change:
    """One committed change, published on the feed to subscribers of its mailbox."""

    kind: ChangeKind
    account_id: AccountId
    mailbox_id: MailboxId
    modseq: ModSeq
    uids: tuple[Uid, ...] = ()
    # METADATA: the names of the entries set or removed (RFC 5465 §5.6, §5.7). A change holds
    # /shared/ names or /private/ ones, never both: /private/ names go only to the account whose
    # entries they are (``account_id``), /shared/ ones of a mailbox to its owner, /shared/ ones of
    # the server to every account (``EVERY_ACCOUNT``).
    entries: tuple[str, ...] = ()


# ``Change.account_id`` of a change every account's subscription gets (the server's /shared/
# METADATA entries, RFC 5464 §3.3: everyone reads them). No account has id 0.
EVERY_ACCOUNT: AccountId = 0


@dataclass(frozen=True)
class ChangeSet:
    """What a write or a changes_since() query did: the new state of touched messages."""

    mailbox_id: MailboxId
    highestmodseq: ModSeq
    changed: tuple[MessageEntry, ...] = ()  # new or re-flagged, in UID order
    expunged: tuple[Uid, ...] = ()  # vanished UIDs, ascending
    failed_unchanged_since: tuple[Uid, ...] = ()  # RFC 7162 §3.1.3 the MODIFIED set, UIDs
    # changes_since() only, when the expunge records since the MODSEQ asked were pruned (``expunged``
    # is then incomplete): every UID the mailbox holds now; what a caller knows beyond them is gone.
    live_uids: tuple[Uid, ...] | None = None


@dataclass(frozen=True)
class Target:
    """Where one copy of a delivered or appended message goes."""

    mailbox_id: MailboxId
    flags: frozenset[str] = frozenset()
    internal_date: datetime | None = None  # None: now


@dataclass(frozen=True)
class Placed:
    mailbox_id: MailboxId
    uidvalidity: int
    uid: Uid
    message_id: MessageId
    # The new message as its mailbox now lists it (the commit's MODSEQ): an IMAP session that has
    # the mailbox selected takes it from here instead of reading the change back.
    entry: MessageEntry | None = field(default=None, compare=False)


@dataclass(frozen=True)
class MailboxName:
    """A destination named by its account and canonical name instead of its id: the store looks it up
    inside the write that uses it (``MailStore.transfer``), so a COPY needs no read before it."""

    account_id: AccountId
    name: str


@dataclass(frozen=True)
class CopyResult:
    """RFC 4315 COPYUID data: source UIDs and the UIDs they got in the destination, in pairs."""

    destination_id: MailboxId
    uidvalidity: int
    source_uids: tuple[Uid, ...]
    destination_uids: tuple[Uid, ...]
    # What the write did, as ``ChangeSet``s a session applies as its own (no read of them back):
    # the destination's new messages, and for a MOVE the source's expunges (None: nothing, or not known).
    added: ChangeSet | None = field(default=None, compare=False)
    removed: ChangeSet | None = field(default=None, compare=False)


class SortRow(NamedTuple):
    """What SORT and THREAD read of one message (``MailStore.sort_keys``)."""

    uid: Uid
    keys: SortKeys
    internal_date: int  # UTC seconds
    size: int


@dataclass(frozen=True)
class CachedMessage:
    """A message's parse results as cached at delivery (see pochta.mime)."""

    uid: Uid
    message_id: MessageId
    blob: BlobRef
    parsed_json: bytes  # pochta.mime.ParsedMessage.to_json(with_text=False); no body text


@dataclass
class IndexResult:
    """What one batch of the background search indexer did."""

    added: int = 0  # messages added to the full-text index
    dropped: int = 0  # messages gone, taken out of it
    filled: int = 0  # messages stored before the index existed, re-parsed and indexed
    fill: list[tuple[int, str]] = field(default_factory=list)  # (message id, sha256) to re-parse next
    threaded: int = 0  # membership rows given their THREADID (RFC 8474 §5.2, sqlite_threads)
    added_ids: list[int] = field(default_factory=list)  # messages added (their sort keys are stored)
    more: bool = False  # the batch was cut by its limits: more work may be waiting right now

    @property
    def done(self) -> int:
        return self.added + self.dropped + self.filled  # search work; ``threaded`` is apart


class ObjectRow(NamedTuple):
    """What FETCH and SEARCH read of one message for EMAILID, THREADID, SAVEDATE and PREVIEW."""

    uid: Uid
    message_id: int  # EMAILID
    thread_id: int | None  # THREADID; None: not threaded yet
    save_date: int  # epoch seconds: the save date, or the internal date of rows older than it
    preview: str | None  # None unless asked for (or when the parse record holds none)


@dataclass
class VerifyReport:
    missing_blobs: list[str] = field(default_factory=list)
    corrupt_blobs: list[str] = field(default_factory=list)
    unreferenced_blobs: list[str] = field(default_factory=list)
    integrity_errors: list[str] = field(default_factory=list)
    # Messages waiting for the search indexer: normal under load, not damage.
    search_backlog: int = 0
    # Messages with no search text and none queued: SEARCH would miss them (`pochta reconstruct`).
    search_missing: list[int] = field(default_factory=list)

    @property
    def damaged(self) -> bool:
        return bool(self.missing_blobs or self.corrupt_blobs or self.integrity_errors or self.search_missing)


@dataclass
class ReconstructReport:
    messages_reparsed: int = 0
    caches_changed: int = 0
    mailboxes_recounted: int = 0
    counters_changed: int = 0
    quota_changed: int = 0
    search_queued: int = 0  # messages queued to be indexed again (the index is rebuilt)
    missing_blobs: list[str] = field(default_factory=list)
    unreferenced_blobs: list[str] = field(default_factory=list)
