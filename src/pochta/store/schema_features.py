"""The store's tables of features beside mail itself (METADATA entries, Sieve scripts and state,
mail rules, DKIM keys, DMARC results, greylisting, MTA-STS and TLS-RPT, sending limits, fetch,
import and migration records), on the same ``MetaData`` as the core tables. ``pochta.store.schema``
re-exports every one: callers import tables from there."""

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

# Revision 0037: the webmail's signed-in sessions (``sql/web_sessions``, ``pochta.web.sessions``).
# The cookie carries a random token; only its SHA-256 is kept, so a copy of the database signs no
# one in. ``csrf``: the token the webmail's pages send back with every change (docs/webmail.md).
# Times are epoch seconds; the housekeeper deletes expired rows, and an account's go with it.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("token_hash", Text, primary_key=True),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("csrf", Text, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("seen", BigInteger, nullable=False),
    Column("expires", BigInteger, nullable=False),
    Column("remote_ip", Text, nullable=False),
    Column("user_agent", Text, nullable=False),
    Index(None, "account_id"),
    Index(None, "expires"),
)

# Revision 0040: JMAP uploads (RFC 8620 section 6.1; ``sql/uploads``, ``pochta.web.jmap_upload``).
# One row per upload: the account that uploaded the blob may use and download it until the row
# expires (``jmap.upload_lifetime``; the housekeeper prunes). The blob itself is the store's, named
# by its SHA-256 (hex); a row keeps it from blob collection (``sql/maintenance.referenced_blobs``).
uploads = Table(
    "uploads",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("sha256", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created", BigInteger, nullable=False),
    Index(None, "account_id", "sha256"),
    Index(None, "sha256"),
    Index(None, "created"),
)

# Revision 0041: JMAP objects kept as records (``sql/jmap_records``): Identity and EmailSubmission
# (RFC 8621 sections 6 and 7). One row per object with its JSON document; ``type`` names the JMAP
# data type; ``ref`` a key to find it by (a submission's outbound queue id); ``created``/``changed``
# the type's state when it was created and last changed; a destroyed object stays as a tombstone
# (``destroyed``) so that ``*/changes`` can tell it. The per-account state of each type is in
# ``jmap_record_states``. Both go with their account.
jmap_records = Table(
    "jmap_records",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("type", Text, nullable=False),
    Column("data", Text, nullable=False),
    Column("ref", Text, nullable=True),
    Column("created", BigInteger, nullable=False),
    Column("changed", BigInteger, nullable=False),
    Column("destroyed", Boolean, nullable=False),
    Index(None, "account_id", "type"),
    Index(None, "type", "ref"),
)

jmap_record_states = Table(
    "jmap_record_states",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("type", Text, nullable=False),
    Column("state", BigInteger, nullable=False),
    PrimaryKeyConstraint("account_id", "type"),
)
