"""The base of every settings section, and the error that names a mapping field's bad entry."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Section", "SubkeyError"]


class SubkeyError(ValueError):
    """A bad entry of a mapping field: the error message names ``field.subkey``
    (``listeners.imap: port must be 0..65535``), not just the field."""

    def __init__(self, subkey: str, message: str) -> None:
        super().__init__(message)
        self.subkey = subkey


class Section(BaseModel):
    """A section of pochta.toml: unknown keys are errors, and settings never change once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)
