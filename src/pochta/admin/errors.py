"""The one error of the administration layer: a kind a caller can map (a JMAP SetError, an exit
code) and a message for the operator."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum

from pochta.naming import InvalidName
from pochta.store.api import AlreadyExists, Conflict, NotFound, StoreError

__all__ = ["AdminError", "AdminErrorKind", "store_errors"]


class AdminErrorKind(StrEnum):
    NOT_FOUND = "notFound"
    ALREADY_EXISTS = "alreadyExists"
    INVALID = "invalid"  # a value breaks a rule (a name, a target nothing receives ...)
    CONFLICT = "conflict"  # the object is in use (a domain with accounts ...)
    UNAVAILABLE = "unavailable"  # something the action asks failed (a DNS lookup)


class AdminError(Exception):
    def __init__(self, kind: AdminErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


_STORE_KINDS: tuple[tuple[type[StoreError], AdminErrorKind], ...] = (
    (NotFound, AdminErrorKind.NOT_FOUND),
    (AlreadyExists, AdminErrorKind.ALREADY_EXISTS),
    (Conflict, AdminErrorKind.CONFLICT),
)


@contextmanager
def store_errors() -> Iterator[None]:
    """The store's refusals and bad names as AdminError, their message kept word for word (the
    commands print it)."""
    try:
        yield
    except InvalidName as error:
        raise AdminError(AdminErrorKind.INVALID, str(error)) from None
    except StoreError as error:
        kind = next((k for t, k in _STORE_KINDS if isinstance(error, t)), AdminErrorKind.INVALID)
        raise AdminError(kind, str(error)) from None
