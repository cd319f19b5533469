"""The ``[tls]`` settings: the listeners' certificate and key, their reload, and ACME (RFC 8555;
docs/certificates.md). ``pochta.config`` re-exports this section."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pochta.config_section import Section

__all__ = ["TlsSettings"]


class TlsSettings(Section):
    certificate: str = Field(
        "tls/cert.pem",
        description="PEM certificate chain, relative to the data directory or absolute. "
        "A first run creates a self-signed one here.",
    )
    key: str = Field("tls/key.pem", description="PEM private key for the certificate.")
    handshake_timeout: float = Field(30.0, gt=0, description="Seconds a TLS handshake may take.")
    reload_check_interval: float = Field(
        60.0,
        gt=0,
        description="Seconds between checks of the certificate and key files; each worker loads a "
        "changed pair for new handshakes without a restart (ACME renewals, certbot, a copied file).",
    )
    acme: bool = Field(
        False,
        description="Obtain and renew the certificate with ACME (RFC 8555, http-01 challenges served "
        "by the `http` listener, which must be on port 80 to the world) and write it to `certificate` "
        "and `key` (docs/certificates.md).",
    )
    acme_directory: str = Field(
        "https://acme-v02.api.letsencrypt.org/directory",
        description="The ACME server's directory URL (Let's Encrypt; its staging server for trials: "
        "https://acme-staging-v02.api.letsencrypt.org/directory).",
    )
    acme_email: str = Field(
        "", description="Contact address of the ACME account (expiry notices); empty: none."
    )
    acme_ca_file: str | None = Field(
        None,
        description="CA bundle that the ACME server's HTTPS certificate must chain to; unset: the "
        "system's (a private ACME server, or pebble in tests).",
    )
    acme_names: list[str] = Field(
        default_factory=list,
        description="Host names the certificate covers besides `hostname`.",
    )
    acme_service_names: bool = Field(
        True,
        description="Also cover mta-sts.DOMAIN and autoconfig.DOMAIN of every local domain (the MTA-STS "
        "policy host and Thunderbird's autoconfig). A name whose challenge fails is left out of the "
        "certificate and tried again at the next renewal; `hostname` must pass.",
    )
    acme_key_type: Literal["rsa", "ecdsa"] = Field(
        "rsa",
        description="The certificate's key: RSA-2048 (every client) or ECDSA P-256 (smaller, faster).",
    )
    acme_renew_days: int = Field(
        30, ge=1, le=89, description="Renew when the certificate expires within this many days."
    )
    acme_retry: float = Field(
        3600.0, gt=0, description="Seconds to wait after a failed ACME attempt before the next one."
    )
