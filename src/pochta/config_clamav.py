"""The ``[clamav]`` settings: virus scanning through clamd (docs/antispam.md "Virus scanning";
``pochta.config`` re-exports it)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from pochta.config_section import Section

__all__ = ["ClamavSettings"]

Listener = Literal["smtp", "submission"]


def _both() -> list[Listener]:
    return ["smtp", "submission"]


class ClamavSettings(Section):
    enabled: bool = Field(False, description="Scan incoming messages with clamd before they are stored.")
    socket: str = Field(
        "unix:/run/clamav/clamd.ctl",
        description="Where clamd listens: 'unix:/path' (its LocalSocket) or 'inet:host:port' (TCPSocket).",
    )
    timeout: float = Field(
        60.0, gt=0, description="Seconds for the whole scan of one message (connect, send, verdict)."
    )
    max_size: int = Field(
        25 * 1024 * 1024,
        ge=1024,
        description="Larger messages are not scanned (logged); keep it at or under clamd's StreamMaxLength.",
    )
    chunk_size: int = Field(
        64 * 1024, ge=1024, le=16 * 1024 * 1024, description="Octets per INSTREAM chunk sent to clamd."
    )
    on_failure: Literal["tempfail", "accept"] = Field(
        "tempfail",
        description="When clamd is down, slow or answers an error: 'tempfail' (451 4.7.1, the sender "
        "retries) or 'accept' (the message is stored unscanned, logged).",
    )
    listeners: list[Listener] = Field(
        default_factory=_both,
        description="Which listeners scan: the MX (smtp) and/or submission (and submissions).",
    )

    @field_validator("socket")
    @classmethod
    def _socket_form(cls, value: str) -> str:
        kind, colon, rest = value.partition(":")
        if kind == "unix" and colon and rest.startswith("/"):
            return value
        if kind == "inet" and colon:
            host, sep, port = rest.rpartition(":")
            if sep and host and port.isdigit() and 0 < int(port) < 65536:
                return value
        raise ValueError("expected 'unix:/path' or 'inet:host:port'")
