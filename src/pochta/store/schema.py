"""The metadata tables of the embedded store, as SQLAlchemy Core objects.

This module describes the *current* schema for queries. The schema in a database is created and
changed only by the alembic revisions in ``store/migrations/versions`` (a test compares the two).

Conventions:
- times are integer seconds since the epoch (UTC), portable to PostgreSQL and sortable;
- addresses and domain names are matched through a lower-cased ``*_key`` column beside the display
  form, so lookups are case-insensitive without functions in the WHERE clause;
- derived values (mailbox counters, quota usage, message refcounts, the seen/deleted bits of a
  membership) are kept as counters in the same transaction as the change; ``reconstruct`` re-derives
  them from membership rows when in doubt.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from pochta.store.schema_base import metadata
from pochta.store.schema_features import (
    dkim_keys,
    dmarc_results,
    fetch_accounts,
    fetched_messages,
    greylist,
    import_journal,
    jmap_record_states,
    jmap_records,
    mail_rules,
    metadata_entries,
    migrate_folders,
    migrate_messages,
    mta_sts_policies,
    send_counts,
    send_limits,
    sieve_duplicates,
    sieve_errors,
    sieve_scripts,
    sieve_vacation,
    tls_rpt_results,
    uploads,
    web_sessions,
)

# Free-form key/value pairs the store keeps about itself (for example the last UIDVALIDITY handed out).
meta = Table(
    "meta",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

domains = Table(
    "domains",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False, unique=True),  # lower-case A-label form
    Column("imap", Boolean, nullable=False),
    Column("pop3", Boolean, nullable=False),
    Column("submission", Boolean, nullable=False),
    Column("created", BigInteger, nullable=False),
    # RFC 9208 domain quota root (revision 0017): bounds the sum over the domain's accounts; NULL: unlimited.
    Column("quota_bytes", BigInteger, nullable=True),
    Column("quota_messages", BigInteger, nullable=True),
    sqlite_autoincrement=True,
)

accounts = Table(
    "accounts",
    metadata,
    # AUTOINCREMENT: an id is never reused, so a stale session or cache can never meet a new account
    # under an old id.
    Column("id", Integer, primary_key=True),
    Column("domain_id", Integer, ForeignKey("domains.id", ondelete="RESTRICT"), nullable=False, index=True),
    Column("address", Text, nullable=False),  # local part as given, domain lower-case
    Column("address_key", Text, nullable=False, unique=True),  # lower-cased, for lookups
    Column("password_hash", Text, nullable=False),
    Column("scram_salt", LargeBinary, nullable=True),
    Column("scram_iterations", Integer, nullable=True),
    Column("scram_stored_key", LargeBinary, nullable=True),
    Column("scram_server_key", LargeBinary, nullable=True),
    Column("quota_bytes", BigInteger, nullable=True),  # NULL: unlimited
    Column("enabled", Boolean, nullable=False),
    Column("created", BigInteger, nullable=False),
    # (Protocol switches, POP3 policy and the APOP secret: ``account_settings``, revision 0034.)
    # Revision 0017: the MESSAGE limit beside quota_bytes (NULL: unlimited), and the administrator
    # flag (SETQUOTA over IMAP, GETQUOTA of any root; docs/imap.md "QUOTA").
    Column("quota_messages", BigInteger, nullable=True),
    Column("admin", Boolean, nullable=False, server_default="0"),
    # Revision 0023: "user", or "shared" for a domain's hidden owner of its public mailboxes.
    Column("kind", Text, nullable=False, server_default="user"),
    sqlite_autoincrement=True,
)

# Organisational units and the settings store (revision 0034, docs/units.md). Units nest under a
# parent; the root (parent NULL, named ``account_settings.ROOT_UNIT``) is made by the revision. An
# account belongs to the unit of its ``account_units`` row, or to the root without one. Settings are
# (key, text) pairs whose keys, types and defaults ``pochta.store.account_settings.KEYS`` owns.
units = Table(
    "units",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    # RESTRICT: a unit with children is not deleted (the store says so first, in words).
    Column("parent_id", Integer, ForeignKey("units.id", ondelete="RESTRICT"), nullable=True, index=True),
    Column("created", BigInteger, nullable=False),
)

unit_settings = Table(
    "unit_settings",
    metadata,
    Column("unit_id", Integer, ForeignKey("units.id", ondelete="CASCADE"), nullable=False),
    Column("key", Text, nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("unit_id", "key"),
)

account_units = Table(
    "account_units",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    # RESTRICT: a unit with members is not deleted.
    Column("unit_id", Integer, ForeignKey("units.id", ondelete="RESTRICT"), nullable=False, index=True),
)

account_settings = Table(
    "account_settings",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("key", Text, nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("account_id", "key"),
)

app_passwords = Table(
    "app_passwords",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("last_used", BigInteger, nullable=True),
    # Revision 0005: HMAC-SHA-256 of the password under a key derived from the server secret
    # (pochta.auth.passwords.app_password_lookup), so that a login finds the one hash to verify.
    # NULL for app passwords made before it: they no longer log in (docs/authentication.md).
    Column("lookup", LargeBinary, nullable=True),
    UniqueConstraint("account_id", "name"),
    sqlite_autoincrement=True,
)

# One row per (source, target) pair; an alias is the set of rows sharing source_key.
aliases = Table(
    "aliases",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("domain_id", Integer, ForeignKey("domains.id", ondelete="RESTRICT"), nullable=False, index=True),
    Column("source", Text, nullable=False),  # "local@domain" or "@domain" (catch-all)
    Column("source_key", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("target_key", Text, nullable=False),
    UniqueConstraint("source_key", "target_key"),
)

mailboxes = Table(
    "mailboxes",
    metadata,
    # AUTOINCREMENT: feed subscribers and IMAP sessions hold mailbox ids; a deleted mailbox's id must
    # never come back as another mailbox.
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("uidvalidity", BigInteger, nullable=False),
    Column("uidnext", BigInteger, nullable=False),
    Column("highestmodseq", BigInteger, nullable=False),
    Column("special_use", Text, nullable=True),
    Column("subscribed", Boolean, nullable=False),
    Column("messages", Integer, nullable=False),
    Column("unseen", Integer, nullable=False),
    Column("deleted", Integer, nullable=False),
    Column("size", BigInteger, nullable=False),
    # RFC 3501 §2.3.2 \Recent: UIDs from here on are not yet taken by a session (revision 0012).
    Column("first_recent_uid", BigInteger, nullable=False, server_default="1"),
    Column("recent", Integer, nullable=False, server_default="0"),  # messages from first_recent_uid on
    # Every keyword ever stored in the mailbox, space-separated (revision 0022, sqlite_keywords).
    Column("keywords", Text, nullable=False, server_default=""),
    # Revision 0038, JMAP Mailbox/changes (``sql/account_changes``): the account MODSEQ (below) of the
    # mailbox's creation and of the last change of its name, subscription, role or ACL (0: before).
    Column("created_modseq", BigInteger, nullable=False, server_default="0"),
    Column("meta_modseq", BigInteger, nullable=False, server_default="0"),
    # Revision 0042: JMAP's Mailbox sortOrder (RFC 8621 section 2), set by the client; 0 by default.
    Column("sort_order", BigInteger, nullable=False, server_default="0"),
    UniqueConstraint("account_id", "name"),
    sqlite_autoincrement=True,
)

# Revision 0038: one MODSEQ counter per account. Every MODSEQ a mailbox of the account takes is drawn
# from here (``MailOps.bump_mailbox``): the counter is the account's highest MODSEQ, JMAP's state of
# its Emails and Mailboxes. A table of its own, not a column of ``accounts``: an update of
# ``accounts`` moves directory_version and would drop directory caches at every delivery. ``pruned``:
# the highest MODSEQ of the change records pruned (older states cannot be answered). A row is made
# by the revision for each account, and by the first write of an account made later.
account_modseq = Table(
    "account_modseq",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("modseq", BigInteger, nullable=False),
    Column("pruned", BigInteger, nullable=False, server_default="0"),
)

# Revision 0038, JMAP Email/changes: one row per message (messages.id) the account holds or held:
# the account MODSEQ at which it came into the account, at which it last changed (a membership or
# flags), and at which its last membership went (NULL: held). A destroyed row stays as a tombstone
# until pruned with the expunge records (``account_modseq.pruned`` rises). No FK to messages: the
# tombstone outlives the message row.
account_emails = Table(
    "account_emails",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("message_id", Integer, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("changed", BigInteger, nullable=False),
    Column("destroyed", BigInteger, nullable=True),
    # A destroyed row's thread (message_threads' rows go with the message row): Thread/changes.
    Column("thread_id", Integer, nullable=True),
    PrimaryKeyConstraint("account_id", "message_id"),
    Index(None, "account_id", "changed"),
    sqlite_with_rowid=False,
)

# Revision 0038, JMAP Mailbox/changes: the mailboxes deleted, at which account MODSEQ, with the one
# of their creation (created and deleted since a state: neither reported). Pruned with the rest.
mailbox_tombstones = Table(
    "mailbox_tombstones",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("mailbox_id", Integer, nullable=False),
    Column("created_modseq", BigInteger, nullable=False),
    Column("modseq", BigInteger, nullable=False),
    PrimaryKeyConstraint("account_id", "mailbox_id"),
    sqlite_with_rowid=False,
)

# RFC 9051 §6.3.10: a client may subscribe to a name that does not exist (or no longer exists);
# such names live here. Subscriptions of existing mailboxes are mailboxes.subscribed.
subscriptions = Table(
    "subscriptions",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    PrimaryKeyConstraint("account_id", "name"),
)

# RFC 4314: each mailbox's access control list (revision 0018); the owner's rights are implicit.
mailbox_acl = Table(
    "mailbox_acl",
    metadata,
    Column("mailbox_id", Integer, ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False),
    Column("identifier", Text, nullable=False),  # "anyone", an address key, or "-" + either
    Column("rights", Text, nullable=False),
    PrimaryKeyConstraint("mailbox_id", "identifier"),
    Index("ix_mailbox_acl_identifier", "identifier"),
    sqlite_with_rowid=False,
)

# Single-instance store: one row per blob, however many mailboxes hold it. refcount is the number of
# membership rows pointing here; the row (and its search text) goes when it reaches zero, the blob
# file later (garbage collection after a grace period).
messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sha256", Text, nullable=False, unique=True),
    Column("size", BigInteger, nullable=False),
    Column(
        "parsed_json", LargeBinary, nullable=False
    ),  # ParsedMessage.to_json(with_text=False): body text lives in the FTS table only
    Column("parse_version", Integer, nullable=False),
    Column("refcount", Integer, nullable=False),
    sqlite_autoincrement=True,
)

# IMAP wire forms of each message (revision 0009, pochta.mime.imapform.wire_forms), written at
# delivery beside the parse record so that FETCH ENVELOPE/BODY/BODYSTRUCTURE sends stored octets.
# The *_utf8 columns are NULL where a UTF-8 session (RFC 6855) gets the same octets. A message without
# a row here, or with a row of another ``version`` (imapform.WIRE_VERSION), is served from its parse
# record; ``pochta reconstruct`` (re)writes the rows. A row goes with its message.
message_wire = Table(
    "message_wire",
    metadata,
    Column("message_id", Integer, primary_key=True),  # messages.id
    Column("version", Integer, nullable=False),
    Column("envelope", LargeBinary, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("bodystructure", LargeBinary, nullable=False),
    Column("envelope_utf8", LargeBinary, nullable=True),
    Column("body_utf8", LargeBinary, nullable=True),
    Column("bodystructure_utf8", LargeBinary, nullable=True),
)

# Revision 0011: the bytes of small messages (up to ``store.inline_blob_max``), stored in the
# transaction that first refers to them instead of in a blob file (``sqlite/inline``). Keyed like
# the files: messages.sha256 and queue_messages.sha256 refer to a row here or to a file. A row no
# message or queue entry refers to is deleted by blob collection.
inline_blobs = Table(
    "inline_blobs",
    metadata,
    Column("sha256", Text, primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

# Revision 0036: blobs larger than ``store.inline_blob_max`` kept in the database itself, when
# ``store.blobs = "postgresql"`` (``store/pg/blob_chunks``): one row per blob (its size, and when it
# was last written or written again, by the database's clock: collection's grace period), its bytes
# in chunks of ``blob_chunks.CHUNK`` octets numbered from 0. Keyed like the files and
# ``inline_blobs``. Empty on SQLite, whose blobs are files (config refuses the setting there).
large_blobs = Table(
    "large_blobs",
    metadata,
    Column("sha256", Text, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("touched", BigInteger, nullable=False),  # seconds since the epoch
)
large_blob_chunks = Table(
    "large_blob_chunks",
    metadata,
    Column("sha256", Text, primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

membership = Table(
    "membership",
    metadata,
    Column("mailbox_id", Integer, ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False),
    Column("uid", BigInteger, nullable=False),
    Column("message_id", Integer, ForeignKey("messages.id", ondelete="RESTRICT"), nullable=False),
    Column("flags", Text, nullable=False),  # space-separated, system flags in canonical case
    # Derived from flags, kept so that counters and UNSEEN/DELETED searches are plain SQL.
    Column("seen", Boolean, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("modseq", BigInteger, nullable=False),
    Column("internal_date", BigInteger, nullable=False),  # epoch seconds
    Column("internal_tz", Integer, nullable=False),  # UTC offset in minutes, as the date was given
    # Revision 0016, RFC 8514 §3: epoch seconds the row was written (delivery, APPEND, COPY, MOVE);
    # NULL for rows older than the revision (answered with the internal date).
    Column("save_date", BigInteger, nullable=True),
    PrimaryKeyConstraint("mailbox_id", "uid"),
    Index(None, "mailbox_id", "modseq"),
    Index(None, "message_id"),
    # Revision 0013: the \\Deleted messages only, which EXPUNGE picks inside its write.
    Index("ix_membership_deleted", "mailbox_id", "uid", sqlite_where=text("deleted")),
    # Revision 0039: a mailbox's messages by internal date, JMAP Email/query's common query
    # (``sql/email_query``: inMailbox sorted by receivedAt, one page read from the index).
    Index("ix_membership_received", "mailbox_id", "internal_date"),
    # Clustered on (mailbox, uid): a UID range is one contiguous b-tree range.
    sqlite_with_rowid=False,
)

# Revision 0016, RFC 8474 §5.2 THREADID (``sqlite/threads``): the thread of each message of an
# account, given once by the background indexer and never changed. thread_id is the messages.id of
# the message that started the thread (unique within the account). Rows stay when the message goes
# from the account (a later copy of the same message gets its old thread back).
message_threads = Table(
    "message_threads",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("message_id", Integer, nullable=False),  # messages.id (no FK: kept past the message)
    Column("thread_id", Integer, nullable=False),
    PrimaryKeyConstraint("account_id", "message_id"),
    Index(None, "account_id", "thread_id"),
    Index(None, "message_id"),
    sqlite_with_rowid=False,
)

# Each Message-ID an account's threaded messages carry or refer to (own, In-Reply-To, References),
# with the thread of the first message that had it: a later message with any of them joins that thread.
thread_keys = Table(
    "thread_keys",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("msgid", Text, nullable=False),  # "<local@domain>" as written
    Column("thread_id", Integer, nullable=False),
    PrimaryKeyConstraint("account_id", "msgid"),
    sqlite_with_rowid=False,
)

# Per mailbox, the highest UID the indexer has threaded (no row: none yet).
thread_progress = Table(
    "thread_progress",
    metadata,
    Column("mailbox_id", Integer, ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True),
    Column("uid", BigInteger, nullable=False),
)

# What left a mailbox, and when, for QRESYNC VANISHED (RFC 7162 §3.2.10).
expunged = Table(
    "expunged",
    metadata,
    Column("mailbox_id", Integer, ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False),
    Column("uid", BigInteger, nullable=False),
    Column("modseq", BigInteger, nullable=False),
    # Revision 0014: when (epoch seconds): housekeeping prunes old records (store.expunge_record_days).
    Column("at", BigInteger, nullable=False, server_default="0"),
    PrimaryKeyConstraint("mailbox_id", "uid"),
    Index(None, "mailbox_id", "modseq"),
    sqlite_with_rowid=False,
)

# Revision 0014: per mailbox, the highest MODSEQ of the expunge records pruned. Changes since an
# older MODSEQ cannot be listed from the records: QRESYNC then reports every known UID that is not in
# the mailbox as VANISHED (EARLIER) (RFC 7162 §3.2.6 <minmodseq>), a view older than it is read whole.
expunge_horizon = Table(
    "expunge_horizon",
    metadata,
    Column("mailbox_id", Integer, ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True),
    Column("modseq", BigInteger, nullable=False),
)

# Revision 0008: a mailbox's view (uid, message id, modseq, date, size, flags, blob digest of every
# message) packed at one HIGHESTMODSEQ, so that a process opening a big mailbox reads one row and
# the changes since instead of every membership row (sqlite_views). Derived data: losing it costs
# one full read; reconstruct does not need to rebuild it.
mailbox_snapshots = Table(
    "mailbox_snapshots",
    metadata,
    Column("mailbox_id", Integer, ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True),
    Column("uidvalidity", BigInteger, nullable=False),
    Column("highestmodseq", BigInteger, nullable=False),
    Column("messages", Integer, nullable=False),
    Column("layout", Text, nullable=False),  # byte order and version of data (SNAPSHOT_LAYOUT)
    Column("flag_texts", Text, nullable=False),  # the distinct flag sets, one per line
    Column("data", LargeBinary, nullable=False),
)

quota_usage = Table(
    "quota_usage",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("bytes", BigInteger, nullable=False),
    Column("messages", Integer, nullable=False),
)

# A domain's usage: the sum of its accounts' quota_usage (revision 0017), kept by triggers on
# quota_usage and accounts in the same transaction; reconstruct re-derives it.
domain_quota_usage = Table(
    "domain_quota_usage",
    metadata,
    Column("domain_id", Integer, ForeignKey("domains.id", ondelete="CASCADE"), primary_key=True),
    Column("bytes", BigInteger, nullable=False),
    Column("messages", BigInteger, nullable=False),
)

# The outbound queue (revision 0003, docs/smtp.md "Outbound queue"). One row per queued message;
# its bytes are a blob (referenced here, so blob collection keeps it while the row lives). The row
# goes when every recipient is final (delivered or failed). A worker leases a row before it
# delivers: the lease (owner, until) is taken by one UPDATE in a write transaction, so with several
# workers on one store each message is attempted by one of them at a time; the owner renews the
# lease while it works.
queue_messages = Table(
    "queue_messages",
    metadata,
    Column("id", Integer, primary_key=True),
    # The message's public id (revision 0006): the SMTP transaction's "queued as" id, shown by
    # `pochta queue` and the log. 16 hex digits (pochta.store.queue_model.new_queue_id).
    Column("qid", Text, nullable=False, index=True, unique=True),
    Column("sha256", Text, nullable=False, index=True),
    Column("size", BigInteger, nullable=False),
    Column("sender", Text, nullable=False),  # "" for the null sender <>
    Column("envid", Text, nullable=True),  # RFC 3461 ENVID, decoded
    Column("ret", Text, nullable=True),  # RFC 3461 RET: "FULL" | "HDRS"
    Column("body", Text, nullable=True),  # RFC 1652 BODY: "7BIT" | "8BITMIME"
    Column("smtputf8", Boolean, nullable=False),
    Column("origin", Text, nullable=False),  # "submission" | "forward" | "checked-forward" | "dsn" | "report"
    # Revision 0028: received with MAIL FROM ... REQUIRETLS (RFC 8689): delivered only over validated TLS.
    Column("requiretls", Boolean, nullable=False, server_default="0"),
    Column("arrival", BigInteger, nullable=False),  # epoch seconds
    Column("next_attempt", BigInteger, nullable=False),  # min over pending recipients
    Column("lease_owner", Text, nullable=True),
    Column("lease_until", BigInteger, nullable=False),  # 0: not leased
    sqlite_autoincrement=True,
)

queue_recipients = Table(
    "queue_recipients",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "queue_id", Integer, ForeignKey("queue_messages.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("address", Text, nullable=False),
    Column("orcpt_type", Text, nullable=True),  # RFC 3461 ORCPT addr-type
    Column("orcpt", Text, nullable=True),  # ... and address, decoded
    Column(
        "notify", Text, nullable=True
    ),  # RFC 3461 NOTIFY: "NEVER" or "SUCCESS,FAILURE,DELAY"; NULL: not given
    Column("status", Text, nullable=False),  # "pending" | "delivered" | "failed"
    Column("attempts", Integer, nullable=False),
    Column("next_attempt", BigInteger, nullable=False),
    Column("last_attempt", BigInteger, nullable=True),
    Column("last_reply", Text, nullable=True),  # "451 4.3.0 try again later"
    Column("remote_mta", Text, nullable=True),
    Column("delay_notified", Boolean, nullable=False),
)

# Revision 0004: unblocks asked for by `pochta auth unblock`, read by the running server when a login
# is delayed or refused (pochta.auth.authenticator). ``target`` is an account address or an IP
# network in pochta.auth.ratelimit.unblock_target form; ``created_ms`` is epoch milliseconds (finer
# than the usual seconds: the server forgets failures up to that instant, not a second around it).
login_unblocks = Table(
    "login_unblocks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("target", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False, index=True),
    sqlite_autoincrement=True,
)

# Search data (revision 0007, docs/data-layout.md "Search"). Written at delivery, in the delivery's
# transaction: the folded text of each message once (BODY/TEXT compare against it), the folded values
# of the header fields SEARCH keys name (pochta.mime.search.SEARCH_FIELDS), and a queue row telling
# the background indexer to add the text to the full-text index (or, once the message is gone, to
# take it out). Messages stored before revision 0007 are queued with action FILL: the indexer
# re-parses their blob to write all three.
message_search_text = Table(
    "message_search_text",
    metadata,
    Column("message_id", Integer, primary_key=True),  # messages.id (no FK: kept until unindexed)
    Column("headers", Text, nullable=False),  # folded "Name: value" lines (ParsedMessage.header_text)
    Column("body", Text, nullable=False),  # folded body text (ParsedMessage.body_text)
)

message_header_values = Table(
    "message_header_values",
    metadata,
    Column("message_id", Integer, nullable=False),  # messages.id; rows go with the message
    Column("field", Text, nullable=False),  # lower-case field name
    Column("position", Integer, nullable=False),  # index of the field in the header
    Column("value", Text, nullable=False),  # RFC 2047-decoded, folded (pochta.mime.search.fold)
    PrimaryKeyConstraint("message_id", "field", "position"),
    sqlite_with_rowid=False,
)

# One row per message whose index entry is not what it should be; the indexer claims rows inside its
# write transaction and deletes them there, with the index change (so two processes never index one
# message twice, and a crash leaves either both or neither).
INDEX_ADD = 1  # text in message_search_text, not yet in the index
INDEX_DROP = 2  # message gone: take its text out of the index, then drop the text
INDEX_FILL = 3  # stored before revision 0007: no search text or header values yet (re-parse the blob)
search_queue = Table(
    "search_queue",
    metadata,
    Column("message_id", Integer, primary_key=True),
    Column("action", Integer, nullable=False, index=True),
)

# Revision 0015: what SORT and THREAD compare (pochta.mime.sortkeys.SortKeys), one row per message,
# derived from its parse record off the delivery path: the background indexer writes the rows of the
# messages it indexes, and a SORT that met messages without a row (stored before revision 0015, or of
# another ``version``) derives theirs on demand and keeps them. A row goes with its message.
message_sort_keys = Table(
    "message_sort_keys",
    metadata,
    Column("message_id", Integer, primary_key=True),  # messages.id
    Column("version", Integer, nullable=False),  # pochta.mime.sortkeys.SORT_KEYS_VERSION
    Column("subject", Text, nullable=False),  # casemapped base subject (RFC 5256 §2.1)
    Column("reply", Boolean, nullable=False),
    Column("from_addr", Text, nullable=False),
    Column("to_addr", Text, nullable=False),
    Column("cc_addr", Text, nullable=False),
    Column("display_from", Text, nullable=False),
    Column("display_to", Text, nullable=False),
    Column("sent", BigInteger, nullable=True),  # Date: in UTC seconds; NULL: none usable
    Column("msgid", Text, nullable=True),  # normalised Message-ID
    Column("refs", Text, nullable=False),  # normalised references, space-separated
)

# Revision 0010: one row whose ``version`` triggers (DDL in the migration) add 1 to with every change
# to domains, aliases, the delivery fields of accounts and mailbox names: a process keeps recipient
# resolutions while it stays the same (pochta.delivery.resolve).
directory_version = Table(
    "directory_version",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", BigInteger, nullable=False),
)

# The FTS5 table is SQLite-specific and not expressible as a Table; its DDL lives in the migration.
# rowid = messages.id. Contentless (the text is message_search_text's) with detail=none: it answers
# "which messages hold every trigram of the string", a superset that the search then checks against
# the folded text (docs/search-index.md has the measurements behind this choice).
FTS_TABLE = "message_index"
FTS_DDL = (
    "CREATE VIRTUAL TABLE message_index USING fts5(body, headers, tokenize = 'trigram', "
    "content = '', columnsize = 0, detail = none)"
)


def is_fts_table(name: str | None) -> bool:
    """True for the FTS table and its shadow tables (which the metadata does not describe)."""
    return name is not None and (name == FTS_TABLE or name.startswith(FTS_TABLE + "_"))


# Every table (core and features) and the MetaData, for ``from pochta.store.schema import ...``.
__all__ = [
    "FTS_DDL",
    "FTS_TABLE",
    "INDEX_ADD",
    "INDEX_DROP",
    "INDEX_FILL",
    "account_emails",
    "account_modseq",
    "account_settings",
    "account_units",
    "accounts",
    "aliases",
    "app_passwords",
    "directory_version",
    "dkim_keys",
    "dmarc_results",
    "domain_quota_usage",
    "domains",
    "expunge_horizon",
    "expunged",
    "fetch_accounts",
    "fetched_messages",
    "greylist",
    "import_journal",
    "inline_blobs",
    "is_fts_table",
    "jmap_record_states",
    "jmap_records",
    "large_blob_chunks",
    "large_blobs",
    "login_unblocks",
    "mail_rules",
    "mailbox_acl",
    "mailbox_snapshots",
    "mailbox_tombstones",
    "mailboxes",
    "membership",
    "message_header_values",
    "message_search_text",
    "message_sort_keys",
    "message_threads",
    "message_wire",
    "messages",
    "meta",
    "metadata",
    "metadata_entries",
    "migrate_folders",
    "migrate_messages",
    "mta_sts_policies",
    "queue_messages",
    "queue_recipients",
    "quota_usage",
    "search_queue",
    "send_counts",
    "send_limits",
    "sieve_duplicates",
    "sieve_errors",
    "sieve_scripts",
    "sieve_vacation",
    "subscriptions",
    "thread_keys",
    "thread_progress",
    "tls_rpt_results",
    "unit_settings",
    "units",
    "uploads",
    "web_sessions",
]
