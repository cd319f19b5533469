"""From a syntax tree to a checked ``Script`` (RFC 5228 §2.6, §3-§5 and the extensions required).

Everything that can be known before a message arrives is checked here, so that a script that
reaches delivery only fails on what depends on the message: unknown commands, tests and tags,
extensions used without ``require`` (§3.2), conflicting or repeated tagged arguments (§2.6),
tagged arguments after positional ones (§2.6.2), argument counts and types, comparators that
cannot do :contains/:matches (§2.7.1), if/elsif/else order (§3.1), a redirect address that is not
a mailbox (§4.2). Errors are ``SieveSyntaxError`` with the node's position.

An error ends the check of its command only (``Checker.attempt``): the others are checked too, so
that one upload reports every error (``SieveErrors``), up to ``MAX_ERRORS``, as Pigeonhole does.
An ``if`` whose test is wrong still has its block checked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from pochta.sieve import script as s
from pochta.sieve.arguments import (
    ADDRESS_PART,
    ADDRESS_PARTS,
    BODY_TRANSFORM,
    COMPARATOR,
    COPY,
    CREATE,
    DELETE_INDEX,
    DUPLICATE,
    FLAG_OPERATIONS,
    FLAGS,
    INDEX,
    LAST,
    MATCH_TYPE,
    MIME,
    SIZE,
    SPECIAL_USE,
    TagSpec,
    header_name_ok,
    redirect_target,
    special_use_ok,
    valid_utf8,
)
from pochta.sieve.extension_checks import ExtensionChecks
from pochta.sieve.regex import RegexError, check_regex
from pochta.sieve.syntax import Command, Number, SieveErrors, SieveSyntaxError, Test
from pochta.sieve.text import Text

__all__ = [
    "ADDRESS_HEADERS",
    "ENVELOPE_PARTS",
    "SUPPORTED_EXTENSIONS",
    "Checker",
    "Plugin",
    "header_name_ok",
    "redirect_target",
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
        "body",  # RFC 5173
        "editheader",  # RFC 5293
        "include",  # RFC 6609
        "duplicate",  # RFC 7352
        "enotify",  # RFC 5435, with the mailto method of RFC 5436
        "special-use",  # RFC 8579
        "fcc",  # RFC 8580
        "mboxmetadata",  # RFC 5490 §3.3, §3.4
        "servermetadata",  # RFC 5490 §4
        "regex",  # draft-ietf-sieve-regex, on RE2
        "mime",  # RFC 5703 §4
        "foreverypart",  # RFC 5703 §3
        "extracttext",  # RFC 5703 §7
        "replace",  # RFC 5703 section 5
        "enclose",  # RFC 5703 section 6
        "spamtest",  # RFC 5235
        "spamtestplus",
        "virustest",
        "extlists",  # RFC 6134
        "imapsieve",  # RFC 6785 §2.1 (pochta.sieve.imapsieve; docs/sieve.md "IMAPSIEVE")
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


class Plugin(Protocol):
    """Commands and tests an embedding adds (the Pigeonhole test-suite harness), with the
    capabilities that make them available."""

    capabilities: frozenset[str]

    def command(self, checker: Checker, command: Command) -> s.Node | None: ...
    def test(self, checker: Checker, test: Test) -> s.TestNode | None: ...


MAX_ERRORS = 50  # errors one script reports; past them the rest goes unchecked
T = TypeVar("T")


class _TooManyErrors(Exception):
    pass


def validate(tree: Sequence[Command], plugin: Plugin | None = None) -> s.Script:
    """Check ``tree`` (from ``parse``) and return the script to run; raises SieveSyntaxError, or
    SieveErrors with every error when there are several."""
    checker = Checker(plugin)
    commands = list(tree)
    index = 0
    try:
        while index < len(commands) and commands[index].name == "require":
            checker.attempt(checker.require, commands[index])
            index += 1
        script = s.Script(checker.block(commands[index:]), frozenset(checker.extensions))
    except _TooManyErrors:
        pass
    if checker.errors:
        raise SieveErrors.of(checker.errors)
    return script


class Checker(ExtensionChecks):
    """The checker of one script; a plugin uses its methods to check its own commands."""

    def __init__(self, plugin: Plugin | None = None) -> None:
        super().__init__()
        self.plugin = plugin
        self.supported = SUPPORTED_EXTENSIONS | (plugin.capabilities if plugin is not None else frozenset())
        self.errors: list[SieveSyntaxError] = []

    def attempt(self, check: Callable[[Command], T], command: Command) -> T | None:
        """``check(command)``, or None with its error recorded: the checks go on after it."""
        try:
            return check(command)
        except SieveSyntaxError as error:
            self.errors.extend(error.errors)
            if len(self.errors) >= MAX_ERRORS:
                raise _TooManyErrors from None
            return None

    # -- require (RFC 5228 §3.2) ------------------------------------------------------------------

    def require(self, command: Command) -> None:
        scanned = self.scan(command, {}, ("string-list",), names=("capabilities",))
        self.no_test_or_block(command)
        capabilities = self.strings(scanned.positional[0])
        for name in capabilities:
            if name not in self.supported:
                raise SieveSyntaxError(command.position, f"unsupported extension '{name}' in require")
            self.enable(name)

    def enable(self, name: str) -> None:
        self.extensions.add(name)
        if name == "vacation-seconds":
            self.extensions.add("vacation")  # RFC 6131 §2: it implies vacation

    # -- commands -----------------------------------------------------------------------------

    def block(self, commands: Sequence[Command]) -> tuple[s.Node, ...]:
        nodes: list[s.Node] = []
        index = 0
        while index < len(commands):
            command = commands[index]
            if command.name == "if":
                branches = [self.branch(command)]
                index += 1
                while index < len(commands) and commands[index].name in ("elsif", "else"):
                    follower = commands[index]
                    branches.append(self.branch(follower))
                    index += 1
                    if follower.name == "else":
                        break
                nodes.append(s.If(tuple(branches), command.position))
                continue
            node = self.attempt(self.command, command)
            if node is not None:
                nodes.append(node)
            index += 1
        return tuple(nodes)

    def branch(self, command: Command) -> tuple[s.TestNode | None, tuple[s.Node, ...]]:
        """One branch of an if/elsif/else chain; its block is checked even when its test is wrong."""
        if command.name == "else":
            self.attempt(self.else_has_no_test, command)
            condition = None
        else:
            condition = self.attempt(self.condition, command)
        body = self.attempt(lambda c: self.body(c, condition), command)
        return condition, body or ()

    def else_has_no_test(self, command: Command) -> None:
        self.scan(command, {}, ())
        if command.tests:
            raise SieveSyntaxError(command.position, "'else' takes no test (RFC 5228 §3.1)")

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

    def command(self, command: Command) -> s.Node:
        name, at = command.name, command.position
        match name:
            case "require":
                raise SieveSyntaxError(at, "require must come before every other command (RFC 5228 §3.2)")
            case "elsif" | "else":
                raise SieveSyntaxError(at, f"'{name}' must follow 'if' or 'elsif' (RFC 5228 §3.1)")
            case "keep":
                scanned = self.scan(command, FLAGS, ())
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
                operation = FLAG_OPERATIONS[name]
                return s.ChangeFlags(operation, variable, self.texts(scanned.positional[-1]), at)
            case "fileinto":
                self.needs("fileinto", "'fileinto'", at)
                scanned = self.scan(
                    command, COPY | FLAGS | CREATE | SPECIAL_USE, ("string",), names=("mailbox",)
                )
                self.no_test_or_block(command)
                mailbox = self.text(scanned.positional[0])
                if mailbox.constant == "":
                    raise SieveSyntaxError(scanned.positional[0].position, "the mailbox name is empty")
                if mailbox.constant is not None and not valid_utf8(mailbox.constant):
                    # Mailbox names are UTF-8 (RFC 9051 §5.1); ${hex:...} can spell other octets.
                    raise SieveSyntaxError(scanned.positional[0].position, "the mailbox name is not UTF-8")
                flags = self.flags_argument(scanned)
                special = self.special_use(scanned.tags.get("specialuse", ("", None))[1])
                return s.FileInto(
                    mailbox, "copy" in scanned.tags, at, flags, "create" in scanned.tags, special
                )
            case "redirect":
                scanned = self.scan(command, COPY, ("string",), names=("address",))
                self.no_test_or_block(command)
                address = self.text(scanned.positional[0])
                # RFC 5228 §4.2: the address must be a syntactically valid RFC 5321 mailbox (one
                # built from variables is checked when it runs).
                if address.constant is not None and redirect_target(address.constant) is None:
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
            case "addheader":
                self.needs("editheader", "'addheader'", at)
                scanned = self.scan(command, LAST, ("string", "string"), names=("field name", "value"))
                self.no_test_or_block(command)
                field = self.field_name(scanned.positional[0])
                return s.AddHeader(field, self.text(scanned.positional[1]), "last" in scanned.tags, at)
            case "deleteheader":
                self.needs("editheader", "'deleteheader'", at)
                scanned = self.scan(
                    command,
                    DELETE_INDEX | COMPARATOR | MATCH_TYPE,
                    ("string",),
                    names=("field name",),
                    optional_last=("string-list", "value patterns"),
                )
                self.no_test_or_block(command)
                field = self.field_name(scanned.positional[0])
                patterns = self.texts(scanned.positional[1]) if len(scanned.positional) == 2 else None
                index = self.field_index(scanned, at)
                return s.DeleteHeader(field, index, self.matching(scanned, at), patterns, at)
            case "notify":
                return self.notify(command)
            case "foreverypart":
                self.needs("foreverypart", "'foreverypart'", at)
                scanned = self.scan(command, {"name": TagSpec("name", "string")}, ())
                if command.tests:
                    raise SieveSyntaxError(at, "'foreverypart' takes no test")
                if command.block is None:
                    raise SieveSyntaxError(at, "'foreverypart' needs a block { ... } (RFC 5703 §3.1)")
                loop_name = None if "name" not in scanned.tags else self.loop_name(scanned)
                self.loops.append(loop_name)
                try:
                    block = self.block(command.block)
                finally:
                    self.loops.pop()
                return s.ForEveryPart(loop_name, block, at)
            case "break":
                self.needs("foreverypart", "'break'", at)
                scanned = self.scan(command, {"name": TagSpec("name", "string")}, ())
                self.no_test_or_block(command)
                loop_name = None if "name" not in scanned.tags else self.loop_name(scanned)
                # RFC 5703 §3.2: inside a loop, and a name must be that of an enclosing one.
                if not self.loops or (loop_name is not None and loop_name not in self.loops):
                    where = (
                        "a foreverypart loop" if loop_name is None else f"a foreverypart named {loop_name!r}"
                    )
                    raise SieveSyntaxError(at, f"'break' must be inside {where} (RFC 5703 §3.2)")
                return s.Break(loop_name, at)
            case "extracttext":
                return self.extract_text(command)
            case "replace":
                return self.replace_command(command)
            case "enclose":
                return self.enclose_command(command)
            case "include":
                return self.include(command)
            case "return":
                self.needs("include", "'return'", at)
                self.scan(command, {}, ())
                self.no_test_or_block(command)
                return s.Return(at)
            case "global":
                return self.global_command(command)
            case "error":
                self.needs("ihave", "'error'", at)  # RFC 5463 §5
                scanned = self.scan(command, {}, ("string",), names=("message",))
                self.no_test_or_block(command)
                return s.Error(self.text(scanned.positional[0]), at)
            case _:
                added = self.plugin.command(self, command) if self.plugin is not None else None
                if added is None:
                    raise SieveSyntaxError(at, f"unknown command '{name}'")
                return added

    # -- tests (RFC 5228 §5) ------------------------------------------------------------------

    def test(self, test: Test) -> s.TestNode:
        node = self.one_test(test)
        matching = getattr(node, "matching", None)
        if isinstance(matching, s.Matching) and matching.match_type == "regex":
            # A pattern written out must compile now; one built from variables is checked when it runs.
            for key in getattr(node, "keys", ()):
                if isinstance(key, Text) and key.constant is not None:
                    try:
                        check_regex(key.constant, matching.comparator.fold_case)
                    except RegexError as error:
                        raise SieveSyntaxError(
                            test.position, f"the regular expression {key.constant!r}: {error}"
                        ) from None
        return node

    def one_test(self, test: Test) -> s.TestNode:
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
                scanned = self.scan(test, MIME, ("string-list",), names=("header names",))
                mime = self.mime_scope(scanned, at)
                return s.ExistsTest(self.header_names(scanned.positional[0]), at, mime)
            case "size":
                scanned = self.scan(test, SIZE, ("number",), names=("limit",))
                if "size" not in scanned.tags:
                    raise SieveSyntaxError(at, "'size' needs :over or :under (RFC 5228 §5.9)")
                tag, _ = scanned.tags["size"]
                limit = scanned.positional[0]
                assert isinstance(limit, Number)
                return s.SizeTest(tag == "over", limit.value, at)
            case "header":
                scanned = self.scan(
                    test,
                    COMPARATOR | MATCH_TYPE | INDEX | MIME,
                    ("string-list", "string-list"),
                    names=("header names", "keys"),
                )
                return s.HeaderTest(
                    self.matching(scanned, at),
                    self.header_names(scanned.positional[0]),
                    self.texts(scanned.positional[1]),
                    at,
                    self.field_index(scanned, at),
                    self.mime_scope(scanned, at),
                )
            case "date" | "currentdate":
                return self.date_test(test)
            case "metadata" | "servermetadata" | "metadataexists" | "servermetadataexists":
                return self.metadata_test(test)
            case "spamtest" | "virustest":
                virus = name == "virustest"
                if virus:
                    self.needs("virustest", "'virustest'", at)
                elif "spamtestplus" not in self.extensions:
                    self.needs("spamtest", "'spamtest'", at)  # RFC 5235 §3.2: either capability
                percent_tag = {} if virus else {"percent": TagSpec("percent", extension="spamtestplus")}
                scanned = self.scan(
                    test, COMPARATOR | MATCH_TYPE | percent_tag, ("string",), names=("value",)
                )
                percent = "percent" in scanned.tags
                return s.SpamTest(
                    self.matching(scanned, at), percent, virus, self.text(scanned.positional[0]), at
                )
            case "specialuse_exists":
                self.needs("special-use", "'specialuse_exists'", at)
                scanned = self.scan(
                    test,
                    {},
                    ("string-list",),
                    names=("special-use attributes",),
                    optional=("string", "mailbox"),
                )
                mailbox = self.text(scanned.positional[0]) if len(scanned.positional) == 2 else None
                attributes = self.texts(scanned.positional[-1])
                for value in attributes:
                    if value.constant is not None and not special_use_ok(value.constant):
                        raise SieveSyntaxError(
                            at, f"{value.constant!r} is no special-use attribute (RFC 6154)"
                        )
                return s.SpecialUseExists(mailbox, attributes, at)
            case "valid_ext_list":
                self.needs("extlists", "'valid_ext_list'", at)
                scanned = self.scan(test, {}, ("string-list",), names=("list names",))
                return s.ValidExtList(self.texts(scanned.positional[0]), at)
            case "valid_notify_method":
                self.needs("enotify", "'valid_notify_method'", at)
                scanned = self.scan(test, {}, ("string-list",), names=("notification URIs",))
                return s.ValidNotifyMethod(self.texts(scanned.positional[0]), at)
            case "notify_method_capability":
                self.needs("enotify", "'notify_method_capability'", at)
                scanned = self.scan(
                    test,
                    COMPARATOR | MATCH_TYPE,
                    ("string", "string", "string-list"),
                    names=("notification URI", "capability", "keys"),
                )
                uri, capability = self.text(scanned.positional[0]), self.text(scanned.positional[1])
                keys = self.texts(scanned.positional[2])
                return s.NotifyMethodCapability(self.matching(scanned, at), uri, capability, keys, at)
            case "duplicate":
                self.needs("duplicate", "'duplicate'", at)
                scanned = self.scan(test, DUPLICATE, ())

                def tag_text(group: str, tag: str | None = None) -> Text | None:
                    found_tag, value = scanned.tags.get(group, ("", None))
                    if value is None or (tag is not None and found_tag != tag):
                        return None
                    return self.text(value)

                seconds = scanned.tags.get("seconds", ("", None))[1]
                return s.DuplicateTest(
                    tag_text("handle"),
                    tag_text("source", "header"),
                    tag_text("source", "uniqueid"),
                    seconds.value if isinstance(seconds, Number) else None,
                    "last" in scanned.tags,
                    at,
                )
            case "body":
                self.needs("body", "'body'", at)
                scanned = self.scan(
                    test, COMPARATOR | MATCH_TYPE | BODY_TRANSFORM, ("string-list",), names=("keys",)
                )
                transform, types = scanned.tags.get("transform", ("text", None))
                content_types = () if types is None else self.texts(types)
                keys = self.texts(scanned.positional[0])
                return s.BodyTest(self.matching(scanned, at), _TRANSFORMS[transform], content_types, keys, at)
            case "address" | "envelope":
                if name == "envelope":
                    self.needs("envelope", "'envelope'", at)
                scanned = self.scan(
                    test,
                    COMPARATOR | MATCH_TYPE | ADDRESS_PART | (INDEX | MIME if name == "address" else {}),
                    ("string-list", "string-list"),
                    names=("header names" if name == "address" else "envelope parts", "keys"),
                )
                part = ADDRESS_PARTS[scanned.tags.get("address part", ("all", None))[0]]
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
                    index, mime = self.field_index(scanned, at), self.mime_scope(scanned, at)
                    return s.AddressTest(matching, part, names, keys, at, index, mime)
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
                    COMPARATOR | MATCH_TYPE,
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
                    test, COMPARATOR | MATCH_TYPE, ("string", "string-list"), names=("name", "keys")
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
                if all(name in self.supported for name in wanted):
                    for name in wanted:
                        self.enable(name)
                    return s.Constant(True, at)
                return s.Constant(False, at, unknown_capability=True)
            case "string":
                self.needs("variables", "'string'", at)
                scanned = self.scan(
                    test, COMPARATOR | MATCH_TYPE, ("string-list", "string-list"), names=("source", "keys")
                )
                return s.StringTest(
                    self.matching(scanned, at),
                    self.texts(scanned.positional[0]),
                    self.texts(scanned.positional[1]),
                    at,
                )
            case _:
                added_test = self.plugin.test(self, test) if self.plugin is not None else None
                if added_test is None:
                    raise SieveSyntaxError(at, f"unknown test '{name}'")
                return added_test


_TRANSFORMS: dict[str, s.BodyTransform] = {"raw": "raw", "content": "content", "text": "text"}


def _never(condition: s.TestNode | None) -> bool:
    """Whether ``condition`` is false because of an ihave of an unsupported capability, alone or
    in an allof (RFC 5463 §4)."""
    if isinstance(condition, s.Constant):
        return condition.unknown_capability
    if isinstance(condition, s.AllOf):
        return any(_never(test) for test in condition.tests)
    return False
