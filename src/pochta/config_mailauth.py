"""The ``[mailauth]`` settings: authentication of mail received on the MX listener (DKIM
verification and Authentication-Results; docs/deliverability.md). DNS questions go to the servers of
``queue.dns_nameservers`` with ``queue.dns_timeout`` (one list of nameservers for the server).
``pochta.config`` re-exports this section."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pochta.config_section import Section

__all__ = ["MailAuthSettings"]


class MailAuthSettings(Section):
    dkim_verify: bool = Field(
        True,
        description="Verify the DKIM signatures (RFC 6376) of mail received on the MX listener from "
        "clients outside trusted_networks, and add an Authentication-Results field (RFC 8601). Off: no "
        "field is added, forged ones are still removed.",
    )
    authserv_id: str = Field(
        "",
        description="The authserv-id of our Authentication-Results fields; empty: `hostname`. Fields "
        "carrying it that arrive from outside trusted_networks are removed as forged.",
    )
    dkim_max_signatures: int = Field(
        10, ge=1, le=100, description="DKIM signatures verified per message; further ones are ignored."
    )
    spf_verify: bool = Field(
        True,
        description="Check SPF (RFC 7208) for the HELO and MAIL FROM identities of mail received on the "
        "MX listener from clients outside trusted_networks, reported in Authentication-Results. An SPF "
        "fail alone refuses nothing: DMARC decides.",
    )
    spf_void_lookups: int = Field(
        2,
        ge=0,
        le=20,
        description="DNS lookups answered with no records that one SPF evaluation may make before it is "
        "a permerror (RFC 7208 section 4.6.4 recommends 2).",
    )
    spf_timeout: float = Field(
        20.0,
        gt=0,
        description="Seconds one SPF evaluation may take in all before it is a temperror (RFC 7208 "
        "section 4.6.4: at least 20).",
    )
    dmarc_verify: bool = Field(
        True,
        description="Evaluate DMARC (RFC 7489) for mail received on the MX listener from clients outside "
        "trusted_networks: the From domain's policy, SPF and DKIM alignment, reported in "
        "Authentication-Results (dmarc=) and, with dmarc_enforce, applied.",
    )
    dmarc_enforce: bool = Field(
        True,
        description="Apply the DMARC policy of a failing message: p=reject refused with 550 5.7.1 at the "
        "end of DATA, p=quarantine filed into the recipient's Junk mailbox. Off: evaluated, reported "
        "and recorded only.",
    )
    dmarc_overrides: dict[str, Literal["none", "quarantine", "reject"]] = Field(
        default_factory=dict,
        description="Local policy per From domain (or a parent of it), replacing the published one "
        'for failing mail, e.g. {"example.org" = "none"}.',
    )
    dmarc_allow: list[str] = Field(
        default_factory=list,
        description="Trusted forwarders and mailing lists: a failing message that SPF or DKIM "
        "authenticates for one of these domains (or a subdomain) is delivered as if p=none.",
    )
    dmarc_reports: bool = Field(
        True,
        description="Record each DMARC-evaluated message and send daily aggregate reports (RFC 7489 "
        "section 7.2) to the rua= addresses of the domains that ask.",
    )
    dmarc_report_org_name: str = Field("", description="The org_name of our reports; empty: `hostname`.")
    dmarc_report_email: str = Field(
        "",
        description="The sender and contact address of our reports; empty: postmaster@`hostname`.",
    )
    dmarc_report_interval: float = Field(
        86400.0,
        ge=60,
        description="Seconds between aggregate reports (RFC 7489 section 7.2: at least daily).",
    )
    dmarc_report_keep_days: int = Field(
        7, ge=1, description="Days a recorded result not yet reported is kept before it is pruned."
    )
    dmarc_report_max_records: int = Field(
        10000,
        ge=1,
        description="Rows (distinct sources and results) in one report; the rest are left out.",
    )
    dns_cache_size: int = Field(
        10000, ge=0, description="Answers the mail authentication DNS cache keeps (each for its TTL)."
    )
    dns_negative_ttl: float = Field(300.0, ge=0, description="Seconds an answer 'no such record' is cached.")

    @property
    def checks(self) -> bool:
        """Does any check run (else only forged Authentication-Results are removed)?"""
        return self.dkim_verify or self.spf_verify or self.dmarc_verify
