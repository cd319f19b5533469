"""The ``[dkim]`` settings: whether mail leaving through the queue is signed, with which kinds of
key, and how a rotation checks DNS (``pochta.config`` re-exports this section)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pochta.config_section import Section

__all__ = ["ALGORITHMS", "Algorithm", "DkimSettings"]

Algorithm = Literal["ed25519", "rsa"]
ALGORITHMS: tuple[Algorithm, ...] = ("ed25519", "rsa")


class DkimSettings(Section):
    sign: bool = Field(
        True,
        description="Sign every message the outbound queue sends to another server with the active "
        "keys of its From domain (else of its envelope sender's domain), when that domain is local "
        "(RFC 6376).",
    )
    algorithms: list[Algorithm] = Field(
        default_factory=lambda: list(ALGORITHMS),
        min_length=1,
        description="Keys `pochta domain add`, `init` and `pochta dkim rotate` make: one per kind, "
        "each signing (Ed25519 of RFC 8463 and RSA; both by default, as receivers that do not know "
        "Ed25519 yet verify the RSA signature).",
    )
    rsa_bits: int = Field(
        2048,
        ge=1024,
        le=4096,
        description="Size of new RSA keys (RFC 8301 §3.2: at least 1024, 2048 advised).",
    )
    dns_wait: float = Field(
        600.0,
        ge=0,
        description="Seconds `pochta dkim activate --wait` polls DNS for the new keys' records "
        "before it gives up (a rotation signs with a key only once its record is published).",
    )
