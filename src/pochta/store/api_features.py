"""The parts of the Store interface that each serve one feature beside the mail itself: the outbound
queue, ACLs, Sieve scripts and their state, Gmail-style rules, DKIM keys, DMARC reports, transport
security (MTA-STS, TLS-RPT), greylisting, sending limits, the fetcher and ``pochta migrate``.
``pochta.store.api.Store`` is all of them with the directory and the mail store; the rules of
``pochta.store.api`` hold here too."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from pochta.store.account_state_model import (
    AccountEmail,
    ChangesPosition,
    EmailChanges,
    EmailPage,
    EmailRecord,
    EmailThread,
    MailboxChanges,
    MailboxCounts,
)
from pochta.store.dkim_model import DkimKey, KeyState
from pochta.store.dmarc_model import DmarcRow
from pochta.store.fetch_model import FetchAccount, FetchMark, FetchRunResult, NewFetchAccount
from pochta.store.greylist_model import GreylistRow
from pochta.store.import_model import ImportItem
from pochta.store.jmap_record_model import JmapRecord, JmapRecords, JmapRecordWrite, JmapWriteResult
from pochta.store.migrate_state_model import MigratedMessage, MigrateFolder, MigrateItem, Placement
from pochta.store.model import (
    AccountId,
    MailboxId,
    MessageId,
    ModSeq,
    SharedMailbox,
)
from pochta.store.queue_model import NewQueueEntry, QueueEntry, QueueId, RecipientOutcome
from pochta.store.send_limit_model import Scope, SendCharge, SendCount, SendLimitOverride, SendLimitReached
from pochta.store.sieve_model import (
    ManagedScript,
    RuleEdit,
    SieveQuota,
    SieveScript,
    SieveScriptInfo,
    StoredRule,
)
from pochta.store.sieve_state_model import SieveError
from pochta.store.transport_model import CachedPolicy, TlsResult, TlsResultRow
from pochta.store.upload_model import Upload
from pochta.store.web_session_model import WebSession


class OutboundQueue(Protocol):
    """The durable outbound queue (``pochta.queue`` decides; the store records atomically).

    Several workers may share one store: ``claim_queue`` leases each due message to one of them;
    ``finish_attempt`` records an attempt only for the lease's owner, with the notices (DSNs) it
    causes, in one commit; the message goes once no recipient is pending.
    """

    async def enqueue(self, entry: NewQueueEntry) -> QueueId:
        """Durable when it returns. The blob is stored first (``put_blob``/``put_blob_file``) or
        is a ``NewBlob`` (``new_blob``), whose bytes this stores with the entry."""

    async def claim_queue(
        self, owner: str, now: datetime, lease_seconds: float, limit: int
    ) -> list[QueueEntry]: ...
    async def renew_queue_leases(self, owner: str, queue_ids: Sequence[QueueId], until: datetime) -> int: ...
    async def finish_attempt(
        self,
        queue_id: QueueId,
        owner: str,
        outcomes: Sequence[RecipientOutcome],
        notices: Sequence[NewQueueEntry] = (),
        *,
        now: datetime,
    ) -> bool:
        """False (nothing recorded) when ``owner`` lost the lease."""

    async def release_queue_lease(self, owner: str, queue_id: QueueId) -> None: ...
    async def queue_entries(self) -> list[QueueEntry]: ...
    async def queue_entry(self, queue_id: QueueId) -> QueueEntry | None: ...
    async def retry_queue(self, queue_id: QueueId | None, now: datetime) -> int:
        """Makes pending recipients due now (one message, or all when None); returns messages touched."""

    async def delete_queue_entry(self, queue_id: QueueId) -> bool: ...
    async def queue_next_due(self) -> datetime | None:
        """The earliest time a queued message becomes due (or its lease expires); None when empty."""


class AccountStateStore(Protocol):
    """An account's state for JMAP (``store/sql/account_changes`` tells the rules and the paging):
    one MODSEQ counter per account, from which every MODSEQ of its mailboxes is drawn."""

    async def account_state(self, account_id: AccountId) -> ModSeq:
        """The account's MODSEQ counter (its mailboxes' highest before its first write): the state of
        its Emails and Mailboxes."""
        ...

    async def email_changes(
        self, account_id: AccountId, since: ModSeq, after: ChangesPosition | None, limit: int
    ) -> EmailChanges:
        """Email ids created, updated, destroyed since ``since`` (past ``after``, a page's
        position), at most ``limit``; CannotCalculateChanges for a state older than the pruned
        records or newer than the counter."""
        ...

    async def mailbox_changes(
        self, account_id: AccountId, since: ModSeq, after: ChangesPosition | None, limit: int
    ) -> MailboxChanges: ...

    async def mailbox_counts(self, account_id: AccountId) -> dict[MailboxId, MailboxCounts]:
        """Each of the account's mailboxes' counts (RFC 8621 section 2), read in one snapshot; a
        mailbox holding nothing is absent (all its counts are 0)."""
        ...

    async def account_emails_in(
        self, account_id: AccountId, message_ids: Iterable[MessageId]
    ) -> list[AccountEmail]:
        """The account's Emails among these messages (those it holds), in message id order."""
        ...

    async def email_threads(
        self, account_id: AccountId, message_ids: Iterable[MessageId]
    ) -> list[EmailThread]:
        """The thread and record of each of these Emails the account holds or held."""
        ...

    async def thread_emails(self, account_id: AccountId, thread_ids: Iterable[int]) -> list[EmailThread]:
        """Every Email (records not pruned) the account holds or held in these threads."""
        ...

    async def email_records(
        self, account_id: AccountId, message_ids: Iterable[MessageId]
    ) -> list[EmailRecord]:
        """The blob and parse record of each of these messages the account holds, by message id."""
        ...

    async def email_record_of_blob(self, account_id: AccountId, sha256: str) -> EmailRecord | None:
        """The message with this blob (SHA-256, hex), if the account holds it (a download's check)."""

    async def emails_by_received(
        self,
        account_id: AccountId,
        mailbox_id: MailboxId,
        *,
        descending: bool,
        position: int,
        limit: int,
        count: bool,
    ) -> EmailPage:
        """The Emails of one of the account's mailboxes by internal date (ties by message id), the
        ``limit`` from ``position`` on, with the account's state of the same read and, with
        ``count``, how many Emails the mailbox holds (``sql/email_query``): one indexed read."""
        ...


