"""JMAP's Date and UTCDate (RFC 8620 section 1.4): RFC 3339 date-time strings, upper-case letters,
no zero fraction of a second; a UTCDate's offset is always "Z"."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

__all__ = ["format_date", "format_utc_date", "parse_date", "parse_utc_date"]

# RFC 3339 section 5.6 date-time; RFC 8620 section 1.4: "T" and "Z" upper case.
_DATE_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})")


def parse_date(text: str) -> datetime:
    """An aware datetime from a Date; ValueError when ``text`` is not one."""
    found = _DATE_TIME.fullmatch(text)
    if found is None:
        raise ValueError(f"not an RFC 3339 date-time: {text!r}")
    year, month, day, hour, minute, second = (int(found.group(i)) for i in range(1, 7))
    fraction, offset = found.group(7), found.group(8)
    # RFC 8620 section 1.4: a zero fraction MUST be omitted.
    if fraction is not None and int(fraction[1:]) == 0:
        raise ValueError(f"a zero fraction of a second must be omitted: {text!r}")
    micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
    if offset == "Z":
        zone = UTC
    else:
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        if hours > 23 or minutes > 59:
            raise ValueError(f"bad offset: {text!r}")
        sign = -1 if offset[0] == "-" else 1
        zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
    # RFC 3339 section 5.6 allows second 60 (a leap second); datetime does not: it becomes :59.
    return datetime(year, month, day, hour, minute, min(second, 59), micro, tzinfo=zone)


def parse_utc_date(text: str) -> datetime:
    """A UTCDate: a Date whose offset is "Z" (RFC 8620 section 1.4)."""
    if not text.endswith("Z"):
        raise ValueError(f"a UTCDate ends in Z: {text!r}")
    return parse_date(text)


def _fraction(moment: datetime) -> str:
    return f".{moment.microsecond:06d}".rstrip("0") if moment.microsecond else ""


def format_date(moment: datetime) -> str:
    """A Date with the moment's own offset (an aware datetime)."""
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError("a Date needs an aware datetime")
    # Not strftime: its %Y does not pad years before 1000 to the four digits RFC 3339 needs.
    base = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}{_fraction(moment)}"
    )
    if offset == timedelta(0):
        return base + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{base}{sign}{hours:02d}:{minutes:02d}"


def format_utc_date(moment: datetime) -> str:
    """A UTCDate (an aware datetime, converted to UTC)."""
    if moment.utcoffset() is None:
        raise ValueError("a UTCDate needs an aware datetime")
    return format_date(moment.astimezone(UTC))
