"""The syntax tree of a Sieve script (RFC 5228 §8.2) and the error for a script that is not Sieve.

Every node keeps the line and column where it starts, so that a later check (an unknown command, a
wrong argument) can point at the place as precisely as the parser does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Argument",
    "Command",
    "Number",
    "Position",
    "SieveErrors",
    "SieveSyntaxError",
    "StringList",
    "Tag",
    "Test",
]


@dataclass(frozen=True, order=True)
class Position:
    """1-based line and column (in characters) of a token in the script."""

    line: int
    column: int

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}"


class SieveSyntaxError(ValueError):
    """The script is not valid Sieve; ``str(error)`` is a sentence for the script's author that
    starts with where (``line 3, column 7: ...``), fit for a ManageSieve reply."""

    def __init__(self, position: Position, message: str) -> None:
        super().__init__(f"{position}: {message}")
        self.position = position
        self.message = message

    @property
    def errors(self) -> tuple[SieveSyntaxError, ...]:
        """Every error found in the script, in script order (just this one here)."""
        return (self,)


class SieveErrors(SieveSyntaxError):
    """Several errors of one script: ``position`` and ``message`` are the first's, ``errors``
    holds all of them, and ``str`` lists them one per line (a ManageSieve reply may hold lines)."""

    def __init__(self, errors: tuple[SieveSyntaxError, ...]) -> None:
        super().__init__(errors[0].position, errors[0].message)
        self.args = ("\n".join(str(error) for error in errors),)
        self._errors = errors

    @property
    def errors(self) -> tuple[SieveSyntaxError, ...]:
        return self._errors

    @staticmethod
    def of(errors: list[SieveSyntaxError]) -> SieveSyntaxError:
        """One error as itself, several as a SieveErrors (flattening any SieveErrors among them)."""
        flat = tuple(item for error in errors for item in error.errors)
        return flat[0] if len(flat) == 1 else SieveErrors(flat)


@dataclass(frozen=True)
class StringList:
    """A string or a string list (RFC 5228 §8.2 ``string-list``; a single string is a list of one).

    ``bracketed`` records whether the author wrote ``[...]``: some commands accept only a single
    string, and RFC 5228 §2.4.2.1 lets ``["x"]`` stand for one where a list is allowed."""

    values: tuple[str, ...]
    position: Position = field(compare=False)
    bracketed: bool = False


@dataclass(frozen=True)
class Number:
    """A number with its quantifier applied (RFC 5228 §2.4.1: K, M, G are powers of 1024)."""

    value: int
    position: Position = field(compare=False)


@dataclass(frozen=True)
class Tag:
    """A tagged argument such as ``:is`` (RFC 5228 §2.6.2); ``name`` is lower case, without ':'."""

    name: str
    position: Position = field(compare=False)


Argument = StringList | Number | Tag


@dataclass(frozen=True)
class Test:
    """``identifier arguments`` in a test position (RFC 5228 §8.2): ``name`` is lower case;
    ``tests`` holds a test or a test-list's members (``anyof``, ``not`` ...)."""

    name: str
    arguments: tuple[Argument, ...]
    tests: tuple[Test, ...]
    position: Position = field(compare=False)
    test_list: bool = field(default=False, compare=False)  # written as "(...)", even of one test


@dataclass(frozen=True)
class Command:
    """``identifier arguments (";" / block)`` (RFC 5228 §8.2); ``block`` is None after ';' and the
    commands of the block otherwise (an empty block is an empty tuple)."""

    name: str
    arguments: tuple[Argument, ...]
    tests: tuple[Test, ...]
    block: tuple[Command, ...] | None
    position: Position = field(compare=False)
    test_list: bool = field(default=False, compare=False)  # its tests were written as "(...)"
