"""JSON Pointer (RFC 6901) and JMAP's "*" (RFC 8620 section 3.7)."""

from __future__ import annotations

from typing import Any

import pytest

from pochta.proto.jmap import PointerError, evaluate, parse_pointer

# RFC 6901 section 5's document and its pointers, verbatim.
DOCUMENT = {
    "foo": ["bar", "baz"],
    "": 0,
    "a/b": 1,
    "c%d": 2,
    "e^f": 3,
    "g|h": 4,
    "i\\j": 5,
    'k"l': 6,
    " ": 7,
    "m~n": 8,
}


@pytest.mark.parametrize(
    ("pointer", "value"),
    [
        ("", DOCUMENT),
        ("/foo", ["bar", "baz"]),
        ("/foo/0", "bar"),
        ("/", 0),
        ("/a~1b", 1),
        ("/c%d", 2),
        ("/e^f", 3),
        ("/g|h", 4),
        ("/i\\j", 5),
        ('/k"l', 6),
        ("/ ", 7),
        ("/m~0n", 8),
    ],
)
def test_rfc_6901_examples(pointer: str, value: Any) -> None:
    assert evaluate(DOCUMENT, pointer) == value


@pytest.mark.parametrize(
    "pointer", ["foo", "/foo/2", "/foo/-", "/foo/01", "/foo/x", "/nothing", "/foo/0/x", "/m~2n", "/m~"]
)
def test_failing_pointers(pointer: str) -> None:
    with pytest.raises(PointerError):
        evaluate(DOCUMENT, pointer)


def test_escapes_unescape_in_order() -> None:
    assert parse_pointer("/~01") == ("~1",)  # "~01" is "~1", not "/"
    assert parse_pointer("/a/~1/") == ("a", "/", "")


def test_star_maps_and_flattens() -> None:
    document = {"list": [{"id": "a", "ids": ["1", "2"]}, {"id": "b", "ids": ["3"]}, {"id": "c", "ids": []}]}
    assert evaluate(document, "/list/*/id") == ["a", "b", "c"]
    assert evaluate(document, "/list/*/ids") == ["1", "2", "3"]  # arrays of arrays become one
    assert evaluate(document, "/list/*") == document["list"]
    assert evaluate({"a": [[1, [2]], [3]]}, "/a/*/*") == [1, 2, 3]
    assert evaluate({"a": []}, "/a/*/x") == []
    assert evaluate({"o": {"*": 5}}, "/o/*") == 5  # over an object "*" is a member name
    with pytest.raises(PointerError):
        evaluate(document, "/list/*/missing")


def test_deep_documents_and_pointers_use_no_recursion() -> None:
    deep: Any = "bottom"
    for _ in range(20_000):
        deep = [deep]
    assert evaluate(deep, "/*" * 20_000) == ["bottom"]
    assert evaluate(deep, "/0" * 20_000) == "bottom"
