"""JSON Pointer (RFC 6901) with JMAP's ``*`` over arrays (RFC 8620 section 3.7).

Evaluation is iterative: a pointer and the document come from the client (Core/echo hands back
what it was given), and neither may run Python's recursion limit out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["PointerError", "evaluate", "parse_pointer"]


class PointerError(ValueError):
    """The pointer is malformed, or names nothing in the document."""


def parse_pointer(pointer: str) -> tuple[str, ...]:
    """The reference tokens of a pointer, unescaped (RFC 6901 sections 3 and 4)."""
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        raise PointerError(f"a JSON pointer starts with '/': {pointer!r}")
    tokens = []
    for raw in pointer[1:].split("/"):
        # RFC 6901 section 3: "~" is escaped as "~0", "/" as "~1", and nothing else follows "~".
        if "~" in raw and any(part[:1] not in ("0", "1") for part in raw.split("~")[1:]):
            raise PointerError(f"bad escape in JSON pointer: {pointer!r}")
        tokens.append(raw.replace("~1", "/").replace("~0", "~"))
    return tuple(tokens)


# RFC 8620 section 3.7: the token that walks every item of an array.
_EACH = "*"


def _array_index(token: str, length: int) -> int:
    # RFC 6901 section 4: a decimal index without leading zeros; "-" (past the end) names nothing.
    if not token.isascii() or not token.isdigit() or (len(token) > 1 and token[0] == "0"):
        raise PointerError(f"not an array index: {token!r}")
    index = int(token)
    if index >= length:
        raise PointerError(f"array index {index} past the end ({length} items)")
    return index


def _follow(value: Any, tokens: tuple[str, ...], index: int) -> tuple[Any, int]:
    """Steps down from ``value`` until the pointer ends or reaches a ``*`` over an array."""
    while index < len(tokens):
        step = tokens[index]
        if isinstance(value, list):
            if step == _EACH:
                return value, index
            value = value[_array_index(step, len(value))]
        elif isinstance(value, dict):
            if step not in value:
                raise PointerError(f"no member {step!r}")
            value = value[step]
        else:
            raise PointerError(f"cannot step into a {type(value).__name__} with {step!r}")
        index += 1
    return value, index


_END = object()


def evaluate(document: Any, pointer: str | tuple[str, ...]) -> Any:
    """The value ``pointer`` names in ``document``.

    RFC 8620 section 3.7: "*" over an array applies the rest of the pointer to every item, in
    order, into a new array; an item's result that is itself an array adds its items, not itself
    (an array of arrays becomes one array)."""
    tokens = parse_pointer(pointer) if isinstance(pointer, str) else pointer
    # One frame per "*" being walked: the array's items left, the token after "*", the results.
    frames: list[tuple[Iterator[Any], int, list[Any]]] = []
    value, index = document, 0
    while True:
        value, index = _follow(value, tokens, index)
        if index < len(tokens):  # a "*" over an array: walk its items
            frames.append((iter(value), index + 1, []))
        elif not frames:
            return value
        elif isinstance(value, list):
            frames[-1][2].extend(value)
        else:
            frames[-1][2].append(value)
        while frames:  # the next item to walk, closing the frames whose items are all done
            items, after, results = frames[-1]
            item = next(items, _END)
            if item is not _END:
                value, index = item, after
                break
            frames.pop()
            if not frames:
                return results
            frames[-1][2].extend(results)  # an array of results: its items, flattened
