"""Regular expressions for the regex match type (draft-ietf-sieve-regex: POSIX extended syntax,
matched anywhere in the value) on RE2, whose time is linear in the value whatever the pattern: a
script's pattern cannot make delivery backtrack for ever (why RE2: docs/sieve.md).

POSIX semantics: the leftmost-longest match; i;ascii-casemap matches without case, i;octet with.
Compiled patterns are cached (a script's keys are few and used for every message).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, cast

import re2

__all__ = ["MAX_PROGRAM_MEMORY", "RegexError", "check_regex", "quote_regex", "regex_search"]

# The memory one compiled pattern may take (RE2 refuses larger programs: an error, not a stall).
MAX_PROGRAM_MEMORY = 1 << 20
_SPECIALS = frozenset("\\.[](){}*+?^$|")


class RegexError(ValueError):
    """Not a pattern RE2 can compile in POSIX mode within ``MAX_PROGRAM_MEMORY``."""


@lru_cache(maxsize=256)
def _compiled(pattern: str, fold_case: bool) -> Any:
    options = re2.Options()
    options.posix_syntax = True  # POSIX extended syntax ...
    options.longest_match = True  # ... and the leftmost-longest match POSIX regexec gives
    options.perl_classes = True  # \d, \w, \s as Pigeonhole's regcomp takes them
    options.word_boundary = True
    options.case_sensitive = not fold_case
    options.max_mem = MAX_PROGRAM_MEMORY
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error as error:
        raise RegexError(
            str(error.args[0].decode() if error.args and isinstance(error.args[0], bytes) else error)
        ) from None


def check_regex(pattern: str, fold_case: bool = False) -> None:
    """Raise RegexError when ``pattern`` does not compile."""
    _compiled(pattern, fold_case)


def regex_search(pattern: str, value: str, fold_case: bool) -> tuple[str, ...] | None:
    """The whole match and each group's text ("" for a group that took no part), or None."""
    found = _compiled(pattern, fold_case).search(value)
    if found is None:
        return None
    groups = cast(tuple[str | None, ...], found.groups())
    return (cast(str, found.group(0)), *(group or "" for group in groups))


def quote_regex(value: str) -> str:
    """The ":quoteregex" modifier: a backslash before every character special in a regex."""
    return "".join("\\" + char if char in _SPECIALS else char for char in value)
