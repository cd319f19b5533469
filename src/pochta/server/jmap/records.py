"""What Identity and EmailSubmission share: objects kept as JSON records in the store
(``JmapRecordStore``, revision 0041) with a state per account and type, and their ``*/changes``
(RFC 8620 section 5.2) from the records' stamps: a write stamps what it created, changed or
destroyed with the type's new state, and destroyed records stay as tombstones, so the changes
since any state given out are exact."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pochta.proto.jmap import MethodError, MethodErrorType
from pochta.proto.jmap.standard import parse_changes
from pochta.server.jmap.changes import store_of
from pochta.server.jmap.context import CallContext
from pochta.store.jmap_record_model import JmapRecord

__all__ = ["dump", "load", "parse_record_state", "record_changes", "record_state"]


def record_state(state: int) -> str:
    return str(state)


def parse_record_state(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def dump(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def load(record: JmapRecord) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(record.data)
    return loaded


async def record_changes(
    context: CallContext, arguments: dict[str, Any], type_: str, id_of: Callable[[int], str]
) -> dict[str, Any]:
    """``Foo/changes`` of a record type. A page ends at a state boundary (every record a write
    touched carries its state), so ``newState`` is always a real state; a single write that
    touched more records than one page holds is cannotCalculateChanges (the client starts over)."""
    args = parse_changes(arguments)
    account = context.account(args.account_id)
    since = parse_record_state(args.since_state)
    if since is None:
        raise MethodError(MethodErrorType.CANNOT_CALCULATE_CHANGES, "not a state of this server")
    ceiling = context.settings.jmap.max_changes
    limit = ceiling if args.max_changes is None else min(args.max_changes, ceiling)
    found = await store_of(context).jmap_records(account.account.id, type_, tombstones=True)
    if since > found.state:
        raise MethodError(MethodErrorType.CANNOT_CALCULATE_CHANGES, "a state newer than the server's")
    changed = sorted((r for r in found.records if r.changed > since), key=lambda r: r.changed)
    upto = found.state
    if len(changed) > limit:
        upto = changed[limit].changed - 1  # the last state whose records all fit
        if upto <= since:
            raise MethodError(
                MethodErrorType.CANNOT_CALCULATE_CHANGES, "one change is larger than maxChanges"
            )
        changed = [r for r in changed if r.changed <= upto]
    created, updated, destroyed = [], [], []
    for record in changed:
        if record.created > since:
            if not record.destroyed:
                created.append(id_of(record.id))  # made and gone since: not told at all
        elif record.destroyed:
            destroyed.append(id_of(record.id))
        else:
            updated.append(id_of(record.id))
    return {
        "accountId": account.id,
        "oldState": args.since_state,
        "newState": record_state(upto),
        "hasMoreChanges": upto < found.state,
        "created": created,
        "updated": updated,
        "destroyed": destroyed,
    }
