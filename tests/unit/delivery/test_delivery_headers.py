"""The header buffer of the delivery pipeline, fed whole and byte by byte."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta, timezone

import pytest

from pochta.delivery.headers import HeaderBuffer, inspect_header, received_field, submission_fields

MESSAGE = (
    b"Received: from a by b; Sun, 1 Jan 2026 00:00:00 +0000\r\n"
    b"Received: from c\r\n by d; Sun, 1 Jan 2026 00:00:00 +0000\r\n"
    b"From: Alice <Alice@Example.org>, bob@example.org\r\n"
    b"Subject: hi\r\n\r\nbody\r\n\r\nmore\r\n"
)


def _feed(chunks: list[bytes]) -> tuple[HeaderBuffer, bytes]:
    buffer = HeaderBuffer(4096)
    rest = b""
    for chunk in chunks:
        rest += buffer.feed(chunk)
    return buffer, rest


@pytest.mark.parametrize("bytewise", [False, True])
def test_header_split_and_facts(bytewise: bool) -> None:
    chunks = [MESSAGE[i : i + 1] for i in range(len(MESSAGE))] if bytewise else [MESSAGE]
    buffer, rest = _feed(chunks)
    assert buffer.complete
    assert bytes(buffer.data) + rest == MESSAGE
    assert rest.startswith(b"\r\nbody")
    facts = buffer.facts()
    assert facts.received == 2
    assert facts.from_fields == (b"Alice <Alice@Example.org>, bob@example.org",)
    assert not facts.has_date
    assert not facts.has_message_id


def test_empty_header_section() -> None:
    buffer, rest = _feed([b"\r\nbody only\r\n"])
    assert buffer.complete
    assert bytes(buffer.data) == b""
    assert rest == b"\r\nbody only\r\n"


def test_header_over_limit_stops_buffering() -> None:
    buffer = HeaderBuffer(100)
    assert buffer.feed(b"X: " + b"y" * 200) == b""
    assert buffer.complete


def test_received_field_is_folded_and_names_one_recipient() -> None:
    when = datetime(2026, 11, 22, 1, 2, 3, tzinfo=UTC)
    field = received_field(
        helo="c.example\r\nInjected: x",
        peer="[192.0.2.1]",
        hostname="mx.example.org",
        protocol="ESMTPS",
        queue_id="ABC",
        recipient="alice@example.org",
        when=when,
    )
    assert field == (
        b"Received: from c.example  Injected: x ([192.0.2.1])\r\n"
        b"\tby mx.example.org (pochta) with ESMTPS id ABC\r\n"
        b"\tfor <alice@example.org>;\r\n\tSun, 22 Nov 2026 01:02:03 +0000\r\n"
    )
    assert inspect_header(field).received == 1


def test_received_field_date_of_each_second_and_zone() -> None:
    """The date text is kept from one message to the next within a second; never across seconds
    or zones, and microseconds never show."""
    base = datetime(2026, 11, 22, 1, 2, 3, tzinfo=UTC)
    berlin = timezone(timedelta(hours=1))
    moments = [
        base,
        base.replace(microsecond=999_999),
        base.astimezone(berlin),  # the same instant, written in its own zone
        base + timedelta(seconds=1),
        base.replace(tzinfo=None),
        base,
    ]
    for when in moments:
        field = received_field(
            helo="c",
            peer="[192.0.2.1]",
            hostname="h",
            protocol="LMTP",
            queue_id="Q",
            recipient=None,
            when=when,
        )
        stamp = email.utils.format_datetime(when.replace(microsecond=0))
        assert field.endswith(f";\r\n\t{stamp}\r\n".encode()), (when, field)
    assert b"+0100" in received_field(
        helo="c", peer="p", hostname="h", protocol="LMTP", queue_id="Q", recipient=None, when=moments[2]
    )


def test_submission_fields_only_when_missing() -> None:
    when = datetime(2026, 11, 22, tzinfo=UTC)
    facts = inspect_header(b"Date: x\r\nMessage-ID: <a@b>\r\n")
    assert submission_fields(facts, hostname="h", queue_id="Q", when=when) == b""
    added = submission_fields(inspect_header(b"Subject: s\r\n"), hostname="h", queue_id="Q", when=when)
    assert added == b"Date: Sun, 22 Nov 2026 00:00:00 +0000\r\nMessage-ID: <Q@h>\r\n"


def test_from_fields_as_the_mime_parser_splits_them() -> None:
    # A line that is not a field continues the field above when a field follows (RFC 7103 §7.2),
    # as ENVELOPE reads it: the check must see the hidden address too. Folds are unfolded.
    facts = inspect_header(
        b"From: alice@example.org\r\nbob@example.org\r\nSender: a\r\n\tb@c\r\nSubject: s\r\n"
    )
    assert facts.from_fields == (b"alice@example.org bob@example.org",)
    assert facts.sender_fields == (b"a\tb@c",)


def test_from_added_for_the_author_only_when_missing() -> None:
    when = datetime(2026, 11, 22, tzinfo=UTC)
    facts = inspect_header(b"Date: x\r\nMessage-ID: <a@b>\r\n")
    added = submission_fields(facts, hostname="h", queue_id="Q", when=when, author="alice@example.org")
    assert added == b"From: <alice@example.org>\r\n"
    facts = inspect_header(b"From: a@b\r\nDate: x\r\nMessage-ID: <a@b>\r\n")
    assert submission_fields(facts, hostname="h", queue_id="Q", when=when, author="alice@example.org") == b""