class AclStore(Protocol):
    """Access control lists (RFC 4314): stored as given, interpreted by ``pochta.mail.acl``."""

    async def mailbox_acl(self, mailbox_id: MailboxId) -> dict[str, str]: ...
    async def set_mailbox_acl(self, mailbox_id: MailboxId, identifier: str, rights: str | None) -> None:
        """Set (or with None delete) one entry; NotFound when the mailbox is gone."""

    async def shared_mailboxes(self, identifiers: Sequence[str], exclude: AccountId) -> list[SharedMailbox]:
        """Mailboxes of other accounts than ``exclude`` whose ACL names one of ``identifiers``."""


class SieveScriptStore(Protocol):
    """Each account's Sieve scripts and which one is active (RFC 5804 §2.8: at most one). Names
    and sources are kept as given; their rules are ``pochta.mail.sieve_scripts``'s."""

    async def sieve_scripts(self, account_id: AccountId) -> list[SieveScriptInfo]:
        """The account's scripts, by name."""

    async def sieve_script(self, account_id: AccountId, name: str) -> SieveScript | None: ...
    async def active_sieve_script(self, account_id: AccountId) -> SieveScript | None: ...
    async def put_sieve_script(
        self, account_id: AccountId, name: str, source: str, quota: SieveQuota
    ) -> None:
        """Create the script or replace its source (an active script stays active);
        SieveQuotaExceeded (nothing stored) when the result breaks ``quota``."""

    async def rename_sieve_script(self, account_id: AccountId, old: str, new: str) -> None:
        """NotFound when ``old`` is missing, AlreadyExists when ``new`` exists (RFC 5804 §2.11.1)."""

    async def delete_sieve_script(self, account_id: AccountId, name: str) -> None:
        """NotFound when missing, ScriptActive when it is the active one (RFC 5804 §2.10)."""

    async def activate_sieve_script(self, account_id: AccountId, name: str | None) -> None:
        """Make ``name`` the active script (None: none is, RFC 5804 §2.8); NotFound when missing."""


