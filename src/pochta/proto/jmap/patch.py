"""PatchObject (RFC 8620 section 5.3): an update of a record as JSON pointer paths -> new values."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from typing import Any

from pochta.proto.jmap.errors import SetError, SetErrorType, SetFailure
from pochta.proto.jmap.pointer import PointerError, parse_pointer

__all__ = ["apply_patch"]


def _invalid(description: str) -> SetFailure:
    return SetFailure(SetError(SetErrorType.INVALID_PATCH, description))


def _paths(patch: Mapping[str, Any]) -> list[tuple[tuple[str, ...], Any]]:
    paths = []
    for key, value in patch.items():
        # RFC 8620 section 5.3: each key is a JSON pointer with an implicit leading "/".
        try:
            tokens = parse_pointer("/" + key)
        except PointerError as exc:
            raise _invalid(str(exc)) from None
        paths.append((tokens, value))
    ordered = sorted(tokens for tokens, _ in paths)
    for shorter, longer in itertools.pairwise(ordered):
        # RFC 8620 section 5.3: no pointer may be a prefix of another ("alerts" and
        # "alerts/1/offset"). In sorted order a path's extensions follow it at once.
        if longer[: len(shorter)] == shorter:
            raise _invalid(f"{'/'.join(shorter)!r} and {'/'.join(longer)!r} overlap")
    return paths


def apply_patch(record: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """The record after ``patch``, as a new object (``record`` is not changed); SetFailure
    (invalidPatch) when the patch breaks a rule. A null value removes the property: a type whose
    property has a default puts it back (RFC 8620 section 5.3: "set to the default value if
    specified for this property; otherwise, remove the property")."""
    patched = copy.deepcopy(dict(record))
    for tokens, value in _paths(patch):
        parent: Any = patched
        for depth, token in enumerate(tokens[:-1]):
            if not isinstance(parent, dict):
                # RFC 8620 section 5.3: no pointer into an array (it is replaced whole).
                raise _invalid(f"{'/'.join(tokens)!r} points inside an array or a value")
            if token not in parent:
                # RFC 8620 section 5.3: every part before the last must exist already.
                raise _invalid(f"{'/'.join(tokens[: depth + 1])!r} does not exist")
            parent = parent[token]
        if not isinstance(parent, dict):
            raise _invalid(f"{'/'.join(tokens)!r} points inside an array or a value")
        if value is None:
            parent.pop(tokens[-1], None)  # absent: a no-op
        else:
            parent[tokens[-1]] = copy.deepcopy(value)
    return patched
