"""Sans-IO IMAP4rev2/IMAP4rev1 core: receiver, command table, typed arguments, typed responses.

No sockets, no asyncio, no store (DESIGN.md principle 2). See ``receiver`` for how a connection
handler drives it and ``responses`` for serialisation.
"""

from __future__ import annotations

from pochta.proto.imap.commands import COMMANDS, Command, CommandSpec, Flag, State, check_state, lookup
from pochta.proto.imap.receiver import (
    CommandError,
    ContinuationLine,
    Event,
    IdleDone,
    Limits,
    LiteralChunk,
    NeedLiteral,
    NeedMoreData,
    Receiver,
)
from pochta.proto.imap.responses import (
    Bye,
    Code,
    Continuation,
    Response,
    Status,
    Tagged,
    Untagged,
    WireContext,
    serialise,
)
from pochta.proto.imap.sequence import SequenceSet
from pochta.proto.imap.wire import LiteralData, ParseError

__all__ = [
    "COMMANDS",
    "Bye",
    "Code",
    "Command",
    "CommandError",
    "CommandSpec",
    "Continuation",
    "ContinuationLine",
    "Event",
    "Flag",
    "IdleDone",
    "Limits",
    "LiteralChunk",
    "LiteralData",
    "NeedLiteral",
    "NeedMoreData",
    "ParseError",
    "Receiver",
    "Response",
    "SequenceSet",
    "State",
    "Status",
    "Tagged",
    "Untagged",
    "WireContext",
    "check_state",
    "lookup",
    "serialise",
]
