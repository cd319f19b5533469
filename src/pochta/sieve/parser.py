"""The grammar of Sieve (RFC 5228 §8.2): tokens to a syntax tree.

    start = commands                 commands = *command
    command = identifier arguments (";" / block)        block = "{" commands "}"
    arguments = *argument [ test / test-list ]           argument = string-list / number / tag
    test = identifier arguments      test-list = "(" test *("," test) ")"
    string-list = "[" string *("," string) "]" / string

Only the shape is checked here; which commands, tests and arguments exist (and what ``require``
makes available) is the next step's. Nesting is bounded (``ParseLimits``), so a hostile script
cannot exhaust the stack, and every error names the line and column.

Recovery: an error inside a command ends that command only. The parser records it, goes back to
the command's first token and skips to its end: the next ``;`` outside any block, or the ``}``
closing a block the command opened, or (without consuming it) the ``}`` of the enclosing block.
Then it goes on, so that one upload reports every error (``SieveErrors``), up to
``ParseLimits.max_errors``; the syntax tree of a script with errors is never used.
"""

from __future__ import annotations

from dataclasses import dataclass

from pochta.sieve.lexer import Token, scan
from pochta.sieve.syntax import (
    Argument,
    Command,
    Number,
    SieveErrors,
    SieveSyntaxError,
    StringList,
    Tag,
    Test,
)

__all__ = ["ParseLimits", "parse"]


@dataclass(frozen=True)
class ParseLimits:
    """Bounds on a script's shape. The defaults match Pigeonhole's fixed limits (32 nested blocks,
    32 nested tests); the server's ``[sieve]`` settings pass their own when scripts run."""

    max_block_nesting: int = 32
    max_test_nesting: int = 32
    max_list_items: int = 1024  # strings in one string list, tests in one test list
    max_arguments: int = 32  # arguments of one command or test
    max_errors: int = 50  # errors one script reports before the rest goes unchecked


class _TooManyErrors(Exception):
    pass


def parse(script: str, limits: ParseLimits | None = None) -> tuple[Command, ...]:
    """The commands of ``script`` (RFC 5228 §8.2 ``start``); raises SieveSyntaxError, or
    SieveErrors with every error when there are several."""
    limits = limits or ParseLimits()
    scanned = scan(script)
    if scanned.stopped:  # nothing after the last error can be read as tokens
        raise SieveErrors.of(scanned.errors[: limits.max_errors])
    parser = _Parser(scanned.tokens, limits, len(scanned.errors))
    commands: tuple[Command, ...] = ()
    try:
        while True:
            commands += parser.commands(depth=0)
            end = parser.peek()
            if end.kind == "end":
                break
            parser.record(
                SieveSyntaxError(end.position, f"unexpected {_describe(end)}: no block is open here")
            )
            parser.take()
    except _TooManyErrors:
        pass
    errors = sorted(scanned.errors + parser.errors, key=lambda error: error.position)
    if errors:
        raise SieveErrors.of(errors[: limits.max_errors])
    return commands


def _describe(token: Token) -> str:
    match token.kind:
        case "end":
            return "end of the script"
        case "punctuation":
            return f"'{token.text}'"
        case "string":
            return "multi-line string" if token.multiline else "string"
        case "tag":
            return f"tag ':{token.text}'"
        case "invalid":
            return f"{token.text!r}"
        case "number":
            return f"number {token.text}"
        case _:
            return f"'{token.text}'"


