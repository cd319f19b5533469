"""The arguments of Sieve commands and tests (RFC 5228 §2.6, §2.7): which tagged arguments each
takes (grouped, so that conflicting ones are refused), the check of positional ones, comparators and
match types, and strings as texts with encoded characters and variables resolved.

``ArgumentChecker`` is the base of the script checker (``validate``): it holds the extensions the
script required, which tags and tests need.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pochta.mime.address import Mailbox, SmtpPathError, parse_mailbox, parse_smtp_path
from pochta.sieve import script as s
from pochta.sieve.comparators import COMPARATORS, RELATIONS, Comparator, MatchType, Relation
from pochta.sieve.syntax import Argument, Command, Number, Position, SieveSyntaxError, StringList, Tag, Test
from pochta.sieve.text import Text, parse_text, variable_name_ok

__all__ = [
    "ADDRESS_PART",
    "ADDRESS_PARTS",
    "ALWAYS_AVAILABLE_COMPARATORS",
    "BODY_TRANSFORM",
    "COMPARATOR",
    "COPY",
    "CREATE",
    "DELETE_INDEX",
    "DUPLICATE",
    "FCC",
    "FLAGS",
    "FLAG_OPERATIONS",
    "INCLUDE",
    "INDEX",
    "LAST",
    "MATCH_TYPE",
    "MIME",
    "MODIFIERS",
    "MODIFIERS_BY_NAME",
    "MODIFIER_ORDER",
    "NOTIFY",
    "SIZE",
    "SPECIAL_USE",
    "VACATION",
    "ZONE",
    "ArgumentChecker",
    "PositionalKind",
    "Scanned",
    "TagSpec",
    "header_name_ok",
    "metadata_entry_ok",
    "redirect_target",
    "script_name_ok",
    "special_use_ok",
    "valid_utf8",
]

_INCLUDE_NAMESPACES = frozenset({"global"})
ALWAYS_AVAILABLE_COMPARATORS = frozenset({"i;octet", "i;ascii-casemap"})

ValueKind = Literal["none", "string", "number", "string-list"]


@dataclass(frozen=True)
class TagSpec:
    group: str  # tags of one group exclude each other (RFC 5228 §2.6: conflicting arguments)
    value: ValueKind = "none"  # what follows the tag
    extension: str | None = None  # the require it needs


MATCH_TYPE = (
    {name: TagSpec("match type") for name in ("is", "contains", "matches")}
    | {
        "regex": TagSpec("match type", extension="regex"),  # draft-ietf-sieve-regex
        "list": TagSpec("match type", extension="extlists"),  # RFC 6134 section 2
    }
    | {
        name: TagSpec("match type", "string", extension="relational")
        for name in ("count", "value")  # RFC 5231 §4
    }
)
COMPARATOR = {"comparator": TagSpec("comparator", "string")}
ADDRESS_PART = {name: TagSpec("address part") for name in ("all", "localpart", "domain")} | {
    name: TagSpec("address part", extension="subaddress")
    for name in ("user", "detail")  # RFC 5233 §4
}
COPY = {"copy": TagSpec("copy", extension="copy")}
INDEX = {
    "index": TagSpec("index", "number", extension="index"),  # RFC 5260 §6
    "last": TagSpec("last", extension="index"),
}
BODY_TRANSFORM = {  # RFC 5173 §5
    "raw": TagSpec("transform"),
    "content": TagSpec("transform", "string-list"),
    "text": TagSpec("transform"),
}
INCLUDE = {  # RFC 6609 §3.2
    "personal": TagSpec("location"),
    "global": TagSpec("location"),
    "once": TagSpec("once"),
    "optional": TagSpec("optional"),
}
DUPLICATE = {  # RFC 7352 §3
    "handle": TagSpec("handle", "string"),
    "header": TagSpec("source", "string"),
    "uniqueid": TagSpec("source", "string"),
    "seconds": TagSpec("seconds", "number"),
    "last": TagSpec("last"),
}
NOTIFY = {  # RFC 5435 §3.1
    "from": TagSpec("from", "string"),
    "importance": TagSpec("importance", "string"),
    "options": TagSpec("options", "string-list"),
    "message": TagSpec("message", "string"),
}
LAST = {"last": TagSpec("last")}
MIME = {  # RFC 5703 §4
    "mime": TagSpec("mime", extension="mime"),
    "anychild": TagSpec("anychild", extension="mime"),
    "type": TagSpec("mime option", extension="mime"),
    "subtype": TagSpec("mime option", extension="mime"),
    "contenttype": TagSpec("mime option", extension="mime"),
    "param": TagSpec("mime option", "string-list", extension="mime"),
}
_MIME_OPTIONS: dict[str, s.MimeOption] = {
    "type": "type",
    "subtype": "subtype",
    "contenttype": "contenttype",
    "param": "param",
}
SPECIAL_USE = {"specialuse": TagSpec("specialuse", "string", extension="special-use")}  # RFC 8579 §4
# RFC 8580 §3: :fcc, and with it :flags, :create and :specialuse for the copy.
FCC = {"fcc": TagSpec("fcc", "string", extension="fcc")}  # addheader's (RFC 5293 §4)
DELETE_INDEX = {"index": TagSpec("index", "number"), "last": TagSpec("last")}  # RFC 5293 §5
ZONE = {"zone": TagSpec("zone", "string"), "originalzone": TagSpec("zone")}  # RFC 5260 §4.1
CREATE = {"create": TagSpec("create", extension="mailbox")}  # RFC 5490 §3.2
FLAGS = {"flags": TagSpec("flags", "string-list", extension="imap4flags")}  # RFC 5232 §5
SIZE = {"over": TagSpec("size"), "under": TagSpec("size")}
# RFC 5229 §4.1: one modifier per precedence level, applied from the highest level down.
MODIFIER_ORDER: tuple[s.Modifier, ...] = (
    "lower",
    "upper",
    "lowerfirst",
    "upperfirst",
    "quotewildcard",
    "quoteregex",
    "encodeurl",
    "length",
)
MODIFIERS_BY_NAME: dict[str, s.Modifier] = {name: name for name in MODIFIER_ORDER}
MODIFIERS = {
    "lower": TagSpec("precedence 40"),
    "upper": TagSpec("precedence 40"),
    "lowerfirst": TagSpec("precedence 30"),
    "upperfirst": TagSpec("precedence 30"),
    "quotewildcard": TagSpec("precedence 20"),
    "quoteregex": TagSpec("precedence 20", extension="regex"),
    "encodeurl": TagSpec("precedence 15", extension="enotify"),  # RFC 5435 §6
    "length": TagSpec("precedence 10"),
}

ADDRESS_PARTS: dict[str, s.AddressPart] = {
    "all": "all",
    "localpart": "localpart",
    "domain": "domain",
    "user": "user",
    "detail": "detail",
}
MATCH_TYPES: dict[str, MatchType] = {
    "is": "is",
    "contains": "contains",
    "matches": "matches",
    "count": "count",
    "value": "value",
    "regex": "regex",
    "list": "list",
}

VACATION = {
    "days": TagSpec("period", "number"),  # RFC 5230 §4.1
    "seconds": TagSpec("period", "number", extension="vacation-seconds"),  # RFC 6131 §2: not with :days
    "subject": TagSpec("subject", "string"),
    "from": TagSpec("from", "string"),
    "addresses": TagSpec("addresses", "string-list"),
    "mime": TagSpec("mime"),
    "handle": TagSpec("handle", "string"),
}
FLAG_OPERATIONS: dict[str, s.FlagOperation] = {"setflag": "set", "addflag": "add", "removeflag": "remove"}

PositionalKind = Literal["string", "string-list", "number"]


@dataclass(frozen=True)
class Scanned:
    tags: dict[str, tuple[str, Argument | None]]  # group -> (tag name, its value)
    positional: list[Argument]


class ArgumentChecker:
    def __init__(self) -> None:
        self.extensions: set[str] = set()
        self.loops: list[str | None] = []  # the foreverypart loops around what is checked (RFC 5703)

    def no_test_or_block(self, command: Command) -> None:
        if command.tests:
            raise SieveSyntaxError(command.tests[0].position, f"'{command.name}' takes no test")
        if command.block is not None:
            raise SieveSyntaxError(command.position, f"'{command.name}' takes no block: end it with ';'")

    def needs(self, extension: str, what: str, position: Position) -> None:
        if extension not in self.extensions:
            raise SieveSyntaxError(position, f'{what} needs require "{extension}" (RFC 5228 §3.2)')

    def matching(self, scanned: Scanned, at: Position) -> s.Matching:
        comparator: Comparator = COMPARATORS["i;ascii-casemap"]  # RFC 5228 §2.7.3: the default
        if "comparator" in scanned.tags:
            value = scanned.tags["comparator"][1]
            assert value is not None
            name = self.string(value)
            if name not in COMPARATORS:
                raise SieveSyntaxError(value.position, f"unknown comparator '{name}'")
            if name not in ALWAYS_AVAILABLE_COMPARATORS:
                self.needs(f"comparator-{name}", f"comparator '{name}'", value.position)
            comparator = COMPARATORS[name]
        match_type: MatchType = "is"
        relation: Relation = "eq"
        if "match type" in scanned.tags:
            tag, value = scanned.tags["match type"]
            match_type = MATCH_TYPES[tag]
            if value is not None:  # :count / :value take a relation (RFC 5231 §4)
                name = self.string(value).lower()
                if name not in RELATIONS:
                    raise SieveSyntaxError(
                        value.position, f"unknown relation '{name}': gt, ge, lt, le, eq or ne (RFC 5231 §4)"
                    )
                relation = RELATIONS[name]
        if match_type == "list" and "comparator" in scanned.tags:
            # RFC 6134 section 2: the list decides what is a member; no comparator applies.
            raise SieveSyntaxError(at, "the :list match type takes no :comparator (RFC 6134)")
        if match_type in ("contains", "matches", "regex") and not comparator.substring:
            # RFC 5228 §2.7.1: a comparator without substring matching cannot do these.
            raise SieveSyntaxError(at, f"comparator '{comparator.name}' cannot be used with :{match_type}")
        return s.Matching(comparator, match_type, relation)

    # -- arguments ----------------------------------------------------------------------------

    def scan(
        self,
        node: Command | Test,
        tags: dict[str, TagSpec],
        positional: tuple[PositionalKind, ...],
        *,
        names: tuple[str, ...] = (),
        optional: tuple[PositionalKind, str] | None = None,
        optional_last: tuple[PositionalKind, str] | None = None,
    ) -> Scanned:
        """Check ``node``'s arguments: the tags it may take, then ``positional`` (named ``names``
        in errors), with one ``optional`` positional (kind, name) allowed in front of them."""
        found: dict[str, tuple[str, Argument | None]] = {}
        values: list[Argument] = []
        arguments = list(node.arguments)
        index = 0
        while index < len(arguments):
            argument = arguments[index]
            index += 1
            if not isinstance(argument, Tag):
                values.append(argument)
                continue
            spec = tags.get(argument.name)
            if spec is None:
                raise SieveSyntaxError(argument.position, f"'{node.name}' has no argument ':{argument.name}'")
            if spec.extension is not None:
                self.needs(spec.extension, f"':{argument.name}'", argument.position)
            if values:
                raise SieveSyntaxError(
                    argument.position,
                    f"':{argument.name}' must come before the positional arguments of '{node.name}'"
                    " (RFC 5228 §2.6.2)",
                )
            if spec.group in found:
                earlier = found[spec.group][0]
                what = "is given twice" if earlier == argument.name else f"conflicts with ':{earlier}'"
                raise SieveSyntaxError(argument.position, f"':{argument.name}' {what} (RFC 5228 §2.6)")
            value: Argument | None = None
            if spec.value != "none":
                value = arguments[index] if index < len(arguments) else None
                if value is None or not _is_kind(value, spec.value):
                    raise SieveSyntaxError(
                        argument.position, f"':{argument.name}' must be followed by a {spec.value}"
                    )
                index += 1
            found[spec.group] = (argument.name, value)
        if optional is not None and len(values) == len(positional) + 1:
            positional = (optional[0], *positional)
            names = (optional[1], *names)
        elif optional_last is not None and len(values) == len(positional) + 1:
            positional = (*positional, optional_last[0])
            names = (*names, optional_last[1])
        if len(values) != len(positional):
            wanted = ", ".join(names) if names else "none"
            plural = "" if len(positional) == 1 else "s"
            raise SieveSyntaxError(
                node.position,
                f"'{node.name}' takes {len(positional)} positional argument{plural} ({wanted}),"
                f" got {len(values)}",
            )
        for value, kind, name in zip(values, positional, names or positional, strict=True):
            if not _is_kind(value, kind):
                raise SieveSyntaxError(value.position, f"the {name} of '{node.name}' must be a {kind}")
        return Scanned(found, values)

    def string(self, argument: Argument) -> str:
        assert isinstance(argument, StringList)
        return self.decoded(argument.values[0], argument.position)

    def strings(self, argument: Argument) -> tuple[str, ...]:
        assert isinstance(argument, StringList)
        return tuple(self.decoded(value, argument.position) for value in argument.values)

    def decoded(self, value: str, position: Position) -> str:
        if "encoded-character" not in self.extensions:
            return value
        return _decode_encoded_characters(value, position)

    def text(self, argument: Argument) -> Text:
        assert isinstance(argument, StringList)
        return self.to_text(argument.values[0], argument.position)

    def texts(self, argument: Argument) -> tuple[Text, ...]:
        assert isinstance(argument, StringList)
        return tuple(self.to_text(value, argument.position) for value in argument.values)

    def to_text(self, value: str, position: Position) -> Text:
        # RFC 5229 §3.1: encoded characters are decoded first, then references found.
        decoded = self.decoded(value, position)
        if "variables" not in self.extensions:
            return Text.of(decoded)
        # RFC 6609 §3.4.2: the "global" namespace comes with include.
        return parse_text(
            decoded, position, _INCLUDE_NAMESPACES if "include" in self.extensions else frozenset()
        )

    def header_names(self, argument: Argument) -> tuple[Text, ...]:
        names = self.texts(argument)
        # A name that is no field name (RFC 5322 §3.6.8) is not an error, as in Pigeonhole: it
        # matches nothing (``interpreter.header_names``).
        return names

    def field_name(self, argument: Argument) -> Text:
        """A field name addheader/deleteheader act on: RFC 5293 §4, §5 make a bad one an error."""
        name = self.text(argument)
        if name.constant is not None and not header_name_ok(name.constant):
            raise SieveSyntaxError(
                argument.position, f"'{name.constant}' is not a header field name (RFC 5293 §4)"
            )
        return name

    def special_use(self, argument: Argument | None) -> Text | None:
        """A special-use attribute (RFC 6154 §2: a backslash and an atom)."""
        if argument is None:
            return None
        attribute = self.text(argument)
        if attribute.constant is not None and not special_use_ok(attribute.constant):
            raise SieveSyntaxError(
                argument.position, f"{attribute.constant!r} is no special-use attribute (RFC 6154)"
            )
        return attribute

    def metadata_entry(self, argument: Argument, index: int = 0) -> Text:
        """An entry name (RFC 5464 §3.2: "/private/..." or "/shared/...", no "*", "%" or "//")."""
        entry = self.texts(argument)[index]
        if entry.constant is not None and not metadata_entry_ok(entry.constant):
            raise SieveSyntaxError(
                argument.position, f"{entry.constant!r} is no METADATA entry name (RFC 5464 §3.2)"
            )
        return entry

    def fcc_target(self, scanned: Scanned, at: Position) -> s.FccTarget | None:
        """RFC 8580 §3: :fcc, and :flags/:create/:specialuse, which only go with it."""
        value = scanned.tags.get("fcc", ("", None))[1]
        if value is None:
            for group in ("flags", "create", "specialuse"):
                if group in scanned.tags:
                    raise SieveSyntaxError(at, f":{group} needs :fcc here (RFC 8580 §3)")
            return None
        mailbox = self.text(value)
        special = self.special_use(scanned.tags.get("specialuse", ("", None))[1])
        return s.FccTarget(mailbox, self.flags_argument(scanned), "create" in scanned.tags, special)

    def mime_scope(self, scanned: Scanned, at: Position) -> s.MimeScope | None:
        """RFC 5703 §4: :mime and what goes with it (:anychild and the options need :mime)."""
        if "mime" not in scanned.tags:
            for group in ("anychild", "mime option"):
                if group in scanned.tags:
                    raise SieveSyntaxError(at, f":{scanned.tags[group][0]} needs :mime (RFC 5703 §4)")
            return None
        option = None
        params: tuple[Text, ...] = ()
        if "mime option" in scanned.tags:
            tag, value = scanned.tags["mime option"]
            option = _MIME_OPTIONS[tag]
            if value is not None:
                params = self.texts(value)
        return s.MimeScope("anychild" in scanned.tags, option, params)

    def field_index(self, scanned: Scanned, at: Position) -> s.FieldIndex | None:
        if "index" not in scanned.tags:
            if "last" in scanned.tags:
                raise SieveSyntaxError(at, ":last needs :index (RFC 5260 §6)")
            return None
        value = scanned.tags["index"][1]
        assert isinstance(value, Number)
        if value.value < 1:
            raise SieveSyntaxError(value.position, ":index counts from 1 (RFC 5260 §6)")
        return s.FieldIndex(value.value, "last" in scanned.tags)

    def flags_argument(self, scanned: Scanned) -> tuple[Text, ...] | None:
        if "flags" not in scanned.tags:
            return None
        value = scanned.tags["flags"][1]
        assert value is not None
        return self.texts(value)

    def constant_strings(self, argument: Argument) -> tuple[str, ...]:
        assert isinstance(argument, StringList)
        return tuple(self.decoded(value, argument.position) for value in argument.values)

    def variable_name(self, name: str, position: Position) -> str:
        # RFC 5229 §4: a constant identifier; match variables cannot be set.
        if not variable_name_ok(name) or name.isdigit():
            raise SieveSyntaxError(position, f"'{name}' cannot be set: not a variable name")
        return name.lower()

    def variable_argument(self, scanned: Scanned) -> str:
        self.needs("variables", "a variable name", scanned.positional[0].position)
        return self.variable_name(self.string(scanned.positional[0]), scanned.positional[0].position)


def metadata_entry_ok(name: str) -> bool:
    """RFC 5464 §3.2: "/private" or "/shared" and further components, without "//", a trailing
    "/", "*", "%" or control characters."""
    lowered = name.lower()
    return (
        lowered.startswith(("/private/", "/shared/"))
        and not name.endswith("/")
        and "//" not in name
        and not any(char in "*%" or ord(char) < 0x20 or ord(char) == 0x7F for char in name)
    )


def special_use_ok(attribute: str) -> bool:
    """RFC 6154 §2 / RFC 9051 §9: "\\" followed by an atom."""
    return (
        len(attribute) > 1
        and attribute[0] == "\\"
        and attribute[1:].isascii()
        and all(32 < ord(char) < 127 and char not in '(){%*"\\]' for char in attribute[1:])
    )


def script_name_ok(name: str) -> bool:
    """RFC 5804 §1.6: a non-empty name without control characters (U+0000-001F, U+007F-009F)
    and without the line and paragraph separators U+2028 and U+2029."""
    return bool(name) and not any(
        ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F or char in "\u2028\u2029" for char in name
    )


def header_name_ok(name: str) -> bool:
    """RFC 5322 §3.6.8: a field name is printable US-ASCII except ':'."""
    return bool(name) and all(33 <= ord(char) <= 126 and char != ":" for char in name)


def redirect_target(address: str) -> str | None:
    """RFC 5228 §4.2: the address of a redirect, an RFC 5322 mailbox ("a@b" or "Name <a@b>",
    white space allowed, as Pigeonhole takes it), as the SMTP path it names; None when it is none."""
    mailbox = parse_mailbox(address)
    if not isinstance(mailbox, Mailbox) or not mailbox.domain or mailbox.route:
        return None
    target = mailbox.addr_spec
    return None if isinstance(parse_smtp_path(f"<{target}>"), SmtpPathError) else target


def _is_kind(argument: Argument, kind: str) -> bool:
    if kind == "number":
        return isinstance(argument, Number)
    if kind == "string":
        return isinstance(argument, StringList) and not argument.bracketed and len(argument.values) == 1
    return isinstance(argument, StringList)


def valid_utf8(value: str) -> bool:
    """False when ``value`` holds octets that are not UTF-8 (kept as surrogate escapes by
    ``${hex:...}`` and by message text)."""
    return not any("\udc80" <= char <= "\udcff" for char in value)


_ENCODED = re.compile(r"\$\{(hex|unicode):([0-9A-Fa-f \t\r\n]*)\}", re.IGNORECASE)
_BLANKS = re.compile(r"[ \t]|\r\n")


def _decode_encoded_characters(value: str, position: Position) -> str:
    # RFC 5228 §2.4.2.4: ${hex:...} gives octets, ${unicode:...} UTF-8 characters; a sequence
    # that is not well-formed stays as written.
    def replace(found: re.Match[str]) -> str:
        kind, body = found.group(1).lower(), found.group(2)
        items = [item for item in re.split(r"(?:[ \t]|\r\n)+", body) if item]
        if (
            not items
            or _BLANKS.sub("", body).strip("0123456789abcdefABCDEF")
            or "\r" in _BLANKS.sub("", body)
        ):
            return found.group(0)
        if kind == "hex":
            if any(len(item) > 2 for item in items):
                return found.group(0)
            return bytes(int(item, 16) for item in items).decode("utf-8", "surrogateescape")
        characters = []
        for item in items:
            code = int(item, 16)
            if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
                raise SieveSyntaxError(
                    position, f"${{unicode:{item}}} is not a Unicode character (RFC 5228 §2.4.2.4)"
                )
            characters.append(chr(code))
        return "".join(characters)

    return _ENCODED.sub(replace, value)
