"""The grammar of Sieve (RFC 5228 §8.2): tokens to a syntax tree.

    start = commands                 commands = *command
    command = identifier arguments (";" / block)        block = "{" commands "}"
    arguments = *argument [ test / test-list ]           argument = string-list / number / tag
    test = identifier arguments      test-list = "(" test *("," test) ")"
    string-list = "[" string *("," string) "]" / string

Only the shape is checked here; which commands, tests and arguments exist (and what ``require``
makes available) is the next step's. Nesting is bounded (``ParseLimits``), so a hostile script
cannot exhaust the stack, and every error names the line and column.
"""

from __future__ import annotations

from dataclasses import dataclass

from pochta.sieve.lexer import Token, tokenize
from pochta.sieve.syntax import Argument, Command, Number, SieveSyntaxError, StringList, Tag, Test

__all__ = ["ParseLimits", "parse"]


@dataclass(frozen=True)
class ParseLimits:
    """Bounds on a script's shape. The defaults match Pigeonhole's fixed limits (32 nested blocks,
    32 nested tests); the server's ``[sieve]`` settings pass their own when scripts run."""

    max_block_nesting: int = 32
    max_test_nesting: int = 32
    max_list_items: int = 1024  # strings in one string list, tests in one test list


def parse(script: str, limits: ParseLimits | None = None) -> tuple[Command, ...]:
    """The commands of ``script`` (RFC 5228 §8.2 ``start``); raises SieveSyntaxError."""
    parser = _Parser(tokenize(script), limits or ParseLimits())
    commands = parser.commands(depth=0)
    end = parser.peek()
    if end.kind != "end":
        raise SieveSyntaxError(end.position, f"unexpected {_describe(end)}: no block is open here")
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
        case "number":
            return f"number {token.text}"
        case _:
            return f"'{token.text}'"


class _Parser:
    def __init__(self, tokens: list[Token], limits: ParseLimits) -> None:
        self.tokens = tokens
        self.index = 0
        self.limits = limits

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
        while self.peek().kind == "identifier":
            commands.append(self.command(depth))
        token = self.peek()
        if token.kind not in ("end", "punctuation") or (token.kind == "punctuation" and token.text != "}"):
            raise SieveSyntaxError(token.position, f"expected a command, found {_describe(token)}")
        return tuple(commands)

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
