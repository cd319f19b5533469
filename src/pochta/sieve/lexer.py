"""The tokens of a Sieve script (RFC 5228 §8.1).

Scripts are UTF-8 text. RFC 5228 §8.1 allows CR and LF only as CRLF pairs; scripts written on
Unix (and uploaded as they are by ManageSieve clients) end lines with a bare LF, so a bare LF is
taken as a line end too, as Pigeonhole does. A line end inside a string's value is CRLF either
way, since that is what a message needs (a vacation reply, a header). A lone CR, a NUL and any
character outside the grammar are errors at their position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pochta.sieve.syntax import Position, SieveSyntaxError

__all__ = ["MAX_IDENTIFIER", "MAX_NUMBER", "PUNCTUATION", "Scanned", "Token", "TokenKind", "scan", "tokenize"]

# "invalid": a run of characters no token starts with; the parser reports it where it stands.
TokenKind = Literal["identifier", "tag", "number", "string", "punctuation", "invalid", "end"]

PUNCTUATION = frozenset("[](),;{}")
# RFC 5228 §2.4.1 asks for at least 2^31 - 1; we keep what an unsigned 64-bit integer holds, as
# Pigeonhole does.
MAX_NUMBER = 2**64 - 1
# RFC 5228 sets no bound; no command, test or tag of any extension is near it (Pigeonhole's too).
MAX_IDENTIFIER = 32
_QUANTIFIERS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}  # RFC 5228 §2.4.1
_ALPHA = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGITS = frozenset("0123456789")
_IDENTIFIER_START = _ALPHA | {"_"}
_IDENTIFIER_REST = _ALPHA | _DIGITS | {"_"}
# Where a run of characters no token starts with ends: at anything that starts a token, a space
# or a comment (a "/" too, which may open one), a NUL (its own error), a line end.
_TOKEN_OR_SPACE_START = PUNCTUATION | _ALPHA | _DIGITS | frozenset('_":#/ \t\r\n\0')


@dataclass(frozen=True)
class Token:
    """One token. ``text`` is lower case for identifiers and tags (RFC 5228 §8.1: they are
    case-insensitive), the value for strings, the character for punctuation; ``number`` is set for
    numbers only; ``multiline`` tells a ``text:`` string from a quoted one."""

    kind: TokenKind
    text: str
    position: Position
    number: int = 0
    multiline: bool = False


class _Scanner:
    def __init__(self, script: str) -> None:
        self.text = script
        self.index = 0
        self.line = 1
        self.line_start = 0  # index of the current line's first character
        self.errors: list[SieveSyntaxError] = []  # recorded, not raised: the scan goes on

    def position(self, index: int | None = None) -> Position:
        at = self.index if index is None else index
        return Position(self.line, at - self.line_start + 1)

    def error(self, message: str, index: int | None = None) -> SieveSyntaxError:
        return SieveSyntaxError(self.position(index), message)

    def peek(self, offset: int = 0) -> str:
        at = self.index + offset
        return self.text[at] if at < len(self.text) else ""

    def line_end_length(self, at: int) -> int:
        """2 for CRLF, 1 for a bare LF at ``at``, 0 for anything else; a lone CR is an error."""
        char = self.text[at] if at < len(self.text) else ""
        if char == "\n":
            return 1
        if char == "\r":
            if self.text[at + 1 : at + 2] == "\n":
                return 2
            raise self.error("a CR must be followed by LF (RFC 5228 §8.1)", at)
        return 0

    def new_line(self, after: int) -> None:
        self.line += 1
        self.line_start = after


@dataclass(frozen=True)
class Scanned:
    """What ``scan`` found: the tokens (ending with ``end``), the errors in script order, and
    whether the last error ended the scan early (a string or comment that never ends, a NUL, a
    lone CR: nothing after it can be told apart, so the tokens stop there)."""

    tokens: list[Token]
    errors: list[SieveSyntaxError]
    stopped: bool


def tokenize(script: str) -> list[Token]:
    """The tokens of ``script``, ending with an ``end`` token; raises the first SieveSyntaxError."""
    scanned = scan(script)
    if scanned.errors:
        raise scanned.errors[0]
    return scanned.tokens


def scan(script: str) -> Scanned:
    """The tokens of ``script`` and every error in it. An error inside a token (a number too
    large, an identifier too long, characters no token starts with) is recorded and the scan goes
    on, so that one upload reports all of them, as Pigeonhole's lexer does."""
    scanner = _Scanner(script)
    tokens: list[Token] = []
    try:
        _scan_into(scanner, tokens)
    except SieveSyntaxError as fatal:
        scanner.errors.append(fatal)
        tokens.append(Token("end", "", fatal.position))
        return Scanned(tokens, scanner.errors, stopped=True)
    return Scanned(tokens, scanner.errors, stopped=False)


