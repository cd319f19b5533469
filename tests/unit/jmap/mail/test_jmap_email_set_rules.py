"""The pure part of Email/set update (RFC 8621 section 4.6): keywords and mailboxIds, whole or by
path, and the rules they keep."""

from __future__ import annotations

from typing import Any

import pytest

from pochta.proto.jmap import SetFailure
from pochta.proto.jmap.mail.email_set import EmailWish, is_keyword, update_wish

KEYWORDS = {"$seen": True, "work": True}
BOXES = {"F1": True}


def _error(patch: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    with pytest.raises(SetFailure) as caught:
        update_wish(KEYWORDS, BOXES, patch)
    return str(caught.value.error.type), tuple(caught.value.error.properties)


def test_whole_and_patched_keywords() -> None:
    assert update_wish(KEYWORDS, BOXES, {"keywords": {"$Flagged": True}}) == EmailWish(
        frozenset({"$flagged"}), frozenset({"F1"})
    )
    assert update_wish(KEYWORDS, BOXES, {"keywords/$seen": None, "keywords/$answered": True}) == EmailWish(
        frozenset({"work", "$answered"}), frozenset({"F1"})
    )


def test_whole_and_patched_mailboxes() -> None:
    assert update_wish(KEYWORDS, BOXES, {"mailboxIds": {"F2": True}}).mailbox_ids == {"F2"}
    assert update_wish(KEYWORDS, BOXES, {"mailboxIds/F2": True}).mailbox_ids == {"F1", "F2"}
    assert update_wish(KEYWORDS, BOXES, {"mailboxIds/F2": True, "mailboxIds/F1": None}).mailbox_ids == {"F2"}


def test_an_email_stays_in_a_mailbox() -> None:
    assert _error({"mailboxIds/F1": None}) == ("invalidProperties", ("mailboxIds",))
    assert _error({"mailboxIds": {}}) == ("invalidProperties", ("mailboxIds",))
    assert _error({"mailboxIds": None}) == ("invalidProperties", ("mailboxIds",))


def test_values_must_be_true_and_keywords_well_formed() -> None:
    assert _error({"keywords/$seen": False}) == ("invalidProperties", ("keywords",))
    assert _error({"mailboxIds": {"F2": False}}) == ("invalidProperties", ("mailboxIds",))
    assert _error({"keywords": {"a b": True}}) == ("invalidProperties", ("keywords",))
    assert _error({"keywords": {"\\Seen": True}}) == ("invalidProperties", ("keywords",))


def test_other_properties_are_immutable() -> None:
    assert _error({"subject": "x"}) == ("invalidProperties", ("subject",))
    assert _error({"receivedAt": "2026-12-07T00:00:00Z"}) == ("invalidProperties", ("receivedAt",))


def test_a_patch_through_a_missing_path_is_invalid_patch() -> None:
    assert _error({"keywords/a/b": True})[0] == "invalidPatch"


def test_keyword_characters() -> None:
    assert is_keyword("$seen")
    assert is_keyword("x" * 255)
    assert not is_keyword("")
    assert not is_keyword("x" * 256)
    assert not any(is_keyword(bad) for bad in ("a(", "a)", "a{", "a]", "a%", "a*", 'a"', "a\\", "é", "a b"))