class _Parser:
    def __init__(self, tokens: list[Token], limits: ParseLimits, earlier_errors: int) -> None:
        self.tokens = tokens
        self.index = 0
        self.limits = limits
        self.errors: list[SieveSyntaxError] = []
        self.earlier_errors = earlier_errors  # the lexer's, which count towards max_errors

    def record(self, error: SieveSyntaxError) -> None:
        self.errors.append(error)
        if self.earlier_errors + len(self.errors) >= self.limits.max_errors:
            raise _TooManyErrors

    def peek(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def is_punctuation(self, char: str) -> bool:
        token = self.tokens[self.index]
        return token.kind == "punctuation" and token.text == char

    def commands(self, depth: int) -> tuple[Command, ...]:
        commands: list[Command] = []
        while True:
            token = self.peek()
            if token.kind == "end" or self.is_punctuation("}"):
                return tuple(commands)
            start = self.index
            try:
                if token.kind != "identifier":
                    raise SieveSyntaxError(token.position, f"expected a command, found {_describe(token)}")
                commands.append(self.command(depth))
            except SieveSyntaxError as error:
                self.record(error)
                self.index = start
                self.skip_command()

    def skip_command(self) -> None:
        """Past the end of the command starting here (see the module's "Recovery")."""
        depth = 0
        while True:
            token = self.peek()
            if token.kind == "end":
                return
            if token.kind == "punctuation":
                if token.text == "{":
                    depth += 1
                elif token.text == "}":
                    if depth == 0:
                        return  # the enclosing block's end: its command goes on
                    depth -= 1
                    if depth == 0:
                        self.take()
                        return
                elif token.text == ";" and depth == 0:
                    self.take()
                    return
            self.take()

    def command(self, depth: int) -> Command:
        name = self.take()
        arguments, tests, test_list = self.arguments(test_depth=0)
        end = self.take()
        if end.kind == "punctuation" and end.text == ";":
            return Command(name.text, arguments, tests, None, name.position, test_list)
        if end.kind == "punctuation" and end.text == "{":
            if depth + 1 > self.limits.max_block_nesting:
                raise SieveSyntaxError(
                    end.position, f"blocks are nested more than {self.limits.max_block_nesting} deep"
                )
            block = self.commands(depth + 1)
            close = self.take()
            if not (close.kind == "punctuation" and close.text == "}"):
                raise SieveSyntaxError(
                    end.position, f"the block of '{name.text}' opened here is not closed with '}}'"
                )
            return Command(name.text, arguments, tests, block, name.position, test_list)
        raise SieveSyntaxError(
            end.position, f"expected ';' or '{{' after the arguments of '{name.text}', found {_describe(end)}"
        )

    def arguments(self, test_depth: int) -> tuple[tuple[Argument, ...], tuple[Test, ...], bool]:
        arguments: list[Argument] = []
        while True:
            token = self.peek()
            if len(arguments) == self.limits.max_arguments and token.kind in ("tag", "number", "string"):
                raise SieveSyntaxError(
                    token.position, f"a command or test takes at most {self.limits.max_arguments} arguments"
                )
            if token.kind == "tag":
                self.take()
                arguments.append(Tag(token.text, token.position))
            elif token.kind == "number":
                self.take()
                arguments.append(Number(token.number, token.position))
            elif token.kind == "string" or self.is_punctuation("["):
                arguments.append(self.string_list())
            else:
                break
        token = self.peek()
        if token.kind == "identifier":
            return tuple(arguments), (self.test(test_depth + 1),), False
        if self.is_punctuation("("):
            return tuple(arguments), self.test_list(test_depth + 1), True
        return tuple(arguments), (), False

    def string_list(self) -> StringList:
        first = self.take()
        if first.kind == "string":
            return StringList((first.text,), first.position)
        values: list[str] = []
        while True:
            item = self.take()
            if item.kind != "string":
                raise SieveSyntaxError(
                    item.position, f"expected a string in the list, found {_describe(item)}"
                )
            values.append(item.text)
            if len(values) > self.limits.max_list_items:
                raise SieveSyntaxError(
                    first.position, f"a string list holds at most {self.limits.max_list_items} strings"
                )
            separator = self.take()
            if separator.kind == "punctuation" and separator.text == "]":
                return StringList(tuple(values), first.position, bracketed=True)
            if not (separator.kind == "punctuation" and separator.text == ","):
                raise SieveSyntaxError(
                    separator.position,
                    f"expected ',' or ']' in the string list, found {_describe(separator)}",
                )

    def test(self, depth: int) -> Test:
        name = self.take()
        if name.kind != "identifier":
            raise SieveSyntaxError(name.position, f"expected a test, found {_describe(name)}")
        if depth > self.limits.max_test_nesting:
            raise SieveSyntaxError(
                name.position, f"tests are nested more than {self.limits.max_test_nesting} deep"
            )
        arguments, tests, test_list = self.arguments(depth)
        return Test(name.text, arguments, tests, name.position, test_list)

    def test_list(self, depth: int) -> tuple[Test, ...]:
        opened = self.take()
        tests: list[Test] = []
        while True:
            tests.append(self.test(depth))
            if len(tests) > self.limits.max_list_items:
                raise SieveSyntaxError(
                    opened.position, f"a test list holds at most {self.limits.max_list_items} tests"
                )
            separator = self.take()
            if separator.kind == "punctuation" and separator.text == ")":
                return tuple(tests)
            if not (separator.kind == "punctuation" and separator.text == ","):
                raise SieveSyntaxError(
                    separator.position, f"expected ',' or ')' in the test list, found {_describe(separator)}"
                )