def _scan_into(scanner: _Scanner, tokens: list[Token]) -> None:
    text = scanner.text
    while True:
        _skip_white_space(scanner)
        if scanner.index >= len(text):
            tokens.append(Token("end", "", scanner.position()))
            return
        char = text[scanner.index]
        start = scanner.position()
        if char in PUNCTUATION:
            tokens.append(Token("punctuation", char, start))
            scanner.index += 1
        elif char == '"':
            tokens.append(Token("string", _quoted_string(scanner), start))
        elif char == ":":
            scanner.index += 1
            if scanner.peek() not in _IDENTIFIER_START:
                scanner.errors.append(
                    SieveSyntaxError(start, "':' must be followed by a tag name (RFC 5228 §2.6.2)")
                )
                tokens.append(Token("invalid", ":", start))
                continue
            tokens.append(Token("tag", _identifier(scanner, start).lower(), start))
        elif char in _DIGITS:
            tokens.append(_number(scanner, start))
        elif char in _IDENTIFIER_START:
            name = _identifier(scanner, start)
            if name.lower() == "text" and scanner.peek() == ":":
                scanner.index += 1
                tokens.append(Token("string", _multi_line(scanner, start), start, multiline=True))
            else:
                tokens.append(Token("identifier", name.lower(), start))
        elif char == "\0":
            raise scanner.error("a NUL character is not allowed in a script")
        else:
            first = scanner.index
            scanner.index += 1  # this one starts no token, even when it is a "/" that opens no comment
            while scanner.index < len(text) and text[scanner.index] not in _TOKEN_OR_SPACE_START:
                scanner.index += 1
            garbage = text[first : scanner.index]
            what = "character" if len(garbage) == 1 else "characters"
            scanner.errors.append(SieveSyntaxError(start, f"unexpected {what} {garbage!r}"))
            tokens.append(Token("invalid", garbage, start))


def _skip_white_space(scanner: _Scanner) -> None:
    # RFC 5228 §8.1 white-space: SP, HTAB, CRLF and comments.
    text = scanner.text
    while scanner.index < len(text):
        char = text[scanner.index]
        if char in " \t":
            scanner.index += 1
        elif char in "\r\n":
            length = scanner.line_end_length(scanner.index)
            scanner.index += length
            scanner.new_line(scanner.index)
        elif char == "#":
            _skip_hash_comment(scanner)
        elif char == "/" and scanner.peek(1) == "*":
            _skip_bracket_comment(scanner)
        else:
            return


def _skip_hash_comment(scanner: _Scanner) -> None:
    # RFC 5228 §8.1 hash-comment: "#" to the end of the line (the end of the script ends it too).
    text = scanner.text
    while scanner.index < len(text):
        char = text[scanner.index]
        if char in "\r\n":
            length = scanner.line_end_length(scanner.index)
            scanner.index += length
            scanner.new_line(scanner.index)
            return
        if char == "\0":
            raise scanner.error("a NUL character is not allowed in a script")
        scanner.index += 1


def _skip_bracket_comment(scanner: _Scanner) -> None:
    # RFC 5228 §8.1 bracket-comment: "/*" to the first "*/", not nested.
    opened = scanner.index
    opened_at = scanner.position()
    text = scanner.text
    scanner.index += 2
    while scanner.index < len(text):
        char = text[scanner.index]
        if char == "*" and scanner.peek(1) == "/":
            scanner.index += 2
            return
        if char in "\r\n":
            length = scanner.line_end_length(scanner.index)
            scanner.index += length
            scanner.new_line(scanner.index)
            continue
        if char == "\0":
            raise scanner.error("a NUL character is not allowed in a script")
        scanner.index += 1
    raise SieveSyntaxError(
        opened_at, f"the comment opened here never ends with '*/' ({len(text) - opened} characters)"
    )


