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
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    text,
)

# Deterministic constraint names, so that later migrations can refer to them (and batch mode on
# SQLite can recreate tables).
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
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
    UniqueConstraint("account_id", "name"),
    sqlite_autoincrement=True,
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


# Revision 0019, RFC 5464 METADATA (``sql/metadata``): one row per entry with a value. mailbox_id
# NULL: an entry of the server; account_id: the user a /private entry belongs to, NULL for a /shared
# one. Names are lower-cased (RFC 5464 §3.2). (mailbox_id, account_id, name) is unique; the NULLs
# keep SQLite from enforcing that, so the one writer (``sqlite_metadata.set_entries``) replaces rows
# by delete-then-insert in its transaction. A mailbox's rows go with it (CASCADE) and stay across a
# RENAME (they hang on its id); an account's private rows go with the account.
metadata_entries = Table(
    "metadata_entries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("mailbox_id", Integer, ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=True),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True),
    Column("name", Text, nullable=False),
    Column("value", LargeBinary, nullable=False),
    Index(None, "mailbox_id", "account_id", "name"),
    Index(None, "account_id"),
)

# Revision 0020, Sieve scripts (RFC 5228, managed as RFC 5804 describes; ``sql/sieve``): one row
# per script of an account, its source as the user stored it (UTF-8 text, RFC 5804 §1.8), ``size``
# its length in octets (the unit of ManageSieve's quotas), ``updated`` epoch seconds. At most one
# script of an account is active (RFC 5804 §2.8): the partial unique index enforces it.
sieve_scripts = Table(
    "sieve_scripts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("updated", BigInteger, nullable=False),
    UniqueConstraint("account_id", "name"),
    Index("ix_sieve_scripts_active", "account_id", unique=True, sqlite_where=text("active")),
)

# Revision 0024, Gmail-style settings (``sql/mail_rules``, owned by ``pochta.mail.mail_rules``):
# one row per rule of an account, ``kind`` "filter", "vacation" or "forward" (at most one of the
# last two per account, kept so by the one writer), filters run in ``position`` order; ``data`` is
# the rule as JSON (the pydantic models of ``pochta.mail.mail_rules`` read and write it). The Sieve
# script generated from them is a row of ``sieve_scripts``, written in the same transaction.
mail_rules = Table(
    "mail_rules",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("kind", Text, nullable=False),
    Column("position", Integer, nullable=False),
    Column("data", Text, nullable=False),
    Index(None, "account_id", "position"),
)