class DkimKeyStore(Protocol):
    """Each domain's DKIM signing keys (``pochta.store.dkim_model``); ``directory_version`` moves
    with every change."""

    async def dkim_keys(self, domain: str | None = None) -> list[DkimKey]:
        """The keys of ``domain`` (None: of every domain), oldest first."""

    async def add_dkim_keys(self, domain: str, keys: Sequence[DkimKey]) -> None:
        """NotFound for an unknown domain, AlreadyExists when a selector is taken (nothing added)."""

    async def set_dkim_states(self, domain: str, states: Mapping[str, KeyState]) -> None:
        """Set the state of each selector in one transaction (``active`` stamps ``activated``);
        NotFound when one is missing (nothing changed)."""

    async def delete_dkim_key(self, domain: str, selector: str) -> None:
        """NotFound when missing."""


class DmarcReportStore(Protocol):
    """DMARC results kept for the aggregate reports (``pochta.store.dmarc_model``)."""

    async def add_dmarc_result(self, row: DmarcRow) -> None: ...

    async def dmarc_results(self, before: int, limit: int = 1_000_000) -> list[DmarcRow]:
        """The rows received before ``before`` (epoch seconds), oldest first, at most ``limit``."""

    async def delete_dmarc_results(self, before: int) -> int:
        """Delete the rows received before ``before``; how many went."""


class TransportSecurityStore(Protocol):
    """The sending side's MTA-STS policy cache and TLS-RPT counts (revision 0028)."""

    async def mta_sts_policy(self, domain: str) -> CachedPolicy | None: ...
    async def put_mta_sts_policy(self, policy: CachedPolicy) -> None:
        """Insert or replace the domain's cached policy."""

    async def count_tls_results(self, day: str, results: Sequence[TlsResult]) -> None:
        """Add one session to each result's row of ``day`` (UTC "YYYY-MM-DD")."""

    async def tls_results_before(self, day: str) -> list[TlsResultRow]:
        """Every row of the days before ``day``, by day and domain."""

    async def delete_tls_results(self, day: str, domain: str) -> int:
        """The rows of one day and policy domain (reported): deleted; how many."""


class GreylistStore(Protocol):
    """Greylisting triplets (revision 0029; ``pochta.delivery.gate.greylist`` owns the rules)."""

    async def greylist_get(self, client: str, sender: str, recipient: str) -> GreylistRow | None: ...

    async def greylist_put(self, row: GreylistRow) -> None:
        """Insert or replace the row of its triplet."""

    async def greylist_sender_known(self, domain: str, since: int) -> bool:
        """Has a triplet of this sender domain passed, and been seen at ``since`` or later?"""

    async def prune_greylist(self, unconfirmed_before: int, passed_before: int) -> int:
        """Delete triplets still waiting that were first seen before ``unconfirmed_before`` and passed
        ones last seen before ``passed_before``; how many went."""


class WebSessionStore(Protocol):
    """The webmail's signed-in sessions (revision 0037; ``pochta.web.sessions`` owns the rules)."""

    async def add_web_session(self, session: WebSession, keep: int) -> list[str]:
        """Store a new session; the token hashes of the account's sessions it ended (those least
        recently seen past ``keep``)."""

    async def web_session(self, token_hash: str) -> WebSession | None: ...

    async def web_sessions(self, account_id: AccountId) -> list[WebSession]:
        """The account's sessions, most recently seen first."""

    async def touch_web_session(self, token_hash: str, seen: int) -> None:
        """Move the session's last request up to ``seen`` (never back)."""

    async def delete_web_session(self, token_hash: str) -> bool:
        """End one session; whether it existed."""

    async def delete_web_sessions(self, account_id: AccountId) -> int:
        """End every session of the account; how many."""

    async def prune_web_sessions(self, now: int, idle: int) -> int:
        """Delete sessions expired by ``now`` or not seen for ``idle`` seconds; how many."""


