"""From a syntax tree to a checked ``Script`` (RFC 5228 §2.6, §3-§5 and the extensions required).

Everything that can be known before a message arrives is checked here, so that a script that
reaches delivery only fails on what depends on the message: unknown commands, tests and tags,
extensions used without ``require`` (§3.2), conflicting or repeated tagged arguments (§2.6),
tagged arguments after positional ones (§2.6.2), argument counts and types, comparators that
cannot do :contains/:matches (§2.7.1), if/elsif/else order (§3.1), a redirect address that is not
a mailbox (§4.2). Errors are ``SieveSyntaxError`` with the node's position.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pochta.mime.address import SmtpPathError, parse_smtp_path
from pochta.sieve import script as s
from pochta.sieve.comparators import COMPARATORS, RELATIONS, Comparator, MatchType, Relation
from pochta.sieve.dates import DATE_PARTS, parse_zone
from pochta.sieve.syntax import Argument, Command, Number, Position, SieveSyntaxError, StringList, Tag, Test
from pochta.sieve.text import Text, parse_text, variable_name_ok

__all__ = [
    "ADDRESS_HEADERS",
    "ENVELOPE_PARTS",
    "SUPPORTED_EXTENSIONS",
    "header_name_ok",
    "redirect_address_ok",
    "validate",
]

# What ``require`` accepts (RFC 5228 §3.2: anything else fails the script). The two base
# comparators are always there; naming them in require is allowed (§2.7.3).
SUPPORTED_EXTENSIONS = frozenset(
    {
        "fileinto",  # RFC 5228 §4.1
        "envelope",  # RFC 5228 §5.4
        "encoded-character",  # RFC 5228 §2.4.2.4
        "comparator-i;octet",
        "comparator-i;ascii-casemap",
        "comparator-i;ascii-numeric",  # RFC 4790 §9.1
        "copy",  # RFC 3894
        "reject",  # RFC 5429 §2.2
        "ereject",  # RFC 5429 §2.1
        "variables",  # RFC 5229
        "relational",  # RFC 5231
        "subaddress",  # RFC 5233
        "imap4flags",  # RFC 5232
        "vacation",  # RFC 5230
        "vacation-seconds",  # RFC 6131
        "environment",  # RFC 5183
        "ihave",  # RFC 5463
        "mailbox",  # RFC 5490 §3
        "date",  # RFC 5260 §4, §5
        "index",  # RFC 5260 §6
    }
)
ENVELOPE_PARTS = frozenset({"from", "to"})
# RFC 5228 §5.1: at least From, To, Cc, Bcc, Sender, Resent-From, Resent-To, and any other field
# whose body is an address list (RFC 5322 §3.6.2, §3.6.3, §3.6.6, and the common trace fields).
ADDRESS_HEADERS = frozenset(
    {
        "from", "sender", "reply-to", "to", "cc", "bcc",
        "resent-from", "resent-sender", "resent-to", "resent-cc", "resent-bcc",
        "return-path", "delivered-to", "x-original-to", "envelope-to", "x-envelope-to",
        "disposition-notification-to", "errors-to", "mail-followup-to", "mail-reply-to",
    }
)  # fmt: skip
_ALWAYS_AVAILABLE_COMPARATORS = frozenset({"i;octet", "i;ascii-casemap"})

ValueKind = Literal["none", "string", "number", "string-list"]


@dataclass(frozen=True)
class _TagSpec:
    group: str  # tags of one group exclude each other (RFC 5228 §2.6: conflicting arguments)
    value: ValueKind = "none"  # what follows the tag
    extension: str | None = None  # the require it needs


_MATCH_TYPE = {name: _TagSpec("match type") for name in ("is", "contains", "matches")} | {
    name: _TagSpec("match type", "string", extension="relational")
    for name in ("count", "value")  # RFC 5231 §4
}
_COMPARATOR = {"comparator": _TagSpec("comparator", "string")}
_ADDRESS_PART = {name: _TagSpec("address part") for name in ("all", "localpart", "domain")} | {
    name: _TagSpec("address part", extension="subaddress")
    for name in ("user", "detail")  # RFC 5233 §4
}
_COPY = {"copy": _TagSpec("copy", extension="copy")}
_INDEX = {
    "index": _TagSpec("index", "number", extension="index"),  # RFC 5260 §6
    "last": _TagSpec("last", extension="index"),
}
_ZONE = {"zone": _TagSpec("zone", "string"), "originalzone": _TagSpec("zone")}  # RFC 5260 §4.1
_CREATE = {"create": _TagSpec("create", extension="mailbox")}  # RFC 5490 §3.2
_FLAGS = {"flags": _TagSpec("flags", "string-list", extension="imap4flags")}  # RFC 5232 §5
_SIZE = {"over": _TagSpec("size"), "under": _TagSpec("size")}
# RFC 5229 §4.1: one modifier per precedence level, applied from the highest level down.
_MODIFIER_ORDER: tuple[s.Modifier, ...] = (
    "lower",
    "upper",
    "lowerfirst",
    "upperfirst",
    "quotewildcard",
    "length",
)
_MODIFIERS_BY_NAME: dict[str, s.Modifier] = {name: name for name in _MODIFIER_ORDER}
_MODIFIERS = {
    "lower": _TagSpec("precedence 40"),
    "upper": _TagSpec("precedence 40"),
    "lowerfirst": _TagSpec("precedence 30"),
    "upperfirst": _TagSpec("precedence 30"),
    "quotewildcard": _TagSpec("precedence 20"),
    "length": _TagSpec("precedence 10"),
}

_ADDRESS_PARTS: dict[str, s.AddressPart] = {
    "all": "all",
    "localpart": "localpart",
    "domain": "domain",
    "user": "user",
    "detail": "detail",
}
_MATCH_TYPES: dict[str, MatchType] = {
    "is": "is",
    "contains": "contains",
    "matches": "matches",
    "count": "count",
    "value": "value",
}

_VACATION = {
    "days": _TagSpec("period", "number"),  # RFC 5230 §4.1
    "seconds": _TagSpec("period", "number", extension="vacation-seconds"),  # RFC 6131 §2: not with :days
    "subject": _TagSpec("subject", "string"),
    "from": _TagSpec("from", "string"),
    "addresses": _TagSpec("addresses", "string-list"),
    "mime": _TagSpec("mime"),
    "handle": _TagSpec("handle", "string"),
}
_FLAG_OPERATIONS: dict[str, s.FlagOperation] = {"setflag": "set", "addflag": "add", "removeflag": "remove"}

PositionalKind = Literal["string", "string-list", "number"]


@dataclass(frozen=True)
class _Scanned:
    tags: dict[str, tuple[str, Argument | None]]  # group -> (tag name, its value)
    positional: list[Argument]


def validate(tree: Sequence[Command]) -> s.Script:
    """Check ``tree`` (from ``parse``) and return the script to run; raises SieveSyntaxError."""
    checker = _Checker()
    commands = list(tree)
    index = 0
    while index < len(commands) and commands[index].name == "require":
        checker.require(commands[index])
        index += 1
    return s.Script(checker.block(commands[index:]), frozenset(checker.extensions))


class _Checker:
    def __init__(self) -> None:
        self.extensions: set[str] = set()

    # -- require (RFC 5228 §3.2) ------------------------------------------------------------------

    def require(self, command: Command) -> None:
        scanned = self.scan(command, {}, ("string-list",), names=("capabilities",))
        self.no_test_or_block(command)
        capabilities = self.strings(scanned.positional[0])
        for name in capabilities:
            if name not in SUPPORTED_EXTENSIONS:
                raise SieveSyntaxError(command.position, f"unsupported extension '{name}' in require")
            self.enable(name)

    def enable(self, name: str) -> None:
        self.extensions.add(name)
        if name == "vacation-seconds":
            self.extensions.add("vacation")  # RFC 6131 §2: it implies vacation

    def needs(self, extension: str, what: str, position: Position) -> None:
        if extension not in self.extensions:
            raise SieveSyntaxError(position, f'{what} needs require "{extension}" (RFC 5228 §3.2)')

    # -- commands -----------------------------------------------------------------------------

    def block(self, commands: Sequence[Command]) -> tuple[s.Node, ...]:
        nodes: list[s.Node] = []
        index = 0
        while index < len(commands):
            command = commands[index]
            if command.name == "if":
                condition = self.condition(command)
                branches: list[tuple[s.TestNode | None, tuple[s.Node, ...]]] = [
                    (condition, self.body(command, condition))
                ]
                index += 1
                while index < len(commands) and commands[index].name in ("elsif", "else"):
                    follower = commands[index]
                    if follower.name == "elsif":
                        condition = self.condition(follower)
                        branches.append((condition, self.body(follower, condition)))
                        index += 1
                        continue
                    self.scan(follower, {}, ())
                    if follower.tests:
                        raise SieveSyntaxError(follower.position, "'else' takes no test (RFC 5228 §3.1)")
                    branches.append((None, self.body(follower)))
                    index += 1
                    break
                nodes.append(s.If(tuple(branches), command.position))
                continue
            nodes.append(self.command(command))
            index += 1
        return tuple(nodes)

    def condition(self, command: Command) -> s.TestNode:
        self.scan(command, {}, ())
        if len(command.tests) != 1 or command.test_list:
            raise SieveSyntaxError(
                command.position, f"'{command.name}' takes exactly one test, not a test list (RFC 5228 §3.1)"
            )
        return self.test(command.tests[0])

    def body(self, command: Command, condition: s.TestNode | None = None) -> tuple[s.Node, ...]:
        if command.block is None:
            raise SieveSyntaxError(
                command.position, f"'{command.name}' needs a block {{ ... }} (RFC 5228 §3.1)"
            )
        if _never(condition):
            # RFC 5463 §4 (2): behind an ihave of something unsupported the block may use what
            # this server does not know; it never runs, so it is not checked.
            return ()
        return self.block(command.block)

    def no_test_or_block(self, command: Command) -> None:
        if command.tests:
            raise SieveSyntaxError(command.tests[0].position, f"'{command.name}' takes no test")
        if command.block is not None:
            raise SieveSyntaxError(command.position, f"'{command.name}' takes no block: end it with ';'")

    def command(self, command: Command) -> s.Node:
        name, at = command.name, command.position
        match name:
            case "require":
                raise SieveSyntaxError(at, "require must come before every other command (RFC 5228 §3.2)")
            case "elsif" | "else":
                raise SieveSyntaxError(at, f"'{name}' must follow 'if' or 'elsif' (RFC 5228 §3.1)")
            case "keep":
                scanned = self.scan(command, _FLAGS, ())
                self.no_test_or_block(command)
                return s.Keep(at, self.flags_argument(scanned))
            case "stop" | "discard":
                self.scan(command, {}, ())
                self.no_test_or_block(command)
                return s.Stop(at) if name == "stop" else s.Discard(at)
            case "setflag" | "addflag" | "removeflag":
                self.needs("imap4flags", f"'{name}'", at)
                scanned = self.scan(
                    command, {}, ("string-list",), names=("flags",), optional=("string", "variable")
                )
                self.no_test_or_block(command)
                variable = self.variable_argument(scanned) if len(scanned.positional) == 2 else None
                operation = _FLAG_OPERATIONS[name]
                return s.ChangeFlags(operation, variable, self.texts(scanned.positional[-1]), at)
            case "fileinto":
                self.needs("fileinto", "'fileinto'", at)
                scanned = self.scan(command, _COPY | _FLAGS | _CREATE, ("string",), names=("mailbox",))
                self.no_test_or_block(command)
                mailbox = self.text(scanned.positional[0])
                if mailbox.constant == "":
                    raise SieveSyntaxError(scanned.positional[0].position, "the mailbox name is empty")
                flags = self.flags_argument(scanned)
                return s.FileInto(mailbox, "copy" in scanned.tags, at, flags, "create" in scanned.tags)
            case "redirect":
                scanned = self.scan(command, _COPY, ("string",), names=("address",))
                self.no_test_or_block(command)
                address = self.text(scanned.positional[0])
                # RFC 5228 §4.2: the address must be a syntactically valid RFC 5321 mailbox (one
                # built from variables is checked when it runs).
                if address.constant is not None and not redirect_address_ok(address.constant):
                    raise SieveSyntaxError(
                        scanned.positional[0].position,
                        f"redirect to '{address.constant}': not a valid mail address",
                    )
                return s.Redirect(address, "copy" in scanned.tags, at)
            case "reject" | "ereject":
                self.needs(name, f"'{name}'", at)
                scanned = self.scan(command, {}, ("string",), names=("reason",))
                self.no_test_or_block(command)
                return s.Reject(self.text(scanned.positional[0]), name == "ereject", at)
            case "set":
                return self.set_command(command)
            case "vacation":
                return self.vacation(command)
            case "error":
                self.needs("ihave", "'error'", at)  # RFC 5463 §5
                scanned = self.scan(command, {}, ("string",), names=("message",))
                self.no_test_or_block(command)
                return s.Error(self.text(scanned.positional[0]), at)
            case _:
                raise SieveSyntaxError(at, f"unknown command '{name}'")

    # -- tests (RFC 5228 §5) ------------------------------------------------------------------

    def test(self, test: Test) -> s.TestNode:
        name, at = test.name, test.position
        if name in ("allof", "anyof"):
            self.scan(test, {}, ())
            if not test.test_list:
                raise SieveSyntaxError(at, f"'{name}' takes a test list in parentheses (RFC 5228 §5.2, §5.3)")
            tests = tuple(self.test(inner) for inner in test.tests)
            return s.AllOf(tests, at) if name == "allof" else s.AnyOf(tests, at)
        if name == "not":
            self.scan(test, {}, ())
            if len(test.tests) != 1 or test.test_list:
                raise SieveSyntaxError(at, "'not' takes exactly one test, not a test list (RFC 5228 §5.8)")
            return s.Not(self.test(test.tests[0]), at)
        if test.tests:
            raise SieveSyntaxError(test.tests[0].position, f"'{name}' takes no test")
        match name:
            case "true" | "false":
                self.scan(test, {}, ())
                return s.Constant(name == "true", at)
            case "exists":
                scanned = self.scan(test, {}, ("string-list",), names=("header names",))
                return s.ExistsTest(self.header_names(scanned.positional[0]), at)
            case "size":
                scanned = self.scan(test, _SIZE, ("number",), names=("limit",))
                if "size" not in scanned.tags:
                    raise SieveSyntaxError(at, "'size' needs :over or :under (RFC 5228 §5.9)")
                tag, _ = scanned.tags["size"]
                limit = scanned.positional[0]
                assert isinstance(limit, Number)
                return s.SizeTest(tag == "over", limit.value, at)
            case "header":
                scanned = self.scan(
                    test,
                    _COMPARATOR | _MATCH_TYPE | _INDEX,
                    ("string-list", "string-list"),
                    names=("header names", "keys"),
                )
                return s.HeaderTest(
                    self.matching(scanned, at),
                    self.header_names(scanned.positional[0]),
                    self.texts(scanned.positional[1]),
                    at,
                    self.field_index(scanned, at),
                )
            case "date" | "currentdate":
                return self.date_test(test)
            case "address" | "envelope":
                if name == "envelope":
                    self.needs("envelope", "'envelope'", at)
                scanned = self.scan(
                    test,
                    _COMPARATOR | _MATCH_TYPE | _ADDRESS_PART | (_INDEX if name == "address" else {}),
                    ("string-list", "string-list"),
                    names=("header names" if name == "address" else "envelope parts", "keys"),
                )
                part = _ADDRESS_PARTS[scanned.tags.get("address part", ("all", None))[0]]
                matching, keys = self.matching(scanned, at), self.texts(scanned.positional[1])
                if name == "address":
                    names = self.header_names(scanned.positional[0])
                    for header in names:
                        # RFC 5228 §5.1: only headers that hold addresses.
                        if header.constant is not None and header.constant.lower() not in ADDRESS_HEADERS:
                            raise SieveSyntaxError(
                                scanned.positional[0].position,
                                f"'{header.constant}' does not hold addresses: use 'header' (RFC 5228 §5.1)",
                            )
                    return s.AddressTest(matching, part, names, keys, at, self.field_index(scanned, at))
                parts = self.texts(scanned.positional[0])
                for value in parts:
                    if value.constant is not None and value.constant.lower() not in ENVELOPE_PARTS:
                        raise SieveSyntaxError(
                            scanned.positional[0].position,
                            f"unknown envelope part '{value.constant}': 'from' or 'to' (RFC 5228 §5.4)",
                        )
                return s.EnvelopeTest(matching, part, parts, keys, at)
            case "hasflag":
                self.needs("imap4flags", "'hasflag'", at)
                scanned = self.scan(
                    test,
                    _COMPARATOR | _MATCH_TYPE,
                    ("string-list",),
                    names=("flags",),
                    optional=("string-list", "variable list"),
                )
                variables: tuple[str, ...] = ()
                if len(scanned.positional) == 2:
                    self.needs("variables", "a variable list in 'hasflag'", at)
                    variables = tuple(
                        self.variable_name(name, scanned.positional[0].position)
                        for name in self.constant_strings(scanned.positional[0])
                    )
                flags = self.texts(scanned.positional[-1])
                return s.HasFlag(self.matching(scanned, at), variables, flags, at)
            case "environment":
                self.needs("environment", "'environment'", at)
                scanned = self.scan(
                    test, _COMPARATOR | _MATCH_TYPE, ("string", "string-list"), names=("name", "keys")
                )
                matching = self.matching(scanned, at)
                name_text, keys = self.text(scanned.positional[0]), self.texts(scanned.positional[1])
                return s.EnvironmentTest(matching, name_text, keys, at)
            case "mailboxexists":
                self.needs("mailbox", "'mailboxexists'", at)
                scanned = self.scan(test, {}, ("string-list",), names=("mailbox names",))
                return s.MailboxExists(self.texts(scanned.positional[0]), at)
            case "ihave":
                # RFC 5463 §4: constant names; true when every one is supported, and from here on
                # they may be used as if required (§4, 1).
                self.needs("ihave", "'ihave'", at)
                scanned = self.scan(test, {}, ("string-list",), names=("capabilities",))
                wanted = self.constant_strings(scanned.positional[0])
                if "variables" in self.extensions and any("${" in name for name in wanted):
                    raise SieveSyntaxError(at, "the capabilities of 'ihave' must be constant (RFC 5463 §4)")
                if all(name in SUPPORTED_EXTENSIONS for name in wanted):
                    for name in wanted:
                        self.enable(name)
                    return s.Constant(True, at)
                return s.Constant(False, at, unknown_capability=True)
            case "string":
                self.needs("variables", "'string'", at)
                scanned = self.scan(
                    test, _COMPARATOR | _MATCH_TYPE, ("string-list", "string-list"), names=("source", "keys")
                )
                return s.StringTest(
                    self.matching(scanned, at),
                    self.texts(scanned.positional[0]),
                    self.texts(scanned.positional[1]),
                    at,
                )
            case _:
                raise SieveSyntaxError(at, f"unknown test '{name}'")

    def matching(self, scanned: _Scanned, at: Position) -> s.Matching:
        comparator: Comparator = COMPARATORS["i;ascii-casemap"]  # RFC 5228 §2.7.3: the default
        if "comparator" in scanned.tags:
            value = scanned.tags["comparator"][1]
            assert value is not None
            name = self.string(value)
            if name not in COMPARATORS:
                raise SieveSyntaxError(value.position, f"unknown comparator '{name}'")
            if name not in _ALWAYS_AVAILABLE_COMPARATORS:
                self.needs(f"comparator-{name}", f"comparator '{name}'", value.position)
            comparator = COMPARATORS[name]
        match_type: MatchType = "is"
        relation: Relation = "eq"
        if "match type" in scanned.tags:
            tag, value = scanned.tags["match type"]
            match_type = _MATCH_TYPES[tag]
            if value is not None:  # :count / :value take a relation (RFC 5231 §4)
                name = self.string(value).lower()
                if name not in RELATIONS:
                    raise SieveSyntaxError(
                        value.position, f"unknown relation '{name}': gt, ge, lt, le, eq or ne (RFC 5231 §4)"
                    )
                relation = RELATIONS[name]
        if match_type in ("contains", "matches") and not comparator.substring:
            # RFC 5228 §2.7.1: a comparator without substring matching cannot do these.
            raise SieveSyntaxError(at, f"comparator '{comparator.name}' cannot be used with :{match_type}")
        return s.Matching(comparator, match_type, relation)

    # -- arguments ----------------------------------------------------------------------------

    def scan(
        self,
        node: Command | Test,
        tags: dict[str, _TagSpec],
        positional: tuple[PositionalKind, ...],
        *,
        names: tuple[str, ...] = (),
        optional: tuple[PositionalKind, str] | None = None,
    ) -> _Scanned:
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
        return _Scanned(found, values)

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
        return parse_text(decoded, position)

    def header_names(self, argument: Argument) -> tuple[Text, ...]:
        names = self.texts(argument)
        for name in names:
            if name.constant is not None and not header_name_ok(name.constant):
                raise SieveSyntaxError(argument.position, f"'{name.constant}' is not a header field name")
        return names

    # -- variables (RFC 5229) -----------------------------------------------------------------

    # -- vacation (RFC 5230, RFC 6131) -----------------------------------------------------------

    def vacation(self, command: Command) -> s.Vacation:
        at = command.position
        self.needs("vacation", "'vacation'", at)
        scanned = self.scan(command, _VACATION, ("string",), names=("reason",))
        self.no_test_or_block(command)
        period: int | None = None
        if "period" in scanned.tags:
            tag, value = scanned.tags["period"]
            assert isinstance(value, Number)
            if tag == "days":
                if value.value < 1:  # RFC 5230 §4.1 has no zero days (RFC 6131 §2 says so too)
                    raise SieveSyntaxError(value.position, ":days must be at least 1 (RFC 5230 §4.1)")
                period = value.value * 86400
            else:
                if value.value >= 2**31:  # RFC 6131 §2
                    raise SieveSyntaxError(value.position, ":seconds must be below 2^31 (RFC 6131 §2)")
                period = value.value

        def optional_text(group: str) -> Text | None:
            value = scanned.tags.get(group, ("", None))[1]
            return None if value is None else self.text(value)

        addresses = scanned.tags.get("addresses", ("", None))[1]
        reason = scanned.positional[0]
        assert isinstance(reason, StringList)
        handle = scanned.tags.get("handle", ("", None))[1]
        # RFC 5230 §4.2: the response is its :handle, or its arguments before expansion, each
        # counted so that one string in two places cannot collide.
        if isinstance(handle, StringList):
            tracking = "handle:" + handle.values[0]
        else:
            raw = [scanned.tags.get(group, ("", None))[1] for group in ("subject", "from")]
            parts = [value.values[0] if isinstance(value, StringList) else "\0" for value in raw]
            parts += ["mime" if "mime" in scanned.tags else "", reason.values[0]]
            digest = hashlib.sha256(
                "".join(f"{len(part)}:{part}" for part in parts).encode("utf-8", "surrogateescape")
            )
            tracking = "args:" + digest.hexdigest()
        return s.Vacation(
            period,
            optional_text("subject"),
            optional_text("from"),
            () if addresses is None else self.texts(addresses),
            "mime" in scanned.tags,
            self.text(reason),
            tracking,
            at,
        )

    # -- date and index (RFC 5260) --------------------------------------------------------------

    def field_index(self, scanned: _Scanned, at: Position) -> s.FieldIndex | None:
        if "index" not in scanned.tags:
            if "last" in scanned.tags:
                raise SieveSyntaxError(at, ":last needs :index (RFC 5260 §6)")
            return None
        value = scanned.tags["index"][1]
        assert isinstance(value, Number)
        if value.value < 1:
            raise SieveSyntaxError(value.position, ":index counts from 1 (RFC 5260 §6)")
        return s.FieldIndex(value.value, "last" in scanned.tags)

    def date_test(self, test: Test) -> s.DateTest:
        name, at = test.name, test.position
        self.needs("date", f"'{name}'", at)
        current = name == "currentdate"
        zones = {"zone": _ZONE["zone"]} if current else _ZONE | _INDEX
        positional: tuple[PositionalKind, ...] = ("string", "string-list")
        names: tuple[str, ...] = ("date-part", "keys")
        if not current:
            positional, names = ("string", *positional), ("header name", *names)
        scanned = self.scan(test, _COMPARATOR | _MATCH_TYPE | zones, positional, names=names)
        zone: Text | None = None
        original = False
        if "zone" in scanned.tags:
            tag, value = scanned.tags["zone"]
            original = tag == "originalzone"
            if value is not None:
                zone = self.text(value)
                if zone.constant is not None and parse_zone(zone.constant) is None:
                    raise SieveSyntaxError(
                        value.position, f"'{zone.constant}' is not a zone like +0100 (RFC 5260 §4.1)"
                    )
        header = None if current else self.header_names(scanned.positional[0])[0]
        part_argument = scanned.positional[-2]
        part = self.text(part_argument)
        if part.constant is not None and part.constant.lower() not in DATE_PARTS:
            raise SieveSyntaxError(
                part_argument.position, f"unknown date-part '{part.constant}' (RFC 5260 §4.2)"
            )
        index = None if current else self.field_index(scanned, at)
        matching = self.matching(scanned, at)
        return s.DateTest(
            matching, zone, original, header, part, self.texts(scanned.positional[-1]), at, index
        )

    def flags_argument(self, scanned: _Scanned) -> tuple[Text, ...] | None:
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

    def variable_argument(self, scanned: _Scanned) -> str:
        self.needs("variables", "a variable name", scanned.positional[0].position)
        return self.variable_name(self.string(scanned.positional[0]), scanned.positional[0].position)

    def set_command(self, command: Command) -> s.Set:
        self.needs("variables", "'set'", command.position)
        scanned = self.scan(command, _MODIFIERS, ("string", "string"), names=("name", "value"))
        self.no_test_or_block(command)
        name = self.variable_name(self.string(scanned.positional[0]), scanned.positional[0].position)
        modifiers = sorted(
            (_MODIFIERS_BY_NAME[tag] for tag, _ in scanned.tags.values()), key=_MODIFIER_ORDER.index
        )
        return s.Set(name, tuple(modifiers), self.text(scanned.positional[1]), command.position)


def _never(condition: s.TestNode | None) -> bool:
    """Whether ``condition`` is false because of an ihave of an unsupported capability, alone or
    in an allof (RFC 5463 §4)."""
    if isinstance(condition, s.Constant):
        return condition.unknown_capability
    if isinstance(condition, s.AllOf):
        return any(_never(test) for test in condition.tests)
    return False


def header_name_ok(name: str) -> bool:
    """RFC 5322 §3.6.8: a field name is printable US-ASCII except ':'."""
    return bool(name) and all(33 <= ord(char) <= 126 and char != ":" for char in name)


def redirect_address_ok(address: str) -> bool:
    """RFC 5228 §4.2: a syntactically valid RFC 5321 mailbox."""
    return bool(address) and not isinstance(parse_smtp_path(f"<{address}>"), SmtpPathError)


def _is_kind(argument: Argument, kind: str) -> bool:
    if kind == "number":
        return isinstance(argument, Number)
    if kind == "string":
        return isinstance(argument, StringList) and not argument.bracketed and len(argument.values) == 1
    return isinstance(argument, StringList)


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
