"""JMAP Mail's ids (the IMAP OBJECTIDs; content-named blob ids) and state strings."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pochta.proto.jmap import is_id
from pochta.proto.jmap.mail.ids import (
    BlobName,
    blob_id,
    email_id,
    mailbox_id,
    parse_blob_id,
    parse_email_id,
    parse_mailbox_id,
    parse_thread_id,
    thread_id,
)
from pochta.proto.jmap.mail.states import ChangesFrom, intermediate_state, parse_state, state_string

SHA = "ab" * 32


def test_object_ids_are_imaps() -> None:
    assert (mailbox_id(7), email_id(7), thread_id(7)) == ("F7", "M7", "T7")
    assert parse_mailbox_id("F7") == 7
    assert parse_email_id("F7") is None  # a Mailbox id names no Email
    assert parse_thread_id("T0") is None
    assert parse_email_id("M07") is None


@given(st.integers(min_value=1, max_value=2**62), st.lists(st.integers(1, 999), max_size=4))
def test_blob_ids_round_trip_and_are_ids(number: int, sections: list[int]) -> None:
    sha = f"{number:064x}"
    part = ".".join(str(n) for n in sections)
    text = blob_id(sha, part)
    assert is_id(text)
    assert parse_blob_id(text) == BlobName(sha, part)


def test_bad_blob_ids_name_nothing() -> None:
    for text in (
        "G" + SHA[:-1],
        "G" + SHA.upper(),
        "G" + SHA + "-",
        "G" + SHA + "-0",
        "M" + SHA,
        "G" + SHA + "-1.2",
    ):
        assert parse_blob_id(text) is None


def test_states_and_intermediate_states() -> None:
    assert parse_state(state_string(42)) == ChangesFrom(42)
    assert parse_state(intermediate_state(40, 41, 9)) == ChangesFrom(40, (41, 9))
    for text in ("", "x", "1.2", "-1", "4.3.1", "1.2.3.4", "١٢"):
        assert parse_state(text) is None
