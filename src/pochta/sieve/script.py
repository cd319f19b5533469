"""A checked Sieve script: the commands and tests of RFC 5228 (and the extensions it required)
with their arguments resolved and defaults filled in, ready to run (``validate`` makes it,
``interpreter`` runs it). Every node keeps its position for runtime error messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pochta.sieve.comparators import Comparator, MatchType, Relation
from pochta.sieve.syntax import Position
from pochta.sieve.text import Text

__all__ = [
    "AddHeader",
    "AddressPart",
    "AddressTest",
    "AllOf",
    "AnyOf",
    "BodyTest",
    "BodyTransform",
    "Break",
    "ChangeFlags",
    "Constant",
    "Custom",
    "CustomTest",
    "DateTest",
    "DeleteHeader",
    "Discard",
    "DuplicateTest",
    "Enclose",
    "EnvelopeTest",
    "EnvironmentTest",
    "Error",
    "ExistsTest",
    "ExtractText",
    "FccTarget",
    "FieldIndex",
    "FileInto",
    "FlagOperation",
    "ForEveryPart",
    "Global",
    "HasFlag",
    "HeaderTest",
    "If",
    "Include",
    "Keep",
    "MailboxExists",
    "Matching",
    "MetadataTest",
    "MimeOption",
    "MimeScope",
    "Modifier",
    "Node",
    "Not",
    "Notify",
    "NotifyMethodCapability",
    "Redirect",
    "Reject",
    "Replace",
    "Return",
    "Script",
    "Set",
    "SizeTest",
    "SpamTest",
    "SpecialUseExists",
    "Stop",
    "StringTest",
    "TestNode",
    "Vacation",
    "ValidExtList",
    "ValidNotifyMethod",
]

AddressPart = Literal["all", "localpart", "domain", "user", "detail"]  # the last two: RFC 5233


@dataclass(frozen=True)
class Matching:
    """The comparison arguments shared by header, address and envelope (RFC 5228 §2.7)."""

    comparator: Comparator
    match_type: MatchType
    relation: Relation = "eq"  # of :count and :value (RFC 5231)


# -- tests (RFC 5228 §5) -------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldIndex:
    """:index n [:last] (RFC 5260 §6): only the nth of the named fields (counted from the end)."""

    number: int
    last: bool

    def pick(self, count: int) -> int | None:
        """The 0-based position among ``count`` fields, None when there is no such field."""
        if not 1 <= self.number <= count:
            return None
        return count - self.number if self.last else self.number - 1


@dataclass(frozen=True)
class Constant:
    """``true`` or ``false`` (§5.6, §5.10)."""

    value: bool
    position: Position
    unknown_capability: bool = False  # an ihave of something unsupported (RFC 5463 §4)


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


MimeOption = Literal["type", "subtype", "contenttype", "param"]


@dataclass(frozen=True)
class MimeScope:
    """RFC 5703 §4: :mime makes header, address and exists test the current MIME part's header
    (with :anychild, every part below it too); the option reads a Content-Type or
    Content-Disposition field as its type, subtype, both, or the named parameters."""

    anychild: bool
    option: MimeOption | None
    params: tuple[Text, ...]


@dataclass(frozen=True)
class ExistsTest:
    names: tuple[Text, ...]
    position: Position
    mime: MimeScope | None = None


@dataclass(frozen=True)
class SizeTest:
    over: bool  # :over (else :under)
    limit: int
    position: Position


@dataclass(frozen=True)
class HeaderTest:
    matching: Matching
    names: tuple[Text, ...]
    keys: tuple[Text, ...]
    position: Position
    index: FieldIndex | None = None
    mime: MimeScope | None = None


@dataclass(frozen=True)
class AddressTest:
    matching: Matching
    part: AddressPart
    names: tuple[Text, ...]
    keys: tuple[Text, ...]
    position: Position
    index: FieldIndex | None = None
    mime: MimeScope | None = None


@dataclass(frozen=True)
class EnvelopeTest:
    matching: Matching
    part: AddressPart
    names: tuple[Text, ...]  # "from", "to"
    keys: tuple[Text, ...]
    position: Position


@dataclass(frozen=True)
class StringTest:
    """RFC 5229 §5: ``string``, on the script's own strings (no white space stripped)."""

    matching: Matching
    sources: tuple[Text, ...]
    keys: tuple[Text, ...]
    position: Position


@dataclass(frozen=True)
class EnvironmentTest:
    """RFC 5183 §4: an item of the delivery's environment against the keys."""

    matching: Matching
    name: Text
    keys: tuple[Text, ...]
    position: Position


@dataclass(frozen=True)
class DateTest:
    """RFC 5260 §4 ``date`` (``header`` None: §5 ``currentdate``). ``zone``: a :zone value; with
    ``original_zone`` the field's own zone; neither: the server's local zone (§4.1)."""

    matching: Matching
    zone: Text | None
    original_zone: bool
    header: Text | None
    part: Text
    keys: tuple[Text, ...]
    position: Position
    index: FieldIndex | None = None


