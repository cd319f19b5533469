"""The ``[tls_rpt]`` settings: TLS reporting (RFC 8460) of the sessions the outbound queue makes, and
the ``_smtp._tls`` record ``pochta dns`` prints for our own domains (``pochta.config`` re-exports it)."""

from __future__ import annotations

from pydantic import Field

from pochta.config_section import Section

__all__ = ["TlsRptSettings"]


class TlsRptSettings(Section):
    enabled: bool = Field(
        True,
        description="Count outbound TLS results per recipient domain and send each domain that "
        "publishes a _smtp._tls record a daily report (RFC 8460).",
    )
    organization: str = Field(
        "", description="organization-name of the reports we send; empty: the server's hostname."
    )
    contact: str = Field(
        "", description="contact-info of the reports we send (an address); empty: postmaster@hostname."
    )
    rua: str = Field(
        "",
        description="Where others should send reports about mail to our domains ('mailto:tls@example.org'"
        " or an https: URL); when set, `pochta dns` prints the _smtp._tls TXT record.",
    )
    interval: float = Field(3600.0, gt=0, description="Seconds between looks for finished days to report.")
    max_report_size: int = Field(
        10 * 1024 * 1024, ge=1024, description="Largest compressed report posted or mailed, in bytes."
    )
