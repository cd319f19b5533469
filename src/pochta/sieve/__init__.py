"""The Sieve mail filtering language (RFC 5228): pure code that turns a script into a syntax tree
(``parse``), and later checks it against the commands and extensions it requires and runs it over a
message and its envelope, returning actions that delivery carries out.

What exists so far is the language's syntax: the lexer (RFC 5228 §8.1) and the grammar (§8.2). No
listener, delivery step or capability uses it yet; ManageSieve stays unavailable until scripts run.
"""

from pochta.sieve.parser import ParseLimits, parse
from pochta.sieve.syntax import (
    Argument,
    Command,
    Number,
    SieveSyntaxError,
    StringList,
    Tag,
    Test,
)

__all__ = [
    "Argument",
    "Command",
    "Number",
    "ParseLimits",
    "SieveSyntaxError",
    "StringList",
    "Tag",
    "Test",
    "parse",
]
