"""The settings capability's pure part (``pochta.proto.jmap.settings``): ids, the MailFilter object
from a rule and a rule's fields from a MailFilter create (the rule itself checks the values)."""

from __future__ import annotations

import pytest

from pochta.mail.mail_rules import Filter, RuleInvalid, parse
from pochta.proto.jmap import SetFailure
from pochta.proto.jmap.settings import (
    fetch_id,
    fetch_number_of,
    filter_data,
    filter_id,
    filter_object,
    rule_id_of,
    settings_state,
)


def test_ids_round_trip_and_refuse_others() -> None:
    assert rule_id_of(filter_id(12)) == 12
    assert fetch_number_of(fetch_id(3)) == 3
    for bad in ("12", "R", "R01", "Rx", "X3", "r12"):
        assert rule_id_of(bad) is None
    for bad in ("3", "X", "X03", "R3"):
        assert fetch_number_of(bad) is None


def test_a_filter_create_becomes_the_rule_and_back() -> None:
    data = filter_data(
        {"from": "a@example.net", "hasWords": "invoice", "toFolder": "Bills", "star": True, "markRead": False}
    )
    assert data == {"from": "a@example.net", "has_words": "invoice", "to_folder": "Bills", "star": True}
    rule = parse(Filter, data)
    assert isinstance(rule, Filter)
    shown = filter_object(4, rule.model_dump(by_alias=True))
    assert shown["id"] == "R4"
    assert shown["from"] == "a@example.net"
    assert shown["hasWords"] == "invoice"
    assert shown["markRead"] is False
    assert shown["delete"] is False


def test_unknown_and_server_set_properties_are_refused() -> None:
    with pytest.raises(SetFailure) as unknown:
        filter_data({"from": "a@example.net", "colour": "red"})
    assert unknown.value.error.properties == ("colour",)
    with pytest.raises(SetFailure) as given_id:
        filter_data({"id": "R1", "from": "a@example.net"})
    assert given_id.value.error.properties == ("id",)
    # The rule owns its checks: a filter without an action is the rule's refusal, not ours.
    with pytest.raises(RuleInvalid, match="action"):
        parse(Filter, filter_data({"from": "a@example.net"}))


def test_state_changes_with_what_is_stored() -> None:
    assert settings_state({"a": 1}) == settings_state({"a": 1})
    assert settings_state({"a": 1}) != settings_state({"a": 2})
