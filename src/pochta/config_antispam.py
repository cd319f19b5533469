"""The ``[antispam]`` section: what a spam scanner's verdict does (docs/antispam.md "rspamd") and
how users' Junk moves train it (``pochta.config`` re-exports it)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from pochta.config_section import Section

__all__ = ["AntispamSettings"]

_FIELD_NAME_CHARS = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class AntispamSettings(Section):
    junk_header: str = Field(
        "X-Spam",
        max_length=64,
        description='The header field a milter adds (or changes) to say "spam" (rspamd\'s `add header` '
        "action: `X-Spam: Yes`). Only the milter's own modification in this transaction counts, never "
        "a field the message arrived with. Empty: off.",
    )
    junk_value: str = Field(
        "Yes",
        max_length=64,
        description="The value of `junk_header` (compared without case) that files the recipients' "
        "copy into their Junk mailbox instead of INBOX.",
    )
    strip_headers: list[str] = Field(
        default_factory=lambda: [
            "X-Spam",
            "X-Spamd-Result",
            "X-Spam-Status",
            "X-Rspamd-Score",
            "X-Spam-Score",
            "X-Spam-Level",
        ],
        max_length=32,
        description="Header fields removed from mail arriving on the MX from clients outside "
        "`trusted_networks`, before the milters see it: a sender cannot bring its own "
        "verdict (for Sieve's `spamtest`, or a forged `X-Spam: No`). `junk_header` is always removed.",
    )
    learn: Literal["off", "global", "per-user"] = Field(
        "off",
        description="Training from users' moves: a message moved or copied into a \\Junk mailbox is "
        "learned as spam, one moved out of Junk (not to Trash) as ham, through rspamd's controller. "
        "`per-user` sends the account's address in `Deliver-To:` (rspamd's per-user statistics).",
    )
    rspamd_controller: str = Field(
        "http://127.0.0.1:11334",
        description="rspamd's controller worker (`http://HOST:PORT`), for `learn`.",
    )
    controller_password: str = Field(
        "", description="The controller's `enable_password` (or `password`), sent as `Password:`."
    )
    learn_timeout: float = Field(30.0, gt=0, le=600, description="Seconds for one learn request.")
    learn_max_size: int = Field(
        10 * 1024 * 1024,
        gt=0,
        description="Messages larger than this (octets) are not sent to be learned (rspamd's "
        "controller refuses large bodies too).",
    )
    learn_queue: int = Field(
        1000,
        gt=0,
        le=100_000,
        description="Learn requests waiting at most; past it a request is dropped and logged.",
    )

    @field_validator("junk_header")
    @classmethod
    def _check_junk_header(cls, value: str) -> str:
        if value and not set(value) <= _FIELD_NAME_CHARS:
            raise ValueError(f"not a header field name: {value!r}")
        return value

    @field_validator("strip_headers")
    @classmethod
    def _check_strip(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name or not set(name) <= _FIELD_NAME_CHARS:
                raise ValueError(f"not a header field name: {name!r}")
        return value

    @field_validator("rspamd_controller")
    @classmethod
    def _check_controller(cls, value: str) -> str:
        scheme, sep, rest = value.partition("://")
        host, _, port = rest.rstrip("/").rpartition(":")
        if scheme != "http" or not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"expected http://HOST:PORT, got {value!r}")
        return value.rstrip("/")

    def stripped(self) -> frozenset[bytes]:
        """The lower-cased names of the fields removed at the MX."""
        names = [*self.strip_headers, *([self.junk_header] if self.junk_header else [])]
        return frozenset(name.lower().encode() for name in names)
