"""Creation ids: a client names a record it creates (``create`` of a /set or /copy) and refers to
it before it knows the server's id, as ``#creationId`` in a later Id-typed value (RFC 8620
sections 3.3 and 5.3). One map per request holds creation id -> id: the request's ``createdIds``
to begin with, and every record created while it is processed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pochta.proto.jmap.ids import is_id

__all__ = ["CreatedIds", "is_id_or_reference"]


def is_id_or_reference(value: object) -> bool:
    """An Id, or ``#`` and a creation id (which is an Id itself)."""
    return isinstance(value, str) and (is_id(value) or (value.startswith("#") and is_id(value[1:])))


@dataclass
class CreatedIds:
    """The request's map of creation ids (RFC 8620 section 3.3 createdIds)."""

    ids: dict[str, str] = field(default_factory=dict)

    @classmethod
    def starting_with(cls, given: Mapping[str, str] | None) -> CreatedIds:
        return cls(dict(given or {}))

    def add(self, creation_id: str, record_id: str) -> None:
        # RFC 8620 section 3.3: a successful create adds its creation id with the assigned id.
        self.ids[creation_id] = record_id

    def resolve(self, value: str) -> str | None:
        """The id ``value`` names: itself, or for ``#creationId`` the id that creation got (None:
        no record was created under that creation id, so far)."""
        if value.startswith("#"):
            return self.ids.get(value[1:])
        return value
