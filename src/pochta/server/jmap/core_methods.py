"""The methods of ``urn:ietf:params:jmap:core`` (RFC 8620 section 4): Core/echo."""

from __future__ import annotations

from typing import Any

from pochta.proto.jmap import CORE_CAPABILITY
from pochta.server.jmap.context import CallContext
from pochta.server.jmap.registry import MethodRegistry

__all__ = ["register_core"]


async def core_echo(context: CallContext, arguments: dict[str, Any]) -> dict[str, Any]:
    # RFC 8620 section 4.1: "returns exactly the same arguments as it is given".
    return arguments


def register_core(registry: MethodRegistry) -> None:
    registry.register("Core/echo", CORE_CAPABILITY, core_echo)
