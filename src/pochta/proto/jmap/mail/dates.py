"""JMAP's Date and UTCDate strings (RFC 8620 section 1.4: RFC 3339 ``date-time``, UTCDate with
"Z"), as the Email object needs them: ``sentAt`` keeps the zone the Date field was written in.

Private to ``proto.jmap.mail`` for now: the JMAP core (``proto.jmap``) owns the UTCDate type, and
the lead folds these helpers into it at merge.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

# RFC 3339 §5.6 date-time; RFC 8620 section 1.4: "time-secfrac" is left out when zero, letters
# are upper-case (lower-case accepted on input, RFC 3339 §5.6 NOTE).
_DATE_TIME = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.\d+)?(?:([Zz])|([+-])(\d\d):(\d\d))\Z", re.ASCII
)


def format_date(seconds: int, offset: int) -> str | None:
    """UTC ``seconds`` shown in the zone ``offset`` seconds east of UTC (RFC 3339, "Z" for 0);
    None when the moment cannot be written (year outside 1..9999)."""
    try:
        local = datetime.fromtimestamp(seconds, UTC) + timedelta(seconds=offset)
    except (OverflowError, OSError, ValueError):
        return None
    if not 1 <= local.year <= 9999:  # pragma: no cover - fromtimestamp raises first
        return None
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if offset == 0:
        return text + "Z"
    sign = "+" if offset > 0 else "-"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return f"{text}{sign}{hours:02d}:{minutes:02d}"


def parse_date(text: str) -> datetime | None:
    """An RFC 3339 date-time with its offset, as an aware datetime; None when malformed."""
    found = _DATE_TIME.match(text)
    if found is None:
        return None
    year, month, day, hour, minute, second, zulu, sign, zone_hours, zone_minutes = found.groups()
    offset = timedelta(0)
    if not zulu:
        offset = timedelta(hours=int(zone_hours), minutes=int(zone_minutes))
        if sign == "-":
            offset = -offset
    try:
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=timezone(offset)
        )
    except ValueError:
        return None
