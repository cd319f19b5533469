"""A checked Sieve script: the commands and tests of RFC 5228 (and the extensions it required)
with their arguments resolved and defaults filled in, ready to run (``validate`` makes it,
``interpreter`` runs it). Every node keeps its position for runtime error messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pochta.sieve.comparators import Comparator, MatchType
from pochta.sieve.syntax import Position

__all__ = [
    "AddressPart",
    "AddressTest",
    "AllOf",
    "AnyOf",
    "Constant",
    "Discard",
    "EnvelopeTest",
    "ExistsTest",
    "FileInto",
    "HeaderTest",
    "If",
    "Keep",
    "Matching",
    "Node",
    "Not",
    "Redirect",
    "Reject",
    "Script",
    "SizeTest",
    "Stop",
    "TestNode",
]

AddressPart = Literal["all", "localpart", "domain"]


@dataclass(frozen=True)
class Matching:
    """The comparison arguments shared by header, address and envelope (RFC 5228 §2.7)."""

    comparator: Comparator
    match_type: MatchType


# -- tests (RFC 5228 §5) -------------------------------------------------------------------------


@dataclass(frozen=True)
class Constant:
    """``true`` or ``false`` (§5.6, §5.10)."""

    value: bool
    position: Position


@dataclass(frozen=True)
class Not:
    test: TestNode
    position: Position


@dataclass(frozen=True)
class AllOf:
    tests: tuple[TestNode, ...]
    position: Position


@dataclass(frozen=True)
class AnyOf:
    tests: tuple[TestNode, ...]
    position: Position


@dataclass(frozen=True)
class ExistsTest:
    names: tuple[str, ...]
    position: Position


@dataclass(frozen=True)
class SizeTest:
    over: bool  # :over (else :under)
    limit: int
    position: Position


@dataclass(frozen=True)
class HeaderTest:
    matching: Matching
    names: tuple[str, ...]
    keys: tuple[str, ...]
    position: Position


@dataclass(frozen=True)
class AddressTest:
    matching: Matching
    part: AddressPart
    names: tuple[str, ...]
    keys: tuple[str, ...]
    position: Position


@dataclass(frozen=True)
class EnvelopeTest:
    matching: Matching
    part: AddressPart
    names: tuple[str, ...]  # "from", "to" (lower case)
    keys: tuple[str, ...]
    position: Position


TestNode = Constant | Not | AllOf | AnyOf | ExistsTest | SizeTest | HeaderTest | AddressTest | EnvelopeTest


# -- commands (RFC 5228 §3, §4 and extensions) -----------------------------------------------------


@dataclass(frozen=True)
class If:
    """if / elsif / else (§3.1): the first branch whose test is true (None: else) runs."""

    branches: tuple[tuple[TestNode | None, tuple[Node, ...]], ...]
    position: Position


@dataclass(frozen=True)
class Stop:
    position: Position


@dataclass(frozen=True)
class Keep:
    position: Position


@dataclass(frozen=True)
class Discard:
    position: Position


@dataclass(frozen=True)
class FileInto:
    """RFC 5228 §4.1; ``copy`` (RFC 3894) keeps the implicit keep."""

    mailbox: str
    copy: bool
    position: Position


@dataclass(frozen=True)
class Redirect:
    """RFC 5228 §4.2; ``copy`` (RFC 3894) keeps the implicit keep."""

    address: str
    copy: bool
    position: Position


@dataclass(frozen=True)
class Reject:
    """reject and ereject (RFC 5429 §2.1, §2.2): refuse the message with ``reason``."""

    reason: str
    extended: bool
    position: Position


Node = If | Stop | Keep | Discard | FileInto | Redirect | Reject


@dataclass(frozen=True)
class Script:
    """A checked script: its commands and the extensions it required (RFC 5228 §3.2)."""

    commands: tuple[Node, ...]
    extensions: frozenset[str]
