"""/changes arguments (RFC 8620 section 5.2)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from pochta.proto.jmap.arguments import ArgumentReader, invalid_arguments

__all__ = ["ChangesArgs", "parse_changes"]


@dataclass(frozen=True)
class ChangesArgs:
    account_id: str
    since_state: str
    max_changes: int | None  # None: the server chooses
    extra: Mapping[str, Any] = field(default_factory=dict)


def parse_changes(arguments: Mapping[str, Any], *, extra: Collection[str] = ()) -> ChangesArgs:
    reader = ArgumentReader(arguments, extra)
    account_id = reader.id("accountId")
    since_state = reader.string("sinceState")
    max_changes = reader.optional_unsigned("maxChanges")
    rest = reader.rest()
    if max_changes == 0:
        # RFC 8620 section 5.2: maxChanges, if given, MUST be greater than 0.
        raise invalid_arguments("maxChanges must be greater than 0")
    return ChangesArgs(account_id, since_state, max_changes, rest)
