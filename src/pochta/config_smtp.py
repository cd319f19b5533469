"""The SMTP side of the settings: the MX and submission listeners' SMTP rules, LMTP, and the
outbound queue (``pochta.config`` re-exports these sections; ``docs/configuration.md`` is generated
from them as from the rest)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from pochta.config_section import Section, SubkeyError

__all__ = ["LmtpSettings", "QueueSettings", "SmtpSettings"]


class SmtpSettings(Section):
    max_messages_per_connection: int = Field(
        100,
        ge=0,
        description="Messages one SMTP or submission session may send; then 421 4.7.0. 0: no limit. "
        "LMTP has its own ([lmtp] max_messages_per_connection).",
    )
    subaddress_separator: str = Field(
        "+",
        max_length=1,
        description="Separator of subaddresses (user+tag@domain is delivered to user); '' turns them off.",
    )
    subaddress_folder: bool = Field(
        True,
        description="Deliver user+tag@ into the folder 'tag' when the account has one (otherwise INBOX).",
    )
    shared_post_local_part: str = Field(
        "shared",
        max_length=64,
        description="Local part that posts into a domain's public mailboxes: shared+NAME@domain is "
        "delivered into Shared/NAME when 'anyone' holds the post right 'p' on it (RFC 4314), else "
        "refused as an unknown user; '' turns it off (needs subaddress_separator).",
    )
    recipient_cache: int = Field(
        10_000,
        ge=0,
        description="Recipient resolutions and mailbox ids each process keeps while the directory "
        "(domains, accounts, aliases, mailbox names) does not change; 0 looks every recipient up.",
    )
    quota_reply: Literal["452", "552"] = Field(
        "452",
        description="Reply to a recipient over quota: 452 4.2.2 (temporary, the sender retries) or "
        "552 5.2.2 (permanent).",
    )
    command_timeout: float = Field(
        300.0, gt=0, description="Seconds to wait for the next SMTP command (RFC 5321 §4.5.3.2.7: 5 minutes)."
    )
    data_timeout: float = Field(
        600.0, gt=0, description="Seconds to wait for more message data (RFC 5321 §4.5.3.2.8: 10 minutes)."
    )
    max_header_count: int = Field(1000, ge=10, description="Most header fields in a received message.")
    max_header_size: int = Field(
        1024 * 1024, ge=4096, description="Most octets of the header section of a received message."
    )
    max_received_headers: int = Field(
        50, ge=5, description="More Received fields than this is a mail loop: 554 5.4.6 (RFC 5321 §6.3)."
    )
    postmaster: str = Field(
        "",
        description="Address that gets mail for postmaster@ a local domain without a postmaster account "
        "or alias of its own (RFC 5321 §4.5.1). Empty: postmaster@ the primary domain (the host name's "
        "domain when local, else the first domain added), which also receives <Postmaster>.",
    )

    @field_validator("postmaster")
    @classmethod
    def _check_postmaster(cls, value: str) -> str:
        from pochta.naming import normalize_address  # the one rule for addresses an operator types

        return normalize_address(value) if value.strip() else ""

    sender_policy: Literal["strict", "off"] = Field(
        "strict",
        description="Submission: the envelope sender and From: must be the authenticated account or "
        "one of its aliases (strict), or are not checked (off).",
    )


class LmtpSettings(Section):
    """What differs for LMTP (RFC 2033), whose clients are trusted MTAs keeping one connection open."""

    max_messages_per_connection: int = Field(
        0,
        ge=0,
        description="Messages one LMTP session may deliver; then 421 4.7.0. 0: no limit (an MTA such as "
        "Postfix delivers thousands over one connection).",
    )


class QueueSettings(Section):
    """The outbound queue (docs/smtp.md "Outbound queue")."""

    worker: bool = Field(
        True, description="Deliver queued mail from this process (several processes may share a store)."
    )
    transport: dict[str, str] = Field(
        default_factory=dict,
        description="Domain -> 'host:port' to deliver to instead of its MX (a smarthost, or tests). Keys: "
        "'example.com', '.example.com' (its subdomains), '*' (everything else).",
    )
    dns_nameservers: list[str] = Field(
        default_factory=list,
        description="DNS servers for MX lookups ('192.0.2.53', '[2001:db8::53]:53'); empty: resolv.conf.",
    )
    dns_timeout: float = Field(
        10.0, gt=0, description="Seconds one DNS lookup may take; then it is retried later."
    )
    port: int = Field(25, ge=1, le=65535, description="Port of the SMTP servers found through MX records.")
    retry_schedule: list[float] = Field(
        default_factory=lambda: [300.0, 600.0, 1200.0, 2400.0, 3600.0],
        min_length=1,
        description="Seconds to wait after the 1st, 2nd, ... temporary failure; the last value repeats.",
    )
    max_age: float = Field(
        5 * 86400.0, gt=0, description="Seconds a message may stay queued; then it bounces (4.4.7)."
    )
    delay_notice_after: float = Field(
        4 * 3600.0, ge=0, description="Seconds after which the sender is told of a delay (once); 0: never."
    )
    concurrency: int = Field(10, ge=1, description="Messages this process delivers at the same time.")
    poll_interval: float = Field(
        15.0, gt=0, description="Seconds between looks for due messages queued by other processes."
    )
    lease_seconds: float = Field(
        120.0,
        ge=3,
        description="A worker's hold on a message it is delivering, renewed while it works; "
        "after a crash, the message waits this long before another worker takes it.",
    )
    connect_timeout: float = Field(30.0, gt=0, description="Seconds to connect to a remote SMTP server.")
    command_timeout: float = Field(
        300.0, gt=0, description="Seconds to wait for a reply (RFC 5321 §4.5.3.2: 5 minutes for most)."
    )
    data_timeout: float = Field(
        600.0, gt=0, description="Seconds to wait for the reply to the message data (RFC 5321 §4.5.3.2.6)."
    )
    tls: Literal["opportunistic", "required", "off"] = Field(
        "opportunistic",
        description="STARTTLS to remote servers: when offered (falling back to plaintext if the handshake "
        "fails), always (else retry later), or never.",
    )
    tls_verify: bool = Field(
        False, description="Verify the remote certificate and name (opportunistic TLS does not, RFC 7435)."
    )
    tls_ca_file: str | None = Field(None, description="CA bundle for tls_verify; unset: the system's.")
    dsn_max_full_size: int = Field(
        1024 * 1024, ge=0, description="Bounces return the whole message up to this size, else its header."
    )
    mta_sts: bool = Field(
        True,
        description="Look up and apply the MTA-STS policy of each recipient domain (RFC 8461; "
        "docs/deliverability.md).",
    )
    mta_sts_port: int = Field(
        443, ge=1, le=65535, description="HTTPS port of mta-sts.DOMAIN policy hosts (443; tests use others)."
    )
    mta_sts_timeout: float = Field(
        60.0, gt=0, description="Seconds fetching one MTA-STS policy may take (RFC 8461 section 3.3)."
    )
    mta_sts_max_size: int = Field(
        64 * 1024, ge=1024, description="Largest MTA-STS policy file accepted, in bytes (section 3.3)."
    )
    dns_dnssec: bool = Field(
        False,
        description="The dns_nameservers validate DNSSEC, so their AD bit is trusted (needed for DANE; "
        "pochta does not validate signatures itself).",
    )
    dane: Literal["auto", "off"] = Field(
        "auto",
        description="DANE (RFC 7672): with 'auto', TLSA records of MX hosts are used when dns_dnssec "
        "is true and the answer is authenticated; 'off' never looks them up.",
    )

    @field_validator("transport")
    @classmethod
    def _check_transport(cls, value: dict[str, str]) -> dict[str, str]:
        from pochta.queue.route import parse_transport  # the one parser of these values

        for domain, target in value.items():
            try:
                parse_transport(target)
            except ValueError as exc:
                raise SubkeyError(f'"{domain}"', str(exc)) from None
        return {domain.lower().rstrip("."): target for domain, target in value.items()}
