"""The HTTP listeners' settings and the MTA-STS policy this server publishes (``pochta.config``
re-exports both sections; docs/http.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from pochta.config_section import Section

__all__ = ["HttpSettings", "MtaStsSettings"]


class HttpSettings(Section):
    """The ``http`` and ``https`` listeners (docs/http.md)."""

    header_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds a request's line and header fields may take from their first octet to "
        "the blank line that ends them, however slowly they trickle in (slowloris); then 408 and close.",
    )
    body_timeout: float = Field(
        30.0, gt=0, description="Seconds a request body may take to arrive once its header is complete."
    )
    keepalive_timeout: float = Field(
        15.0, gt=0, description="Seconds an idle keep-alive connection stays open between requests."
    )
    max_header_size: int = Field(
        16 * 1024,
        ge=1024,
        le=1024 * 1024,
        description="Octets of request line plus header fields; a larger head gets 431 and the "
        "connection is closed.",
    )
    max_body_size: int = Field(
        64 * 1024,
        ge=0,
        le=64 * 1024 * 1024,
        description="Octets of a request body (an Autodiscover request is well under 1 KiB); a larger "
        "one gets 413 and the connection is closed.",
    )
    lingering_close: float = Field(
        2.0,
        ge=0,
        le=60,
        description="Seconds the rest of a refused request (a body over max_body_size) is read and "
        "dropped before the connection closes, so that the client reads the 413 instead of a reset.",
    )
    max_requests_per_connection: int = Field(
        100, ge=1, description="Requests served on one keep-alive connection before it is closed."
    )


class MtaStsSettings(Section):
    """The MTA-STS policy served at ``https://mta-sts.DOMAIN/.well-known/mta-sts.txt`` for every
    domain of this server (RFC 8461 section 3.2)."""

    mode: Literal["enforce", "testing", "none"] = Field(
        "testing",
        description="The policy mode: 'testing' (senders report failures but still deliver), "
        "'enforce' (senders deliver only over TLS to a listed MX with a valid certificate), or "
        "'none' (withdraw a published policy).",
    )
    mx: list[str] = Field(
        default_factory=list,
        description="MX host names senders may deliver to (a leading '*.' matches one label); empty: "
        "the hostname.",
    )
    max_age: int = Field(
        604800,
        ge=1,
        le=31557600,  # RFC 8461 section 3.2: max_age is at most 31557600 seconds
        description="Seconds senders may cache the policy (RFC 8461 section 3.2: at most 31557600).",
    )

    @field_validator("mx")
    @classmethod
    def _check_mx(cls, value: list[str]) -> list[str]:
        names = []
        for name in value:
            name = name.strip().rstrip(".").lower()
            bare = name.removeprefix("*.")
            labels = bare.split(".")
            if not bare or any(
                not label or len(label) > 63 or not all(c.isalnum() or c == "-" for c in label)
                for label in labels
            ):
                raise ValueError(f"not a host name or '*.' pattern: {name!r}")
            names.append(name)
        return names
