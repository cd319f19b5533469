"""The ManageSieve command table (RFC 5804 §2, §4): which command is legal in which state, and its
arguments, typed. One table, read by ``parse_command``; the server binds each name to a handler."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pochta.proto.managesieve.receiver import Atom, Line, parse_number

__all__ = ["COMMANDS", "Command", "CommandRefused", "Spec", "State", "parse_command"]


class State(Enum):
    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    LOGOUT = "logout"


_ANY = frozenset({State.NOT_AUTHENTICATED, State.AUTHENTICATED})
_NONAUTH = frozenset({State.NOT_AUTHENTICATED})
_AUTH = frozenset({State.AUTHENTICATED})


@dataclass(frozen=True)
class Spec:
    """``args``: the kinds of the required arguments ("string" or "number"); ``optional``: how many
    strings may follow them."""

    states: frozenset[State]
    args: tuple[str, ...] = ()
    optional: int = 0


COMMANDS: dict[str, Spec] = {
    "CAPABILITY": Spec(_ANY),  # RFC 5804 §2.4
    "LOGOUT": Spec(_ANY),  # RFC 5804 §2.3
    "NOOP": Spec(_ANY, optional=1),  # RFC 5804 §2.13
    "AUTHENTICATE": Spec(_NONAUTH, ("string",), optional=1),  # RFC 5804 §2.1
    "STARTTLS": Spec(_NONAUTH),  # RFC 5804 §2.2
    "HAVESPACE": Spec(_AUTH, ("string", "number")),  # RFC 5804 §2.5
    "PUTSCRIPT": Spec(_AUTH, ("string", "string")),  # RFC 5804 §2.6
    "LISTSCRIPTS": Spec(_AUTH),  # RFC 5804 §2.7
    "SETACTIVE": Spec(_AUTH, ("string",)),  # RFC 5804 §2.8
    "GETSCRIPT": Spec(_AUTH, ("string",)),  # RFC 5804 §2.9
    "DELETESCRIPT": Spec(_AUTH, ("string",)),  # RFC 5804 §2.10
    "RENAMESCRIPT": Spec(_AUTH, ("string", "string")),  # RFC 5804 §2.11
    "CHECKSCRIPT": Spec(_AUTH, ("string",)),  # RFC 5804 §2.12
    "UNAUTHENTICATE": Spec(_AUTH),  # RFC 5804 §2.14.1
}


@dataclass(frozen=True)
class Command:
    name: str
    args: tuple[bytes | int, ...]

    def string(self, index: int) -> bytes:
        value = self.args[index]
        assert isinstance(value, bytes)
        return value

    def number(self, index: int) -> int:
        value = self.args[index]
        assert isinstance(value, int)
        return value

    def optional(self, index: int) -> bytes | None:
        return self.string(index) if index < len(self.args) else None


@dataclass(frozen=True)
class CommandRefused:
    """A line that is no legal command now; answered with ``NO`` and ``text``."""

    name: str | None
    text: str


def parse_command(line: Line, state: State) -> Command | CommandRefused:
    first, rest = line.tokens[0], line.tokens[1:]
    if not isinstance(first, Atom):
        return CommandRefused(None, "Expected a command name")
    name = first.text.upper()  # RFC 5804 §4: commands are case-insensitive
    spec = COMMANDS.get(name)
    if spec is None:
        return CommandRefused(None, "Unknown command")
    if state not in spec.states:
        if state is State.AUTHENTICATED and name == "AUTHENTICATE":
            # RFC 5804 §2.1: no reauthentication after a successful AUTHENTICATE.
            return CommandRefused(name, "Already authenticated")
        return CommandRefused(name, f"{name} is not allowed in the {state.value} state")
    if not len(spec.args) <= len(rest) <= len(spec.args) + spec.optional:
        return CommandRefused(name, f"Wrong number of arguments for {name}")
    args: list[bytes | int] = []
    for index, token in enumerate(rest):
        kind = spec.args[index] if index < len(spec.args) else "string"
        if kind == "number":
            number = parse_number(token)
            if number is None:
                return CommandRefused(name, f"{name} expects a number")
            args.append(number)
        elif isinstance(token, bytes):
            args.append(token)
        else:
            return CommandRefused(name, f"{name} expects a string")
    return Command(name, tuple(args))
