"""The ``[fetch]`` settings: the fetcher of external accounts (docs/fetch.md). ``pochta.config``
re-exports the section."""

from __future__ import annotations

from pydantic import Field, model_validator

from pochta.config_section import Section

__all__ = ["FetchSettings"]


class FetchSettings(Section):
    enabled: bool = Field(
        True,
        description="The server polls the external accounts users added (`pochta fetch add`); off: "
        "only `pochta fetch run` fetches.",
    )
    poll_interval: float = Field(
        300.0,
        ge=10.0,
        le=86400.0,
        description="Seconds between two runs of one external account after a success (each run "
        "is moved by up to a tenth of it at random, so accounts added together spread out).",
    )
    backoff_initial: float = Field(
        60.0,
        ge=1.0,
        le=86400.0,
        description="Seconds before the next run after a failed one; it doubles with each failure "
        "in a row, up to backoff_max, and is jittered (a random part of it, from half to all).",
    )
    backoff_max: float = Field(
        3600.0,
        ge=1.0,
        le=7 * 86400.0,
        description="The longest wait between two runs of an account that keeps failing.",
    )
    max_parallel: int = Field(
        4, ge=1, le=256, description="External accounts fetched at the same time by the server."
    )
    check_interval: float = Field(
        5.0,
        ge=0.1,
        le=3600.0,
        description="Seconds between two looks of the scheduler for accounts that are due.",
    )
    max_message_size: int = Field(
        50 * 1024 * 1024,
        ge=1024,
        description="A remote message larger than this (octets, by the size the server lists) is "
        "left on the remote and reported, never downloaded.",
    )
    max_messages_per_run: int = Field(
        2000,
        ge=1,
        description="Messages one run downloads at most; the rest follow in the next runs (a "
        "first run of a big mailbox does not hold the account for hours).",
    )
    connect_timeout: float = Field(
        30.0, gt=0, le=600.0, description="Seconds to connect and finish the TLS handshake."
    )
    command_timeout: float = Field(
        120.0,
        gt=0,
        le=3600.0,
        description="Seconds the remote server may take to answer one command (a RETR's whole message).",
    )
    ca_file: str = Field(
        "",
        description="PEM file of the certificate authorities trusted for remote servers, relative "
        "to the data directory; empty: the system's store. Certificates are always verified.",
    )

    @model_validator(mode="after")
    def _check_backoff(self) -> FetchSettings:
        if self.backoff_max < self.backoff_initial:
            raise ValueError("backoff_max must not be smaller than backoff_initial")
        return self
