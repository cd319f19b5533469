"""Decoded header values for SEARCH and SORT: subjects (RFC 5256 §2.1 base subject), dates
(RFC 5322 §3.3 and obsolete forms), message identifiers (RFC 5322 §3.6.4)."""

from __future__ import annotations

import calendar
import email.utils
import re

from pochta.mime.encoded_words import decode_encoded_words
from pochta.mime.params import skip_cfws

_WSP_RUN = re.compile(r"[ \t\r\n]+")
# RFC 5256 §5: subj-trailer = "(fwd)" / WSP
# subj-blob = "[" *BLOBCHAR "]" *WSP
_BLOB = re.compile(r"\[[^\[\]]*\][ \t]*")
# subj-leader = (*subj-blob subj-refwd) / WSP ; subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
_LEADER = re.compile(r"(?:(?:\[[^\[\]]*\][ \t]*)*(?:re|fwd?)[ \t]*(?:\[[^\[\]]*\][ \t]*)?:|[ \t])+", re.I)
_MSG_ID = re.compile(r"<[^<>]*>")
_MAX_REFERENCES = 1000
_MAX_SUBJECT = 4096  # a sort key needs no more; bounds the regex work on hostile subjects


def _strip_trailer(text: str) -> tuple[str, bool]:
    """RFC 5256 §2.1 (2): remove trailing "(fwd)" and white space, from the end backwards (a
    regular expression searched for ``(?:\\(fwd\\)|[ \\t])+\\Z`` took quadratic time). Also says
    whether a "(fwd)" went (RFC 5256 §3 REFERENCES: a reply or forward)."""
    forwarded = False
    while True:
        text = text.rstrip(" \t")
        if text[-5:].lower() != "(fwd)":
            return text, forwarded
        text, forwarded = text[:-5], True


def base_subject(subject: str) -> str:
    """RFC 5256 §2.1 base subject of a decoded subject."""
    return subject_base(subject)[0]


def subject_base(subject: str) -> tuple[str, bool]:
    """RFC 5256 §2.1 base subject of a decoded subject, and whether the extraction removed a
    subj-refwd, a "(fwd)" trailer or a "[fwd: ...]" wrapper: RFC 5256 §3 REFERENCES calls such a
    message "a reply or forward"."""
    text = _WSP_RUN.sub(" ", subject[:_MAX_SUBJECT])  # (1) tabs, continuations, runs of spaces -> one space
    reply = False
    while True:
        text, forwarded = _strip_trailer(text)  # (2)
        reply = reply or forwarded
        while True:
            before = text
            leader = _LEADER.match(text)  # (3)
            if leader is not None:
                reply = reply or bool(leader.group().strip(" \t"))  # more than white space: a subj-refwd
                text = text[leader.end() :]
            blob = _BLOB.match(text)  # (4) only if something remains
            if blob is not None and text[blob.end() :].strip():
                text = text[blob.end() :]
            if text == before:  # (5)
                break
        # (6) "[fwd:" subject "]"
        if text[:5].lower() == "[fwd:" and text.endswith("]"):
            text, reply = text[5:-1], True
            continue
        return text, reply


def decoded_subject(raw: str) -> str:
    return decode_encoded_words(raw)


# RFC 5322 §3.3 date-time as nearly every sender writes it: [day-name ", "] day month year
# hour ":" minute [":" second] zone, single spaces, a numeric zone, perhaps a "(comment)" after it.
_COMMON_DATE = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?(\d{1,2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"([1-9]\d{3}) (\d\d):(\d\d)(?::(\d\d))? ([+-])(\d\d)(\d\d)(?: \([^()]*\))?\Z",
    re.ASCII,
)
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}  # not calendar's: locale


def parse_date(value: str) -> int | None:
    """RFC 5322 §3.3 date-time (and §4.3 obsolete forms) -> UTC seconds, or None."""
    found = parse_date_zone(value)
    return found[0] if found is not None else None


def parse_date_zone(value: str) -> tuple[int, int] | None:
    """RFC 5322 §3.3 date-time (and §4.3 obsolete forms) -> (UTC seconds, zone offset in seconds
    east of UTC), or None. "-0000" and unknown zones give offset 0 (RFC 5322 §3.3)."""
    found = _COMMON_DATE.match(value)
    if found is None:
        return _parse_any_date(value)
    day, month, year, hour, minute, second, sign, zone_hours, zone_minutes = found.groups()
    # What email.utils.parsedate_tz reads in this form: "-0000" (unknown zone) counts as UTC.
    offset = int(zone_hours) * 3600 + int(zone_minutes) * 60
    if sign == "-":
        offset = -offset
    moment = (int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second or 0), 0, 1, -1)
    return calendar.timegm(moment) - offset, offset


def _parse_any_date(value: str) -> tuple[int, int] | None:
    """Any form email.utils reads (obsolete zones, two-digit years, missing parts)."""
    try:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        year = parsed[0]
        if not 1 <= year <= 9999:
            return None
        offset = parsed[9] or 0  # RFC 5322 §3.3: "-0000" and unknown zones are UTC
        return calendar.timegm((year, *parsed[1:6], 0, 1, -1)) - offset, offset
    except Exception:  # the stdlib date parser has raised on odd input in some versions
        return None


def message_ids(value: str) -> tuple[str, ...]:
    """All ``<...>`` identifiers in a field (References, In-Reply-To), in order."""
    return tuple(_WSP_RUN.sub("", found) for found in _MSG_ID.findall(value)[:_MAX_REFERENCES])


def message_id(value: str) -> str | None:
    """The identifier of a Message-ID field: the first ``<...>``, else the first word."""
    ids = message_ids(value)
    if ids:
        return ids[0]
    words = value.split()
    return words[0] if words else None


_MSG_ID_STRICT = re.compile(r"<([^<>@\s\"()\\]+@[^<>@\s\"()\\]+)>")


def strict_message_ids(value: str) -> tuple[str, ...] | None:
    """RFC 5322 §3.6.4: a list of ``msg-id`` (``[CFWS] "<" id-left "@" id-right ">" [CFWS]``), each
    without its angle brackets; None when the value is not such a list (JMAP's MessageIds form,
    RFC 8621 section 4.1.2.5; ``message_ids`` above is the lenient reading for threading)."""
    ids: list[str] = []
    pos = skip_cfws(value, 0)
    end = len(value)
    while pos < end:
        found = _MSG_ID_STRICT.match(value, pos)
        if found is None or len(ids) >= _MAX_REFERENCES:
            return None
        ids.append(found.group(1))
        pos = skip_cfws(value, found.end())
    return tuple(ids) if ids else None
