"""The MTA-STS policy this server publishes, and its id (RFC 8461 sections 3.1 and 3.2).

Pure: the web route serves ``policy_text``, ``pochta dns`` prints ``policy_id`` in the
``_mta-sts`` TXT record. Both come from the same ``[mta_sts]`` settings, so the id changes exactly
when the policy does, which is what tells senders to fetch it again (RFC 8461 section 3.1).
"""

from __future__ import annotations

import hashlib

from pochta.config import Settings

__all__ = ["policy_id", "policy_mx", "policy_text", "txt_record"]


def policy_mx(settings: Settings) -> list[str]:
    """The MX patterns senders may deliver to: ``[mta_sts] mx``, else the hostname."""
    return list(settings.mta_sts.mx) or [settings.hostname]


def policy_text(settings: Settings) -> str:
    """The policy body: CRLF-separated ``key: value`` lines (RFC 8461 section 3.2)."""
    policy = settings.mta_sts
    lines = ["version: STSv1", f"mode: {policy.mode}"]
    # RFC 8461 section 3.2: one "mx" line per MX pattern the sender may accept.
    lines += [f"mx: {name}" for name in policy_mx(settings)]
    lines.append(f"max_age: {policy.max_age}")
    return "\r\n".join(lines) + "\r\n"


def policy_id(settings: Settings) -> str:
    """A stable digest of the policy body: 32 hex digits (RFC 8461 section 3.1: id is 1*32 of
    ALPHA / DIGIT), the same in every process and every run for the same policy."""
    return hashlib.sha256(policy_text(settings).encode("ascii")).hexdigest()[:32]


def txt_record(settings: Settings) -> str:
    """The ``_mta-sts.DOMAIN`` TXT record's text (RFC 8461 section 3.1)."""
    return f"v=STSv1; id={policy_id(settings)}"
