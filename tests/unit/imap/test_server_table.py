"""The server's IMAP command table covers the proto table, and LIST patterns match as RFC 9051 says."""

from __future__ import annotations

import pytest

from pochta.proto.imap import COMMANDS
from pochta.server.imap.commands import NOT_YET, TABLE
from pochta.server.imap.listing import compile_pattern


def test_every_command_is_served_or_marked_not_yet() -> None:
    assert set(TABLE) | set(NOT_YET) == set(COMMANDS)
    assert not set(TABLE) & set(NOT_YET)


def test_capabilities_of_unimplemented_commands_are_not_advertised() -> None:
    advertised = {cap for entry in TABLE.values() for cap in entry.capabilities}
    assert not advertised & {cap for caps in NOT_YET.values() for cap in caps}


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("*", "a/b/c", True),
        ("%", "a", True),
        ("%", "a/b", False),
        ("a/%", "a/b", True),
        ("a/%", "a/b/c", False),
        ("a*c", "a/b/c", True),
        ("a%c", "a/b/c", False),
        ("inbox", "INBOX", True),
        ("Inbox/%", "INBOX/x", True),
        ("inboxes", "INBOX", False),
        ("a.b", "axb", False),  # regex metacharacters are literal
        ("[x]", "[x]", True),
    ],
)
def test_list_patterns(pattern: str, name: str, matches: bool) -> None:
    assert (compile_pattern(pattern).fullmatch(name) is not None) is matches
