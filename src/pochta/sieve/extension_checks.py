"""Checks of the extensions whose arguments take more than a table: set (RFC 5229 §4), vacation
(RFC 5230, RFC 6131), date and currentdate (RFC 5260)."""

from __future__ import annotations

import hashlib

from pochta.sieve import script as s
from pochta.sieve.arguments import (
    COMPARATOR,
    CREATE,
    FCC,
    FLAGS,
    INCLUDE,
    INDEX,
    MATCH_TYPE,
    MODIFIER_ORDER,
    MODIFIERS,
    MODIFIERS_BY_NAME,
    NOTIFY,
    SPECIAL_USE,
    VACATION,
    ZONE,
    ArgumentChecker,
    PositionalKind,
    Scanned,
    TagSpec,
    script_name_ok,
)
from pochta.sieve.dates import DATE_PARTS, parse_zone
from pochta.sieve.mailto import MailtoError, parse_mailto
from pochta.sieve.syntax import Command, Number, SieveSyntaxError, StringList, Test
from pochta.sieve.text import Text, variable_name_ok
from pochta.sieve.vacation import sender_ok

__all__ = ["ExtensionChecks", "notify_option_ok"]


def notify_option_ok(option: str) -> bool:
    """RFC 5435 §3.5: optionname "=" value, optionname = l-d *(l-d / "." / "-" / "_")."""
    name, equals, _ = option.partition("=")
    return bool(equals and name and name[0].isascii() and name[0].isalnum()) and all(
        char.isascii() and (char.isalnum() or char in ".-_") for char in name
    )


