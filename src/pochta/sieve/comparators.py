"""Comparators (RFC 5228 §2.7.3, RFC 4790 §9) and the match types :is, :contains and :matches
(RFC 5228 §2.7.1) over them.

Values and keys are compared as UTF-8 octets: RFC 5228 §2.7.1 has i;octet and i;ascii-casemap
define a character as one octet, so "?" matches exactly one octet under them. A :matches returns
the strings its wildcards took (RFC 5229 §3.2: shortest first), for the variables extension.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pochta.sieve.regex import regex_search

__all__ = ["COMPARATORS", "RELATIONS", "Comparator", "MatchType", "Relation", "match", "octets", "relate"]

# :count and :value are RFC 5231's, :regex draft-ietf-sieve-regex's, :list RFC 6134's.
MatchType = Literal["is", "contains", "matches", "count", "value", "regex", "list"]
Relation = Literal["gt", "ge", "lt", "le", "eq", "ne"]
RELATIONS: dict[str, Relation] = {name: name for name in ("gt", "ge", "lt", "le", "eq", "ne")}


def octets(text: str) -> bytes:
    """A script or message string as the octets comparators see (encoded-character's arbitrary
    octets survive as surrogate escapes)."""
    return text.encode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class Comparator:
    """A comparator: ``fold`` maps a value to what equality compares; ``substring`` says whether
    :contains and :matches may use it (RFC 5228 §2.7.1: an error otherwise)."""

    name: str
    substring: bool
    fold_case: bool = False
    numeric: bool = False

    def key(self, value: bytes) -> bytes | int | None:
        """What equality compares: the octets (case-folded for i;ascii-casemap), or for
        i;ascii-numeric the number of the leading digits, None standing for positive infinity
        (RFC 4790 §9.1.1: a string that does not start with a digit)."""
        if self.numeric:
            digits = len(value) - len(value.lstrip(b"0123456789"))
            return int(value[:digits]) if digits else None
        return value.lower() if self.fold_case else value  # bytes.lower folds ASCII only


COMPARATORS: dict[str, Comparator] = {
    "i;octet": Comparator("i;octet", substring=True),  # RFC 4790 §9.3
    "i;ascii-casemap": Comparator("i;ascii-casemap", substring=True, fold_case=True),  # RFC 4790 §9.2
    "i;ascii-numeric": Comparator("i;ascii-numeric", substring=False, numeric=True),  # RFC 4790 §9.1
}


def relate(comparator: Comparator, relation: Relation, left: str, right: str) -> bool:
    """RFC 5231 §4.1: ``left`` (from the message) ``relation`` ``right`` (the key) in the
    comparator's order: octets (case-folded for i;ascii-casemap), or numbers with positive
    infinity last for i;ascii-numeric (RFC 4790 §9.1.1)."""
    a, b = comparator.key(octets(left)), comparator.key(octets(right))
    order = _order(a, b)
    match relation:
        case "gt":
            return order > 0
        case "ge":
            return order >= 0
        case "lt":
            return order < 0
        case "le":
            return order <= 0
        case "eq":
            return order == 0
        case _:
            return order != 0


def _order(a: bytes | int | None, b: bytes | int | None) -> int:
    if a == b:
        return 0
    if a is None:  # i;ascii-numeric's positive infinity is above every number
        return 1
    if b is None:
        return -1
    if isinstance(a, int) and isinstance(b, int):
        return -1 if a < b else 1
    if isinstance(a, bytes) and isinstance(b, bytes):
        return -1 if a < b else 1
    raise TypeError("values of two different comparators")


def match(
    comparator: Comparator, match_type: MatchType, value: str, key: str, relation: Relation = "eq"
) -> tuple[str, ...] | None:
    """None when ``value`` does not match ``key``; else the strings the wildcards took (empty
    unless :matches), with the whole matched value first (RFC 5229 §3.2: index 0). ``relation``
    is the :value match's (RFC 5231); :count is the caller's, which knows what to count."""
    if match_type == "value":
        return (value,) if relate(comparator, relation, value, key) else None
    if match_type == "count":
        raise ValueError(":count compares a number of values: use relate")
    if match_type == "list":
        raise ValueError(":list looks a value up in a list: use RunState.in_lists")
    if match_type == "regex":
        if comparator.numeric:
            raise ValueError(f"comparator {comparator.name} cannot do :regex")
        return regex_search(key, value, comparator.fold_case)
    if match_type == "is":
        return (value,) if comparator.key(octets(value)) == comparator.key(octets(key)) else None
    if not comparator.substring:
        raise ValueError(f"comparator {comparator.name} cannot do :{match_type}")
    folded_value = octets(value).lower() if comparator.fold_case else octets(value)
    folded_key = octets(key).lower() if comparator.fold_case else octets(key)
    if match_type == "contains":
        return (value,) if folded_key in folded_value else None  # RFC 5228 §2.7.1: "" is in every value
    spans = _wildcard_spans(folded_value, _pattern(folded_key))
    if spans is None:
        return None
    raw = octets(value)
    return (value, *(raw[start:end].decode("utf-8", "surrogateescape") for start, end in spans))


# A compiled pattern: literal octets, or "*" / "?" as the wildcards (not escaped).
_Piece = bytes | Literal["*", "?"]


def _pattern(key: bytes) -> list[_Piece]:
    # RFC 5228 §2.7.1: "\\" before a character (in the string's value: one backslash) makes it
    # literal, so "\\*" matches a star; a trailing lone backslash stands for itself.
    pieces: list[_Piece] = []
    literal = bytearray()
    index = 0
    while index < len(key):
        octet = key[index : index + 1]
        if octet == b"\\" and index + 1 < len(key):
            literal += key[index + 1 : index + 2]
            index += 2
            continue
        if octet in (b"*", b"?"):
            if literal:
                pieces.append(bytes(literal))
                literal.clear()
            pieces.append("*" if octet == b"*" else "?")
        else:
            literal += octet
        index += 1
    if literal:
        pieces.append(bytes(literal))
    return pieces


def _wildcard_spans(value: bytes, pieces: list[_Piece]) -> list[tuple[int, int]] | None:
    """Match ``pieces`` against the whole of ``value``: the (start, end) each wildcard took, or
    None. Each "*" takes as little as it can (RFC 5229 §3.2); on a mismatch only the latest "*"
    grows, which finds a match whenever there is one and keeps the work at O(len(value) *
    len(pieces)) whatever the pattern (no backtracking explosion on "*a*a*a*b")."""
    spans: list[tuple[int, int]] = []
    piece_index, position = 0, 0
    # The latest star: its index in pieces, where it started, how many spans came before it.
    star: tuple[int, int, int] | None = None
    star_length = 0
    while True:
        if piece_index == len(pieces):
            if position == len(value):
                return spans
        else:
            piece = pieces[piece_index]
            if piece == "*":
                star, star_length = (piece_index, position, len(spans)), 0
                spans.append((position, position))
                piece_index += 1
                continue
            if piece == "?":
                if position < len(value):
                    spans.append((position, position + 1))
                    piece_index += 1
                    position += 1
                    continue
            elif value.startswith(piece, position):
                piece_index += 1
                position += len(piece)
                continue
        # A mismatch (or value left over at the pattern's end): the latest star takes one more.
        if star is None:
            return None
        star_index, star_start, spans_before = star
        star_length += 1
        if star_start + star_length > len(value):
            return None
        del spans[spans_before:]
        spans.append((star_start, star_start + star_length))
        piece_index, position = star_index + 1, star_start + star_length
