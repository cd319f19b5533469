"""The admin capability's ids (pochta.proto.jmap.admin): each is a valid JMAP Id (RFC 8620
section 1.2) and reads back to what it names; a type's state changes with any of its objects."""

from __future__ import annotations

from pochta.proto.jmap import is_id
from pochta.proto.jmap.admin import (
    alias_id,
    dkim_key_id,
    list_state,
    parse_alias_id,
    parse_dkim_key_id,
    parse_queue_message_id,
    queue_message_id,
)


def test_alias_ids_round_trip_and_are_jmap_ids() -> None:
    for source in ("info@example.org", "@example.org", "Ünïcode@пример.рф"):
        made = alias_id(source)
        assert is_id(made)
        assert parse_alias_id(made) == source
    assert parse_alias_id("Dxyz") is None  # another type's prefix
    assert parse_alias_id("L!!!") is None


def test_dkim_key_ids() -> None:
    made = dkim_key_id("example.org", "20261207e")
    assert is_id(made)
    assert parse_dkim_key_id(made) == ("example.org", "20261207e")
    assert parse_dkim_key_id(alias_id("x@example.org").replace("L", "K", 1)) is None


def test_queue_message_ids() -> None:
    assert queue_message_id("2ECA6CC79A4D3C47") == "Q2ECA6CC79A4D3C47"
    assert parse_queue_message_id("Q2ECA6CC79A4D3C47") == "2ECA6CC79A4D3C47"
    for bad in ("Q2eca6cc79a4d3c47", "Q2ECA", "2ECA6CC79A4D3C47", "QZZZZZZZZZZZZZZZZ"):
        assert parse_queue_message_id(bad) is None


def test_list_state_follows_every_object() -> None:
    objects = [{"id": "D1", "name": "a.example"}, {"id": "D2", "name": "b.example"}]
    state = list_state(objects)
    assert list_state(list(reversed(objects))) == state  # the order does not matter
    assert list_state([objects[0], {**objects[1], "name": "c.example"}]) != state
    assert list_state(objects[:1]) != state