@dataclass(frozen=True)
class CustomTest:
    """A test an embedding adds through a plugin; the plugin evaluates it."""

    name: str
    payload: object
    position: Position


@dataclass(frozen=True)
class MetadataTest:
    """RFC 5490 §3.3-§4.2: a METADATA entry of a mailbox (``mailbox`` None: of the server)
    against the keys, or (``matching`` None) whether the entries all exist."""

    matching: Matching | None
    mailbox: Text | None
    names: tuple[Text, ...]
    keys: tuple[Text, ...]
    position: Position


@dataclass(frozen=True)
class SpamTest:
    """RFC 5235 §3.2 ``spamtest`` (``percent``: the 0-100 scale of spamtestplus) and §3.3
    ``virustest`` (``virus``)."""

    matching: Matching
    percent: bool
    virus: bool
    value: Text
    position: Position


@dataclass(frozen=True)
class SpecialUseExists:
    """RFC 8579 §3: the attributes are all held (by ``mailbox``, or by any mailbox)."""

    mailbox: Text | None
    attributes: tuple[Text, ...]
    position: Position


@dataclass(frozen=True)
class ValidExtList:
    """RFC 6134 section 2: every name is that of a list the server supports."""

    names: tuple[Text, ...]
    position: Position


@dataclass(frozen=True)
class ValidNotifyMethod:
    """RFC 5435 §4: every URI names a supported method and is valid."""

    uris: tuple[Text, ...]
    position: Position


@dataclass(frozen=True)
class NotifyMethodCapability:
    """RFC 5435 §5: a capability of a method ("online": mailto says "maybe") against the keys."""

    matching: Matching
    uri: Text
    capability: Text
    keys: tuple[Text, ...]
    position: Position


@dataclass(frozen=True)
class DuplicateTest:
    """RFC 7352 §3: seen before? ``header`` (None: Message-ID) or ``uniqueid`` names the ID."""

    handle: Text | None
    header: Text | None
    uniqueid: Text | None
    seconds: int | None
    last: bool
    position: Position


BodyTransform = Literal["raw", "content", "text"]


@dataclass(frozen=True)
class BodyTest:
    """RFC 5173 §4: the body, transformed (§5: :raw, :content types, :text), against the keys."""

    matching: Matching
    transform: BodyTransform
    content_types: tuple[Text, ...]
    keys: tuple[Text, ...]
    position: Position


@dataclass(frozen=True)
class MailboxExists:
    """RFC 5490 §3.1: every named mailbox exists and mail may be filed into it."""

    names: tuple[Text, ...]
    position: Position


@dataclass(frozen=True)
class HasFlag:
    """RFC 5232 §4: ``hasflag`` over variables (empty: the internal variable)."""

    matching: Matching
    variables: tuple[str, ...]
    flags: tuple[Text, ...]
    position: Position


TestNode = (
    Constant
    | Not
    | AllOf
    | AnyOf
    | ExistsTest
    | SizeTest
    | HeaderTest
    | AddressTest
    | EnvelopeTest
    | StringTest
    | HasFlag
    | EnvironmentTest
    | MailboxExists
    | DateTest
    | BodyTest
    | CustomTest
    | DuplicateTest
    | ValidExtList
    | ValidNotifyMethod
    | NotifyMethodCapability
    | SpecialUseExists
    | SpamTest
    | MetadataTest
)


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
    flags: tuple[Text, ...] | None = None  # :flags (RFC 5232 §5); None: the internal variable's


@dataclass(frozen=True)
class Discard:
    position: Position


@dataclass(frozen=True)
class FileInto:
    """RFC 5228 §4.1; ``copy`` (RFC 3894) keeps the implicit keep."""

    mailbox: Text
    copy: bool
    position: Position
    flags: tuple[Text, ...] | None = None  # :flags (RFC 5232 §5); None: the internal variable's
    create: bool = False  # :create (RFC 5490 §3.2)
    special_use: Text | None = None  # :specialuse (RFC 8579 §4)


@dataclass(frozen=True)
class Redirect:
    """RFC 5228 §4.2; ``copy`` (RFC 3894) keeps the implicit keep."""

    address: Text
    copy: bool
    position: Position


@dataclass(frozen=True)
class Reject:
    """reject and ereject (RFC 5429 §2.1, §2.2): refuse the message with ``reason``."""

    reason: Text
    extended: bool
    position: Position


Modifier = Literal[
    "lower", "upper", "lowerfirst", "upperfirst", "quotewildcard", "quoteregex", "encodeurl", "length"
]


@dataclass(frozen=True)
class Set:
    """RFC 5229 §4: ``set``; ``modifiers`` in the order they apply (§4.1: highest precedence
    first)."""

    name: str  # lower case
    modifiers: tuple[Modifier, ...]
    value: Text
    position: Position
    shared: bool = False  # "global.name" (RFC 6609 §3.4.2)


