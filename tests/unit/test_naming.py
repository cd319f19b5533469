"""Domain and address normalisation for what administrators type."""

from __future__ import annotations

import pytest

from pochta.naming import InvalidName, normalize_address, normalize_domain, split_address


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Example.ORG", "example.org"),
        ("example.org.", "example.org"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("localhost", "localhost"),
    ],
)
def test_domains(given: str, expected: str) -> None:
    assert normalize_domain(given) == expected


@pytest.mark.parametrize(
    "bad", ["", ".", "a..b", "-a.example", "a_b.example", "a b.example", "x" * 64 + ".example"]
)
def test_bad_domains(bad: str) -> None:
    with pytest.raises(InvalidName):
        normalize_domain(bad)


def test_addresses() -> None:
    assert normalize_address("Alice.Smith@Example.ORG") == "Alice.Smith@example.org"
    assert split_address("user+tag@bücher.example") == ("user+tag", "xn--bcher-kva.example")
    assert normalize_address("@Example.org", allow_catch_all=True) == "@example.org"
    assert normalize_address("джон@example.org") == "джон@example.org"  # RFC 6531 UTF-8 local part


@pytest.mark.parametrize(
    "bad",
    [
        "alice",
        "@example.org",
        "a..b@example.org",
        ".a@example.org",
        '"a b"@example.org',
        "a b@example.org",
        "a@b@c",
        "x" * 65 + "@example.org",
    ],
)
def test_bad_addresses(bad: str) -> None:
    with pytest.raises(InvalidName):
        normalize_address(bad)
