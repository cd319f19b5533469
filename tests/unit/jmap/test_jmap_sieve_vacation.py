"""The pure parts of VacationResponse (RFC 8621 section 8) and SieveScript (RFC 9661):
``pochta.proto.jmap.vacation`` and ``pochta.proto.jmap.sieve``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from pochta.config import Settings
from pochta.proto.jmap import MethodError, SetFailure
from pochta.proto.jmap.sieve import (
    SIEVE_CAPABILITY,
    ScriptRecord,
    check_script_filter,
    check_script_sort,
    parse_script_id,
    query_scripts,
    script_id,
    script_object,
    scripts_state,
)
from pochta.proto.jmap.standard import parse_query
from pochta.proto.jmap.vacation import (
    VACATION_CAPABILITY,
    VacationWish,
    vacation_object,
    vacation_state,
    wish_of,
)
from pochta.server.jmap import principal_of
from pochta.server.jmap.sieve_script import sieve_capability
from pochta.sieve import SUPPORTED_EXTENSIONS
from pochta.store.model import Account, AccountId, DomainId


def test_vacation_object_round_trip() -> None:
    wish = VacationWish(
        is_enabled=True,
        from_date=datetime(2026, 12, 10, 9, 0, tzinfo=UTC),
        to_date=None,
        subject="Away",
        text_body="Back soon.",
        html_body=None,
    )
    shown = vacation_object(wish)
    assert shown == {
        "id": "singleton",
        "isEnabled": True,
        "fromDate": "2026-12-10T09:00:00Z",
        "toDate": None,
        "subject": "Away",
        "textBody": "Back soon.",
        "htmlBody": None,
    }
    assert wish_of(shown) == wish
    assert VacationWish().is_default
    assert not wish.is_default


@pytest.mark.parametrize(
    ("patched", "property_"),
    [
        ({"isEnabled": "yes"}, "isEnabled"),
        ({"fromDate": "2026-12-10T09:00:00+01:00"}, "fromDate"),  # a UTCDate ends in Z
        ({"toDate": 5}, "toDate"),
        ({"subject": ["x"]}, "subject"),
        ({"htmlBody": 1}, "htmlBody"),
        ({"id": "other"}, "id"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_vacation_wish_refuses(patched: dict[str, Any], property_: str) -> None:
    with pytest.raises(SetFailure) as raised:
        wish_of({"id": "singleton", **patched})
    assert raised.value.error.properties == (property_,)


def test_vacation_state_follows_the_rule() -> None:
    assert vacation_state(None) == vacation_state(None)
    assert vacation_state(None) != vacation_state('{"message":"a"}')
    assert vacation_state('{"message":"a"}') != vacation_state('{"message":"b"}')


def _records() -> list[ScriptRecord]:
    return [
        ScriptRecord(3, "beta", False, "b" * 64, 10),
        ScriptRecord(1, "Alpha", True, "a" * 64, 10),
        ScriptRecord(2, "gamma", False, "c" * 64, 10),
    ]


def test_script_ids_and_objects() -> None:
    assert script_id(7) == "S7"
    assert parse_script_id("S7") == 7
    for bad in ("S0", "S", "7", "S07", "M7"):
        assert parse_script_id(bad) is None
    record = _records()[1]
    assert script_object(record) == {"id": "S1", "name": "Alpha", "blobId": "G" + "a" * 64, "isActive": True}


def test_scripts_state_moves_with_any_script() -> None:
    records = _records()
    state = scripts_state(records)
    assert scripts_state(reversed(records)) == state  # the order read does not count
    renamed = [ScriptRecord(3, "delta", False, "b" * 64, 10), *records[1:]]
    activated = [ScriptRecord(3, "beta", True, "b" * 64, 10), *records[1:]]
    rewritten = [ScriptRecord(3, "beta", False, "d" * 64, 10), *records[1:]]
    assert len({state, scripts_state(renamed), scripts_state(activated), scripts_state(rewritten)}) == 4


def _query(arguments: dict[str, Any]) -> list[str]:
    args = parse_query({"accountId": "A1", **arguments})
    check_script_filter(args.filter)
    check_script_sort(args.sort)
    return query_scripts(_records(), args.filter, args.sort)


def test_query_filters_and_sorts() -> None:
    assert _query({}) == ["S1", "S3", "S2"]  # by name, case-folded
    assert _query({"sort": [{"property": "name", "isAscending": False}]}) == ["S2", "S3", "S1"]
    assert _query({"sort": [{"property": "isActive", "isAscending": False}]})[0] == "S1"
    assert _query({"filter": {"isActive": True}}) == ["S1"]
    assert _query({"filter": {"name": "MM"}}) == ["S2"]
    assert _query({"filter": {"operator": "NOT", "conditions": [{"name": "a"}]}}) == []
    assert _query({"filter": {"operator": "OR", "conditions": [{"name": "bet"}, {"isActive": True}]}}) == [
        "S1",
        "S3",
    ]


@pytest.mark.parametrize(
    "arguments",
    [
        {"filter": {"size": 1}},
        {"filter": {"isActive": "yes"}},
        {"sort": [{"property": "blobId"}]},
        {"sort": [{"property": "name", "collation": "i;unicode-casemap"}]},
    ],
)
def test_query_refuses(arguments: dict[str, Any]) -> None:
    with pytest.raises(MethodError):
        _query(arguments)


def test_deep_filters_are_refused_not_recursed() -> None:
    node: dict[str, Any] = {"isActive": True}
    for _ in range(40):
        node = {"operator": "AND", "conditions": [node]}
    with pytest.raises(MethodError, match="nest deeper"):
        _query({"filter": node})


def test_the_capability_object_is_the_sieve_settings() -> None:
    settings = Settings.model_validate(
        {"sieve": {"max_scripts": 7, "max_script_size": 4096, "max_redirects": 3}}
    )
    capability = sieve_capability(settings)
    assert capability["implementation"].startswith("pochta")
    assert capability["maxSizeScriptName"] == settings.sieve.max_name_length
    assert capability["maxSizeScript"] == 4096
    assert capability["maxNumberScripts"] == 7
    assert capability["maxNumberRedirects"] == 3
    assert capability["sieveExtensions"] == sorted(SUPPORTED_EXTENSIONS)
    assert capability["notificationMethods"] == ["mailto"]
    assert capability["externalLists"] == ["urn:ietf:params:sieve:addrbook:default"]


def test_the_session_account_carries_the_capability_objects() -> None:
    account = Account(
        AccountId(7), "alice@example.org", DomainId(1), "x", None, None, True, datetime.now(UTC)
    )
    principal = principal_of(account, {"urn:ietf:params:jmap:core", SIEVE_CAPABILITY, VACATION_CAPABILITY})
    [own] = principal.accounts.values()
    shown = own.session_account(None, {SIEVE_CAPABILITY: {"maxNumberScripts": 7}}).to_json()
    assert shown["accountCapabilities"][SIEVE_CAPABILITY] == {"maxNumberScripts": 7}
    assert shown["accountCapabilities"][VACATION_CAPABILITY] == {}
    # Not advertised: left out whatever its object.
    hidden = own.session_account({"urn:ietf:params:jmap:core"}, {SIEVE_CAPABILITY: {"x": 1}}).to_json()
    assert SIEVE_CAPABILITY not in hidden["accountCapabilities"]
