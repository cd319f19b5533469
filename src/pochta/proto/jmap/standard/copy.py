"""/copy arguments (RFC 8620 section 5.4)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from pochta.proto.jmap.arguments import ArgumentReader, invalid_arguments
from pochta.proto.jmap.errors import MethodError, MethodErrorType
from pochta.proto.jmap.ids import is_id

__all__ = ["CopyArgs", "parse_copy"]


@dataclass(frozen=True)
class CopyArgs:
    from_account_id: str
    if_from_in_state: str | None
    account_id: str
    if_in_state: str | None
    # Creation id -> the record: its "id" (in the from account) and properties to set on the copy.
    create: Mapping[str, dict[str, Any]]
    on_success_destroy_original: bool
    destroy_from_if_in_state: str | None
    extra: Mapping[str, Any] = field(default_factory=dict)


def parse_copy(arguments: Mapping[str, Any], *, max_objects: int, extra: Collection[str] = ()) -> CopyArgs:
    reader = ArgumentReader(arguments, extra)
    from_account_id = reader.id("fromAccountId")
    if_from_in_state = reader.optional_string("ifFromInState")
    account_id = reader.id("accountId")
    if_in_state = reader.optional_string("ifInState")
    create = reader.object_map("create")
    destroy_original = reader.boolean("onSuccessDestroyOriginal", False)
    destroy_from_if_in_state = reader.optional_string("destroyFromIfInState")
    rest = reader.rest()
    if create is None:
        raise invalid_arguments("create must be a map of creation ids to objects")
    for creation_id, record in create.items():
        # RFC 8620 section 5.4: each object MUST contain the id of the record to copy.
        if not is_id(record.get("id")):
            raise invalid_arguments(f"create/{creation_id} has no id of the record to copy")
    if from_account_id == account_id:
        # RFC 8620 section 5.4: accountId, the account to copy to, "MUST be different to the
        # fromAccountId" (within one account, /set makes copies).
        raise invalid_arguments("fromAccountId and accountId must differ")
    if len(create) > max_objects:
        raise MethodError(
            MethodErrorType.REQUEST_TOO_LARGE, f"more than {max_objects} records (maxObjectsInSet)"
        )
    return CopyArgs(
        from_account_id,
        if_from_in_state,
        account_id,
        if_in_state,
        create,
        destroy_original,
        destroy_from_if_in_state,
        rest,
    )
