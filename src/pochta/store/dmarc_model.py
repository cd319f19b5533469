"""One DMARC-evaluated message as the aggregate reports need it (RFC 7489 section 7.2), recorded at
delivery for domains that publish rua= and read back by the daily report job, which deletes what
it reported. The rules (what is recorded, how a report is built) are ``pochta.mailauth``'s."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DmarcRow"]


@dataclass(frozen=True)
class DmarcRow:
    received: int  # epoch seconds
    policy_domain: str  # the domain whose record applied: where its rua= comes from
    header_from: str
    source_ip: str
    envelope_from: str  # the MAIL FROM domain ("" for a null sender)
    envelope_to: str  # the recipient domain (the first, when several)
    published: str  # JSON: the record's p, sp, pct, adkim, aspf, fo (policy_published)
    rua: str  # the record's rua= URIs, comma-separated, as published
    disposition: str  # none, quarantine, reject: what was done
    dkim_aligned: bool
    spf_aligned: bool
    override: str  # "" or a PolicyOverrideType (RFC 7489 appendix C)
    override_comment: str
    auth: str  # JSON: {"dkim": [[domain, selector, result]...], "spf": [[domain, scope, result]...]}
