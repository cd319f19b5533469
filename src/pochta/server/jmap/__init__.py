"""The JMAP dispatcher (RFC 8620 section 3): the method registry, the request processor, the
context a handler gets, and the core methods. docs/jmap.md "Writing a method".

A method is an ``async def handler(context: CallContext, arguments: dict) -> dict``, registered
under its name and capability (``MethodRegistry.register``); it raises ``MethodError`` for an
error response, reads its arguments with ``pochta.proto.jmap.standard``'s parsers."""

from pochta.server.jmap.context import CallContext, RequestState
from pochta.server.jmap.core_methods import register_core
from pochta.server.jmap.limits import ConcurrentRequests
from pochta.server.jmap.principal import JmapAccount, Principal, principal_of
from pochta.server.jmap.processor import ERROR_RESPONSE, process_request
from pochta.server.jmap.push_subscription import register_push_subscription
from pochta.server.jmap.registry import Handler, Method, MethodRegistry

__all__ = [
    "ERROR_RESPONSE",
    "CallContext",
    "ConcurrentRequests",
    "Handler",
    "JmapAccount",
    "Method",
    "MethodRegistry",
    "Principal",
    "RequestState",
    "default_registry",
    "principal_of",
    "process_request",
    "register_core",
]


def default_registry() -> MethodRegistry:
    """Every method pochta serves (the mail methods join here as they are written)."""
    registry = MethodRegistry()
    register_core(registry)
    register_push_subscription(registry)  # RFC 8620 section 7.2: none is ever made
    return registry
