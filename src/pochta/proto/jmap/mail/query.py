"""Email/query's filter and sort (RFC 8621 section 4.4), pure: the FilterCondition properties
checked and typed, the filter tree checked for depth, the Comparators checked, and the tree
evaluated over sets of Email numbers (messages.id) once the caller has found which Emails each
condition matches.

The caller (``server/jmap/email_query``) finds the matches of a condition's content properties
(text, from, to, cc, bcc, subject, body, header) with the IMAP SEARCH evaluator, so that a JMAP
``text`` finds what IMAP ``SEARCH TEXT`` finds: ``imap_key`` gives the IMAP key of each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pochta.proto.jmap.dates import parse_utc_date
from pochta.proto.jmap.errors import MethodError, MethodErrorType
from pochta.proto.jmap.ids import is_id, is_unsigned_int
from pochta.proto.jmap.standard.filter import (
    Comparator,
    Filter,
    FilterCondition,
    FilterOperator,
    evaluate_tree,
)

__all__ = [
    "COLLATIONS",
    "CONTENT_PROPERTIES",
    "SORT_OPTIONS",
    "EmailCondition",
    "EmailFilter",
    "EmailOperator",
    "EmailSort",
    "evaluate_filter",
    "imap_flag",
    "jmap_keyword",
    "parse_email_filter",
    "parse_email_sort",
]

# RFC 8620 section 5.5 collation names (RFC 4790); the Session's collationAlgorithms lists them.
COLLATIONS = ("i;ascii-casemap", "i;unicode-casemap")

# RFC 8621 section 4.4.1: the FilterCondition properties whose matches the IMAP search finds.
CONTENT_PROPERTIES = ("text", "from", "to", "cc", "bcc", "subject", "body", "header")
_KEYWORD_PROPERTIES = (
    "allInThreadHaveKeyword",
    "someInThreadHaveKeyword",
    "noneInThreadHaveKeyword",
    "hasKeyword",
    "notKeyword",
)
_PROPERTIES = frozenset(
    {
        "inMailbox",
        "inMailboxOtherThan",
        "before",
        "after",
        "minSize",
        "maxSize",
        "hasAttachment",
        *_KEYWORD_PROPERTIES,
        *CONTENT_PROPERTIES,
    }
)
# RFC 8621 section 4.4.2: the sort properties served (the account's emailQuerySortOptions, RFC
# 8621 section 1.3.1).
SORT_OPTIONS = (
    "receivedAt",
    "size",
    "from",
    "to",
    "subject",
    "sentAt",
    "hasKeyword",
    "allInThreadHaveKeyword",
    "someInThreadHaveKeyword",
)
_SORT_PROPERTIES = frozenset(SORT_OPTIONS)
_KEYWORD_SORTS = frozenset({"hasKeyword", "allInThreadHaveKeyword", "someInThreadHaveKeyword"})

# RFC 8621 section 4.1.1: the IMAP system flags and their keywords ($seen is \Seen ...);
# \Deleted and \Recent have none.
_SYSTEM = {"\\seen": "$seen", "\\flagged": "$flagged", "\\answered": "$answered", "\\draft": "$draft"}
_KEYWORD_TO_FLAG = {keyword: "\\" + keyword[1:].capitalize() for keyword in _SYSTEM.values()}


def jmap_keyword(flag: str) -> str | None:
    """The keyword of an IMAP flag (lower-case: keywords compare case-insensitively, RFC 8621
    section 4.1.1), None for a system flag JMAP has no keyword for."""
    lowered = flag.lower()
    if lowered.startswith("\\"):
        return _SYSTEM.get(lowered)
    return lowered


def imap_flag(keyword: str) -> str:
    """The IMAP flag of a keyword ($seen is \\Seen); other keywords are flags as they are."""
    return _KEYWORD_TO_FLAG.get(keyword.lower(), keyword)


def _unsupported(description: str) -> MethodError:
    return MethodError(MethodErrorType.UNSUPPORTED_FILTER, description)


@dataclass(frozen=True)
class EmailCondition:
    """One FilterCondition (RFC 8621 section 4.4.1), its values typed; None: not given. Every
    property given must hold (they are ANDed)."""

    in_mailbox: int | None = None  # mailboxes.id; -1: an id of none of ours (matches nothing)
    in_mailbox_other_than: tuple[int, ...] | None = None
    before: datetime | None = None
    after: datetime | None = None
    min_size: int | None = None
    max_size: int | None = None
    all_in_thread_have_keyword: str | None = None  # keywords lower-case
    some_in_thread_have_keyword: str | None = None
    none_in_thread_have_keyword: str | None = None
    has_keyword: str | None = None
    not_keyword: str | None = None
    has_attachment: bool | None = None
    # (property, value) of the content properties, in the order of CONTENT_PROPERTIES; a header
    # condition's value is (name,) or (name, text).
    content: tuple[tuple[str, str | tuple[str, ...]], ...] = ()

    @property
    def needs_threads(self) -> bool:
        return any(
            value is not None
            for value in (
                self.all_in_thread_have_keyword,
                self.some_in_thread_have_keyword,
                self.none_in_thread_have_keyword,
            )
        )


@dataclass(frozen=True)
class EmailOperator:
    operator: str  # AND, OR, NOT (RFC 8620 section 5.5: NOT is "none of")
    conditions: tuple[EmailFilter, ...]


EmailFilter = EmailOperator | EmailCondition


def _keyword(name: str, value: Any) -> str:
    # RFC 8621 section 4.1.1: a keyword is 1-255 of %x21-%x7e except ( ) { ] % * " \.
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= 255
        or any(not 0x21 <= ord(c) <= 0x7E or c in '(){]%*"\\' for c in value)
    ):
        raise MethodError(MethodErrorType.INVALID_ARGUMENTS, f"{name} must be a keyword")
    return value.lower()


def _mailbox(value: Any, parse_mailbox: Callable[[str], int | None]) -> int:
    if not is_id(value):
        raise MethodError(MethodErrorType.INVALID_ARGUMENTS, "a mailbox must be an Id")
    found = parse_mailbox(value)
    return -1 if found is None else found


def _string(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise MethodError(MethodErrorType.INVALID_ARGUMENTS, f"{name} must be a String")
    if "\x00" in value:
        raise MethodError(MethodErrorType.INVALID_ARGUMENTS, f"{name} must not hold NUL")
    return value


def _date(name: str, value: Any) -> datetime:
    try:
        return parse_utc_date(value) if isinstance(value, str) else _bad_date(name)
    except ValueError:
        return _bad_date(name)


def _bad_date(name: str) -> datetime:
    raise MethodError(MethodErrorType.INVALID_ARGUMENTS, f"{name} must be a UTCDate")


def _size(name: str, value: Any) -> int:
    if not is_unsigned_int(value):
        raise MethodError(MethodErrorType.INVALID_ARGUMENTS, f"{name} must be an UnsignedInt")
    return int(value)


def parse_condition(
    properties: Mapping[str, Any], parse_mailbox: Callable[[str], int | None]
) -> EmailCondition:
    """A FilterCondition's properties typed. An unknown property is ``unsupportedFilter`` (RFC
    8620 section 5.5); a known one of the wrong type ``invalidArguments``."""
    unknown = sorted(set(properties) - _PROPERTIES)
    if unknown:
        raise _unsupported(f"unsupported filter properties: {', '.join(unknown)}")
    p = properties
    other_than = p.get("inMailboxOtherThan")
    if other_than is not None and not isinstance(other_than, list):
        raise MethodError(MethodErrorType.INVALID_ARGUMENTS, "inMailboxOtherThan must be an Id[]")
    attachment = p.get("hasAttachment")
    if attachment is not None and not isinstance(attachment, bool):
        raise MethodError(MethodErrorType.INVALID_ARGUMENTS, "hasAttachment must be a Boolean")
    content: list[tuple[str, str | tuple[str, ...]]] = []
    for name in CONTENT_PROPERTIES:
        value = p.get(name)
        if value is None:
            continue
        if name != "header":
            content.append((name, _string(name, value)))
            continue
        # RFC 8621 section 4.4.1 header: [name] (the field exists) or [name, text].
        if not isinstance(value, list) or not 1 <= len(value) <= 2:
            raise MethodError(MethodErrorType.INVALID_ARGUMENTS, "header must be [name] or [name, value]")
        field = tuple(_string("header", item) for item in value)
        if not field[0] or any(not 0x21 <= ord(c) <= 0x7E or c == ":" for c in field[0]):
            raise MethodError(MethodErrorType.INVALID_ARGUMENTS, "header's name must be a field name")
        content.append((name, field))

    def keyword(name: str) -> str | None:
        return None if p.get(name) is None else _keyword(name, p[name])

    return EmailCondition(
        in_mailbox=None if p.get("inMailbox") is None else _mailbox(p["inMailbox"], parse_mailbox),
        in_mailbox_other_than=None
        if other_than is None
        else tuple(_mailbox(item, parse_mailbox) for item in other_than),
        before=None if p.get("before") is None else _date("before", p["before"]),
        after=None if p.get("after") is None else _date("after", p["after"]),
        min_size=None if p.get("minSize") is None else _size("minSize", p["minSize"]),
        max_size=None if p.get("maxSize") is None else _size("maxSize", p["maxSize"]),
        all_in_thread_have_keyword=keyword("allInThreadHaveKeyword"),
        some_in_thread_have_keyword=keyword("someInThreadHaveKeyword"),
        none_in_thread_have_keyword=keyword("noneInThreadHaveKeyword"),
        has_keyword=keyword("hasKeyword"),
        not_keyword=keyword("notKeyword"),
        has_attachment=attachment,
        content=tuple(content),
    )


def parse_email_filter(
    value: Filter | None, *, max_depth: int, parse_mailbox: Callable[[str], int | None]
) -> EmailFilter | None:
    """The filter tree with its conditions typed, built without recursion; deeper than
    ``max_depth`` operators (a config limit) is ``unsupportedFilter``."""
    if value is None:
        return None
    built: dict[int, EmailFilter] = {}
    stack: list[tuple[Filter, int, bool]] = [(value, 0, False)]
    while stack:
        node, depth, expanded = stack.pop()
        if isinstance(node, FilterCondition):
            built[id(node)] = parse_condition(node.properties, parse_mailbox)
            continue
        assert isinstance(node, FilterOperator)
        if expanded:
            built[id(node)] = EmailOperator(node.operator, tuple(built[id(c)] for c in node.conditions))
            continue
        if depth >= max_depth:
            raise _unsupported(f"the filter nests operators deeper than {max_depth}")
        stack.append((node, depth, True))
        stack.extend((condition, depth + 1, False) for condition in node.conditions)
    return built[id(value)]


@dataclass(frozen=True)
class EmailSort:
    """One Comparator (RFC 8621 section 4.4.2); ``keyword`` for the keyword properties."""

    property: str
    is_ascending: bool
    collation: str
    keyword: str | None = None


def parse_email_sort(comparators: tuple[Comparator, ...] | None) -> tuple[EmailSort, ...]:
    """The Comparators typed; an unknown property, collation or argument is ``unsupportedSort``
    (RFC 8620 section 5.5)."""
    out = []
    for comparator in comparators or ():
        if comparator.property not in _SORT_PROPERTIES:
            raise MethodError(MethodErrorType.UNSUPPORTED_SORT, f"cannot sort by {comparator.property}")
        collation = comparator.collation or COLLATIONS[1]
        if collation not in COLLATIONS:
            raise MethodError(MethodErrorType.UNSUPPORTED_SORT, f"unsupported collation {collation}")
        extra = dict(comparator.extra)
        keyword = None
        if comparator.property in _KEYWORD_SORTS:
            # RFC 8621 section 4.4.2: these carry the keyword in the Comparator's "keyword".
            keyword = _keyword("keyword", extra.pop("keyword", None))
        if extra:
            raise MethodError(
                MethodErrorType.UNSUPPORTED_SORT, f"unknown Comparator arguments {sorted(extra)}"
            )
        out.append(EmailSort(comparator.property, comparator.is_ascending, collation, keyword))
    return tuple(out)


def evaluate_filter(
    tree: EmailFilter | None, universe: Set[int], condition: Callable[[EmailCondition], Set[int]]
) -> set[int]:
    """The Emails of ``universe`` the tree matches, without recursion; ``condition`` answers the
    Emails a condition matches (a subset of ``universe``)."""
    if tree is None:
        return set(universe)
    return evaluate_tree(tree, universe, condition, lambda node: isinstance(node, EmailCondition))