class UploadStore(Protocol):
    """JMAP uploads (revision 0040; ``pochta.web.jmap_upload`` owns the rules)."""

    async def add_upload(self, upload: Upload) -> None:
        """Record an upload of a blob already stored; durable when this returns."""

    async def upload_of(self, account_id: AccountId, sha256: str, since: int) -> Upload | None:
        """The account's latest upload of this blob made at ``since`` or later, if any."""

    async def prune_uploads(self, before: int) -> int:
        """Delete uploads made before ``before``; how many."""


class JmapRecordStore(Protocol):
    """JMAP objects kept as JSON records with a state per account and type (revision 0041;
    ``pochta.server.jmap.identity`` and ``email_submission`` own what they hold)."""

    async def jmap_records(
        self, account_id: AccountId, type_: str, *, tombstones: bool = False
    ) -> JmapRecords:
        """The account's records of the type (destroyed ones too when ``tombstones``) and its state."""

    async def jmap_record_by_ref(self, type_: str, ref: str) -> JmapRecord | None:
        """The live record of the type with this ``ref``, if any."""

    async def write_jmap_records(
        self, account_id: AccountId, type_: str, write: JmapRecordWrite
    ) -> JmapWriteResult:
        """Creates, updates and destroys in one transaction; durable when this returns."""


class SendLimitStore(Protocol):
    """Sending limits (revision 0030; ``pochta.delivery.send_limits`` owns the rules). The count
    itself happens in ``enqueue`` (``NewQueueEntry.charge``)."""

    async def send_limit_override(self, scope: Scope, name: str) -> SendLimitOverride | None: ...

    async def set_send_limit_override(self, override: SendLimitOverride) -> None:
        """Store the override; one whose values are all None is removed (the defaults apply)."""

    async def send_counts(self, scope: Scope, name: str, now: int) -> list[SendCount]:
        """The counts of the current hour and day windows (zeros when nothing was sent)."""

    async def send_limit_check(self, given: SendCharge) -> SendLimitReached | None:
        """The limit ``given`` would pass now, if any; counts nothing."""

    async def send_limit_notified(self, hit: SendLimitReached) -> bool:
        """Mark the hit's window as told to the postmaster; True the first time only."""

    async def prune_send_counts(self, now: int) -> int:
        """Delete the counts of windows that ended before ``now``; how many rows went."""


class FetchStore(Protocol):
    """The fetcher's external accounts and the messages fetched from them (revision 0031;
    ``pochta.fetch`` owns the rules, docs/fetch.md)."""

    async def add_fetch_account(self, new: NewFetchAccount, now: int) -> FetchAccount:
        """The new external account, due at once."""

    async def fetch_accounts(self, account_id: AccountId) -> list[FetchAccount]: ...
    async def fetch_account(self, fetch_id: int) -> FetchAccount | None: ...
    async def due_fetch_accounts(self, now: int, limit: int) -> list[FetchAccount]:
        """Those whose next run is at ``now`` or before, the most overdue first."""

    async def delete_fetch_account(self, account_id: AccountId, fetch_id: int) -> None:
        """With its records; NotFound when it is not ``account_id``'s."""

    async def fetched_keys(self, fetch_id: int) -> set[str]: ...
    async def mark_fetched(self, marks: list[FetchMark], now: int) -> None:
        """Records for messages handled without a delivery (AlreadyFetched when one exists)."""

    async def forget_fetched(self, fetch_id: int, keys: Iterable[str]) -> int:
        """Drop the records of ``keys`` (gone from the remote); how many went."""

    async def record_fetch_run(self, fetch_id: int, result: FetchRunResult) -> None: ...
    async def schedule_fetch(self, fetch_id: int, next_run: int) -> None: ...


class ImportJournalStore(Protocol):
    """What `pochta import` placed (revision 0033, docs/import-export.md "Resuming"): each message is
    placed and journaled in one transaction (``pochta.fetch.importer`` owns the rules)."""

    async def import_journal(self, account_id: AccountId, source: str) -> set[str]:
        """The keys of the messages of ``source`` already placed for the account."""

    async def import_place(
        self, account_id: AccountId, source: str, items: Sequence[ImportItem]
    ) -> list[str | None]:
        """Place the items in one write, each with its journal row; per item None (placed, or
        placed by an earlier run: the journal has it) or the reason it was refused (over quota, the
        mailbox gone): the others are placed all the same."""