@dataclass(frozen=True)
class Error:
    """RFC 5463 §5: end the script with an error (the implicit keep then applies)."""

    message: Text
    position: Position


@dataclass(frozen=True)
class FccTarget:
    """RFC 8580 §3: :fcc and the arguments that go with it."""

    mailbox: Text
    flags: tuple[Text, ...] | None
    create: bool
    special_use: Text | None


@dataclass(frozen=True)
class Vacation:
    """RFC 5230 §4 (with :seconds, RFC 6131 §2). ``period`` is in seconds as the script wrote it
    (None: the site default); ``tracking`` names the response for §4.2's once-per-period rule:
    its :handle, or a digest of its arguments before any variable was expanded."""

    period: int | None
    subject: Text | None
    sender: Text | None  # :from
    addresses: tuple[Text, ...]
    mime: bool
    reason: Text
    tracking: str
    position: Position
    fcc: FccTarget | None = None


FlagOperation = Literal["set", "add", "remove"]


@dataclass(frozen=True)
class ChangeFlags:
    """setflag, addflag, removeflag (RFC 5232 §3) on a variable (None: the internal one)."""

    operation: FlagOperation
    variable: str | None
    flags: tuple[Text, ...]
    position: Position


@dataclass(frozen=True)
class Notify:
    """RFC 5435 §3: send a notification by ``method`` (a URI: mailto, RFC 5436)."""

    method: Text
    sender: Text | None  # :from
    importance: Text | None
    options: tuple[Text, ...]
    message: Text | None
    position: Position
    fcc: FccTarget | None = None


@dataclass(frozen=True)
class ForEveryPart:
    """RFC 5703 §3.1: run the block for each MIME part (the message first, at the top level; the
    parts below the current one in a nested loop)."""

    name: str | None
    block: tuple[Node, ...]
    position: Position


@dataclass(frozen=True)
class Break:
    """RFC 5703 §3.2: leave the innermost loop, or the one named."""

    name: str | None
    position: Position


@dataclass(frozen=True)
class ExtractText:
    """RFC 5703 §7: set a variable to the text of the current MIME part (:first: its first
    characters)."""

    name: str
    modifiers: tuple[Modifier, ...]
    first: int | None
    position: Position


@dataclass(frozen=True)
class Include:
    """RFC 6609 §3.2: run another script of the user's (or the site's, ``personal`` False)."""

    name: str
    personal: bool
    once: bool
    optional: bool
    position: Position


@dataclass(frozen=True)
class Return:
    """RFC 6609 §3.3: end the immediate script (in the main script: as stop)."""

    position: Position


@dataclass(frozen=True)
class Global:
    """RFC 6609 §3.4.1: these variables of this script are the shared ones."""

    names: tuple[str, ...]
    position: Position


@dataclass(frozen=True)
class AddHeader:
    """RFC 5293 §4: add a header field (first, or last with :last)."""

    name: Text
    value: Text
    last: bool
    position: Position


@dataclass(frozen=True)
class DeleteHeader:
    """RFC 5293 §5: delete the named fields (those at :index, those whose values match)."""

    name: Text
    index: FieldIndex | None
    matching: Matching
    patterns: tuple[Text, ...] | None
    position: Position


@dataclass(frozen=True)
class Replace:
    """RFC 5703 section 5: replace the current MIME part (the whole message outside a loop) by
    the text, a text/plain body or with ``mime`` a MIME entity; ``subject``/``sender`` (:from)
    only when the whole message is replaced."""

    replacement: Text
    mime: bool
    subject: Text | None
    sender: Text | None
    position: Position


@dataclass(frozen=True)
class Enclose:
    """RFC 5703 section 6: the message becomes an attachment of a new one whose text is ``text``;
    ``headers`` names the fields copied from it."""

    text: Text
    subject: Text | None
    headers: tuple[Text, ...]
    position: Position


@dataclass(frozen=True)
class Custom:
    """A command an embedding adds through a plugin (``validate``'s ``plugin``: a test harness,
    never the server); the plugin runs it."""

    name: str
    payload: object
    block: tuple[Node, ...] | None
    position: Position


Node = (
    If
    | Stop
    | Keep
    | Discard
    | FileInto
    | Redirect
    | Reject
    | Set
    | ChangeFlags
    | Vacation
    | Error
    | AddHeader
    | DeleteHeader
    | ForEveryPart
    | Break
    | ExtractText
    | Include
    | Notify
    | Return
    | Global
    | Replace
    | Enclose
    | Custom
)


@dataclass(frozen=True)
class Script:
    """A checked script: its commands and the extensions it required (RFC 5228 §3.2)."""

    commands: tuple[Node, ...]
    extensions: frozenset[str]
