"""Records the store hands out. Plain frozen dataclasses: no behaviour, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

AccountId = int
DomainId = int
MailboxId = int
MessageId = int  # the store's internal id of one stored message (one blob + its parse results)
Uid = int
ModSeq = int

# IMAP hierarchy separator for mailbox names. Names are stored as UTF-8 with this separator.
HIERARCHY_SEPARATOR = "/"

# The protocols an administrator can switch off per account and per domain.
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


@dataclass(frozen=True)
class ScramCredentials:
    """RFC 5802 stored keys for SCRAM-SHA-256, kept beside the argon2 hash."""

    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes


@dataclass(frozen=True)
class Account:
    id: AccountId
    address: str  # local@domain, local part as given (case kept), domain lower-case
    domain_id: DomainId
    password_hash: str  # argon2id encoded hash
    scram: ScramCredentials | None
    quota_bytes: int | None  # None: unlimited
    protocols: ProtocolSwitches
    apop_secret: str | None
    enabled: bool
    created: datetime


@dataclass(frozen=True)
class AppPassword:
    id: int
    account_id: AccountId
    name: str
    password_hash: str  # argon2id
    created: datetime
    last_used: datetime | None


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


@dataclass(frozen=True)
class MailboxView:
    """A snapshot of a mailbox at one MODSEQ, in UID order."""

    mailbox: MailboxInfo
    messages: tuple[MessageEntry, ...]


class ChangeKind(StrEnum):
    APPENDED = "appended"
    FLAGS = "flags"
    EXPUNGED = "expunged"
    MAILBOX = "mailbox"  # created, renamed, deleted, subscription or status change
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


@dataclass(frozen=True)
class ChangeSet:
    """What a write or a changes_since() query did: the new state of touched messages."""

    mailbox_id: MailboxId
    highestmodseq: ModSeq
    changed: tuple[MessageEntry, ...] = ()  # new or re-flagged, in UID order
    expunged: tuple[Uid, ...] = ()  # vanished UIDs, ascending
    failed_unchanged_since: tuple[Uid, ...] = ()  # RFC 7162 MODIFIED set (for later CONDSTORE)


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


@dataclass(frozen=True)
class CopyResult:
    """RFC 4315 COPYUID data: source UIDs and the UIDs they got in the destination, in pairs."""

    destination_id: MailboxId
    uidvalidity: int
    source_uids: tuple[Uid, ...]
    destination_uids: tuple[Uid, ...]


@dataclass(frozen=True)
class CachedMessage:
    """A message's parse results as cached at delivery (see pochta.mime)."""

    uid: Uid
    message_id: MessageId
    blob: BlobRef
    parsed_json: bytes  # pochta.mime.ParsedMessage.to_json(with_text=False); the text lives in FTS


@dataclass
class VerifyReport:
    missing_blobs: list[str] = field(default_factory=list)
    corrupt_blobs: list[str] = field(default_factory=list)
    unreferenced_blobs: list[str] = field(default_factory=list)
    integrity_errors: list[str] = field(default_factory=list)

    @property
    def damaged(self) -> bool:
        return bool(self.missing_blobs or self.corrupt_blobs or self.integrity_errors)


@dataclass
class ReconstructReport:
    messages_reparsed: int = 0
    caches_changed: int = 0
    mailboxes_recounted: int = 0
    counters_changed: int = 0
    quota_changed: int = 0
    missing_blobs: list[str] = field(default_factory=list)
    unreferenced_blobs: list[str] = field(default_factory=list)
