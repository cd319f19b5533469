"""The strict From:/Sender: reader of the submission ownership check: exactly RFC 5322 §3.4/§3.6.2,
every leftover an error (the lenient reader of ENVELOPE recovers; this one must not)."""

from __future__ import annotations

import pytest

from pochta.mime.strict_address import (
    StrictAddressError,
    StrictMailbox,
    parse_mailbox_list_strict,
    parse_mailbox_strict,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("alice@example.org", [StrictMailbox(None, "alice", "example.org")]),
        ("Alice <alice@example.org>", [StrictMailbox("Alice", "alice", "example.org")]),
        ('"Smith, Alice" <alice@example.org>', [StrictMailbox("Smith, Alice", "alice", "example.org")]),
        ("Dr. Alice <alice@example.org>", [StrictMailbox("Dr. Alice", "alice", "example.org")]),
        ("<alice@example.org>", [StrictMailbox(None, "alice", "example.org")]),
        ("alice@example.org (Alice)", [StrictMailbox(None, "alice", "example.org")]),
        (" alice @ example.org ", [StrictMailbox(None, "alice", "example.org")]),  # CFWS around "@"
        ('"a b"@example.org', [StrictMailbox(None, "a b", "example.org")]),
        ("a@[192.0.2.1]", [StrictMailbox(None, "a", "[192.0.2.1]")]),
        ("=?utf-8?q?Al=C3=AFce?= <alice@example.org>", [StrictMailbox("Alïce", "alice", "example.org")]),
        ("Алиса <алиса@пример.рф>", [StrictMailbox("Алиса", "алиса", "пример.рф")]),
        (
            "alice@example.org, Bob <bob@example.org>",
            [StrictMailbox(None, "alice", "example.org"), StrictMailbox("Bob", "bob", "example.org")],
        ),
    ],
)
def test_valid(text: str, expected: list[StrictMailbox]) -> None:
    assert list(parse_mailbox_list_strict(text).mailboxes) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "<bob@example.org",
        "bob@example.org>",
        "bob@example.org;",
        "bob@example.org.",
        "bob@.example.org",
        ".bob@example.org",
        "bob.@example.org",
        "bob@example.org (comment",
        "bob@example.org )",
        "bob@example.org <>",
        "<>",
        "bob@example.org\x00",
        "bob@example.org\x00alice@example.org",
        "alice@example.org bob@example.org",
        "Alice <alice@example.org> bob@example.org",
        "alice@example.org,",
        ",alice@example.org",
        "alice@example.org,,bob@example.org",
        "Friends: alice@example.org;",  # a group: not in From:/Sender: (RFC 5322 §3.6.2)
        "<@relay.example:bob@example.org>",  # obs-route
        "bob . smith@example.org",  # obs-local-part
        "bob@example . org",  # obs-domain
        "bob",
        "=?utf-8?q?bob=40example.org?=",
        "=?utf-8?q?bob?=@example.org",
        "bob@=?utf-8?q?example.org?=",
        '"bob@example.org',
        '"bob\x01"@example.org',
        "bob@[192.0.2.1",
        "bob@example.org\ufffd",
        "bob@exa\\mple.org",
        "Bob <bob@example.org>>",
    ],
)
def test_invalid(text: str) -> None:
    with pytest.raises(StrictAddressError):
        parse_mailbox_list_strict(text)


def test_shown_texts_are_display_names_and_comments_decoded() -> None:
    field = parse_mailbox_list_strict('"=?utf-8?q?bob=40example.org?=" <alice@example.org> (bob@example.org)')
    assert field.shown == ("bob@example.org", "bob@example.org")


def test_sender_is_one_mailbox() -> None:
    assert parse_mailbox_strict("alice@example.org").mailboxes[0].address == "alice@example.org"
    with pytest.raises(StrictAddressError):
        parse_mailbox_strict("alice@example.org, bob@example.org")


def test_hostile_input_is_an_error_not_a_crash() -> None:
    # Deep nesting is counted, not recursed into (no RecursionError); long runs are one token each.
    nested = "(" * 50_000 + ")" * 50_000
    assert parse_mailbox_list_strict(nested + "a@b").mailboxes == (StrictMailbox(None, "a", "b"),)
    for text in [nested, '"' + "a" * 200_000, "a" * 200_000 + "@", "a." * 100_000]:
        with pytest.raises(StrictAddressError):
            parse_mailbox_list_strict(text + "\x00")
