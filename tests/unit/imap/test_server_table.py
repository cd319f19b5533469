"""The server's IMAP command table covers the proto table."""

from __future__ import annotations

from pochta.proto.imap import COMMANDS
from pochta.server.imap.commands import NOT_YET, TABLE


def test_every_command_is_served_or_marked_not_yet() -> None:
    assert set(TABLE) | set(NOT_YET) == set(COMMANDS)
    assert not set(TABLE) & set(NOT_YET)


def test_capabilities_of_unimplemented_commands_are_not_advertised() -> None:
    advertised = {cap for entry in TABLE.values() for cap in entry.capabilities}
    assert not advertised & {cap for caps in NOT_YET.values() for cap in caps}
