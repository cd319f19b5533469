"""ManageSieve (RFC 5804) as a sans-IO core: the receiver of command lines (quoted strings and
literals, bounded), the command table with its states, and the responses. No sockets, no store."""

from pochta.proto.managesieve.commands import COMMANDS, Command, CommandRefused, Spec, State, parse_command
from pochta.proto.managesieve.receiver import (
    MAX_QUOTED,
    Atom,
    Line,
    LineError,
    NeedMoreData,
    Receiver,
    ReceiverLimits,
    Token,
    parse_number,
)
from pochta.proto.managesieve.responses import (
    Response,
    Status,
    capability_line,
    encode_literal,
    encode_string,
    script_line,
)

__all__ = [
    "COMMANDS",
    "MAX_QUOTED",
    "Atom",
    "Command",
    "CommandRefused",
    "Line",
    "LineError",
    "NeedMoreData",
    "Receiver",
    "ReceiverLimits",
    "Response",
    "Spec",
    "State",
    "Status",
    "Token",
    "capability_line",
    "encode_literal",
    "encode_string",
    "parse_command",
    "parse_number",
    "script_line",
]
