"""Reading a method's arguments object into typed values: one reader per call, one getter per
argument type, each applying RFC 8620's type and default rules; what is left over at the end is an
unknown argument, which RFC 8620 section 3.6.2 makes invalidArguments."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from pochta.proto.jmap.creation import is_id_or_reference
from pochta.proto.jmap.errors import MethodError, MethodErrorType
from pochta.proto.jmap.ids import is_id, is_int, is_unsigned_int

__all__ = ["ArgumentReader", "invalid_arguments"]


def invalid_arguments(description: str) -> MethodError:
    return MethodError(MethodErrorType.INVALID_ARGUMENTS, description)


class ArgumentReader:
    """Takes the arguments out of ``arguments`` one by one. ``extra`` names arguments a type adds
    to a standard method (Email/get's ``bodyProperties`` ...): they are left for the caller in
    ``rest()``, and only they."""

    def __init__(self, arguments: Mapping[str, Any], extra: Collection[str] = ()) -> None:
        self._arguments = arguments
        self._taken: set[str] = set()
        self._extra = frozenset(extra)

    def _take(self, name: str) -> Any:
        self._taken.add(name)
        return self._arguments.get(name)

    def has(self, name: str) -> bool:
        return name in self._arguments

    def id(self, name: str) -> str:
        value = self._take(name)
        if not is_id(value):
            raise invalid_arguments(f"{name} must be an Id")
        return str(value)

    def optional_id(self, name: str) -> str | None:
        value = self._take(name)
        if value is None:
            return None
        if not is_id(value):
            raise invalid_arguments(f"{name} must be an Id or null")
        return str(value)

    def ids(self, name: str, *, references: bool = False) -> tuple[str, ...] | None:
        """An Id[] or null; with ``references``, items may be ``#creationId`` too."""
        value = self._take(name)
        if value is None:
            return None
        check = is_id_or_reference if references else is_id
        if not isinstance(value, list) or not all(check(item) for item in value):
            raise invalid_arguments(f"{name} must be an array of Ids or null")
        return tuple(value)

    def string(self, name: str) -> str:
        value = self._take(name)
        if not isinstance(value, str):
            raise invalid_arguments(f"{name} must be a String")
        return value

    def optional_string(self, name: str) -> str | None:
        value = self._take(name)
        if value is not None and not isinstance(value, str):
            raise invalid_arguments(f"{name} must be a String or null")
        return value

    def strings(self, name: str) -> tuple[str, ...] | None:
        value = self._take(name)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise invalid_arguments(f"{name} must be an array of Strings or null")
        return tuple(value)

    def boolean(self, name: str, default: bool) -> bool:
        value = self._take(name)
        if value is None:  # RFC 8620 section 3.5: an omitted argument takes its default
            return default
        if not isinstance(value, bool):
            raise invalid_arguments(f"{name} must be a Boolean")
        return value

    def integer(self, name: str, default: int) -> int:
        value = self._take(name)
        if value is None:
            return default
        if not is_int(value):
            raise invalid_arguments(f"{name} must be an Int")
        return int(value)

    def optional_unsigned(self, name: str) -> int | None:
        value = self._take(name)
        if value is None:
            return None
        if not is_unsigned_int(value):
            raise invalid_arguments(f"{name} must be an UnsignedInt or null")
        return int(value)

    def object_map(self, name: str, *, references: bool = False) -> dict[str, dict[str, Any]] | None:
        """An Id[Object] (the keys may be ``#creationId`` with ``references``) or null."""
        value = self._take(name)
        if value is None:
            return None
        check = is_id_or_reference if references else is_id
        if not isinstance(value, dict) or not all(
            check(key) and isinstance(item, dict) for key, item in value.items()
        ):
            raise invalid_arguments(f"{name} must be a map of Ids to objects or null")
        return dict(value)

    def raw(self, name: str) -> Any:
        """An argument whose type the caller checks (a filter, a sort)."""
        return self._take(name)

    def rest(self) -> dict[str, Any]:
        """The extra arguments given; invalidArguments if any other argument is left unread."""
        unknown = sorted(set(self._arguments) - self._taken - self._extra)
        if unknown:
            raise invalid_arguments(f"unknown arguments: {', '.join(unknown)}")
        return {name: self._arguments[name] for name in self._extra if name in self._arguments}
