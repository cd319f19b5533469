"""The methods the dispatcher knows: name -> handler, each under the capability that defines it.
A method is only found for a request whose ``using`` names its capability."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pochta.server.jmap.context import CallContext

__all__ = ["Handler", "Method", "MethodRegistry"]

# A handler takes the call's context and its arguments (references resolved) and returns the
# response's arguments; it raises MethodError for an error response.
Handler = Callable[[CallContext, dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Method:
    name: str
    capability: str
    handler: Handler


class MethodRegistry:
    def __init__(self) -> None:
        self._methods: dict[str, Method] = {}

    def register(self, name: str, capability: str, handler: Handler) -> None:
        if name in self._methods:
            raise ValueError(f"JMAP method {name} registered twice")
        self._methods[name] = Method(name, capability, handler)

    def lookup(self, name: str, using: frozenset[str]) -> Method | None:
        """The method, if it is known and its capability is in ``using`` (RFC 8620 section 3.3:
        the client names the capabilities it uses; a method of another is unknownMethod)."""
        method = self._methods.get(name)
        return method if method is not None and method.capability in using else None

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset(method.capability for method in self._methods.values())
