"""Settings: one TOML file (``DATA/pochta.toml``) validated into typed, frozen models.

Every default and every limit of the server is defined here, once. Other modules receive the
section they need (``settings.limits``, ``settings.mime`` ...) and never hard-code a number.
``docs/configuration.md`` is generated from these models (``pochta config-reference``), so a
field's description is its documentation.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from pochta.config_antispam import AntispamSettings
from pochta.config_clamav import ClamavSettings
from pochta.config_dkim import DkimSettings
from pochta.config_fetch import FetchSettings
from pochta.config_forward import ArcSettings, SrsSettings
from pochta.config_gate import ConnectionCheckSettings, DnsblSettings, GreylistSettings
from pochta.config_http import HttpSettings, MtaStsSettings
from pochta.config_imap import ImapSettings
from pochta.config_jmap import JmapSettings
from pochta.config_listen import (
    LISTENER_KINDS,
    NOT_YET_AVAILABLE,
    UNIX_SOCKET_LISTENERS,
    ListenAddress,
    ListenerKind,
    TlsMode,
    parse_listen_address,
)
from pochta.config_mailauth import MailAuthSettings
from pochta.config_managesieve import ManageSieveSettings
from pochta.config_milter import MilterSettings
from pochta.config_section import Section, SubkeyError
from pochta.config_sieve import SieveSettings
from pochta.config_smtp import LmtpSettings, QueueSettings, SmtpSettings
from pochta.config_store_url import StoreUrl, parse_store_url
from pochta.config_tls import TlsSettings
from pochta.config_tls_rpt import TlsRptSettings
from pochta.config_webmail import WebmailSettings
from pochta.netaddr import check_networks, in_networks

__all__ = [
    "CONFIG_FILE_NAME",
    "DEFAULT_DATA_DIR",
    "LISTENER_KINDS",
    "NOT_YET_AVAILABLE",
    "UNIX_SOCKET_LISTENERS",
    "AntispamSettings",
    "ArcSettings",
    "ClamavSettings",
    "ConfigError",
    "ConnectionCheckSettings",
    "DkimSettings",
    "DnsblSettings",
    "FetchSettings",
    "GreylistSettings",
    "HttpSettings",
    "ImapSettings",
    "JmapSettings",
    "LimitSettings",
    "ListenAddress",
    "ListenerKind",
    "LmtpSettings",
    "LogSettings",
    "LoginSettings",
    "MailAuthSettings",
    "ManageSieveSettings",
    "MetricsSettings",
    "MilterSettings",
    "MimeSettings",
    "MtaStsSettings",
    "Pop3Settings",
    "QueueSettings",
    "SearchSettings",
    "Section",
    "ServerSettings",
    "Settings",
    "SieveSettings",
    "SmtpSettings",
    "SrsSettings",
    "StoreSettings",
    "SubkeyError",
    "TlsMode",
    "TlsRptSettings",
    "TlsSettings",
    "WebmailSettings",
    "format_validation_error",
    "load_settings",
    "parse_listen_address",
    "resolve_path",
]

CONFIG_FILE_NAME = "pochta.toml"
DEFAULT_DATA_DIR = "pochta-data"


def _default_listeners() -> dict[str, str]:
    return {name: kind.default for name, kind in LISTENER_KINDS.items()}


class ServerSettings(Section):
    max_connections: int = Field(
        1000,
        ge=1,
        description="Open connections per listener in each worker process (the server's limit is "
        "this times server.workers); beyond it new ones get the protocol's 'too busy' greeting "
        "(421 / * BYE / -ERR) and are closed.",
    )
    max_connections_per_ip: int = Field(
        50,
        ge=1,
        description="Open connections per client IP address (IPv6: per /64) per listener, in each "
        "worker process.",
    )
    idle_timeout_unauthenticated: float = Field(
        60.0, gt=0, description="Seconds of silence before an unauthenticated session is closed."
    )
    login_timeout: float = Field(
        180.0,
        gt=0,
        description="Seconds from connect to login (IMAP, POP3, submission), however active the client "
        "is; then the protocol's goodbye. SMTP MX and LMTP sessions never log in and are exempt.",
    )
    line_timeout: float = Field(
        60.0,
        gt=0,
        description="Seconds one command line may take from its first octet to its end, however slowly "
        "it trickles in (every protocol; literal and message data are no lines).",
    )
    shutdown_grace: float = Field(
        10.0, ge=0, description="Seconds running commands get to finish on SIGTERM before sessions close."
    )
    min_free_disk: int = Field(
        100 * 1024 * 1024, ge=0, description="Bytes of free disk below which new mail is refused (4xx)."
    )
    workers: int = Field(
        0,
        ge=0,
        le=256,
        description="Worker processes serving every listener (0: one per CPU core; 1: one process and "
        "no supervisor). `pochta serve --workers N` overrides it.",
    )
    accept_balance_wait: float = Field(
        0.005,
        ge=0,
        le=1,
        description="With several workers: seconds a worker that has more open sessions than another "
        "leaves a waiting connection to the others before it accepts it itself (a burst of connections "
        "is shared among the workers; 0: whoever is awake first accepts).",
    )
    worker_start_timeout: float = Field(
        60.0, gt=0, description="Seconds a worker process may take to start serving before the start fails."
    )
    worker_restart_delay_max: float = Field(
        30.0,
        gt=0,
        description="Longest wait before a worker that keeps dying is started again (the wait doubles "
        "from 0.5 s with each death soon after its start).",
    )
    housekeeper_retry: float = Field(
        2.0,
        gt=0,
        description="Seconds between a worker's attempts to take over the one-per-server jobs (queue "
        "worker, blob collection) when the process running them is gone.",
    )
    inline_message_max: int = Field(
        32 * 1024,
        ge=0,
        le=1024 * 1024,
        description="Messages up to this many octets are handled on the event loop thread, where a trip "
        "to a worker thread costs more than the work: received over SMTP/LMTP into memory instead of "
        "a spool file, parsed, and their parse results serialised for the store (their blob is still "
        "written and fsync'ed by a worker thread before the reply). Larger messages are spooled to "
        "disk and parsed by worker threads. 0: always worker threads.",
    )
    malloc_mmap_threshold: int = Field(
        4 * 1024 * 1024,
        ge=0,
        le=32 * 1024 * 1024,
        description="Bytes from which the C heap (glibc) maps each buffer and unmaps it when freed, so "
        "that the 19 MiB of every password check does not stay resident in a thread's arena after a "
        "burst of logins; 0 keeps malloc's adaptive default.",
    )


class LimitSettings(Section):
    max_message_size: int = Field(
        50 * 1024 * 1024, ge=1024, description="Largest message accepted (SMTP SIZE, IMAP APPENDLIMIT)."
    )
    max_line_length: int = Field(
        64 * 1024, ge=1000, description="Longest command line outside literals, in octets."
    )
    max_recipients: int = Field(100, ge=1, description="Recipients per message (SMTP RCPT TO).")
    max_errors: int = Field(
        10, ge=1, description="Protocol errors a session may make before the server closes it."
    )
    # ge=100: JMAP advertises it as maxSizeMailboxName, which RFC 8621 section 1.3.1 wants >= 100.
    max_mailbox_name_bytes: int = Field(
        1024, ge=100, description="Longest mailbox name (UTF-8 octets, all levels) a client may create."
    )
    max_mailbox_depth: int = Field(32, ge=1, description="Most hierarchy levels in a mailbox name.")
    max_keywords_per_mailbox: int = Field(
        256,
        ge=0,
        description="Distinct keywords (IMAP user flags) one mailbox may hold: every keyword ever "
        "stored in it counts, also one no message carries any more (FLAGS lists them all). Past it, "
        "STORE and APPEND get NO [LIMIT]; delivery, COPY and MOVE store the message without the "
        "keywords that do not fit.",
    )
    max_keyword_length: int = Field(
        255, ge=1, le=1000, description="Longest keyword (IMAP user flag), in octets."
    )
    # Sending limits of authenticated submission (docs/antispam.md "Sending limits"): the defaults of
    # every account; `pochta user set --send-limit` and `pochta domain set --send-limit` override them.
    send_messages_per_hour: int = Field(
        0, ge=0, description="Messages an account may submit per clock hour; 0: unlimited."
    )
    send_messages_per_day: int = Field(
        2000, ge=0, description="Messages an account may submit per UTC day; 0: unlimited."
    )
    send_recipients_per_hour: int = Field(
        0, ge=0, description="Recipients an account may submit to per clock hour; 0: unlimited."
    )
    send_recipients_per_day: int = Field(
        10000, ge=0, description="Recipients an account may submit to per UTC day; 0: unlimited."
    )


class MimeSettings(Section):
    max_depth: int = Field(
        100,
        ge=1,
        le=10000,
        description="Most levels of MIME nesting (the message is level 1), as Dovecot; a multipart or "
        "message at the last level is one leaf over its whole body (a multipart shows as "
        "application/octet-stream).",
    )
    max_parts: int = Field(
        10000,
        ge=1,
        description="Most MIME parts in one message, the message itself included, as Dovecot; the last "
        "part allowed runs to the end of its multipart, the rest kept byte for byte as one leaf.",
    )
    max_headers: int = Field(
        5000, ge=1, description="Most header fields parsed per part; further fields are ignored."
    )
    max_text_bytes: int = Field(
        4 * 1024 * 1024, ge=0, description="Most UTF-8 text kept per message for full-text search."
    )
    preview_chars: int = Field(256, ge=0, le=1024, description="Length of the cached preview text.")


class LoginSettings(Section):
    plaintext_on_insecure: Literal["loopback", "never", "always"] = Field(
        "loopback",
        description="Where plaintext password mechanisms (LOGIN, USER/PASS, AUTH PLAIN) are allowed "
        "without TLS: only from loopback addresses (default), never, or always (unsafe).",
    )
    failures_before_delay: int = Field(
        3,
        ge=0,
        description="Failed logins from an address (IPv6: its /64) before its attempts are delayed; an "
        "account's failures from every address delay only addresses that failed for it themselves.",
    )
    delay_base: float = Field(0.5, ge=0, description="First delay in seconds; it doubles per failure.")
    delay_max: float = Field(15.0, ge=0, description="Longest delay in seconds.")
    lockout_after: int = Field(
        20,
        ge=1,
        description="Failures from an address within the window after which it is locked out; accounts "
        "never are.",
    )
    lockout_seconds: float = Field(
        900.0, gt=0, description="How long a lockout lasts (`pochta auth unblock` ends it early)."
    )
    failure_window: float = Field(3600.0, gt=0, description="Seconds after which a failure is forgotten.")
    verified_cache_seconds: float = Field(
        3600.0,
        ge=0,
        description="Seconds a successful password check is remembered (as a keyed digest of the stored "
        "hash and the password, in memory), so that the same password logs in again without another "
        "argon2 verification; 0 turns it off. A changed password or revoked app password never matches.",
    )
    verified_cache_size: int = Field(
        10000, ge=1, description="Most successful password checks remembered per worker process."
    )


BLOBS_IN_POSTGRESQL = "postgresql"  # store.blobs: blobs as chunked rows of the database


class StoreSettings(Section):
    url: str = Field(
        "",
        description='Where the metadata lives: "" is SQLite in the data directory (DATA/pochta.db), as is '
        '"sqlite:///pochta.db"; "postgresql://USER:PASSWORD@HOST/DATABASE" (or "postgresql+psycopg://...", '
        '"postgresql:///DATABASE?host=/run/postgresql" for a UNIX socket) is PostgreSQL, which needs '
        "pip install 'pochta[postgresql]'; its blob files stay in the data directory (docs/scaling.md, "
        '"Running on PostgreSQL").',
    )
    blobs: str = Field(
        "",
        description='Where message blobs larger than inline_blob_max live: "" is the data directory\'s '
        "blobs/ (DATA/blobs); an absolute path is a directory every node mounts (several nodes on one "
        'PostgreSQL database must share their blobs); "postgresql" keeps them in the PostgreSQL database '
        'itself, in chunks. A path or "postgresql" needs a postgresql url. Smaller blobs are always '
        "inside the database (inline_blob_max). docs/scaling.md, 'Blob layouts'.",
    )
    group_commit_max: int = Field(
        256, ge=1, description="Most write transactions folded into one SQLite commit."
    )
    blob_grace_seconds: float = Field(
        86400.0, ge=0, description="Age before an unreferenced blob may be collected."
    )
    busy_timeout: float = Field(
        30.0, gt=0, description="Seconds a store connection waits for a lock held by another process."
    )
    expunge_record_days: float = Field(
        30.0,
        ge=0,
        description="Days the record of an expunged message (its UID and MODSEQ, for IMAP QRESYNC's "
        "VANISHED, RFC 7162) is kept; housekeeping prunes older ones at every blob sweep. A client "
        "resynchronising from before the pruned records is told every UID it knows that is gone. "
        "0 keeps them forever.",
    )
    blob_collect_interval: float = Field(
        3600.0, gt=0, description="Seconds between sweeps that delete unreferenced blobs past their grace."
    )
    blob_threads: int = Field(
        16,
        ge=1,
        le=256,
        description="Threads writing and fsync'ing message files. Concurrent fsyncs share the "
        "filesystem's journal commits, so more deliveries in flight cost fewer disk flushes each.",
    )
    inline_blob_max: int = Field(
        32 * 1024,
        ge=0,
        le=1024 * 1024,
        description="Messages up to this many octets that arrive in memory (server.inline_message_max), "
        "by IMAP APPEND or as queue notices are stored inside the database, written in the transaction "
        "that delivers them: the commit's one fsync covers their bytes and metadata, with no message "
        "file, rename or directory fsync of their own. Larger ones are files under blobs/. A change "
        "applies to new messages; stored ones stay readable where they are. 0: always files.",
    )
    blob_prefetch_bytes: int = Field(
        1024 * 1024,
        ge=64 * 1024,
        description="Most octets of small messages a FETCH of body sections or a run of POP3 RETR/TOP "
        "reads ahead in one job on a reader thread (messages in the database and small files alike), "
        "so that the session's thread never reads the database itself.",
    )
    view_cache_mb: int = Field(
        64,
        ge=0,
        description="Megabytes of mailbox views each process keeps for the next SELECT of the same mailbox "
        "(checked against the database, or proven unchanged by the change stamps, on every use; 0 keeps "
        "only views that sessions hold).",
    )
    read_mmap_mb: int = Field(
        256,
        ge=0,
        description="Megabytes of the database file each reader connection maps into memory (SQLite "
        "mmap_size): reads of cached pages cost no system call, which makes loading a stored mailbox "
        "snapshot several times faster. 0 reads every page with read().",
    )
    view_snapshot_min_messages: int = Field(
        1000,
        ge=1,
        description="Mailboxes of at least this many messages get a stored snapshot of their view, so that "
        "a process opening one reads the changes since instead of every message.",
    )
    wire_cache_mb: int = Field(
        32,
        ge=0,
        description="Megabytes of kept IMAP wire forms (ENVELOPE, BODY, BODYSTRUCTURE as stored at delivery) "
        "each process holds by message id, counted with their keys: a FETCH whose forms are all held is "
        "answered without a database read; the least recently used go first. A message's forms never "
        "change (pochta reconstruct, which may rewrite them, empties every process's cache). 0: every "
        "FETCH of them reads the database.",
    )
    wire_cache_share: int = Field(
        1000,
        ge=0,
        le=4000,
        description="With several workers, a FETCH in a big mailbox (view_snapshot_min_messages) that "
        "read at most this many messages' kept forms from the database (not held in wire_cache_mb) "
        "tells the other workers their ids, and each reads them into its own cache in the background: "
        "the next connection of the client, on whichever worker, is answered without a read. Larger "
        "reads are not shared (each worker would read them all). 0: nothing shared.",
    )
    sort_cache_mb: int = Field(
        32,
        ge=0,
        description="Megabytes of kept sort orders each process holds: a big mailbox's UIDs already ordered "
        "by one SORT key (about 16 octets per message and key, plus its distinct strings), brought forward "
        "from the mailbox's view on the next SORT (new messages inserted, expunged ones dropped), so that "
        "a SORT by one key is a filter of the kept order; the least recently used go first. 0: every SORT "
        "is ordered by SQLite.",
    )
    sort_cache_min_messages: int = Field(
        1000,
        ge=1,
        description="Mailboxes of at least this many messages get kept sort orders (sort_cache_mb); smaller "
        "ones are ordered by SQLite on each SORT.",
    )
    view_snapshot_interval: float = Field(
        10.0,
        ge=0,
        description="Seconds between the housekeeper's rounds of bringing stored view snapshots up to date "
        "(those missing or view_snapshot_behind changes behind); 0 turns the rounds off (a snapshot is "
        "then written only when some process reads a big mailbox in full or far behind).",
    )
    view_snapshot_behind: int = Field(
        100,
        ge=1,
        description="A stored snapshot this many changes (messages changed or expunged) behind its mailbox "
        "is written again by "
        "the housekeeper's next round, so that a process opening the mailbox applies a short delta.",
    )
    view_snapshot_warm: bool = Field(
        True,
        description="After the housekeeper stores a new snapshot of a big mailbox, the other worker "
        "processes read its view into their caches in the background (when it fits in view_cache_mb without "
        "evicting another view, or they hold an older view of it), so that the first SELECT of it after a "
        "burst of deliveries reads nothing wherever the connection lands. false: only the views clients "
        "opened are shared between workers.",
    )

    pg_pool_size: int = Field(
        8,
        ge=1,
        le=1000,
        description="PostgreSQL store: connections each process keeps to the database, and threads "
        "running its reads and writes (a read or write holds one connection for its transaction).",
    )
    pg_notify_queue: int = Field(
        10_000,
        ge=1,
        le=10_000_000,
        description="PostgreSQL store: NOTIFY payloads of the peer channel (the change feed between "
        "nodes) a process keeps waiting while the database is slow or unreachable; past this many they "
        "are dropped and the other processes are told to read their mailboxes' changes from the store.",
    )
    pg_write_retries: int = Field(
        10,
        ge=0,
        le=1000,
        description="PostgreSQL store: times a write transaction that lost a race with another one "
        "(a serialization failure or a deadlock, which PostgreSQL rolls back whole) is run again before "
        "the error reaches the caller.",
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parse_store_url(value)  # ValueError: reported with the file and key
        return value

    @property
    def engine(self) -> StoreUrl:
        """``url`` parsed: the engine and its address."""
        return parse_store_url(self.url)

    @field_validator("blobs")
    @classmethod
    def _check_blobs(cls, value: str) -> str:
        if value in ("", BLOBS_IN_POSTGRESQL):
            return value
        if not value.startswith("/"):
            raise ValueError(
                f'{value!r} is neither "" (the data directory\'s blobs/), an absolute path (a directory '
                f'every node mounts) nor "{BLOBS_IN_POSTGRESQL}"'
            )
        return value

    @model_validator(mode="after")
    def _check_blobs_engine(self) -> StoreSettings:
        if self.blobs and self.engine.engine != "postgresql":
            # SQLite is one node: its blobs stay in the data directory, where backups and restore
            # find them; a shared directory or the database is for several nodes on PostgreSQL.
            raise ValueError(
                f'blobs = {self.blobs!r} needs a PostgreSQL store (url = "postgresql://..."); with '
                'SQLite the blobs are the data directory\'s blobs/ (blobs = "")'
            )
        return self


class SearchSettings(Section):
    indexer: bool = Field(
        True,
        description="Run the background full-text indexer (in pochta serve: in the housekeeper process; "
        "docs/architecture.md 'Search index'). Searches stay exact without it; unindexed messages are "
        "just slower to search.",
    )
    index_batch: int = Field(
        100,
        ge=1,
        le=100_000,
        description="Messages the indexer adds to the index per write transaction (bounds how long "
        "it holds the writer: deliveries queued meanwhile wait for it).",
    )
    index_batch_chars: int = Field(
        256 * 1024,
        ge=1,
        description="Characters of text the indexer adds per write transaction at most (at least one "
        "message): with index_batch, how long a batch may hold the writer.",
    )
    index_interval: float = Field(
        1.0,
        gt=0,
        le=3600,
        description="Seconds the indexer waits before looking again once it has caught up.",
    )
    index_pause: float = Field(
        0.25,
        gt=0,
        le=3600,
        description="Seconds the indexer waits after a batch that took all it found (deliveries are still "
        "arriving) before the next: fewer, larger batches, each a write transaction of its own that "
        "deliveries may wait behind. Searches stay exact meanwhile.",
    )


class LogSettings(Section):
    format: Literal["kv", "json"] = Field("kv", description="key=value lines, or JSON lines.")
    level: Literal["debug", "info", "warning", "error"] = Field("info", description="Lowest level logged.")


class MetricsSettings(Section):
    listen: str = Field("off", description="host:port for the Prometheus /metrics endpoint, or 'off'.")

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        if value != "off":
            parse_listen_address(value, allow_unix=False)
        return value


class Pop3Settings(Section):
    autologout: float = Field(
        600.0,
        ge=600.0,
        description="Seconds an authenticated POP3 session may stay idle (RFC 1939 §3: at least 10 minutes).",
    )
    max_errors: int = Field(10, ge=1, description="Protocol errors before a POP3 session is closed.")
    max_argument_length: int = Field(
        40, ge=40, le=255, description="Longest argument of a POP3 command (RFC 2449 §4: 40 octets)."
    )
    recent_days: int = Field(
        30, ge=1, description="Days of mail a 'recent:ADDRESS' login lists, whatever was downloaded before."
    )
    maildrop_folders: list[str] = Field(
        default_factory=list,
        description='Folders served after INBOX in every maildrop (for example ["Junk"]).',
    )
    chunk_size: int = Field(
        256 * 1024, ge=4096, description="Octets read from a message file at a time by RETR and TOP."
    )
    inline_read_max: int = Field(
        128 * 1024,
        ge=0,
        description="RETR/TOP of a message up to this many octets reads it in one read on the session's "
        "own thread (a small file from the page cache costs less than a trip to a worker thread); "
        "larger ones are read by a worker thread. 0: always a worker thread.",
    )
    sendfile: bool = Field(
        True,
        description="RETR of a message larger than inline_read_max on a connection without TLS sends "
        "the file with sendfile(2) when no line of it starts with '.' (no byte-stuffing needed).",
    )
    mode: Literal["all", "since-enabled"] = Field(
        "all",
        description="Default for accounts without their own: serve all mail, or only mail that arrived "
        "since POP3 was enabled for the account.",
    )
    delete_action: Literal["delete", "seen", "archive", "trash"] = Field(
        "delete",
        description="Default for accounts without their own: what DELE + QUIT does (delete, mark "
        "\\Seen and keep, move to Archive, move to Trash).",
    )
    login_delay: int = Field(
        0,
        ge=0,
        description="Default seconds between POP3 logins of one account (RFC 2449 LOGIN-DELAY); 0: none.",
    )


class Settings(Section):
    hostname: str = Field(
        "localhost", min_length=1, description="Name this server gives itself in greetings and Received."
    )
    listeners: dict[str, str] = Field(
        default_factory=_default_listeners,
        description="Listener name -> 'host:port', '[v6]:port', a UNIX socket path (lmtp only) "
        "or 'off'. Names: " + ", ".join(LISTENER_KINDS) + ". Unlisted names take their defaults.",
    )
    tls: TlsSettings = Field(default_factory=TlsSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    mime: MimeSettings = Field(default_factory=MimeSettings)
    login: LoginSettings = Field(default_factory=LoginSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    pop3: Pop3Settings = Field(default_factory=Pop3Settings)
    imap: ImapSettings = Field(default_factory=ImapSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    lmtp: LmtpSettings = Field(default_factory=LmtpSettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    sieve: SieveSettings = Field(default_factory=SieveSettings)
    managesieve: ManageSieveSettings = Field(default_factory=ManageSieveSettings)
    dkim: DkimSettings = Field(default_factory=DkimSettings)
    mailauth: MailAuthSettings = Field(default_factory=MailAuthSettings)
    srs: SrsSettings = Field(default_factory=SrsSettings)
    arc: ArcSettings = Field(default_factory=ArcSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    webmail: WebmailSettings = Field(default_factory=WebmailSettings)
    mta_sts: MtaStsSettings = Field(default_factory=MtaStsSettings)
    jmap: JmapSettings = Field(default_factory=JmapSettings)
    tls_rpt: TlsRptSettings = Field(default_factory=TlsRptSettings)
    milters: list[MilterSettings] = Field(
        default_factory=list,
        max_length=16,
        description="Mail filters (milter protocol) consulted in order, one table each: see [[milters]] "
        "below and docs/antispam.md.",
    )
    dnsbl: DnsblSettings = Field(default_factory=DnsblSettings)
    greylisting: GreylistSettings = Field(default_factory=GreylistSettings)
    connection_checks: ConnectionCheckSettings = Field(default_factory=ConnectionCheckSettings)
    antispam: AntispamSettings = Field(default_factory=AntispamSettings)
    clamav: ClamavSettings = Field(default_factory=ClamavSettings)
    fetch: FetchSettings = Field(default_factory=FetchSettings)

    trusted_networks: list[str] = Field(
        default_factory=lambda: ["127.0.0.1/32", "::1/128"],
        description="Clients in these networks (CIDR) skip the MX's checks (SPF, DKIM, DMARC, ARC, DNS "
        "lists, greylisting, connection checks) and their Authentication-Results and spam verdict "
        "fields are kept (a local content filter re-injecting mail); every other client, other "
        "loopback addresses included, is checked.",
    )

    @field_validator("trusted_networks")
    @classmethod
    def _check_trusted_networks(cls, value: list[str]) -> list[str]:
        return check_networks(value, "trusted_networks")

    def trusts(self, peer_ip: str) -> bool:
        """Is this client in ``trusted_networks`` (never checked at the MX)?"""
        return in_networks(peer_ip, self.trusted_networks)

    @field_validator("hostname")
    @classmethod
    def _check_hostname(cls, value: str) -> str:
        labels = value.rstrip(".").split(".")
        for label in labels:
            if not label or len(label) > 63 or not all(c.isalnum() or c == "-" for c in label):
                raise ValueError(f"not a valid host name: {value!r}")
        return value.rstrip(".").lower()

    @field_validator("listeners")
    @classmethod
    def _check_listeners(cls, value: dict[str, str]) -> dict[str, str]:
        merged = _default_listeners()
        for name, address in value.items():
            if name in NOT_YET_AVAILABLE:
                if address != "off":
                    raise SubkeyError(
                        name,
                        f"{NOT_YET_AVAILABLE[name]} is not available yet, so nothing can listen for it; "
                        'remove this line or set it to "off"',
                    )
                continue
            if name not in LISTENER_KINDS:
                raise SubkeyError(name, f"unknown listener; known: {', '.join(LISTENER_KINDS)}")
            if address != "off":
                try:
                    parse_listen_address(address, allow_unix=name in UNIX_SOCKET_LISTENERS)
                except ValueError as exc:
                    raise SubkeyError(name, str(exc)) from None
            merged[name] = address
        return merged

    @model_validator(mode="after")
    def _check_webmail_needs_jmap(self) -> Settings:
        # The webmail is a JMAP client of this server (docs/webmail.md): without JMAP it has no API.
        if self.webmail.enabled and not self.jmap.enabled:
            raise ValueError("webmail.enabled needs jmap.enabled: the webmail reads mail over JMAP")
        return self

    def enabled_listeners(self) -> dict[str, ListenAddress]:
        """The listeners to open, by name, in a stable order."""
        return {
            name: parse_listen_address(address, allow_unix=name in UNIX_SOCKET_LISTENERS)
            for name, address in self.listeners.items()
            if address != "off"
        }


class ConfigError(Exception):
    """A configuration file that cannot be used; the message names file, key and problem."""


def _key_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def format_validation_error(path: Path, error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        message = str(item["msg"]).removeprefix("Value error, ")
        loc = tuple(item["loc"])
        cause = (item.get("ctx") or {}).get("error")
        if isinstance(cause, SubkeyError):
            loc += (cause.subkey,)
        lines.append(f"{path}: {_key_path(loc)}: {message}")
    return "\n".join(lines)


def load_settings(path: Path) -> Settings:
    """Read and validate a config file. Raises ConfigError naming the file and key."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (run 'pochta init' first)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(path, exc)) from None


PathLike = Annotated[str, "a path relative to the data directory, or absolute"]


def resolve_path(data_dir: Path, value: str) -> Path:
    """Paths in the config are relative to the data directory unless absolute."""
    candidate = Path(value)
    return candidate if candidate.is_absolute() else data_dir / candidate
