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
        30.0,
        gt=0,
        description="Seconds a request body may go without an octet arriving, and the time it may take "
        "whole once its head is complete, plus one second per body_min_rate octets received; then 408.",
    )
    body_min_rate: int = Field(
        16 * 1024,
        ge=1024,
        description="Octets per second a large request body must keep up on average (a route with a "
        "larger limit than max_body_size, such as an upload): each of them adds a second to body_timeout.",
    )
    send_timeout: float = Field(
        60.0,
        gt=0,
        description="Seconds a client may read nothing of a response while the server has more of it to "
        "send; then the exchange ends and the connection is closed.",
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
    websocket_max_message: int = Field(
        10_000_000,
        ge=1024,
        le=256 * 1024 * 1024,
        description="Octets of one WebSocket message, its fragments reassembled (a JMAP request over "
        "WebSocket is one message); a larger one closes the WebSocket with 1009.",
    )
    websocket_ping_interval: float = Field(
        30.0,
        gt=0,
        description="Seconds a WebSocket may be silent before the server sends a Ping (the client's Pong "
        "keeps it alive through proxies and shows the client is there).",
    )
    websocket_idle_timeout: float = Field(
        120.0,
        gt=0,
        description="Seconds a WebSocket may go without a frame from the client (Pongs count); then the "
        "server closes it with 1001.",
    )
    websocket_close_timeout: float = Field(
        5.0,
        gt=0,
        le=60,
        description="Seconds the server waits for the client's Close frame after its own (or for the "
        "application to end after the client left) before it drops the connection.",
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
