"""Running a checked script over one message and its envelope (RFC 5228 §2.10, §3-§5).

Pure: the result is a list of actions for delivery to carry out. A runtime error (too many
actions or redirects, reject together with an action that delivers, RFC 5429 §2.4, a redirect
address built from variables that is not an address) never loses the message: the result is then
the implicit keep alone, with the error for the user's log (RFC 5228 §2.10.6).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol, TypeVar
from urllib.parse import quote

from pochta.mime.model import Part
from pochta.sieve import script as s
from pochta.sieve.actions import (
    Action,
    DuplicateRecord,
    Fcc,
    FileIntoAction,
    KeepAction,
    NotifyAction,
    RedirectAction,
    RejectAction,
    VacationAction,
)
from pochta.sieve.arguments import metadata_entry_ok, special_use_ok
from pochta.sieve.body import content_values, parse_root, raw_body, text_values
from pochta.sieve.comparators import match, relate
from pochta.sieve.dates import DATE_PARTS, date_part, field_date, parse_zone
from pochta.sieve.editheader import PROTECTED_FIELDS, encode_field_value
from pochta.sieve.flags import add_flags, flag_words, remove_flags
from pochta.sieve.mailto import MailtoError, MailtoUri, parse_mailto
from pochta.sieve.message import AddressValue, DeliveryContext, Envelope, SieveMessage
from pochta.sieve.parser import parse
from pochta.sieve.syntax import Position, SieveSyntaxError
from pochta.sieve.text import MatchRef, Text, VariableRef
from pochta.sieve.vacation import reply_refusal, reply_subject, sender_ok, threading
from pochta.sieve.validate import ENVELOPE_PARTS, header_name_ok, redirect_target, validate

__all__ = ["Outcome", "RunLimits", "RunPlugin", "RunState", "SieveRuntimeError", "StopScript", "run"]

INBOX = "INBOX"
T = TypeVar("T")


@dataclass(frozen=True)
class RunLimits:
    """Per-run bounds (RFC 5228 §10: administrators MUST be able to limit redirects; RFC 5229
    §6: at least 128 variables of at least 4,000 characters)."""

    max_actions: int = 32
    max_redirects: int = 4
    max_variables: int = 255
    # Octets (UTF-8), as Pigeonhole counts; a longer value is cut at a character boundary (RFC 5229
    # §6: not an error).
    max_variable_size: int = 4096
    # RFC 5230 §4.1 and RFC 6131 §2: the period when the script names none, and the bounds of
    # the period a script may ask for (the effective value is clamped to them).
    vacation_default_period: int = 7 * 86400
    vacation_min_period: int = 86400
    vacation_max_period: int = 90 * 86400
    # RFC 7352 §3.3: how long a duplicate is remembered unless the script says, and at most.
    duplicate_default_period: int = 7 * 86400
    duplicate_max_period: int = 30 * 86400
    # RFC 6609: how deep includes nest, and how many scripts one run may include.
    max_include_depth: int = 10
    max_includes: int = 255


@dataclass(frozen=True)
class Outcome:
    """The actions to carry out, in script order; ``error`` says why a failed run fell back to
    the implicit keep (its position and cause), None when the script ran."""

    actions: tuple[Action, ...]
    error: str | None = None
    notes: tuple[str, ...] = ()  # what the script did not do, and why (a vacation not sent)
    # RFC 7352 §3: IDs to track once the actions were carried out (none after an error).
    duplicates: tuple[DuplicateRecord, ...] = ()


class SieveRuntimeError(Exception):
    """The script cannot go on (a plugin may raise it too): the run falls back to the implicit
    keep with this error."""

    def __init__(self, position: Position, message: str) -> None:
        super().__init__(f"{position}: {message}")


class ReturnFromScript(Exception):
    """``return`` (RFC 6609 §3.3): the script running now ends; in the main script, as stop."""


class StopScript(Exception):
    """``stop`` (RFC 5228 §3.3): the rest of the script does not run."""

    pass


class RunPlugin(Protocol):
    """Runs the commands and tests a ``validate`` plugin added."""

    def execute(self, state: RunState, node: s.Custom) -> None: ...
    def evaluate(self, state: RunState, test: s.CustomTest) -> bool: ...


class RunState:
    """One run of a script: the message, what the script did so far, its variables."""

    def __init__(
        self,
        message: SieveMessage,
        envelope: Envelope,
        context: DeliveryContext,
        limits: RunLimits,
        variables: bool,
        plugin: RunPlugin | None = None,
    ) -> None:
        self.plugin = plugin
        self.message = message
        self.envelope = envelope
        self.context = context
        self.limits = limits
        self.actions: list[Action] = []
        self.implicit_keep = True
        self.redirects = 0
        self.variables: dict[str, str] = {}  # of the script running now (RFC 6609 §3.4)
        self.globals: dict[str, str] = {}  # shared by every script of the run
        self.global_names: set[str] = set()  # names the script running now declared global
        self.include_stack: list[tuple[bool, str]] = []  # (personal, name) of scripts running
        self.included: set[tuple[bool, str]] = set()  # every script included so far
        self.scripts: dict[tuple[bool, str], s.Script] = {}  # compiled includes
        self.duplicates_seen: dict[str, bool] = {}  # RFC 7352: answers of this run
        self.notified: set[str] = set()  # addresses notified in this run (RFC 5436 §2.7)
        self.duplicate_records: dict[str, DuplicateRecord] = {}  # for delivery, once it succeeded
        self.match_values: tuple[str, ...] = ()  # RFC 5229 §3.2: of the last successful :matches
        self.keep_match_values = variables
        self.internal_flags: list[str] = []  # RFC 5232 §3: empty when the script starts
        self.notes: list[str] = []
        self.body_root: Part | None = None  # the MIME structure, parsed at the first body test
        # RFC 5260 §5: every currentdate of a run sees one moment.
        self.now = context.now or datetime.now().astimezone()
        self.vacation_ran = False

    def run(self, commands: Iterable[s.Node]) -> Outcome:
        """Run ``commands`` to the end (or a stop) and give the outcome."""
        try:
            self.execute(commands)
        except (StopScript, ReturnFromScript):
            pass
        except SieveRuntimeError as error:
            return Outcome((KeepAction(implicit=True),), str(error), tuple(self.notes))
        return Outcome(
            tuple(self.result()), notes=tuple(self.notes), duplicates=tuple(self.duplicate_records.values())
        )

    def result(self) -> list[Action]:
        """The actions so far, with the implicit keep when nothing cancelled it (§2.10.2; with the
        internal flag variable's flags, RFC 5232 §3)."""
        actions = list(self.actions)
        if self.implicit_keep and not any(isinstance(action, KeepAction) for action in actions):
            # RFC 5293 §7: the implicit keep comes after the edits.
            actions.append(KeepAction(implicit=True, flags=tuple(self.internal_flags), message=self.edited()))
        return actions

    def reset_result(self) -> None:
        """Forget the actions so far (a test harness between tests)."""
        self.actions.clear()
        self.implicit_keep = True
        self.redirects = 0
        self.vacation_ran = False

    # -- strings (RFC 5229 §3) ----------------------------------------------------------------

    def expand(self, text: Text) -> str:
        constant = text.constant
        if constant is not None:
            return constant
        pieces: list[str] = []
        for part in text.parts:
            if isinstance(part, str):
                pieces.append(part)
            elif isinstance(part, VariableRef):
                # Unknown: the empty string (RFC 5229 §3).
                pieces.append(self.variable_scope(part.name, part.shared).get(part.name, ""))
            elif isinstance(part, MatchRef):
                values = self.match_values
                pieces.append(values[part.index] if part.index < len(values) else "")
        return "".join(pieces)

    def set_variable(self, node: s.Set) -> None:
        value = self.expand(node.value)
        for modifier in node.modifiers:
            value = _MODIFIERS[modifier](value)
        self.store_variable(node.name, value, node.position, shared=node.shared)

    def variable_scope(self, name: str, shared: bool = False) -> dict[str, str]:
        """Where a variable lives: the shared ones (RFC 6609 §3.4: "global.name", or a name this
        script declared global) or this script's own."""
        return self.globals if shared or name in self.global_names else self.variables

    def store_variable(self, name: str, value: str, position: Position, *, shared: bool = False) -> None:
        scope = self.variable_scope(name, shared)
        if name not in scope and len(scope) >= self.limits.max_variables:
            raise SieveRuntimeError(position, f"more than {self.limits.max_variables} variables")
        scope[name] = _cut(value, self.limits.max_variable_size)

    # -- actions (RFC 5228 §2.10, §4) ---------------------------------------------------------

    def add(self, action: Action, position: Position) -> None:
        if isinstance(action, FileIntoAction) and action.mailbox.upper() == INBOX:
            action = KeepAction(flags=action.flags, message=action.message)  # §2.10.3: one copy in INBOX
        for index, done in enumerate(self.actions):
            if _same_target(done, action):
                # §2.10.3: the same action twice is done once; RFC 5232 §3: the last flags win;
                # a :create of either stands (RFC 5490 §3.2).
                if isinstance(done, FileIntoAction) and isinstance(action, FileIntoAction) and done.create:
                    action = replace(action, create=True)
                self.actions[index] = action
                return
        rejects = [done for done in self.actions if isinstance(done, RejectAction)]
        if isinstance(action, RejectAction):
            if rejects:
                raise SieveRuntimeError(position, "more than one reject (RFC 5429 §2.4)")
            if self.vacation_ran:
                raise SieveRuntimeError(position, "reject together with vacation (RFC 5429 §2.4)")
            if any(isinstance(done, KeepAction | FileIntoAction | RedirectAction) for done in self.actions):
                raise SieveRuntimeError(
                    position, "reject together with an action that delivers (RFC 5429 §2.4)"
                )
        elif rejects and not isinstance(action, NotifyAction):  # RFC 5435 §7: notify goes with all
            what = "vacation" if isinstance(action, VacationAction) else "an action that delivers"
            raise SieveRuntimeError(position, f"{what} together with reject (RFC 5429 §2.4)")
        if isinstance(action, RedirectAction):
            self.redirects += 1
            if self.redirects > self.limits.max_redirects:
                raise SieveRuntimeError(position, f"more than {self.limits.max_redirects} redirects")
        if len(self.actions) >= self.limits.max_actions:
            raise SieveRuntimeError(position, f"more than {self.limits.max_actions} actions")
        self.actions.append(action)

    def execute(self, nodes: Iterable[s.Node]) -> None:
        for node in nodes:
            if isinstance(node, s.If):
                for condition, block in node.branches:
                    if condition is None or self.test(condition):
                        self.execute(block)
                        break
            elif isinstance(node, s.Stop):
                raise StopScript  # §3.3
            elif isinstance(node, s.Keep):
                self.add(
                    KeepAction(flags=self.flags_for(node.flags), message=self.edited()), node.position
                )  # §4.3
                self.implicit_keep = False
            elif isinstance(node, s.Discard):
                self.implicit_keep = False  # §4.4: only cancels the implicit keep
            elif isinstance(node, s.FileInto):
                mailbox = self.expand(node.mailbox)
                if not mailbox:
                    raise SieveRuntimeError(node.position, "fileinto an empty mailbox name")
                special = None if node.special_use is None else self.expand(node.special_use)
                if special is not None:
                    if not special_use_ok(special):
                        raise SieveRuntimeError(
                            node.position, f"{special!r} is no special-use attribute (RFC 6154)"
                        )
                    mailbox = self.context.special_use_mailbox(special) or mailbox  # RFC 8579 §4
                flags = self.flags_for(node.flags)
                action = FileIntoAction(
                    mailbox, flags, node.create, special_use=special, message=self.edited()
                )
                self.add(action, node.position)
                self.implicit_keep = self.implicit_keep and node.copy  # RFC 3894 §3: :copy keeps it
            elif isinstance(node, s.Redirect):
                written = self.expand(node.address)
                address = redirect_target(written)
                if address is None:
                    raise SieveRuntimeError(
                        node.position, f"redirect to '{written}': not a valid mail address"
                    )
                self.add(RedirectAction(address, self.edited()), node.position)
                self.implicit_keep = self.implicit_keep and node.copy
            elif isinstance(node, s.Reject):
                self.add(RejectAction(self.expand(node.reason), node.extended), node.position)
                self.implicit_keep = False  # RFC 5429 §2.4
            elif isinstance(node, s.Set):
                self.set_variable(node)  # RFC 5229 §4: no effect on the implicit keep
            elif isinstance(node, s.ChangeFlags):
                self.change_flags(node)
            elif isinstance(node, s.Vacation):
                self.vacation(node)
            elif isinstance(node, s.Notify):
                self.notify(node)
            elif isinstance(node, s.Include):
                self.include(node)
            elif isinstance(node, s.Return):
                raise ReturnFromScript
            elif isinstance(node, s.Global):
                for name in node.names:
                    if name in self.variables:  # RFC 6609 §3.4.1
                        raise SieveRuntimeError(
                            node.position, f"'{name}' was set in this script before 'global'"
                        )
                    self.global_names.add(name)
            elif isinstance(node, s.AddHeader):
                self.add_header(node)
            elif isinstance(node, s.DeleteHeader):
                self.delete_header(node)
            elif isinstance(node, s.Custom):
                if self.plugin is None:
                    raise SieveRuntimeError(node.position, f"'{node.name}' cannot run here")
                self.plugin.execute(self, node)
            elif isinstance(node, s.Error):
                raise SieveRuntimeError(node.position, f"the script ended with: {self.expand(node.message)}")

    # -- enotify (RFC 5435, RFC 5436) -----------------------------------------------------------

    def mailto(self, text: Text) -> MailtoUri | None:
        try:
            return parse_mailto(self.expand(text))
        except MailtoError:
            return None

    def notify(self, node: s.Notify) -> None:
        method = self.expand(node.method)
        try:
            uri = parse_mailto(method)
        except MailtoError as error:
            raise SieveRuntimeError(node.position, f"{error} (RFC 5435 §3.2)") from None
        importance = "2" if node.importance is None else self.expand(node.importance)
        if importance not in ("1", "2", "3"):
            raise SieveRuntimeError(
                node.position, f":importance {importance!r} is not 1, 2 or 3 (RFC 5435 §3.4)"
            )
        # RFC 5436 §2.7: no notification of a message sent automatically.
        for value in self.message.header_texts("auto-submitted"):
            if value.split(";")[0].strip().lower() != "no":
                self.notes.append(f"{node.position}: no notification of an automatic message (RFC 5436 §2.7)")
                return
        fresh = tuple(address for address in uri.recipients if address.lower() not in self.notified)
        if not fresh:
            return  # RFC 5436 §2.7: one notification per address and run
        self.notified.update(address.lower() for address in fresh)
        written_from = None if node.sender is None else self.expand(node.sender)
        own = self.envelope.recipient
        sender = written_from if written_from is not None and sender_ok(written_from) else own
        subjects = self.message.header_texts("subject")
        if node.message is not None:
            subject = self.expand(node.message)
        elif uri.subject is not None:
            subject = uri.subject
        else:
            subject = subjects[0] if subjects else "Notification"
        action = NotifyAction(
            method=method,
            envelope_sender="" if not self.envelope.sender else sender,
            sender=sender,
            recipients=fresh,
            subject=subject,
            body=uri.body,
            headers=uri.headers,
            importance=int(importance),
            options=tuple(self.expand(option) for option in node.options),
            fcc=self.fcc(node.fcc, node.position),
        )
        self.add(action, node.position)  # RFC 5435 §7: the implicit keep stays

    def fcc(self, target: s.FccTarget | None, position: Position) -> Fcc | None:
        """RFC 8580 §3: where the copy of a sent message goes (RFC 8579: the special-use mailbox
        when there is one)."""
        if target is None:
            return None
        mailbox = self.expand(target.mailbox)
        special = None if target.special_use is None else self.expand(target.special_use)
        if special is not None:
            if not special_use_ok(special):
                raise SieveRuntimeError(position, f"{special!r} is no special-use attribute (RFC 6154)")
            mailbox = self.context.special_use_mailbox(special) or mailbox
        if not mailbox:
            raise SieveRuntimeError(position, ":fcc names no mailbox")
        flags = (
            tuple(flag_words(self.expand(text) for text in target.flags)) if target.flags is not None else ()
        )
        return Fcc(mailbox, flags, target.create, special)

    # -- mboxmetadata, servermetadata (RFC 5490 §3.3-§4.2) ---------------------------------------

    def metadata(self, test: s.MetadataTest) -> bool:
        lookup = self.context.metadata
        mailbox = None if test.mailbox is None else self.expand(test.mailbox)
        values: list[str] = []
        for text in test.names:
            entry = self.expand(text)
            value = lookup(mailbox, entry) if lookup is not None and metadata_entry_ok(entry) else None
            if value is None:
                if test.matching is None:
                    return False  # metadataexists: every entry must have a value
                continue
            values.append(value)
        if test.matching is None:
            return True
        # §3.3: false when the entry has no value; else its value against the keys.
        return bool(values) and self.any_match(test.matching, values, test.keys, count=len(values))

    # -- spamtest, virustest (RFC 5235) -------------------------------------------------------

    def spam_count(self, test: s.SpamTest) -> int:
        """RFC 5235 §3.1: :count is 1 when the check was done, 0 when not."""
        verdict = self.context.virus_status if test.virus else self.context.spam_percent
        return 0 if verdict is None else 1

    def spam_value(self, test: s.SpamTest) -> str:
        """The normalised result: virustest 0 (not checked) or 1-5 (§3.3); spamtest 0 (not
        checked) or 1 (clear) .. 10 (spam) (§3.2.1); with :percent 0 .. 100 (§3.2.2)."""
        if test.virus:
            status = self.context.virus_status
            return "0" if status is None else str(min(max(status, 1), 5))
        percent = self.context.spam_percent
        if percent is None:
            return "0"
        percent = min(max(percent, 0), 100)
        return str(percent) if test.percent else str(1 + (percent * 9 + 50) // 100)  # half up

    # -- duplicate (RFC 7352) -------------------------------------------------------------------

    def duplicate(self, test: s.DuplicateTest) -> bool:
        if test.uniqueid is not None:
            unique = self.expand(test.uniqueid)
        else:
            name = "message-id" if test.header is None else self.expand(test.header)
            # §3.1: a bad name, or no such field, is false and tracks nothing; the first field.
            values = self.message.header_texts(name) if header_name_ok(name) else ()
            if not values:
                return False
            unique = values[0]
        seconds = self.limits.duplicate_default_period if test.seconds is None else test.seconds
        seconds = min(seconds, self.limits.duplicate_max_period)  # §3.3: silently
        if seconds == 0:
            return False  # §3.3
        handle = None if test.handle is None else self.expand(test.handle)
        # §3.2: one list whatever the ID's source; a handle keeps its own entries.
        key = "-" if handle is None else f"{len(handle)}:{handle}"
        key = f"{key}:{unique}"
        seen = self.duplicates_seen.get(key)
        if seen is None:  # §3: every test of one run answers alike for one key
            check = self.context.duplicate_seen
            seen = self.duplicates_seen[key] = bool(check(key)) if check is not None else False
        self.duplicate_records[key] = DuplicateRecord(key, seconds, test.last)  # §3.3: the last one wins
        return seen

    # -- include (RFC 6609) ---------------------------------------------------------------------

    def include(self, node: s.Include) -> None:
        key = (node.personal, node.name)
        where = "personal" if node.personal else "global"
        if node.once and (key in self.included or key in self.include_stack):
            return  # §3.2: :once includes once, and a recursive :once counts as done
        if key in self.include_stack:
            raise SieveRuntimeError(
                node.position, f"{where} script '{node.name}' includes itself (RFC 6609 §3.2)"
            )
        if len(self.include_stack) >= self.limits.max_include_depth:
            raise SieveRuntimeError(
                node.position, f"includes nested more than {self.limits.max_include_depth} deep"
            )
        script = self.load(key, node)
        if script is None:
            return  # §3.2: a missing :optional script is as if there were no include
        if key not in self.included and len(self.included) >= self.limits.max_includes:
            raise SieveRuntimeError(node.position, f"more than {self.limits.max_includes} scripts included")
        self.included.add(key)
        saved = (self.variables, self.global_names, self.keep_match_values)
        # §3.4: the included script has its own variables; the shared ones stay.
        self.variables, self.global_names = {}, set()
        self.keep_match_values = "variables" in script.extensions
        self.include_stack.append(key)
        try:
            self.execute(script.commands)
        except ReturnFromScript:
            pass  # §3.3: back to the including script
        finally:
            self.include_stack.pop()
            self.variables, self.global_names, self.keep_match_values = saved

    def load(self, key: tuple[bool, str], node: s.Include) -> s.Script | None:
        script = self.scripts.get(key)
        if script is not None:
            return script
        where = "personal" if key[0] else "global"
        source = self.context.load_script(where, key[1]) if self.context.load_script is not None else None
        if source is None:
            if node.optional:
                return None
            raise SieveRuntimeError(
                node.position, f"{where} script '{key[1]}' does not exist (RFC 6609 §3.2)"
            )
        try:
            script = validate(parse(source))
        except SieveSyntaxError as error:
            raise SieveRuntimeError(node.position, f"{where} script '{key[1]}': {error}") from None
        self.scripts[key] = script
        return script

    # -- editheader (RFC 5293) ------------------------------------------------------------------

    def field_to_edit(self, text: Text, position: Position) -> str | None:
        """The field name an edit is about, None when it may not be edited (§6: silently)."""
        name = self.expand(text)
        if not header_name_ok(name):
            raise SieveRuntimeError(position, f"'{name}' is not a header field name (RFC 5293 §4)")
        return None if name.lower() in PROTECTED_FIELDS else name

    def add_header(self, node: s.AddHeader) -> None:
        name = self.field_to_edit(node.name, node.position)
        if name is None:
            return
        self.message.add_field(name, encode_field_value(name, self.expand(node.value)), last=node.last)

    def delete_header(self, node: s.DeleteHeader) -> None:
        name = self.field_to_edit(node.name, node.position)
        if name is None:
            return
        keys = None if node.patterns is None else [self.expand(text) for text in node.patterns]
        index = node.index

        def keep(position: int, count: int, text: str) -> bool:
            # §5: :index counts the named fields first, then the patterns (as the header test) decide.
            if index is not None and index.pick(count) != position - 1:
                return True
            if keys is None:
                return False
            matching = node.matching
            found = (
                match(matching.comparator, matching.match_type, text, key, matching.relation) for key in keys
            )
            return all(result is None for result in found)

        self.message.delete_fields(name, keep)

    def edited(self) -> bytes | None:
        """The message as the edits so far left it, for an action that stores or sends it (§7)."""
        return self.message.to_bytes() if self.message.edited else None

    # -- vacation (RFC 5230, RFC 6131) ---------------------------------------------------------

    def vacation(self, node: s.Vacation) -> None:
        if self.vacation_ran:
            raise SieveRuntimeError(node.position, "vacation runs at most once (RFC 5230 §4.7)")
        if any(isinstance(action, RejectAction) for action in self.actions):
            raise SieveRuntimeError(node.position, "vacation together with reject (RFC 5429 §2.4)")
        self.vacation_ran = True
        own = [
            *self.context.user_addresses,
            self.envelope.recipient,
            *(self.expand(text) for text in node.addresses),
        ]
        refusal = reply_refusal(self.message, self.envelope, own)
        if refusal is not None:
            self.notes.append(f"{node.position}: no vacation reply: {refusal}")
            return
        limits = self.limits
        period = limits.vacation_default_period if node.period is None else node.period
        period = min(max(period, limits.vacation_min_period), limits.vacation_max_period)
        sender = None if node.sender is None else self.expand(node.sender)
        if sender is not None and not sender_ok(sender):
            self.notes.append(f"{node.position}: :from {sender!r} is not an address, ignored (RFC 5230 §4.3)")
            sender = None
        in_reply_to, references = threading(self.message)
        subject = reply_subject(self.message) if node.subject is None else self.expand(node.subject)
        fcc = self.fcc(node.fcc, node.position)
        action = VacationAction(
            recipient=self.envelope.sender,
            tracking=node.tracking,
            period=period,
            subject=subject,
            sender=sender,
            reason=self.expand(node.reason),
            mime=node.mime,
            in_reply_to=in_reply_to,
            references=references,
            fcc=fcc,
        )
        self.add(action, node.position)  # RFC 5230 §4.7: the implicit keep stays

    # -- flags (RFC 5232) ---------------------------------------------------------------------

    def flag_variable(self, name: str | None) -> list[str]:
        return self.internal_flags if name is None else flag_words([self.variable_scope(name).get(name, "")])

    def change_flags(self, node: s.ChangeFlags) -> None:
        given = [self.expand(text) for text in node.flags]
        current = self.flag_variable(node.variable)
        if node.operation == "set":
            flags = flag_words(given)
        elif node.operation == "add":
            flags = add_flags(current, given)
        else:
            flags = remove_flags(current, given)
        if node.variable is None:
            self.internal_flags = flags
        else:
            self.store_variable(node.variable, " ".join(flags), node.position)

    def flags_for(self, given: tuple[Text, ...] | None) -> tuple[str, ...]:
        """RFC 5232 §5: the :flags given, else the internal variable's."""
        if given is None:
            return tuple(self.internal_flags)
        return tuple(flag_words(self.expand(text) for text in given))

    # -- tests (RFC 5228 §5) ------------------------------------------------------------------

    def test(self, test: s.TestNode) -> bool:
        if isinstance(test, s.Constant):
            return test.value
        if isinstance(test, s.Not):
            return not self.test(test.test)
        if isinstance(test, s.AllOf):
            return all(self.test(inner) for inner in test.tests)  # short-circuit, left to right
        if isinstance(test, s.AnyOf):
            return any(self.test(inner) for inner in test.tests)
        if isinstance(test, s.ExistsTest):
            names = [self.expand(text) for text in test.names]  # §5.5: a bad name does not exist
            return all(header_name_ok(name) and self.message.has(name) for name in names)
        if isinstance(test, s.SizeTest):
            return self.message.size > test.limit if test.over else self.message.size < test.limit  # §5.9
        if isinstance(test, s.HeaderTest):
            names = self.header_names(test.names)
            values = _pick([value for name in names for value in self.message.header_texts(name)], test.index)
            return self.any_match(test.matching, values, test.keys, count=len(values))
        if isinstance(test, s.DateTest):
            return self.date_test(test)
        if isinstance(test, s.BodyTest):
            values = self.body_values(test)
            # RFC 5173 §6: wildcards of the body test set no match variables.
            return self.any_match(test.matching, values, test.keys, count=len(values), sets_variables=False)
        if isinstance(test, s.AddressTest):
            names = self.header_names(test.names)
            fields = [addresses for name in names for addresses in self.message.address_fields(name)]
            found = [address for addresses in _pick(fields, test.index) for address in addresses]
            # RFC 5231 §4.2: the count is of mailboxes (group members, not groups).
            count = sum(1 for address in found if address.localpart is not None)
            return self.any_match(test.matching, self.address_parts(found, test.part), test.keys, count=count)
        if isinstance(test, s.EnvelopeTest):
            values, count = self.envelope_values(test)
            return self.any_match(test.matching, values, test.keys, count=count)
        if isinstance(test, s.EnvironmentTest):
            # RFC 5183 §4: an unknown item is false; :count is 0 for an empty value, else 1.
            item = self.context.environment.get(self.expand(test.name).lower())
            if item is None:
                return False
            return self.any_match(test.matching, [item], test.keys, count=1 if item else 0)
        if isinstance(test, s.MailboxExists):
            return all(self.context.mailbox_exists(self.expand(name)) for name in test.names)  # RFC 5490 §3.1
        if isinstance(test, s.DuplicateTest):
            return self.duplicate(test)
        if isinstance(test, s.CustomTest):
            if self.plugin is None:
                raise SieveRuntimeError(test.position, f"'{test.name}' cannot run here")
            return self.plugin.evaluate(self, test)
        if isinstance(test, s.HasFlag):
            # RFC 5232 §4: the flags of the variables against each flag of the keys; :count
            # counts distinct flags.
            variables: list[str | None] = list(test.variables) or [None]
            held = [flag for variable in variables for flag in self.flag_variable(variable)]
            keys = tuple(Text.of(flag) for flag in flag_words(self.expand(text) for text in test.flags))
            return self.any_match(test.matching, held, keys, count=len(held))
        if isinstance(test, s.MetadataTest):
            return self.metadata(test)
        if isinstance(test, s.SpamTest):
            return self.any_match(
                test.matching, [self.spam_value(test)], (test.value,), count=self.spam_count(test)
            )
        if isinstance(test, s.SpecialUseExists):
            # RFC 8579 §3: every attribute held, by the mailbox named or by some mailbox.
            wanted = [self.expand(attribute) for attribute in test.attributes]
            if not all(special_use_ok(attribute) for attribute in wanted):
                return False
            if test.mailbox is None:
                return all(self.context.special_use_mailbox(attribute) is not None for attribute in wanted)
            assigned = {
                attribute.lower()
                for attribute in self.context.special_uses.get(self.expand(test.mailbox), ())
            }
            return all(attribute.lower() in assigned for attribute in wanted)
        if isinstance(test, s.ValidNotifyMethod):
            return all(self.mailto(uri) is not None for uri in test.uris)  # RFC 5435 §4
        if isinstance(test, s.NotifyMethodCapability):
            # RFC 5435 §5: false for an invalid URI or an unknown capability; RFC 5436 §2.2: for
            # mailto, "online" is "maybe" (whether a reader is there cannot be known).
            if self.mailto(test.uri) is None or self.expand(test.capability).lower() != "online":
                return False
            return self.any_match(test.matching, ["maybe"], test.keys, count=1)
        # RFC 5229 §5: the script's own strings, white space kept; the count is of non-empty ones.
        sources = [self.expand(source) for source in test.sources]
        return self.any_match(test.matching, sources, test.keys, count=sum(1 for value in sources if value))

    def date_test(self, test: s.DateTest) -> bool:
        # RFC 5260 §4, §5: one moment (the first field's date, or now), shifted to a zone, one part.
        part = self.expand(test.part).lower()
        if part not in DATE_PARTS:
            return False
        if test.header is None:
            moment: datetime | None = self.now
        else:
            names = self.header_names((test.header,))
            values = [value for name in names for value in self.message.header_texts(name)]
            chosen = _pick(values, test.index) if test.index is not None else values[:1]
            moment = field_date(chosen[0]) if chosen else None
        if moment is None:
            return self.any_match(test.matching, [], test.keys, count=0)  # §4: no valid date
        if test.zone is not None:
            zone = parse_zone(self.expand(test.zone))
            if zone is None:
                return False
            moment = moment.astimezone(zone)
        elif not test.original_zone:
            moment = moment.astimezone(self.now.tzinfo)  # §4.1: the local zone
        return self.any_match(test.matching, [date_part(moment, part)], test.keys, count=1)

    def header_names(self, names: tuple[Text, ...]) -> list[str]:
        # A name built from variables that is not a field name matches nothing.
        return [name for name in (self.expand(text) for text in names) if header_name_ok(name)]

    def envelope_values(self, test: s.EnvelopeTest) -> tuple[list[str], int]:
        """The values of the envelope parts, and their count (RFC 5231 §4.2: "from" counts 0
        for the null reverse-path, "to" always 1)."""
        values: list[str] = []
        count = 0
        for part in (self.expand(text).lower() for text in test.names):
            if part not in ENVELOPE_PARTS:
                continue
            if part == "from" and not self.envelope.sender:
                values.append("")  # §5.4: the null reverse-path matches "" whatever the part
                continue
            count += 1
            address = self.envelope.sender if part == "from" else self.envelope.recipient
            local, at, domain = address.rpartition("@")
            parsed = AddressValue(address, local, domain) if at else AddressValue(address, None, None)
            values.extend(self.address_parts([parsed], test.part))
        return values, count

    def address_parts(self, addresses: list[AddressValue], part: s.AddressPart) -> list[str]:
        if part == "all":
            return [address.all for address in addresses]
        # §2.7.4: an address that is not valid does not match :localpart or :domain (nor, RFC
        # 5233 §4, :user or :detail).
        values: list[str] = []
        separator = self.context.subaddress_separator
        for address in addresses:
            if address.localpart is None or address.domain is None:
                continue
            if part == "localpart":
                values.append(address.localpart)
            elif part == "domain":
                values.append(address.domain)
            else:
                user, found, detail = (
                    address.localpart.partition(separator) if separator else (address.localpart, "", "")
                )
                if part == "user":
                    values.append(user)
                elif found:
                    values.append(detail)  # RFC 5233 §4: no separator, no :detail to match
        return values

    def body_values(self, test: s.BodyTest) -> list[str]:
        if self.body_root is None:
            self.body_root = parse_root(self.message.data)
        data, root = self.message.data, self.body_root
        if test.transform == "raw":
            return raw_body(data, root)
        if test.transform == "text":
            return text_values(data, root)
        return content_values(data, root, [self.expand(text) for text in test.content_types])

    def any_match(
        self,
        matching: s.Matching,
        values: list[str],
        keys: tuple[Text, ...],
        *,
        count: int,
        sets_variables: bool = True,
    ) -> bool:
        # §5.7 (and §2.7): true when any value matches any key; the first match ends the search
        # (RFC 5229 §3.2: its wildcards' strings become the match variables).
        expanded = [self.expand(key) for key in keys]
        if matching.match_type == "count":  # RFC 5231 §4.2: the number of values against each key
            return any(relate(matching.comparator, matching.relation, str(count), key) for key in expanded)
        for value in values:
            for key in expanded:
                found = match(matching.comparator, matching.match_type, value, key, matching.relation)
                if found is not None:
                    if matching.match_type == "matches" and self.keep_match_values and sets_variables:
                        self.match_values = found
                    return True
        return False


def _quote_wildcards(value: str) -> str:
    # RFC 5229 §4.1.2: "*", "?" and "\" get a backslash.
    return value.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


def _ascii_lower(value: str) -> str:
    # RFC 5229 §4.1.3: only A-Z and a-z change case.
    return value.translate(_LOWER)


def _ascii_upper(value: str) -> str:
    return value.translate(_UPPER)


_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _lower_first(value: str) -> str:
    return _ascii_lower(value[:1]) + value[1:]


def _upper_first(value: str) -> str:
    return _ascii_upper(value[:1]) + value[1:]


def _encode_url(value: str) -> str:
    # RFC 5435 §6: percent-encode every octet outside RFC 3986's "unreserved".
    return quote(value.encode("utf-8", "surrogateescape"), safe="-._~")


def _length(value: str) -> str:
    return str(len(value))  # RFC 5229 §4.1.1: characters, not octets


_MODIFIERS: dict[s.Modifier, Callable[[str], str]] = {
    "lower": _ascii_lower,
    "upper": _ascii_upper,
    "lowerfirst": _lower_first,
    "upperfirst": _upper_first,
    "quotewildcard": _quote_wildcards,
    "encodeurl": _encode_url,
    "length": _length,
}


def _cut(value: str, octets: int) -> str:
    """``value`` in at most ``octets`` UTF-8 octets, never half a character."""
    if len(value) * 4 <= octets:
        return value
    encoded = value.encode("utf-8", "surrogateescape")
    if len(encoded) <= octets:
        return value
    return encoded[:octets].decode("utf-8", "ignore")


def _pick(values: list[T], index: s.FieldIndex | None) -> list[T]:
    """All of ``values``, or only the field :index names (RFC 5260 §6)."""
    if index is None:
        return values
    position = index.pick(len(values))
    return [] if position is None else [values[position]]


def _same_target(a: Action, b: Action) -> bool:
    """Whether ``b`` repeats ``a`` (RFC 5228 §2.10.3), whatever the flags."""
    if isinstance(a, KeepAction) and isinstance(b, KeepAction):
        return True
    if isinstance(a, FileIntoAction) and isinstance(b, FileIntoAction):
        return a.mailbox == b.mailbox
    return a == b


def run(
    script: s.Script,
    message: SieveMessage,
    envelope: Envelope,
    limits: RunLimits | None = None,
    context: DeliveryContext | None = None,
    plugin: RunPlugin | None = None,
) -> Outcome:
    """Run ``script``: the actions for delivery, the implicit keep last when nothing cancelled it."""
    variables = "variables" in script.extensions
    state = RunState(
        message, envelope, context or DeliveryContext(), limits or RunLimits(), variables, plugin
    )
    return state.run(script.commands)
