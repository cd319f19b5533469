"""Dates for the date and currentdate tests (RFC 5260 §4, §5): the date-time of a header field
and the date-parts of a moment in a time zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_tz

__all__ = ["DATE_PARTS", "date_part", "field_date", "parse_zone", "zone_text"]

DATE_PARTS = frozenset(
    {
        "year",
        "month",
        "day",
        "date",
        "julian",
        "hour",
        "minute",
        "second",
        "time",
        "iso8601",
        "std11",
        "zone",
        "weekday",
    }
)
_ZONE = re.compile(r"([+-])(\d\d)(\d\d)\Z")  # RFC 5260 §4.1: ( "+" / "-" ) 4DIGIT
_MJD_EPOCH = datetime(1858, 11, 17, tzinfo=UTC)  # RFC 5260 §4.2: the Modified Julian Day's day 0


def parse_zone(text: str) -> timezone | None:
    """A :zone value ("+hhmm"/"-hhmm"), or None when it is not one."""
    found = _ZONE.match(text)
    if found is None or int(found.group(3)) > 59:
        return None
    minutes = int(found.group(2)) * 60 + int(found.group(3))
    return timezone(timedelta(minutes=-minutes if found.group(1) == "-" else minutes))


def zone_text(moment: datetime) -> str:
    """RFC 5260 §4.2 "zone": "+hhmm"/"-hhmm", zero with a plus sign."""
    offset = moment.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def field_date(value: str) -> datetime | None:
    """The date-time of a field (RFC 5260 §4: the whole field, or what follows its last ';' as in
    Received), in its own zone; None when there is none or it is not a real calendar date."""
    for candidate in (value, value.rpartition(";")[2]):
        parsed = parsedate_tz(candidate.strip())
        if parsed is None:
            continue
        year, month, day, hour, minute, second = parsed[:6]
        offset = parsed[9] or 0
        try:
            zone = timezone(timedelta(seconds=offset))
            return datetime(year, month, day, hour, minute, min(second, 59), tzinfo=zone)
        except (ValueError, OverflowError):
            return None  # RFC 5260 §4: "January 32nd" is no date
    return None


def date_part(moment: datetime, part: str) -> str:
    """The value of ``part`` (RFC 5260 §4.2) of ``moment`` in its own zone."""
    match part:
        case "year":
            return f"{moment.year:04d}"
        case "month":
            return f"{moment.month:02d}"
        case "day":
            return f"{moment.day:02d}"
        case "date":
            return f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        case "julian":
            return str((moment.astimezone(UTC) - _MJD_EPOCH).days)
        case "hour":
            return f"{moment.hour:02d}"
        case "minute":
            return f"{moment.minute:02d}"
        case "second":
            return f"{moment.second:02d}"
        case "time":
            return f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
        case "iso8601":
            # RFC 3339 §5.6 with "T" and "Z" upper case and a zero offset as "Z".
            zone = zone_text(moment)
            suffix = "Z" if zone == "+0000" else f"{zone[:3]}:{zone[3:]}"
            return moment.strftime("%Y-%m-%dT%H:%M:%S") + suffix
        case "std11":
            return format_datetime(moment)
        case "zone":
            return zone_text(moment)
        case "weekday":
            return str((moment.weekday() + 1) % 7)  # 0 is Sunday
        case _:
            raise ValueError(f"unknown date-part {part!r}")
