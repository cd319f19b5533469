"""Reading a request body as I-JSON (RFC 7493), which RFC 8620 section 3.1 requires of requests:
UTF-8, no duplicate member names, no number outside an IEEE 754 double, no lone surrogate."""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["NotIJson", "dumps", "loads"]


class NotIJson(ValueError):
    """The text is not JSON, or is JSON that I-JSON forbids."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    made = dict(pairs)
    if len(made) != len(pairs):  # RFC 7493 section 2.3: member names are unique
        raise NotIJson("an object has the same member name twice")
    return made


def _constant(name: str) -> Any:
    raise NotIJson(f"{name} is not a JSON number")  # json accepts NaN and Infinity; JSON does not


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # RFC 7493 section 2.2: numbers an IEEE 754 double holds
        raise NotIJson(f"number out of range: {text[:40]}")
    return value


def _has_lone_surrogate(value: Any) -> bool:
    """Walks the parsed value (iteratively: depth is the client's) for a string with a lone
    surrogate, which a \\uD800 escape makes and RFC 7493 section 2.1 forbids."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def loads(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
        value = json.loads(text, object_pairs_hook=_object, parse_constant=_constant, parse_float=_float)
    except NotIJson:
        raise
    except RecursionError:
        raise NotIJson("nested too deeply") from None
    except ValueError as exc:  # not UTF-8, not JSON, an integer past Python's digit limit
        raise NotIJson(str(exc)) from None
    if _has_lone_surrogate(value):
        raise NotIJson("a string holds a lone surrogate")
    return value


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, as responses are sent."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