# DKIM signing keys (RFC 6376, RFC 8463), per domain: see pochta.store.dkim_model. Deleting the
# domain deletes its keys; at most one key per selector.
dkim_keys = Table(
    "dkim_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("domain_id", Integer, ForeignKey("domains.id", ondelete="CASCADE"), nullable=False),
    Column("selector", Text, nullable=False),
    Column("algorithm", Text, nullable=False),
    Column("private_key", Text, nullable=False),
    Column("public_key", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("activated", BigInteger),
    UniqueConstraint("domain_id", "selector"),
)

# DMARC results for the aggregate reports (RFC 7489 section 7.2), revision 0027: one row per
# evaluated message of a domain that publishes rua=; pochta.store.dmarc_model says what each holds.
# The report job deletes the rows it reported; ``received`` orders and bounds its reads.
dmarc_results = Table(
    "dmarc_results",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("received", BigInteger, nullable=False),
    Column("policy_domain", Text, nullable=False),
    Column("header_from", Text, nullable=False),
    Column("source_ip", Text, nullable=False),
    Column("envelope_from", Text, nullable=False),
    Column("envelope_to", Text, nullable=False),
    Column("published", Text, nullable=False),
    Column("rua", Text, nullable=False),
    Column("disposition", Text, nullable=False),
    Column("dkim_aligned", Boolean, nullable=False),
    Column("spf_aligned", Boolean, nullable=False),
    Column("override", Text, nullable=False),
    Column("override_comment", Text, nullable=False),
    Column("auth", Text, nullable=False),
    Index(None, "received"),
)

# Greylisting triplets (docs/antispam.md "Greylisting"), revision 0029: pochta.store.greylist_model
# says what each column holds. The housekeeper prunes rows by ``first_seen`` (still waiting) and
# ``last_seen`` (passed); ``sender_domain`` finds the domains that passed before.
greylist = Table(
    "greylist",
    metadata,
    Column("client", Text, nullable=False),
    Column("sender", Text, nullable=False),
    Column("recipient", Text, nullable=False),
    Column("sender_domain", Text, nullable=False),
    Column("first_seen", BigInteger, nullable=False),
    Column("last_seen", BigInteger, nullable=False),
    Column("passed", BigInteger, nullable=False),
    PrimaryKeyConstraint("client", "sender", "recipient"),
    Index(None, "sender_domain"),
    Index(None, "last_seen"),
)

# Sieve at delivery (docs/sieve.md "At delivery"). RFC 5230 §4.2: who got a vacation reply, by a
# key over the tracking handle and the recipient, until ``expires``; RFC 7352 §3: the duplicate
# tracking list; the errors of scripts that failed (the message then went to INBOX), for
# ``pochta sieve errors USER``. Rows past ``expires`` (and errors past their age) are pruned by the
# housekeeper.
sieve_vacation = Table(
    "sieve_vacation",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("key", Text, nullable=False),
    Column("expires", BigInteger, nullable=False),
    PrimaryKeyConstraint("account_id", "key"),
    Index(None, "expires"),
)

sieve_duplicates = Table(
    "sieve_duplicates",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("key", Text, nullable=False),
    Column("expires", BigInteger, nullable=False),
    PrimaryKeyConstraint("account_id", "key"),
    Index(None, "expires"),
)

sieve_errors = Table(
    "sieve_errors",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("script", Text, nullable=False),
    Column("error", Text, nullable=False),
    Index(None, "account_id", "id"),
    Index(None, "at"),
)

# Revision 0028, the sending side of transport security (docs/deliverability.md). The MTA-STS policy
# last fetched per recipient domain (RFC 8461 section 5.1): ``policy_id`` is the TXT record's id it
# was fetched under, ``policy`` the file as parsed (pochta.queue.mta_sts.Policy.text), times in
# epoch seconds; ``expires`` is fetched + max_age.
mta_sts_policies = Table(
    "mta_sts_policies",
    metadata,
    Column("domain", Text, primary_key=True),
    Column("policy_id", Text, nullable=False),
    Column("policy", Text, nullable=False),
    Column("fetched", BigInteger, nullable=False),
    Column("expires", BigInteger, nullable=False),
)

# TLS-RPT (RFC 8460 section 4): sessions counted per UTC day ("2026-12-07") and policy domain, one
# row per policy, MX host, result type ("" for success) and receiving address; ``policy`` is the
# policy-string (lines joined by LF), ``detail`` the last additional-information seen. The daily
# report job reads a finished day and deletes its rows.
tls_rpt_results = Table(
    "tls_rpt_results",
    metadata,
    Column("day", Text, nullable=False),
    Column("domain", Text, nullable=False),
    Column("policy_type", Text, nullable=False),  # "sts" | "tlsa" | "no-policy-found"
    Column("policy", Text, nullable=False),
    Column("mx_host", Text, nullable=False),
    Column("result_type", Text, nullable=False),
    Column("receiving_ip", Text, nullable=False),
    Column("sending_ip", Text, nullable=False),  # our address in the session ("" when none was made)
    Column("detail", Text, nullable=False),
    Column("count", Integer, nullable=False),
    PrimaryKeyConstraint(
        "day", "domain", "policy_type", "mx_host", "result_type", "receiving_ip", "sending_ip"
    ),
)

# Sending limits of authenticated submission (docs/antispam.md "Sending limits"), revision 0030:
# pochta.store.send_limit_model says what the columns hold. ``send_limits``: the overrides of an
# account or domain (NULL: the default); ``send_counts``: what each sent in the current clock hour and
# UTC day (older windows are deleted when a new one starts).
send_limits = Table(
    "send_limits",
    metadata,
    Column("scope", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("messages_per_hour", Integer, nullable=True),
    Column("messages_per_day", Integer, nullable=True),
    Column("recipients_per_hour", Integer, nullable=True),
    Column("recipients_per_day", Integer, nullable=True),
    PrimaryKeyConstraint("scope", "name"),
)

send_counts = Table(
    "send_counts",
    metadata,
    Column("scope", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("period", Text, nullable=False),
    Column("start", BigInteger, nullable=False),
    Column("messages", Integer, nullable=False),
    Column("recipients", Integer, nullable=False),
    Column("notified", Boolean, nullable=False),
    PrimaryKeyConstraint("scope", "name", "period", "start"),
)

# The fetcher of external accounts (docs/fetch.md), revision 0031: pochta.store.fetch_model says what
# the columns hold. ``fetch_accounts``: one row per external account of a local account, with the
# state of its runs; ``fetched_messages``: the messages of each already in the store (written in the
# delivery's transaction).
fetch_accounts = Table(
    "fetch_accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("protocol", Text, nullable=False),
    Column("host", Text, nullable=False),
    Column("port", Integer, nullable=False),
    Column("tls", Text, nullable=False),
    Column("login", Text, nullable=False),
    Column("secret", Text, nullable=False),
    Column("keep", Boolean, nullable=False),
    Column("folder", Text, nullable=True),
    Column("options", Text, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("last_run", BigInteger, nullable=True),
    Column("last_result", Text, nullable=False),
    Column("last_error", Text, nullable=False),
    Column("last_fetched", Integer, nullable=False),
    Column("last_left", Integer, nullable=False),
    Column("total_fetched", Integer, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("next_run", BigInteger, nullable=False, index=True),
    Column("notified", Text, nullable=False),
    # Ids are never reused: a run of a deleted account finishing late cannot record into a new one.
    sqlite_autoincrement=True,
)

fetched_messages = Table(
    "fetched_messages",
    metadata,
    Column("fetch_id", Integer, ForeignKey("fetch_accounts.id", ondelete="CASCADE"), nullable=False),
    Column("key", Text, nullable=False),
    Column("fetched_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("fetch_id", "key"),
)


# What `pochta import` placed (docs/import-export.md "Resuming"), revision 0033: one row per message
# of a source, written in the same transaction as the message's placement, so that a rerun after a
# crash skips exactly what was placed. ``source``: the resolved path imported and the target folder;
# ``item``: the message's key within it (pochta.fetch.importer_source).
import_journal = Table(
    "import_journal",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("source", Text, nullable=False),
    Column("item", Text, nullable=False),
    Column("mailbox_id", Integer, nullable=False),
    Column("uid", Integer, nullable=False),
    PrimaryKeyConstraint("account_id", "source", "item"),
)


# What `pochta migrate` copied from another IMAP server (docs/migrate.md), revision 0032.
# ``migrate_folders``: one row per account, source ("imap://login@host:port") and remote folder:
# its UIDVALIDITY, the local mailbox it fills, and the HIGHESTMODSEQ up to which its flags were
# read (NULL: none yet, or no CONDSTORE). ``migrate_messages``: one row per message copied, written
# by the transaction that places it (pochta.store.sql.migrate_state): rows under an older
# UIDVALIDITY are matched again by SHA-256 when a folder starts over.
migrate_folders = Table(
    "migrate_folders",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("source", Text, nullable=False),
    Column("remote_name", Text, nullable=False),
    Column("uidvalidity", BigInteger, nullable=False),
    Column("mailbox_id", Integer, ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("highestmodseq", BigInteger, nullable=True),
    UniqueConstraint("account_id", "source", "remote_name"),
)

migrate_messages = Table(
    "migrate_messages",
    metadata,
    Column("folder_id", Integer, ForeignKey("migrate_folders.id", ondelete="CASCADE"), nullable=False),
    Column("uidvalidity", BigInteger, nullable=False),
    Column("remote_uid", BigInteger, nullable=False),
    Column("local_uid", BigInteger, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("flags", Text, nullable=False),  # the remote flags last seen, space-separated
    PrimaryKeyConstraint("folder_id", "uidvalidity", "remote_uid"),
    Index(None, "folder_id", "sha256"),
)