class ExtensionChecks(ArgumentChecker):
    def set_command(self, command: Command) -> s.Set:
        self.needs("variables", "'set'", command.position)
        scanned = self.scan(command, MODIFIERS, ("string", "string"), names=("name", "value"))
        self.no_test_or_block(command)
        written = self.string(scanned.positional[0])
        shared = "include" in self.extensions and written.lower().startswith("global.")
        if shared:
            written = written[len("global.") :]  # RFC 6609 §3.4.2: an identifier follows
            if written.isdigit():
                raise SieveSyntaxError(scanned.positional[0].position, f"'global.{written}' cannot be set")
        name = self.variable_name(written, scanned.positional[0].position)
        modifiers = sorted(
            (MODIFIERS_BY_NAME[tag] for tag, _ in scanned.tags.values()), key=MODIFIER_ORDER.index
        )
        return s.Set(name, tuple(modifiers), self.text(scanned.positional[1]), command.position, shared)

    # -- enotify (RFC 5435, RFC 5436) -----------------------------------------------------------

    def notify(self, command: Command) -> s.Notify:
        at = command.position
        self.needs("enotify", "'notify'", at)
        scanned = self.scan(
            command, NOTIFY | FCC | FLAGS | CREATE | SPECIAL_USE, ("string",), names=("method",)
        )
        self.no_test_or_block(command)

        def tag_text(group: str) -> Text | None:
            value = scanned.tags.get(group, ("", None))[1]
            return None if value is None else self.text(value)

        importance = tag_text("importance")
        if (
            importance is not None
            and importance.constant is not None
            and importance.constant not in ("1", "2", "3")
        ):
            raise SieveSyntaxError(
                at, f':importance must be "1", "2" or "3", not {importance.constant!r} (RFC 5435 §3.4)'
            )
        options_value = scanned.tags.get("options", ("", None))[1]
        options = () if options_value is None else self.texts(options_value)
        for option in options:
            if option.constant is not None and not notify_option_ok(option.constant):
                raise SieveSyntaxError(at, f"{option.constant!r} is not name=value (RFC 5435 §3.5)")
        method = self.text(scanned.positional[0])
        # RFC 5435 §3.2: an unsupported method is an error when it runs; a mailto URI that is
        # written out must be valid now.
        if method.constant is not None and method.constant.lower().startswith("mailto:"):
            try:
                parse_mailto(method.constant)
            except MailtoError as error:
                raise SieveSyntaxError(scanned.positional[0].position, f"{error} (RFC 5436 §2.1)") from None
        fcc = self.fcc_target(scanned, at)
        return s.Notify(method, tag_text("from"), importance, options, tag_text("message"), at, fcc)

    # -- mboxmetadata, servermetadata (RFC 5490 §3.3-§4.2) ----------------------------------------

    def metadata_test(self, test: Test) -> s.MetadataTest:
        name, at = test.name, test.position
        server = name.startswith("server")
        self.needs("servermetadata" if server else "mboxmetadata", f"'{name}'", at)
        exists = name.endswith("exists")
        positional: tuple[PositionalKind, ...] = ("string-list",) if exists else ("string", "string-list")
        labels: tuple[str, ...] = ("entry names",) if exists else ("entry name", "keys")
        if not server:
            positional, labels = ("string", *positional), ("mailbox", *labels)
        scanned = self.scan(test, {} if exists else COMPARATOR | MATCH_TYPE, positional, names=labels)
        mailbox = None if server else self.text(scanned.positional[0])
        if exists:
            names = scanned.positional[-1]
            entries = tuple(self.metadata_entry(names, index) for index in range(len(self.texts(names))))
            return s.MetadataTest(None, mailbox, entries, (), at)
        entry = self.metadata_entry(scanned.positional[-2])
        keys = self.texts(scanned.positional[-1])
        return s.MetadataTest(self.matching(scanned, at), mailbox, (entry,), keys, at)

    # -- replace, enclose (RFC 5703 section 5 and section 6) ---------------------------------------

    def replace_command(self, command: Command) -> s.Replace:
        at = command.position
        self.needs("replace", "'replace'", at)
        tags = {
            "mime": TagSpec("mime"),
            "subject": TagSpec("subject", "string"),
            "from": TagSpec("from", "string"),
        }
        scanned = self.scan(command, tags, ("string",), names=("replacement",))
        self.no_test_or_block(command)
        subject, sender = (scanned.tags.get(group, ("", None))[1] for group in ("subject", "from"))
        written = sender.values[0] if isinstance(sender, StringList) else ""
        # Section 5: implementations SHOULD report a :from that is no mailbox-list (a value built
        # from variables is checked when it runs).
        if written and "$" not in written and not sender_ok(written):
            assert isinstance(sender, StringList)
            raise SieveSyntaxError(sender.position, f"replace :from '{written}' is not a valid address")
        return s.Replace(
            self.text(scanned.positional[0]),
            "mime" in scanned.tags,
            None if subject is None else self.text(subject),
            None if sender is None else self.text(sender),
            at,
        )

    def enclose_command(self, command: Command) -> s.Enclose:
        at = command.position
        self.needs("enclose", "'enclose'", at)
        tags = {"subject": TagSpec("subject", "string"), "headers": TagSpec("headers", "string-list")}
        scanned = self.scan(command, tags, ("string",), names=("text",))
        self.no_test_or_block(command)
        subject, headers = (scanned.tags.get(group, ("", None))[1] for group in ("subject", "headers"))
        return s.Enclose(
            self.text(scanned.positional[0]),
            None if subject is None else self.text(subject),
            () if headers is None else self.texts(headers),
            at,
        )

    # -- foreverypart, extracttext (RFC 5703 §3, §7) ----------------------------------------------

    def loop_name(self, scanned: Scanned) -> str:
        value = scanned.tags["name"][1]
        assert value is not None
        return self.string(value)

    def extract_text(self, command: Command) -> s.ExtractText:
        at = command.position
        self.needs("extracttext", "'extracttext'", at)
        self.needs("variables", "'extracttext'", at)  # RFC 5703 §7: it sets a variable
        scanned = self.scan(
            command, MODIFIERS | {"first": TagSpec("first", "number")}, ("string",), names=("name",)
        )
        self.no_test_or_block(command)
        if not self.loops:
            raise SieveSyntaxError(at, "'extracttext' must be inside a foreverypart loop (RFC 5703 §7)")
        name = self.variable_name(self.string(scanned.positional[0]), scanned.positional[0].position)
        first = scanned.tags.get("first", ("", None))[1]
        modifiers = sorted(
            (
                MODIFIERS_BY_NAME[tag]
                for group, (tag, _) in scanned.tags.items()
                if group.startswith("precedence")
            ),
            key=MODIFIER_ORDER.index,
        )
        return s.ExtractText(name, tuple(modifiers), first.value if isinstance(first, Number) else None, at)

    # -- include (RFC 6609) -------------------------------------------------------------------

    def include(self, command: Command) -> s.Include:
        at = command.position
        self.needs("include", "'include'", at)
        scanned = self.scan(command, INCLUDE, ("string",), names=("script name",))
        self.no_test_or_block(command)
        # §3.2: a constant name, never expanded, and a valid ManageSieve name (RFC 5804 §1.6).
        name = self.string(scanned.positional[0])
        if not script_name_ok(name) or "/" in name:
            raise SieveSyntaxError(
                scanned.positional[0].position, f"{name!r} is not a script name (RFC 5804 §1.6)"
            )
        personal = scanned.tags.get("location", ("personal", None))[0] == "personal"
        return s.Include(name, personal, "once" in scanned.tags, "optional" in scanned.tags, at)

    def global_command(self, command: Command) -> s.Global:
        at = command.position
        self.needs("include", "'global'", at)
        self.needs("variables", "'global'", at)  # RFC 6609 §3.4.1: both
        scanned = self.scan(command, {}, ("string-list",), names=("variable names",))
        self.no_test_or_block(command)
        names = []
        for name in self.constant_strings(scanned.positional[0]):
            if name.isdigit() or not variable_name_ok(name):
                raise SieveSyntaxError(
                    scanned.positional[0].position, f"'{name}' cannot be a global variable"
                )
            names.append(name.lower())
        return s.Global(tuple(names), at)

    # -- vacation (RFC 5230, RFC 6131) -----------------------------------------------------------

    def vacation(self, command: Command) -> s.Vacation:
        at = command.position
        self.needs("vacation", "'vacation'", at)
        scanned = self.scan(
            command, VACATION | FCC | FLAGS | CREATE | SPECIAL_USE, ("string",), names=("reason",)
        )
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
            self.fcc_target(scanned, at),
        )

    def date_test(self, test: Test) -> s.DateTest:
        name, at = test.name, test.position
        self.needs("date", f"'{name}'", at)
        current = name == "currentdate"
        zones = {"zone": ZONE["zone"]} if current else ZONE | INDEX
        positional: tuple[PositionalKind, ...] = ("string", "string-list")
        names: tuple[str, ...] = ("date-part", "keys")
        if not current:
            positional, names = ("string", *positional), ("header name", *names)
        scanned = self.scan(test, COMPARATOR | MATCH_TYPE | zones, positional, names=names)
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
