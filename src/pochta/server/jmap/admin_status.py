"""ServerStatus/get of the admin capability, over ``pochta.admin.status`` (``pochta status``).

One object, id "singleton" (as RFC 8621 section 8's VacationResponse): ``version``,
``running``, ``pid``, ``startedAt`` (UTCDate), ``uptimeSeconds``, ``workers`` (workers whose
counters answered; null with metrics off), ``metricsSource`` ("workers": every worker's merged, as
``/metrics`` shows them; "this worker": with ``[metrics] listen = "off"``, the answering worker's
own), ``queueMessages``, ``queueRecipientsPending`` and ``metrics`` (samples: ``name``,
``labels``, ``value``). The state is a digest of the object, so it changes at every call that
finds other counters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pochta.admin import status
from pochta.metrics import METRICS
from pochta.proto.jmap import MethodError, MethodErrorType
from pochta.proto.jmap.admin import ADMIN_CAPABILITY
from pochta.proto.jmap.dates import format_utc_date
from pochta.server.jmap.admin_common import AdminType, admin_get, admin_store
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.registry import MethodRegistry

__all__ = ["register_admin_status"]

SINGLETON = "singleton"


async def _objects(context: CallContext) -> dict[str, dict[str, Any]]:
    if context.data_dir is None:
        raise MethodError(MethodErrorType.SERVER_UNAVAILABLE, "no data directory")
    found = await status.server_status(admin_store(context), context.data_dir, METRICS)
    started = None if found.started is None else format_utc_date(datetime.fromtimestamp(found.started, UTC))
    return {
        SINGLETON: {
            "id": SINGLETON,
            "version": found.version,
            "running": found.running,
            "pid": found.pid,
            "startedAt": started,
            "uptimeSeconds": None if found.uptime is None else int(found.uptime),
            "workers": found.workers,
            "metricsSource": found.metrics_source,
            "queueMessages": found.queue_messages,
            "queueRecipientsPending": found.queue_recipients_pending,
            "metrics": [{"name": s.name, "labels": dict(s.labels), "value": s.value} for s in found.metrics],
        }
    }


SERVER_STATUS = AdminType("ServerStatus", _objects)


async def server_status_get(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    return await admin_get(context, arguments, SERVER_STATUS)


def register_admin_status(registry: MethodRegistry) -> None:
    registry.register("ServerStatus/get", ADMIN_CAPABILITY, server_status_get)
