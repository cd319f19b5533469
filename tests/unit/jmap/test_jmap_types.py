"""Id, Int, UnsignedInt (RFC 8620 sections 1.2, 1.3), Date and UTCDate (section 1.4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pochta.proto.jmap import (
    MAX_INT,
    MIN_INT,
    account_id,
    format_date,
    format_utc_date,
    is_id,
    is_int,
    is_unsigned_int,
    parse_account_id,
    parse_date,
    parse_utc_date,
)


@pytest.mark.parametrize("good", ["a", "M12", "abc-_XYZ09", "x" * 255, "-", "123", "NIL"])
def test_ids(good: str) -> None:
    # "-", digits only and "NIL" are valid Ids a client may send (section 1.2 only advises a
    # server against making them).
    assert is_id(good)


@pytest.mark.parametrize("bad", ["", "x" * 256, "a b", "a/b", "a+b", "a=", "é", 12, None, ["a"]])
def test_not_ids(bad: object) -> None:
    assert not is_id(bad)


def test_int_bounds() -> None:
    assert (MAX_INT, MIN_INT) == (9007199254740991, -9007199254740991)
    assert is_int(MAX_INT)
    assert is_int(MIN_INT)
    assert is_int(0)
    assert not is_int(MAX_INT + 1)
    assert not is_int(MIN_INT - 1)
    assert not is_int(True)
    assert not is_int(1.0)
    assert not is_int("1")
    assert is_unsigned_int(0)
    assert is_unsigned_int(MAX_INT)
    assert not is_unsigned_int(-1)
    assert not is_unsigned_int(MAX_INT + 1)


def test_account_ids() -> None:
    assert account_id(42) == "A42"
    assert parse_account_id("A42") == 42
    assert [parse_account_id(t) for t in ("A0", "A042", "a42", "F42", "A", "A1x")] == [None] * 6


def test_rfc_date_examples() -> None:
    # RFC 8620 section 1.4's examples: the same moment with an offset, and as a UTCDate.
    local = parse_date("2014-10-30T14:12:00+08:00")
    utc = parse_utc_date("2014-10-30T06:12:00Z")
    assert local == utc
    assert format_date(local) == "2014-10-30T14:12:00+08:00"
    assert format_utc_date(local) == "2014-10-30T06:12:00Z"


def test_fractions() -> None:
    moment = parse_date("2014-10-30T06:12:00.25Z")
    assert moment.microsecond == 250_000
    assert format_utc_date(moment) == "2014-10-30T06:12:00.25Z"
    assert format_utc_date(moment.replace(microsecond=0)) == "2014-10-30T06:12:00Z"


@pytest.mark.parametrize(
    "bad",
    [
        "2014-10-30t06:12:00Z",  # letters upper case
        "2014-10-30T06:12:00z",
        "2014-10-30T06:12:00.000Z",  # a zero fraction is omitted
        "2014-10-30T06:12:00",  # an offset is needed
        "2014-10-30 06:12:00Z",
        "2014-13-30T06:12:00Z",
        "2014-10-30T06:12:00+24:00",
        "30 Oct 2014",
    ],
)
def test_bad_dates(bad: str) -> None:
    with pytest.raises(ValueError, match=r"date-time|fraction|offset|month|out of range"):
        parse_date(bad)


def test_utc_date_needs_z() -> None:
    with pytest.raises(ValueError, match="ends in Z"):
        parse_utc_date("2014-10-30T06:12:00+00:00")
    with pytest.raises(ValueError, match="aware"):
        format_utc_date(datetime(2014, 10, 30))  # naive: no moment at all


@given(
    st.datetimes(
        min_value=datetime(2, 1, 1),  # UTC of an earlier moment with an offset: before year 1
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
        ),
    )
)
def test_round_trip(moment: datetime) -> None:
    assert parse_date(format_date(moment)) == moment
    text = format_utc_date(moment)
    assert text.endswith("Z")
    assert parse_utc_date(text) == moment
    assert format_utc_date(parse_utc_date(text)) == text
