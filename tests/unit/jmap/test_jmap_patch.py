"""PatchObject (RFC 8620 section 5.3)."""

from __future__ import annotations

from typing import Any

import pytest

from pochta.proto.jmap import SetErrorType, SetFailure, apply_patch

RECORD: dict[str, Any] = {
    "name": "Inbox",
    "alerts": {"1": {"offset": -300, "action": "display"}, "2": {"offset": 0}},
    "keywords": {"$seen": True},
    "list": [1, 2, 3],
    "a/b": 1,
    "m~n": 2,
}


def test_set_replace_add_and_remove() -> None:
    patched = apply_patch(
        RECORD,
        {
            "name": "Post",
            "alerts/1/offset": -600,
            "keywords/$flagged": True,
            "keywords/$seen": None,  # null removes a map entry
            "alerts/3": {"offset": 60},
            "list": [4],  # an array is replaced whole
            "a~1b": 5,
            "m~0n": 6,
            "absent": None,  # removing what is not there: a no-op
        },
    )
    assert patched == {
        "name": "Post",
        "alerts": {"1": {"offset": -600, "action": "display"}, "2": {"offset": 0}, "3": {"offset": 60}},
        "keywords": {"$flagged": True},
        "list": [4],
        "a/b": 5,
        "m~n": 6,
    }
    assert RECORD["alerts"]["1"]["offset"] == -300  # the record itself is left alone
    assert RECORD["keywords"] == {"$seen": True}


def test_the_empty_patch() -> None:
    assert apply_patch(RECORD, {}) == RECORD


@pytest.mark.parametrize(
    "patch",
    [
        {"list/0": 9},  # inside an array
        {"list/0/x": 9},
        {"nothing/x": 1},  # a part before the last must exist
        {"alerts/9/offset": 1},
        {"name/x": 1},  # into a string
        {"alerts": {}, "alerts/1/offset": 1},  # one pointer a prefix of another
        {"alerts/1": {}, "alerts/1/offset": 1},
        {"keywords/~2": True},  # a bad escape
    ],
)
def test_invalid_patches(patch: dict[str, Any]) -> None:
    with pytest.raises(SetFailure) as caught:
        apply_patch(RECORD, patch)
    assert caught.value.error.type is SetErrorType.INVALID_PATCH
    assert caught.value.error.to_json()["type"] == "invalidPatch"


def test_siblings_do_not_overlap() -> None:
    # "alerts/1" is no prefix of "alerts/10": tokens are compared, not strings.
    patched = apply_patch({"alerts": {"1": 1, "10": 10}}, {"alerts/1": 2, "alerts/10": 20})
    assert patched == {"alerts": {"1": 2, "10": 20}}
