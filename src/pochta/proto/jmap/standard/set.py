"""/set arguments (RFC 8620 section 5.3)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from pochta.proto.jmap.arguments import ArgumentReader
from pochta.proto.jmap.errors import MethodError, MethodErrorType

__all__ = ["SetArgs", "SetOutcome", "parse_set", "require_state"]


@dataclass(frozen=True)
class SetArgs:
    account_id: str
    if_in_state: str | None
    create: Mapping[str, dict[str, Any]]  # creation id -> the record to create
    update: Mapping[str, dict[str, Any]]  # id (or "#creationId") -> its PatchObject
    destroy: tuple[str, ...]  # ids (or "#creationId")
    extra: Mapping[str, Any] = field(default_factory=dict)


def parse_set(
    arguments: Mapping[str, Any], *, max_objects: int, extra: Collection[str] = (), in_account: bool = True
) -> SetArgs:
    reader = ArgumentReader(arguments, extra)
    # in_account=False: a type outside any account (RFC 8620 section 7.2's PushSubscription), whose
    # /get and /set take no accountId (and its /set no ifInState); account_id is then "".
    account_id = reader.id("accountId") if in_account else ""
    if_in_state = reader.optional_string("ifInState") if in_account else None
    create = reader.object_map("create") or {}
    update = reader.object_map("update", references=True) or {}
    destroy = reader.ids("destroy", references=True) or ()
    rest = reader.rest()
    if len(create) + len(update) + len(destroy) > max_objects:
        # RFC 8620 section 5.3: more changes than maxObjectsInSet is requestTooLarge.
        raise MethodError(
            MethodErrorType.REQUEST_TOO_LARGE, f"more than {max_objects} changes (maxObjectsInSet)"
        )
    return SetArgs(account_id, if_in_state, create, update, destroy, rest)


def require_state(if_in_state: str | None, state: str) -> None:
    """RFC 8620 section 5.3: a /set (or Email/import, RFC 8621 section 4.8) given ``ifInState``
    other than the current state is ``stateMismatch``, and changes nothing."""
    if if_in_state is not None and if_in_state != state:
        raise MethodError(MethodErrorType.STATE_MISMATCH, f"the state is {state}")


@dataclass
class SetOutcome:
    """What one /set call did, as RFC 8620 section 5.3's response reports it: ``updated`` and
    ``destroyed`` are keyed by the ids (a "#creationId" resolved), the failures by what was given."""

    created: dict[str, Any] = field(default_factory=dict)  # creation id -> the server-set properties
    updated: dict[str, Any] = field(default_factory=dict)  # id -> the changed server-set ones or None
    destroyed: list[str] = field(default_factory=list)
    not_created: dict[str, Any] = field(default_factory=dict)  # creation id -> SetError
    not_updated: dict[str, Any] = field(default_factory=dict)
    not_destroyed: dict[str, Any] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.destroyed)

    def response(self, account_id: str, old_state: str, new_state: str) -> dict[str, Any]:
        return {
            "accountId": account_id,
            "oldState": old_state,
            "newState": new_state,
            "created": self.created or None,
            "updated": self.updated or None,
            "destroyed": self.destroyed or None,
            "notCreated": self.not_created or None,
            "notUpdated": self.not_updated or None,
            "notDestroyed": self.not_destroyed or None,
        }
