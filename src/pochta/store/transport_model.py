"""Records of outbound transport security kept by the store (revision 0028). No I/O.

``CachedPolicy``: an MTA-STS policy as last fetched (RFC 8461 section 5.1). ``TlsResult``: one
session's outcome under a policy, counted for TLS-RPT (RFC 8460 section 4), and ``TlsResultRow``
the counts of one day as the report job reads them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CachedPolicy:
    domain: str  # the recipient domain, lower-case A-labels
    policy_id: str  # the _mta-sts TXT id it was fetched under
    policy: str  # the policy file as parsed (pochta.queue.mta_sts.Policy.text)
    fetched: int  # epoch seconds
    expires: int  # fetched + max_age


@dataclass(frozen=True)
class TlsResult:
    """One session (or policy lookup) for TLS-RPT; ``result_type`` "" is a success."""

    domain: str  # the policy domain
    policy_type: str  # RFC 8460 section 4.4: "sts" | "tlsa" | "no-policy-found"
    policy: str  # the policy-string lines joined by LF ("" for no-policy-found)
    mx_host: str = ""
    result_type: str = ""  # RFC 8460 section 4.3: "starttls-not-supported", "validation-failure", ...
    receiving_ip: str = ""
    detail: str = ""  # additional-information
    sending_ip: str = ""  # sending-mta-ip: our end of the session


@dataclass(frozen=True)
class TlsResultRow:
    day: str  # "2026-12-07" (UTC)
    result: TlsResult
    count: int