def _identifier(scanner: _Scanner, at: Position) -> str:
    # RFC 5228 §8.1: identifier = (ALPHA / "_") *(ALPHA / DIGIT / "_")
    text, start = scanner.text, scanner.index
    scanner.index += 1
    while scanner.index < len(text) and text[scanner.index] in _IDENTIFIER_REST:
        scanner.index += 1
    name = text[start : scanner.index]
    if len(name) > MAX_IDENTIFIER:
        scanner.errors.append(
            SieveSyntaxError(
                at, f"the name '{name[:MAX_IDENTIFIER]}...' is longer than {MAX_IDENTIFIER} characters"
            )
        )
    return name


def _number(scanner: _Scanner, start: Position) -> Token:
    # RFC 5228 §8.1: number = 1*DIGIT [ QUANTIFIER ]; §2.4.1: K, M, G multiply by 2^10, 2^20, 2^30.
    text, first = scanner.text, scanner.index
    while scanner.index < len(text) and text[scanner.index] in _DIGITS:
        scanner.index += 1
    digits = text[first : scanner.index]
    value = int(digits)
    quantifier = scanner.peek().lower()
    if quantifier in _QUANTIFIERS:
        value *= _QUANTIFIERS[quantifier]
        scanner.index += 1
    if scanner.peek() in _IDENTIFIER_REST:
        scanner.errors.append(
            scanner.error(f"a number must be followed by a space or a separator, not {scanner.peek()!r}")
        )
        while scanner.peek() in _IDENTIFIER_REST and scanner.index < len(text):
            scanner.index += 1
    if value > MAX_NUMBER:
        scanner.errors.append(
            SieveSyntaxError(start, f"the number {text[first : scanner.index]} is larger than {MAX_NUMBER}")
        )
        value = MAX_NUMBER
    return Token("number", text[first : scanner.index], start, number=value)


def _quoted_string(scanner: _Scanner) -> str:
    # RFC 5228 §8.1 quoted-string; §2.4.2: "\" before '"' or '\' stands for it, before any other
    # character for that character (quoted-other). Line ends inside are part of the value.
    opened_at = scanner.position()
    text = scanner.text
    scanner.index += 1
    parts: list[str] = []
    run_start = scanner.index
    while scanner.index < len(text):
        char = text[scanner.index]
        if char == '"':
            parts.append(text[run_start : scanner.index])
            scanner.index += 1
            return "".join(parts)
        if char == "\\":
            parts.append(text[run_start : scanner.index])
            escaped = scanner.peek(1)
            if escaped in ("", "\r", "\n"):
                raise scanner.error(
                    "a backslash in a string must be followed by a character on the same line"
                )
            if escaped == "\0":
                raise scanner.error("a NUL character is not allowed in a script", scanner.index + 1)
            parts.append(escaped)
            scanner.index += 2
            run_start = scanner.index
        elif char in "\r\n":
            parts.append(text[run_start : scanner.index])
            length = scanner.line_end_length(scanner.index)
            parts.append("\r\n")
            scanner.index += length
            scanner.new_line(scanner.index)
            run_start = scanner.index
        elif char == "\0":
            raise scanner.error("a NUL character is not allowed in a script")
        else:
            scanner.index += 1
    raise SieveSyntaxError(opened_at, "the string opened here has no closing '\"'")


def _multi_line(scanner: _Scanner, opened_at: Position) -> str:
    # RFC 5228 §8.1: multi-line = "text:" *(SP / HTAB) (hash-comment / CRLF) *lines "." CRLF;
    # a line starting with ".." loses its first dot (dot-stuffing).
    text = scanner.text
    while scanner.peek() in (" ", "\t") and scanner.index < len(text):
        scanner.index += 1
    if scanner.peek() == "#":
        _skip_hash_comment(scanner)
    else:
        length = scanner.line_end_length(scanner.index)
        if length == 0:
            raise scanner.error("'text:' must be followed by the end of the line (RFC 5228 §8.1)")
        scanner.index += length
        scanner.new_line(scanner.index)
    lines: list[str] = []
    while scanner.index < len(text):
        line_start = scanner.index
        end = line_start
        while end < len(text) and text[end] not in "\r\n":
            if text[end] == "\0":
                raise scanner.error("a NUL character is not allowed in a script", end)
            end += 1
        if end >= len(text):
            break  # no line end: the terminating "." CRLF is missing
        line = text[line_start:end]
        length = scanner.line_end_length(end)
        scanner.index = end + length
        scanner.new_line(scanner.index)
        if line == ".":
            return "".join(lines)
        lines.append((line[1:] if line.startswith("..") else line) + "\r\n")
    raise SieveSyntaxError(
        opened_at, "the multi-line string opened here has no line with a single '.' to end it"
    )
