"""The message as milters change it (pochta.delivery.milter_message): libmilter's index rules for
inserted and changed fields, folded values, a replaced body, and the round trip of a message no
milter changed."""

from __future__ import annotations

import pytest

from pochta.delivery.milter_message import MilterMessage

MESSAGE = b"Received: from x\r\n\tby y\r\nSubject: one\r\nX-Tag: a\r\nx-tag: b\r\n\r\nBody\r\n"


@pytest.mark.parametrize(
    "data",
    [
        MESSAGE,
        b"Subject: no body\r\n",
        b"\r\nonly a body\r\n",
        b"Subject: x\r\n\r\n",
        b"Bad line\r\nA: b\r\n\r\nz",
    ],
)
def test_unchanged_round_trip(data: bytes) -> None:
    message = MilterMessage.parse(data)
    assert message.to_bytes() == data
    assert not message.changed


def test_fields_for_milter_keep_folding_as_lf() -> None:
    fields = MilterMessage.parse(MESSAGE).fields_for_milter()
    assert fields[0] == ("Received", " from x\n\tby y")
    assert [name for name, _ in fields] == ["Received", "Subject", "X-Tag", "x-tag"]


def test_change_by_occurrence_of_the_name() -> None:
    message = MilterMessage.parse(MESSAGE)
    message.change(2, "X-TAG", "second")  # the second of that name, case-insensitive
    message.change(1, "X-Tag", "")  # deleted
    message.change(0, "Subject", "zero counts as one")
    message.change(5, "X-Tag", "added")  # past the last of that name: added at the end
    message.change(3, "X-Missing", "")  # nothing to delete: no change
    assert message.to_bytes() == (
        b"Received: from x\r\n\tby y\r\nSubject: zero counts as one\r\n"
        b"x-tag: second\r\nX-Tag: added\r\n\r\nBody\r\n"
    )


def test_insert_by_position_and_folded_values() -> None:
    message = MilterMessage.parse(MESSAGE)
    message.insert(0, "X-First", "1")
    message.insert(2, "X-Third", "3")
    message.insert(99, "X-Last", "line\n\tcontinued")
    message.add("X-Lead", " spaced", leading_space=True)
    out = message.to_bytes()
    assert out.startswith(b"X-First: 1\r\nReceived: from x\r\n\tby y\r\nX-Third: 3\r\nSubject: one\r\n")
    assert out.endswith(b"X-Last: line\r\n\tcontinued\r\nX-Lead: spaced\r\n\r\nBody\r\n")


def test_body_replaced_after_the_milter_is_done() -> None:
    message = MilterMessage.parse(b"Subject: x\r\n")
    message.replace_body(b"a\n")
    message.replace_body(b"b\r\n")
    assert message.body == b""
    message.end_of_milter()
    assert message.changed
    assert message.to_bytes() == b"Subject: x\r\n\r\na\r\nb\r\n"
