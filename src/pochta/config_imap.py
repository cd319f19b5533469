"""The IMAP listener's settings (``pochta.config`` re-exports the section)."""

from __future__ import annotations

from pydantic import Field, field_validator

from pochta.config_section import Section

__all__ = ["ImapSettings"]


class ImapSettings(Section):
    """IMAP and IMAPS (docs/imap.md)."""

    autologout: float = Field(
        1800.0,
        ge=1800.0,
        description="Seconds an authenticated IMAP session may stay idle (RFC 9051 §5.4: at least "
        "30 minutes); before login server.idle_timeout_unauthenticated applies.",
    )
    max_literal_size: int = Field(
        64 * 1024,
        ge=1024,
        description="Largest literal in a command other than APPEND (mailbox names, passwords, "
        "search strings); APPEND messages are limited by limits.max_message_size (APPENDLIMIT).",
    )
    max_literals_total: int = Field(
        256 * 1024, ge=1024, description="All literals of one command other than APPEND, in octets."
    )
    literal_plus: bool = Field(
        True,
        description="Advertise LITERAL+ (RFC 7888 §3: non-synchronising literals of any size up to the "
        "limits); false: LITERAL- (at most 4096 octets each, RFC 7888 §5). The two are never "
        "advertised together.",
    )
    max_discarded_literal: int = Field(
        50 * 1024 * 1024,
        ge=0,
        description="Octets of refused non-synchronising literals (over a limit) that one command may "
        "still send: they are read and dropped, and the command gets a tagged NO/BAD [TOOBIG] "
        "(RFC 7888 §4). Past it the connection is closed with BYE [TOOBIG].",
    )
    thread_cache_kb: int = Field(
        8192,
        ge=0,
        description="Kilobytes of THREAD answers each process keeps: the last answer per big mailbox "
        "(store.sort_cache_min_messages) and algorithm, about 23 octets per message, reused while the "
        "same messages are searched and all still exist (flag changes and new messages the search did "
        "not find keep it). 0: every THREAD reads the keys and builds its tree.",
    )
    max_list_wildcards: int = Field(
        50,
        ge=2,
        description="Most wildcards ('*', '%') in one LIST or LSUB pattern (reference included); "
        "more is NO [LIMIT].",
    )
    inline_read_max: int = Field(
        64 * 1024,
        ge=0,
        description="FETCH of a body section (BODY[...], BINARY[...], RFC822.*) of a message up to this "
        "many octets reads the message in one read on the session's own thread (a small file from the "
        "page cache costs less than a trip to a worker thread); larger ones are read in chunks by a "
        "worker thread. 0: always a worker thread.",
    )
    max_search_mailboxes: int = Field(
        100,
        ge=1,
        description="Most mailboxes one ESEARCH IN (...) may search (MULTISEARCH, RFC 7377 §2.4); more "
        "is NO [LIMIT] before any is searched.",
    )
    max_search_updates: int = Field(
        16,
        ge=1,
        description="Most UPDATE contexts (SEARCH/SORT RETURN (UPDATE), RFC 5267 §4.3) one session keeps "
        "at once; one more is answered with NO [NOUPDATE] (§4.3.1: at least one per client). Each "
        "holds its result (a set of UIDs) and is re-evaluated on the messages that change.",
    )
    notify_max_mailboxes: int = Field(
        100,
        ge=1,
        description="Most mailbox names the SUBTREE and MAILBOXES filters of one NOTIFY SET may give "
        "(RFC 5465 §6.5, §6.6); more is NO [NOTIFICATIONOVERFLOW] (§3.1: too expensive), and the "
        "previous NOTIFY stays in force.",
    )
    notify_max_pending: int = Field(
        1000,
        ge=1,
        description="Most committed changes a NOTIFY session may have waiting to be told (changes of "
        "watched mailboxes, coalesced into one STATUS per mailbox when sent; each METADATA entry name "
        "counts as one, told in one METADATA response per mailbox); past it the session gets "
        "OK [NOTIFICATIONOVERFLOW] and NOTIFY NONE (RFC 5465 §5.8).",
    )
    compress: bool = Field(
        True,
        description="Offer COMPRESS=DEFLATE (RFC 4978): raw DEFLATE both ways once a client asks, above "
        "TLS when TLS is active.",
    )
    compress_level: int = Field(
        1,
        ge=1,
        le=9,
        description="zlib level of what the server compresses (1: fastest; RFC 4978 §4 finds the "
        "cheapest settings compress IMAP responses to 25-40%).",
    )
    compress_max_inflate: int = Field(
        64 * 1024,
        ge=4096,
        description="Most octets one read of a compressed client stream inflates to; the rest of the "
        "input waits. A decompression bomb is thus taken in bounded pieces, each judged by the usual "
        "line and literal limits (limits.max_line_length, imap.max_literal_size, APPENDLIMIT).",
    )
    metadata_max_entry_size: int = Field(
        64 * 1024,
        ge=1024,
        description="Largest value of one METADATA entry (RFC 5464 §4.1: at least 1024); larger is "
        "SETMETADATA NO [METADATA MAXSIZE n] with nothing changed. A value longer than "
        "imap.max_literal_size is refused before that, as any literal (NO [TOOBIG]).",
    )
    metadata_max_entries_per_mailbox: int = Field(
        100,
        ge=10,
        description="Most METADATA entries of one mailbox (its shared ones and one user's private ones "
        "together), and of the server's own (RFC 5464 §4.1: at least 10); a SETMETADATA past it is "
        "NO [METADATA TOOMANY] with nothing changed.",
    )
    metadata_max_entries_per_account: int = Field(
        1000,
        ge=10,
        description="Most METADATA entries one account holds (its private entries anywhere and the "
        "shared ones of its mailboxes); past it NO [METADATA TOOMANY].",
    )
    metadata_max_account_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="Most octets of METADATA values one account holds (counted as for "
        "imap.metadata_max_entries_per_account); past it NO [METADATA TOOMANY] with nothing changed.",
    )
    idle_check_seconds: float = Field(
        30.0,
        ge=1.0,
        description="Seconds between the store checks of a session in IDLE (or listening for NOTIFY "
        "events) for changes of its selected mailbox that no notification announced: a change made "
        "by a pochta command beside the server, or a wake-up lost between machines on one database. "
        "Changes of the server's own processes are pushed within milliseconds regardless.",
    )
    metadata_admin: str = Field(
        "",
        description="The server's /shared/admin METADATA entry (RFC 5464 §3.2.1.1: a URI to reach the "
        "administrator, read-only). Empty: mailto: smtp.postmaster when that is set, else no entry.",
    )

    @field_validator("metadata_admin")
    @classmethod
    def _check_metadata_admin(cls, value: str) -> str:
        value = value.strip()
        # RFC 5464 §3.2.1.1: "The value MUST be a URI (e.g., a mailto: or tel: URL)".
        scheme, colon, rest = value.partition(":")
        if value and not (
            colon and rest and scheme.isascii() and scheme[:1].isalpha() and value.isprintable()
        ):
            raise ValueError(f"not a URI (mailto:..., tel:..., https://...): {value!r}")
        return value
