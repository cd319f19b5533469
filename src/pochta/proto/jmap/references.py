"""Result references: an argument ``#name`` whose value points into an earlier method response of
the same request (RFC 8620 section 3.7)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pochta.proto.jmap.errors import MethodError, MethodErrorType
from pochta.proto.jmap.pointer import PointerError, evaluate
from pochta.proto.jmap.request import Invocation

__all__ = ["resolve_references"]


def _failed(description: str) -> MethodError:
    # RFC 8620 section 3.7: "If any result reference fails to resolve, the whole method MUST be
    # rejected with an invalidResultReference error."
    return MethodError(MethodErrorType.INVALID_RESULT_REFERENCE, description)


def _resolve(name: str, reference: Any, earlier: Sequence[Invocation]) -> Any:
    if not isinstance(reference, dict) or not all(
        isinstance(reference.get(key), str) for key in ("resultOf", "name", "path")
    ):
        return _failed(f"#{name} is not a ResultReference (resultOf, name, path)")
    result_of, wanted, path = reference["resultOf"], reference["name"], reference["path"]
    # RFC 8620 section 3.7 step 1: the first response with the method call id resultOf ...
    response = next((r for r in earlier if r.call_id == result_of), None)
    if response is None:
        return _failed(f"#{name}: no earlier response to call {result_of!r}")
    # ... step 2: whose name is the reference's name ...
    if response.name != wanted:
        return _failed(f"#{name}: the response to {result_of!r} is {response.name!r}, not {wanted!r}")
    # ... step 3: the path, a JSON pointer with "*", applied to its arguments.
    try:
        return evaluate(response.arguments, path)
    except PointerError as exc:
        return _failed(f"#{name}: path {path!r}: {exc}")


def resolve_references(arguments: dict[str, Any], earlier: Sequence[Invocation]) -> dict[str, Any]:
    """``arguments`` with every ``#name`` replaced by ``name`` and the value it references in
    ``earlier`` (the responses so far, in order); MethodError when one fails."""
    if not any(key.startswith("#") for key in arguments):
        return arguments
    resolved: dict[str, Any] = {}
    for key, value in arguments.items():
        if not key.startswith("#"):
            resolved[key] = value
            continue
        name = key[1:]
        if name in arguments:
            # RFC 8620 section 3.7: "foo" and "#foo" together are invalidArguments.
            raise MethodError(MethodErrorType.INVALID_ARGUMENTS, f"both {name!r} and {key!r} given")
        found = _resolve(name, value, earlier)
        if isinstance(found, MethodError):
            raise found
        resolved[name] = found
    return resolved
