"""The server's IMAP command table covers the proto table: every command the parser accepts is
served, so none can reach the dispatcher without a handler (and nothing is advertised unserved)."""

from __future__ import annotations

from pochta.proto.imap import COMMANDS
from pochta.server.imap.commands import TABLE


def test_every_parsed_command_is_served() -> None:
    assert set(TABLE) == set(COMMANDS)
