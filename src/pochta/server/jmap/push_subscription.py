"""PushSubscription/get and /set (RFC 8620 section 7.2), for a server that makes none.

A PushSubscription asks the server to POST StateChanges to a URL of the client's choosing on the
Internet (a phone vendor's push service): pochta does not send traffic from the mail server to
addresses a client picks, so it keeps no subscriptions. The methods stay, so that a client asking
learns it plainly: /get finds none (every id asked is notFound), a /set create is refused with the
SetError ``forbidden`` (RFC 8620 section 5.3: "would violate ... other permissions policy") naming
the event source and the WebSocket, an update or destroy is ``notFound``. docs/jmap.md "Push".
"""

from __future__ import annotations

from typing import Any

from pochta.proto.jmap import CORE_CAPABILITY, SetError, SetErrorType
from pochta.proto.jmap.standard import parse_get, parse_set
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.registry import MethodRegistry

__all__ = ["register_push_subscription"]

_REFUSED = SetError(
    SetErrorType.FORBIDDEN,
    "this server does not push to URLs: use the eventSourceUrl or the WebSocket (RFC 8887)",
)


async def push_subscription_get(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    # RFC 8620 section 7.2.1: no accountId argument, no state in the response.
    args = parse_get(arguments, max_objects=context.settings.jmap.max_objects_in_get, in_account=False)
    asked = [context.resolve_id(i) or i for i in args.ids] if args.ids is not None else []
    return {"list": [], "notFound": asked}


async def push_subscription_set(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    # RFC 8620 section 7.2.2: no accountId or ifInState; no oldState or newState in the response.
    args = parse_set(arguments, max_objects=context.settings.jmap.max_objects_in_set, in_account=False)
    not_found = SetError(SetErrorType.NOT_FOUND).to_json()
    return {
        "created": None,
        "updated": None,
        "destroyed": None,
        "notCreated": {key: _REFUSED.to_json() for key in args.create} or None,
        "notUpdated": {key: dict(not_found) for key in args.update} or None,
        "notDestroyed": {key: dict(not_found) for key in args.destroy} or None,
    }


def register_push_subscription(registry: MethodRegistry) -> None:
    registry.register("PushSubscription/get", CORE_CAPABILITY, push_subscription_get)
    registry.register("PushSubscription/set", CORE_CAPABILITY, push_subscription_set)