class MigrateStateStore(Protocol):
    """What `pochta migrate` copied from another IMAP server (revision 0032, docs/migrate.md):
    per remote folder its UIDVALIDITY and every message copied, recorded by the transaction that
    places it (``pochta.fetch.migrate`` owns the rules)."""

    async def migrate_folder(
        self, account_id: AccountId, source: str, remote_name: str, uidvalidity: int, mailbox_id: MailboxId
    ) -> MigrateFolder:
        """The folder's state, made on first use; ``restarted`` when its UIDVALIDITY (or its local
        mailbox) changed since the last run."""

    async def migrated(self, folder: MigrateFolder) -> dict[int, MigratedMessage]:
        """The messages copied under the folder's current UIDVALIDITY, by remote UID."""

    async def migrate_place(self, folder: MigrateFolder, items: Sequence[MigrateItem]) -> list[Placement]:
        """Place the messages in the folder's mailbox and record each, one transaction (nothing for
        a remote UID recorded already; the record moves when the same bytes were copied under an
        older UIDVALIDITY). QuotaExceeded (nothing stored) as ``deliver``."""

    async def migrate_flags(
        self, folder: MigrateFolder, changed: Sequence[tuple[int, frozenset[str]]]
    ) -> int:
        """Give the local copies of these remote UIDs these flags, and record them; how many changed."""

    async def migrate_finish(self, folder: MigrateFolder, highestmodseq: int | None) -> int:
        """Keep ``highestmodseq`` for the next run; drop records of older UIDVALIDITYs that matched
        nothing (how many)."""


class SieveStateStore(Protocol):
    """What Sieve at delivery remembers (docs/sieve.md "At delivery"); times in epoch seconds."""

    async def sieve_active_accounts(self) -> frozenset[AccountId]:
        """The accounts that have an active script (``directory_version`` moves when it changes)."""

    async def sieve_vacation_due(self, account_id: AccountId, key: str, now: int, period: int) -> bool:
        """RFC 5230 §4.2: True (and recorded until ``now + period``) when no reply with ``key``
        went out within its period, atomically; False otherwise."""

    async def sieve_duplicate_seen(self, account_id: AccountId, key: str, now: int) -> bool:
        """RFC 7352 §3: whether ``key`` is in the account's tracking list and not expired."""

    async def sieve_track_duplicates(
        self, account_id: AccountId, records: list[tuple[str, int, bool]], now: int
    ) -> None:
        """RFC 7352 §3.3: (key, seconds, last) into the tracking list."""

    async def add_sieve_error(self, account_id: AccountId, now: int, script: str, error: str) -> None: ...
    async def sieve_errors(self, account_id: AccountId) -> list[SieveError]: ...
    async def prune_sieve_state(self, now: int, error_age: int) -> int:
        """Expired vacation and duplicate records, and errors older than ``error_age``: deleted."""


class MailRuleStore(Protocol):
    """Each account's Gmail-style rules (revision 0024) and the managed script generated from them;
    what a rule means is ``pochta.mail.mail_rules``'s."""

    async def mail_rules(self, account_id: AccountId) -> list[StoredRule]:
        """The account's rules, filters in their order."""

    async def sent_to(self, account_id: AccountId, address: str) -> bool:
        """Whether a message in the account's \\Sent mailbox names ``address`` in To, Cc or Bcc
        (case-insensitively): the default address book of RFC 6134 lists until CardDAV has one."""

    async def edit_mail_rules(
        self, account_id: AccountId, edit: RuleEdit, managed: ManagedScript
    ) -> list[StoredRule]:
        """Apply ``edit`` and write the managed script from the rules it leaves, in one transaction
        (the script is made active when the account has none; removed with the last rule when it
        was the active one). NotFound for an id that is not the account's, SieveQuotaExceeded when
        the script would break the quota: nothing changes then. Returns the rules after the edit."""
