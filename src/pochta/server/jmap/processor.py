"""The API request processor: runs a Request's method calls in order and collects the Response
(RFC 8620 sections 3.3, 3.4 and 3.6.2).

Each call sees the effects of the calls before it (section 3.3: "method calls ... are processed
sequentially, in order"), its ``#`` arguments resolved against the responses so far (section 3.7).
A call that fails is one ``error`` response; the request goes on with the next call. An unexpected
exception of a handler is logged and answered as that call's serverFail."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pochta.config import Settings
from pochta.log import get_logger
from pochta.proto.jmap import (
    CreatedIds,
    Invocation,
    MethodError,
    MethodErrorType,
    Request,
    Response,
    resolve_references,
)
from pochta.server.jmap.context import CallContext, RequestState
from pochta.server.jmap.principal import Principal
from pochta.server.jmap.registry import MethodRegistry
from pochta.store.api import Store

if TYPE_CHECKING:
    from pochta.delivery.pipeline import Delivery

__all__ = ["ERROR_RESPONSE", "process_request"]

# RFC 8620 section 3.6.2: a method-level error is the response named "error".
ERROR_RESPONSE = "error"


def _error(error: MethodError, call_id: str) -> Invocation:
    return Invocation(ERROR_RESPONSE, error.to_json(), call_id)


async def process_request(
    request: Request,
    *,
    registry: MethodRegistry,
    principal: Principal,
    settings: Settings,
    store: Store | None,
    session_state: Callable[[], str],
    on_changed: Callable[[dict[str, set[str]]], None] | None = None,
    delivery: Delivery | None = None,
    data_dir: Path | None = None,
) -> Response:
    """The Response to ``request``. ``session_state`` is asked once all calls ran (a call may
    change the session); ``on_changed`` hears which types changed in which accounts."""
    state = RequestState(CreatedIds.starting_with(request.created_ids))
    responses: list[Invocation] = []
    log = get_logger()
    for call in request.method_calls:
        method = registry.lookup(call.name, request.using)
        if method is None:
            responses.append(_error(MethodError(MethodErrorType.UNKNOWN_METHOD), call.call_id))
            continue
        context = CallContext(
            call.name,
            call.call_id,
            request.using,
            method.capability,
            principal,
            settings,
            store,
            state,
            delivery=delivery,
            data_dir=data_dir,
        )
        try:
            arguments = resolve_references(call.arguments, responses)
            result: dict[str, Any] = await method.handler(context, arguments)
        except MethodError as error:
            responses.append(_error(error, call.call_id))
            continue
        except Exception:
            # One call's bug fails that call, not the request (RFC 8620 section 3.6.2 serverFail).
            log.exception("jmap method failed", method=call.name, user=principal.username)
            failed = MethodError(MethodErrorType.SERVER_FAIL, "the server failed on this call; it is logged")
            responses.append(_error(failed, call.call_id))
            continue
        responses.append(Invocation(call.name, result, call.call_id))
        responses.extend(context.extra_responses)
    if on_changed is not None and state.changed:
        on_changed(state.changed)
    # RFC 8620 section 3.4: createdIds only when the request had it.
    created = dict(state.created_ids.ids) if request.created_ids is not None else None
    return Response(tuple(responses), session_state(), created)
