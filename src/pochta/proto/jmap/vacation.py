"""The VacationResponse object (RFC 8621 section 8), pure: the singleton as JSON, and what a
VacationResponse/set update asks for, checked property by property. Where it is kept (the managed
Sieve script's vacation rule) is ``pochta.server.jmap.vacation_response``'s."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pochta.proto.jmap.dates import format_utc_date, parse_utc_date
from pochta.proto.jmap.errors import SetError, SetErrorType, SetFailure

__all__ = [
    "PROPERTIES",
    "SINGLETON",
    "VACATION_CAPABILITY",
    "VacationWish",
    "vacation_object",
    "vacation_state",
    "wish_of",
]

VACATION_CAPABILITY = "urn:ietf:params:jmap:vacationresponse"  # RFC 8621 section 1.3.3
SINGLETON = "singleton"  # RFC 8621 section 8: the one object's id
PROPERTIES = ("id", "isEnabled", "fromDate", "toDate", "subject", "textBody", "htmlBody")


@dataclass(frozen=True)
class VacationWish:
    """The singleton's settable properties; ``from_date``/``to_date`` are aware (UTC) moments."""

    is_enabled: bool = False
    from_date: datetime | None = None
    to_date: datetime | None = None
    subject: str | None = None
    text_body: str | None = None
    html_body: str | None = None

    @property
    def is_default(self) -> bool:
        """Nothing to keep: off, and every other property null (the object of an account that
        never had a vacation reply)."""
        return self == VacationWish()


def vacation_object(wish: VacationWish) -> dict[str, Any]:
    return {
        "id": SINGLETON,
        "isEnabled": wish.is_enabled,
        "fromDate": None if wish.from_date is None else format_utc_date(wish.from_date),
        "toDate": None if wish.to_date is None else format_utc_date(wish.to_date),
        "subject": wish.subject,
        "textBody": wish.text_body,
        "htmlBody": wish.html_body,
    }


def vacation_state(kept: str | None) -> str:
    """The VacationResponse state: a digest of the rule as it is kept (its JSON, None: none), so
    it changes exactly when the rule does (RFC 8620 section 5.1), whoever changed it."""
    return hashlib.sha256(b"-" if kept is None else kept.encode("utf-8")).hexdigest()[:16]


def _invalid(name: str, why: str) -> SetFailure:
    return SetFailure(SetError(SetErrorType.INVALID_PROPERTIES, f"{name} {why}", (name,)))


def _text(patched: Mapping[str, Any], name: str) -> str | None:
    value = patched.get(name)
    if value is not None and not isinstance(value, str):
        raise _invalid(name, "must be a String or null")
    return value


def _moment(patched: Mapping[str, Any], name: str) -> datetime | None:
    value = patched.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(name, "must be a UTCDate or null")
    try:
        return parse_utc_date(value)
    except ValueError as exc:
        raise _invalid(name, f"is not a UTCDate ({exc})") from None


def wish_of(patched: Mapping[str, Any]) -> VacationWish:
    """The object after an update's patch, checked (SetFailure invalidProperties naming the
    property); ``id`` is immutable (RFC 8620 section 5.3)."""
    unknown = [name for name in patched if name not in PROPERTIES]
    if unknown:
        raise SetFailure(SetError(SetErrorType.INVALID_PROPERTIES, "unknown properties", tuple(unknown)))
    if patched.get("id", SINGLETON) != SINGLETON:
        raise _invalid("id", "cannot change")
    enabled = patched.get("isEnabled", False)
    if not isinstance(enabled, bool):
        raise _invalid("isEnabled", "must be a Boolean")
    return VacationWish(
        is_enabled=enabled,
        from_date=_moment(patched, "fromDate"),
        to_date=_moment(patched, "toDate"),
        subject=_text(patched, "subject"),
        text_body=_text(patched, "textBody"),
        html_body=_text(patched, "htmlBody"),
    )
