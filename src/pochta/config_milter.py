"""The ``[[milters]]`` tables: mail filters speaking the milter protocol (rspamd, OpenDKIM,
OpenDMARC...) that the MX and submission consult, in order (``pochta.config`` re-exports this;
docs/antispam.md)."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator

from pochta.config_section import Section

__all__ = ["MilterSettings", "MilterSocket", "parse_milter_socket"]

MilterListener = Literal["smtp", "submission"]


class MilterSocket:
    """Where a milter listens: ``inet:HOST:PORT`` (``inet6:[v6]:PORT`` too) or ``unix:/path``."""

    def __init__(self, host: str | None, port: int, path: str | None) -> None:
        self.host, self.port, self.path = host, port, path

    def __str__(self) -> str:
        return f"unix:{self.path}" if self.path is not None else f"inet:{self.host}:{self.port}"


def parse_milter_socket(value: str) -> MilterSocket:
    kind, _, rest = value.partition(":")
    if kind in ("unix", "local"):
        if not rest.startswith("/"):
            raise ValueError(f"unix: needs an absolute path, got {value!r}")
        return MilterSocket(None, 0, rest)
    if kind in ("inet", "inet6"):
        host, _, port = rest.rpartition(":")
        # Postfix also writes inet:PORT@HOST; one form is enough here.
        host = host.strip("[]")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"expected inet:HOST:PORT, got {value!r}")
        if ":" in host:
            try:
                ipaddress.IPv6Address(host)
            except ValueError:
                raise ValueError(f"not an IPv6 address: {host!r}") from None
        return MilterSocket(host, int(port), None)
    raise ValueError(f'expected "inet:HOST:PORT" or "unix:/path", got {value!r}')


class MilterSettings(Section):
    name: str = Field(
        "",
        max_length=64,
        description="A name for logs and the Received/quarantine notes (default: the socket).",
    )
    socket: str = Field(
        description='Where the milter listens: "inet:HOST:PORT" or "unix:/path" (required).',
    )
    listeners: list[MilterListener] = Field(
        default_factory=lambda: list[MilterListener](["smtp"]),
        description='Which listeners consult this milter: "smtp" (the MX) and/or "submission" '
        "(submission and submissions). LMTP never does: the MTA in front of it ran its milters.",
    )
    connect_timeout: float = Field(
        5.0, gt=0, le=300, description="Seconds to connect and negotiate before `default_action`."
    )
    command_timeout: float = Field(
        10.0,
        gt=0,
        le=600,
        description="Seconds for the milter to answer one step (CONNECT ... a body chunk).",
    )
    eom_timeout: float = Field(
        60.0,
        gt=0,
        le=1800,
        description="Seconds for its answer at end of message (a scan); a progress notice restarts it.",
    )
    default_action: Literal["tempfail", "accept"] = Field(
        "tempfail",
        description='When the milter is down, times out or breaks the protocol: "tempfail" (451 '
        '4.7.1, the client retries) or "accept" (go on without it).',
    )

    @field_validator("socket")
    @classmethod
    def _check_socket(cls, value: str) -> str:
        parse_milter_socket(value)
        return value

    @property
    def label(self) -> str:
        return self.name or self.socket

    @property
    def address(self) -> MilterSocket:
        return parse_milter_socket(self.socket)
