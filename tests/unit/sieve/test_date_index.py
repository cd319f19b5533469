"""date, currentdate and index (RFC 5260)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sieve_helpers import assert_compile_error

from pochta.sieve import (
    Envelope,
    FileIntoAction,
    RedirectAction,
    SieveMessage,
    compile_script,
    run,
)
from pochta.sieve.dates import DATE_PARTS, date_part, field_date
from pochta.sieve.message import DeliveryContext

MESSAGE = (
    b"Received: from mx.example.org by mail.example.org; Sat, 03 Mar 2007 23:30:00 +0000\r\n"
    b"Received: from a by b; Mon, 26 Feb 2007 09:30:00 -0500\r\n"
    b"From: boss@example.com\r\n"
    b"To: a@example.org, b@example.org\r\n"
    b"Cc: c@example.org\r\n"
    b"Date: Tue, 27 Feb 2007 10:15:42 +0200\r\n"
    b"X-Bad-Date: Fri, 30 Feb 2007 10:00:00 +0000\r\n"
    b"\r\n"
)
# The delivery's moment: Sunday 2007-07-01 18:05:09 in UTC+01:00.
NOW = datetime(2007, 7, 1, 18, 5, 9, tzinfo=timezone(timedelta(hours=1)))
HEAD = 'require ["date", "index", "relational", "fileinto", "comparator-i;ascii-numeric", "variables"];\n'


def filed(script: str) -> list[str]:
    result = run(
        compile_script(HEAD + script),
        SieveMessage.from_bytes(MESSAGE),
        Envelope("a@example.net", "me@example.org"),
        context=DeliveryContext(now=NOW),
    )
    assert result.error is None, result.error
    return [action.mailbox for action in result.actions if isinstance(action, FileIntoAction)] + [
        action.address for action in result.actions if isinstance(action, RedirectAction)
    ]


def test_date_parts() -> None:
    moment = field_date("Tue, 27 Feb 2007 10:15:42 +0200")
    assert moment is not None
    parts = {part: date_part(moment, part) for part in DATE_PARTS}
    assert parts == {
        "year": "2007",
        "month": "02",
        "day": "27",
        "date": "2007-02-27",
        "julian": "54158",  # RFC 5260 Appendix A: MJD of 2007-02-27 08:15 UTC
        "hour": "10",
        "minute": "15",
        "second": "42",
        "time": "10:15:42",
        "iso8601": "2007-02-27T10:15:42+02:00",
        "std11": "Tue, 27 Feb 2007 10:15:42 +0200",
        "zone": "+0200",
        "weekday": "2",
    }
    utc = field_date("Tue, 27 Feb 2007 10:15:42 +0000")
    assert utc is not None
    assert date_part(utc, "iso8601") == "2007-02-27T10:15:42Z"  # §4.2: zero offset as "Z"
    # §4: a date that is not in the calendar is no date; a Received field's date follows ";".
    assert field_date("Fri, 30 Feb 2007 10:00:00 +0000") is None
    assert field_date("no date here") is None


def test_the_examples_of_rfc_5260() -> None:
    # §4.4: the boss wrote between 9 and 17 in the sender's own zone.
    boss = (
        'if allof(header :is "from" "boss@example.com",\n'
        '         date :value "ge" :originalzone "date" "hour" "09",\n'
        '         date :value "lt" :originalzone "date" "hour" "17") { fileinto "urgent"; }'
    )
    assert filed(boss) == ["urgent"]
    # The first Received is Saturday in UTC, Sunday in UTC+01:00 (the server's zone).
    weekend = (
        'if anyof(date :is "received" "weekday" "0", date :is "received" "weekday" "6")\n'
        '{ fileinto "weekend"; }'
    )
    assert filed(weekend) == ["weekend"]
    assert filed('if date :is "received" "weekday" "0" { fileinto "sunday"; }') == ["sunday"]
    assert filed('if date :is :zone "+0000" "received" "weekday" "6" { fileinto "saturday"; }') == [
        "saturday"
    ]
    # §5.1: by the delivery's moment.
    assert filed(
        'if currentdate :matches "month" "*" { set "month" "${1}"; }\n'
        'if currentdate :matches "year" "*" { set "year" "${1}"; }\n'
        'fileinto "${month}-${year}";'
    ) == ["07-2007"]
    assert filed(
        'if allof(currentdate :value "ge" "date" "2007-06-30", currentdate :value "le" "date" "2007-07-07")'
        ' { fileinto "away"; }'
    ) == ["away"]
    assert filed('if currentdate :is "zone" "+0100" { fileinto "local"; }') == ["local"]
    # §6.1: the second Received, in -0500.
    cutoff = (
        'if date :value "gt" :index 2 :zone "-0500" "received" "iso8601" "2007-02-26T09:00:00-05:00"\n'
        '{ redirect "aftercutoff@example.org"; }'
    )
    assert filed(cutoff) == ["aftercutoff@example.org"]


def test_index_on_header_and_address() -> None:
    assert filed('if header :index 1 :contains "received" "mx.example.org" { fileinto "a"; }') == ["a"]
    assert filed('if header :index 1 :last :contains "received" "from a by b" { fileinto "a"; }') == ["a"]
    assert filed('if header :index 3 "received" "x" { fileinto "a"; }') == []
    # Fields, not addresses: index 2 of ["to", "cc"] is the Cc field.
    assert filed('if address :index 2 :is ["to", "cc"] "c@example.org" { fileinto "a"; }') == ["a"]
    assert filed('if address :index 1 :is ["to", "cc"] "b@example.org" { fileinto "a"; }') == ["a"]
    assert filed('if address :index 1 :is ["to", "cc"] "c@example.org" { fileinto "a"; }') == []


def test_no_valid_date() -> None:
    assert filed('if date :is "x-bad-date" "year" "2007" { fileinto "a"; }') == []
    assert filed(
        'if date :count "eq" :comparator "i;ascii-numeric" "x-bad-date" "year" "0" { fileinto "a"; }'
    ) == ["a"]
    assert filed('if date :count "eq" :comparator "i;ascii-numeric" "date" "year" "1" { fileinto "a"; }') == [
        "a"
    ]
    assert filed('if date :is "nope" "year" "2007" { fileinto "a"; }') == []


@pytest.mark.parametrize(
    ("script", "says"),
    [
        ('require "fileinto"; if date "date" "year" "2007" {}', "'date' needs require \"date\""),
        ('require "date"; if date :zone "+25" "date" "year" "2007" {}', "'+25' is not a zone"),
        (
            'require "date"; if date :zone "+0100" :originalzone "date" "year" "x" {}',
            "conflicts with ':zone'",
        ),
        ('require "date"; if date "date" "fortnight" "x" {}', "unknown date-part 'fortnight'"),
        (
            'require "date"; if currentdate :originalzone "year" "x" {}',
            "'currentdate' has no argument ':originalzone'",
        ),
        ('require "date"; if date :index 1 "date" "year" "x" {}', "':index' needs require \"index\""),
        ('require ["date", "index"]; if header :last "a" "b" {}', ":last needs :index"),
        ('require ["date", "index"]; if header :index 0 "a" "b" {}', ":index counts from 1"),
        (
            'require ["envelope", "index"]; if envelope :index 1 "to" "b" {}',
            "'envelope' has no argument ':index'",
        ),
    ],
)
def test_errors(script: str, says: str) -> None:
    assert_compile_error(script, says)
