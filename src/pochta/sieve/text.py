"""Strings of a script with their variable references (RFC 5229 §3): a ``Text`` is constant
unless the script requires "variables", and is expanded at run time with the values current when
control reaches its statement, in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from pochta.sieve.syntax import Position, SieveSyntaxError

__all__ = ["MAX_MATCH_INDEX", "MatchRef", "Text", "VariableRef", "parse_text", "variable_name_ok"]

# RFC 5229 §6: ${1}..${9} at least; a reference past what we keep is a syntax error.
MAX_MATCH_INDEX = 99
_ALPHA = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_IDENTIFIER = _ALPHA | frozenset("0123456789")


@dataclass(frozen=True)
class VariableRef:
    """``${name}`` (lower case: RFC 5229 §3 names are case-insensitive); ``shared`` for
    ``${global.name}`` (RFC 6609 §3.4.2)."""

    name: str
    shared: bool = False


@dataclass(frozen=True)
class MatchRef:
    """``${N}``: the Nth string of the last successful :matches (RFC 5229 §3.2)."""

    index: int


@dataclass(frozen=True)
class Text:
    """A string argument: literal parts and references, in order."""

    parts: tuple[str | VariableRef | MatchRef, ...]

    @classmethod
    def of(cls, value: str) -> Text:
        return cls((value,))

    @property
    def constant(self) -> str | None:
        """The value when there is nothing to expand, else None."""
        if len(self.parts) == 1 and isinstance(self.parts[0], str):
            return self.parts[0]
        return "" if not self.parts else None


def variable_name_ok(name: str) -> bool:
    """RFC 5229 §3: variable-name = num-variable / identifier (no namespace)."""
    if not name:
        return False
    if name.isascii() and name.isdigit():
        return True
    return name[0] in _ALPHA and all(char in _IDENTIFIER for char in name)


def parse_text(value: str, position: Position, namespaces: frozenset[str] = frozenset()) -> Text:
    """Split ``value`` at its variable references (RFC 5229 §3). What is not a well-formed
    reference stays literal ("${doh!}", "${}"); a reference into a namespace no required extension
    provides, or to a match variable past MAX_MATCH_INDEX, is an error (§3, §6)."""
    parts: list[str | VariableRef | MatchRef] = []
    literal: list[str] = []
    index = 0
    while True:
        start = value.find("${", index)
        if start < 0:
            literal.append(value[index:])
            break
        literal.append(value[index:start])
        end = value.find("}", start + 2)
        body = value[start + 2 : end] if end >= 0 else ""
        components = body.split(".")
        # namespace = identifier "." *sub-namespace: the first of several parts is no number.
        namespace_ok = len(components) == 1 or not components[0].isdigit()
        if end < 0 or not namespace_ok or not all(variable_name_ok(component) for component in components):
            literal.append("${")  # not a reference: keep it, and look for one right after it
            index = start + 2
            continue
        reference: VariableRef | MatchRef
        if len(components) > 1:
            namespace = components[0].lower()
            if namespace not in namespaces:
                raise SieveSyntaxError(position, f"'${{{body}}}' names the unknown namespace '{namespace}'")
            # RFC 6609 §3.4.2: "global" has no sub-namespaces, and its names are identifiers.
            if len(components) != 2 or components[1].isdigit():
                raise SieveSyntaxError(position, f"'${{{body}}}' is no variable of the global namespace")
            reference = VariableRef(components[1].lower(), shared=True)
        elif components[0].isdigit():
            name = components[0]
            number = int(name)  # RFC 5229 §3.2: leading zeroes are ignored
            if number > MAX_MATCH_INDEX:
                raise SieveSyntaxError(position, f"'${{{name}}}': match variables go up to {MAX_MATCH_INDEX}")
            reference = MatchRef(number)
        else:
            reference = VariableRef(components[0].lower())
        joined = "".join(literal)
        if joined:
            parts.append(joined)
        literal = []
        parts.append(reference)
        index = end + 1
    joined = "".join(literal)
    if joined or not parts:
        parts.append(joined)
    return Text(tuple(parts))
