"""The ``[srs]`` and ``[arc]`` settings: what pochta does to mail it forwards (alias targets outside
our domains, Sieve redirect) so that it still authenticates at the next hop, and the checking of
ARC chains on mail it receives (docs/deliverability.md "ARC", "SRS"). ``pochta.config`` re-exports
both sections."""

from __future__ import annotations

from pydantic import Field

from pochta.config_section import Section

__all__ = ["ArcSettings", "SrsSettings"]


class SrsSettings(Section):
    enabled: bool = Field(
        True,
        description="Rewrite the envelope sender of forwarded copies of mail from outside senders to "
        "an SRS address of the forwarding domain (SRS0=hash=day=domain=local@forwarder), so they pass "
        "SPF at the next hop; bounces to such addresses are verified and returned to the original "
        "sender. Off: forwards keep the original sender, and SRS addresses are unknown users.",
    )
    max_age_days: int = Field(
        21,
        ge=1,
        le=1000,
        description="Days an SRS address accepts bounces after the forward (the day counter wraps "
        "after 1024 days).",
    )
    secrets: list[str] = Field(
        default_factory=list,
        description="The SRS secrets, used instead of secret_file when set: the first makes new "
        "addresses, every one verifies (rotation: put the new one first, drop the old one after "
        "max_age_days). Keep it as private as a password.",
    )
    secret_file: str = Field(
        "srs-secret",
        description="File of SRS secrets, one a line (the first signs, all verify; # comments), "
        "relative to the data directory; `pochta init` (or the first start) makes it with a random "
        "secret, mode 0600.",
    )


class ArcSettings(Section):
    verify: bool = Field(
        True,
        description="Verify the ARC chain (RFC 8617) of mail checked on the MX, reported as arc= in "
        "our Authentication-Results (needs mailauth.dkim_verify, which runs the checks).",
    )
    seal: bool = Field(
        True,
        description="ARC-seal forwarded copies (alias targets outside our domains, Sieve redirect at "
        "delivery) of mail the MX checked, with the forwarding domain's active RSA DKIM key.",
    )
    max_instances: int = Field(
        50,
        ge=1,
        le=50,
        description="ARC sets a chain may have; a longer chain is arc=fail unverified (RFC 8617 allows 50).",
    )
