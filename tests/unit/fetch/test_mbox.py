"""The mbox reader and writer: From lines, both quotings, flag headers, odd files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from pochta.fetch.importer_source import Skipped, SourceMessage, crlf
from pochta.fetch.mbox import from_line, from_line_date, is_mbox, read_mbox, split_flags, write_message

FROM = b"From alice@example.org Thu Jan  2 03:04:05 2020\n"


def messages(data: bytes, quoting: str = "rd") -> list[SourceMessage]:
    found = list(read_mbox(data, "", "box", quoting=quoting))
    assert all(isinstance(item, SourceMessage) for item in found), found
    return [item for item in found if isinstance(item, SourceMessage)]


def test_from_line_dates_with_and_without_zones() -> None:
    assert from_line_date(FROM) == datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert from_line_date(b"From x Mon Dec  7 10:08 2026") == datetime(2026, 12, 7, 10, 8, tzinfo=UTC)
    zoned = from_line_date(b"From x Mon Dec  7 10:08:20 2026 +0200")
    assert zoned == datetime(2026, 12, 7, 10, 8, 20, tzinfo=timezone(timedelta(hours=2)))
    assert from_line_date(b"From here on the body goes") is None
    assert from_line_date(b"From x Mon Feb 31 10:08:20 2026") is None  # no such day


def test_two_messages_with_dates_and_crlf_line_ends() -> None:
    data = FROM + b"Subject: one\n\nbody 1\n\n" + b"From b Fri Jan  3 00:00:00 2020\nSubject: two\n\nbody 2\n"
    one, two = messages(data)
    assert one.data == b"Subject: one\r\n\r\nbody 1\r\n"  # the empty line before From is the file's
    assert two.data == b"Subject: two\r\n\r\nbody 2\r\n"
    assert one.internal_date == datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert two.internal_date == datetime(2020, 1, 3, tzinfo=UTC)
    assert (one.key, two.key) == ("box@0", f"box@{data.index(b'From b')}")
    assert one.flags == two.flags == frozenset()


def test_from_in_a_body_without_a_date_does_not_split() -> None:
    data = FROM + b"Subject: one\n\nFrom here on, unquoted.\n\nFrom me to you\n"
    [one] = messages(data)
    assert b"From here on, unquoted." in one.data
    assert b"From me to you" in one.data


def test_mboxrd_and_mboxo_unquoting() -> None:
    body = b"Subject: q\n\n>From a\n>>From b\n>>>From c\n> From d\n"
    [rd] = messages(FROM + body, "rd")
    assert rd.data == crlf(b"Subject: q\n\nFrom a\n>From b\n>>From c\n> From d\n")
    [o] = messages(FROM + body, "o")
    assert o.data == crlf(b"Subject: q\n\nFrom a\n>>From b\n>>>From c\n> From d\n")


def test_status_headers_become_flags_and_leave_the_message() -> None:
    data = FROM + (
        b"Subject: f\nStatus: RO\nX-Status: AFTD\nX-Keywords: $Label1, work  Junk\\bad\nX-UID: 7\n"
        b"Content-Length: 5\nX-Keywords2: kept\n\nbody\n"
    )
    [one] = messages(data)
    assert one.flags == {"\\Seen", "\\Answered", "\\Flagged", "\\Draft", "\\Deleted", "$Label1", "work"}
    assert one.data == b"Subject: f\r\nX-Keywords2: kept\r\n\r\nbody\r\n"
    # Only the header: the same words in the body stay.
    [two] = messages(FROM + b"Subject: g\n\nStatus: RO\n")
    assert two.data == b"Subject: g\r\n\r\nStatus: RO\r\n"
    assert two.flags == frozenset()


def test_folded_flag_header_is_removed_whole() -> None:
    stripped, flags, _ = split_flags(b"A: 1\nX-Keywords: one\n two\nB: 2\n\nbody\n")
    assert stripped == b"A: 1\nB: 2\n\nbody\n"
    assert flags == {"one", "two"}


def test_uw_imap_pseudo_message_is_skipped() -> None:
    pseudo = FROM + b"Subject: DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\nX-IMAP: 1 2\n\ntext\n\n"
    found = list(read_mbox(pseudo + FROM + b"Subject: real\n\nx\n", "", "box"))
    assert isinstance(found[0], Skipped)
    assert "pseudo" in found[0].reason
    assert isinstance(found[1], SourceMessage)
    assert found[1].data == b"Subject: real\r\n\r\nx\r\n"


def test_missing_final_newline_cr_only_and_crlf_files() -> None:
    [one] = messages(FROM + b"Subject: n\n\nno newline at the end")
    assert one.data == b"Subject: n\r\n\r\nno newline at the end"
    cr = (FROM + b"Subject: cr\n\nline\n\n" + FROM + b"Subject: cr2\n\nx\n").replace(b"\n", b"\r")
    assert is_mbox(cr)
    first, second = messages(cr)
    assert first.data == b"Subject: cr\r\n\r\nline\r\n"
    assert second.data == b"Subject: cr2\r\n\r\nx\r\n"
    windows = (FROM + b"Subject: w\n\nline\n\n" + FROM + b"Subject: w2\n\nx\n").replace(b"\n", b"\r\n")
    first, second = messages(windows)
    assert first.data == b"Subject: w\r\n\r\nline\r\n"
    assert second.data == b"Subject: w2\r\n\r\nx\r\n"


def test_truncated_and_broken_messages_are_skipped_with_a_reason() -> None:
    data = (
        FROM
        + b"Subject: ok\n\nfine\n\n"
        + FROM
        + b"not a header line\n\n"
        + FROM
        + b"\n\n"
        + FROM
        + b"Subject: cut"
    )
    found = list(read_mbox(data, "f", "box"))
    assert [type(item).__name__ for item in found] == ["SourceMessage", "Skipped", "Skipped", "Skipped"]
    reasons = [item.reason for item in found if isinstance(item, Skipped)]
    assert "does not begin with a header field" in reasons[0]
    assert reasons[1] == "empty message"
    assert reasons[2].startswith("truncated")


def test_is_mbox() -> None:
    assert is_mbox(FROM + b"Subject: x\n")
    assert not is_mbox(b"Subject: x\n\nbody\n")
    assert not is_mbox(b"From: alice@example.org\n\nbody\n")  # a header field, not a From line


def test_write_message_quotes_and_adds_flag_headers() -> None:
    when = datetime(2021, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=3)))
    out = write_message(
        b"Return-Path: <bob@example.org>\r\nSubject: w\r\n\r\nFrom x\r\n>From y\r\n",
        frozenset({"\\Seen", "\\Flagged", "$Work"}),
        when,
    )
    assert out == (
        b"From bob@example.org Thu May  6 04:08:09 2021\n"
        b"Return-Path: <bob@example.org>\nSubject: w\nStatus: RO\nX-Status: F\nX-Keywords: $Work\n\n"
        b">From x\n>>From y\n\n"
    )
    assert from_line("", when).startswith(b"From MAILER-DAEMON ")


_LINE = st.sampled_from(
    [
        b"",
        b"From x",
        b">From y",
        b">>From z",
        b"text",
        b"Status: RO",
        b" folded",
        b"From q Mon Dec  7 10:08:20 2026",
    ]
)
_FLAGS = st.frozensets(
    st.sampled_from(["\\Seen", "\\Answered", "\\Flagged", "\\Draft", "\\Deleted", "$Work", "later"])
)


@given(st.lists(st.tuples(st.lists(_LINE, max_size=8), _FLAGS), min_size=1, max_size=4))
def test_write_then_read_gives_the_same_messages(items: list[tuple[list[bytes], frozenset[str]]]) -> None:
    when = datetime(2022, 2, 3, 4, 5, 6, tzinfo=UTC)
    originals = [b"Subject: r\r\n\r\n" + b"".join(line + b"\r\n" for line in body) for body, _ in items]
    data = b"".join(
        write_message(message, flags, when) for message, (_, flags) in zip(originals, items, strict=True)
    )
    found = messages(data)
    assert [item.data for item in found] == originals
    assert [item.flags for item in found] == [flags for _, flags in items]
    assert {item.internal_date for item in found} == {when}
