"""/get arguments (RFC 8620 section 5.1)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pochta.proto.jmap.arguments import ArgumentReader
from pochta.proto.jmap.errors import MethodError, MethodErrorType

__all__ = ["GetArgs", "parse_get", "wanted_properties"]


@dataclass(frozen=True)
class GetArgs:
    account_id: str
    ids: tuple[str, ...] | None  # None: every record (section 5.1); items may be "#creationId"
    properties: tuple[str, ...] | None  # None: every property
    extra: Mapping[str, Any] = field(default_factory=dict)


def parse_get(
    arguments: Mapping[str, Any], *, max_objects: int, extra: Collection[str] = (), in_account: bool = True
) -> GetArgs:
    reader = ArgumentReader(arguments, extra)
    # in_account=False: a type outside any account (RFC 8620 section 7.2's PushSubscription), whose
    # /get and /set take no accountId (and its /set no ifInState); account_id is then "".
    account_id = reader.id("accountId") if in_account else ""
    ids = reader.ids("ids", references=True)
    properties = reader.strings("properties")
    rest = reader.rest()
    if ids is not None and len(ids) > max_objects:
        # RFC 8620 section 5.1: more ids than maxObjectsInGet is requestTooLarge.
        raise MethodError(MethodErrorType.REQUEST_TOO_LARGE, f"more than {max_objects} ids (maxObjectsInGet)")
    return GetArgs(account_id, ids, properties, rest)


def wanted_properties(args: GetArgs, known: Sequence[str]) -> tuple[str, ...]:
    """RFC 8620 section 5.1: the properties to return, ``id`` always among them and first; every
    ``known`` one when ``properties`` is null; an unknown one is invalidArguments."""
    if args.properties is None:
        return ("id", *(name for name in known if name != "id"))
    unknown = [name for name in args.properties if name not in known and name != "id"]
    if unknown:
        raise MethodError(MethodErrorType.INVALID_ARGUMENTS, f"unknown properties: {', '.join(unknown)}")
    return ("id", *(name for name in dict.fromkeys(args.properties) if name != "id"))
