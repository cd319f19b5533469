"""The state of one run of a script (``StateBase``): the message, what the script did so far, its
variables and flags, and the rules every part of the interpreter shares (expanding texts, adding
actions, matching). ``interpreter.RunState`` adds the commands and tests on top of it; its
mixins ``run_message`` (tests of the message) and ``run_senders`` (vacation, notify) do too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar
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
from pochta.sieve.arguments import special_use_ok
from pochta.sieve.body import parse_root
from pochta.sieve.comparators import match, relate
from pochta.sieve.flags import add_flags, flag_words, remove_flags
from pochta.sieve.mailto import MailtoError, MailtoUri, parse_mailto
from pochta.sieve.message import AddressValue, DeliveryContext, Envelope, SieveMessage
from pochta.sieve.regex import quote_regex
from pochta.sieve.spamscore import ScoreSource
from pochta.sieve.syntax import Position
from pochta.sieve.text import MatchRef, Text, VariableRef
from pochta.sieve.validate import header_name_ok

__all__ = [
    "INBOX",
    "MODIFIER_FUNCTIONS",
    "BreakLoop",
    "Outcome",
    "ReturnFromScript",
    "RunLimits",
    "SieveRuntimeError",
    "StateBase",
    "StopScript",
    "pick_fields",
]


INBOX = "INBOX"
T = TypeVar("T")
_STEPS_PER_CHECK = 64


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
    # RFC 5230 §5.3: the subject made from the original's ("%{subject}" stands for it) and the
    # one for a message without Subject.
    vacation_subject_template: str = "Auto: %{subject}"
    vacation_default_subject: str = "Automated reply"
    # RFC 5230 §4.5's recipient check (False: reply whoever the message was addressed to); §5.1's
    # null sender (True: the reply comes from the envelope recipient); §5.5's To taken from the
    # original's Sender/From whatever the envelope sender (SRS-rewritten senders).
    vacation_check_recipient: bool = True
    vacation_send_from_recipient: bool = False
    vacation_to_header_ignore_envelope: bool = False
    # RFC 7352 §3.3: how long a duplicate is remembered unless the script says, and at most.
    duplicate_default_period: int = 7 * 86400
    duplicate_max_period: int = 30 * 86400
    # RFC 5703 §3: how deep foreverypart loops nest.
    max_loop_depth: int = 16
    # RFC 6609: how deep includes nest, and how many scripts one run may include.
    max_include_depth: int = 10
    max_includes: int = 255
    # RFC 5293 §6: header fields (lower case) the administrator keeps scripts from adding or
    # deleting, besides Received and Auto-Submitted, which are never deleted.
    editheader_forbid_add: frozenset[str] = frozenset()
    editheader_forbid_delete: frozenset[str] = frozenset()
    # RFC 5235 §3.1: where spamtest and virustest read the verdict; None: no check is configured
    # (every message "not tested").
    spamtest: ScoreSource | None = None
    virustest: ScoreSource | None = None
    # Seconds of CPU time one run may take (None: unbounded), read from ``cpu_clock``: the CPU
    # time of the thread running the script (a clock, no I/O; tests give their own).
    max_cpu_time: float | None = None
    cpu_clock: Callable[[], float] = time.thread_time


@dataclass(frozen=True)
class Outcome:
    """The actions to carry out, in script order; ``error`` says why a failed run fell back to
    the implicit keep (its position and cause), None when the script ran."""

    actions: tuple[Action, ...]
    error: str | None = None
    notes: tuple[str, ...] = ()  # what the script did not do, and why (a vacation not sent)
    # RFC 7352 §3: IDs to track once the actions were carried out (none after an error).
    duplicates: tuple[DuplicateRecord, ...] = ()
    # The message as the run left it (editheader, replace, enclose), for the scripts that run
    # after this one; None when the run did not change it (or failed: RFC 5293 §7, the original).
    message: bytes | None = None


class SieveRuntimeError(Exception):
    """The script cannot go on (a plugin may raise it too): the run falls back to the implicit
    keep with this error."""

    def __init__(self, position: Position, message: str) -> None:
        super().__init__(f"{position}: {message}")


class BreakLoop(Exception):
    """``break`` (RFC 5703 §3.2), with the name of the loop it leaves (None: the innermost)."""

    def __init__(self, name: str | None) -> None:
        super().__init__(name)
        self.name = name


class ReturnFromScript(Exception):
    """``return`` (RFC 6609 §3.3): the script running now ends; in the main script, as stop."""


class StopScript(Exception):
    """``stop`` (RFC 5228 §3.3): the rest of the script does not run."""

    pass


class StateBase:
    """One run of a script: the message, what the script did so far, its variables."""

    def __init__(
        self,
        message: SieveMessage,
        envelope: Envelope,
        context: DeliveryContext,
        limits: RunLimits,
        variables: bool,
    ) -> None:
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
        self.part_stack: list[Part] = []  # the foreverypart loops' current parts (RFC 5703 §3)
        self.part_indexes: list[int] = []  # their places in the message's parts, depth first
        self.replaced_part: int | None = None  # the place of the part replace last replaced
        # RFC 5703 section 5: fields replace added that editheader may not touch.
        self.sealed_fields: set[str] = set()
        # RFC 5703 section 6: the message before its first enclose, which redirect sends.
        self.unenclosed: bytes | None = None
        self.part_views: dict[int, SieveMessage] = {}  # MIME parts' headers, read once
        self.duplicate_records: dict[str, DuplicateRecord] = {}  # for delivery, once it succeeded
        self.match_values: tuple[str, ...] = ()  # RFC 5229 §3.2: of the last successful :matches
        self.keep_match_values = variables
        # RFC 5232 §3: empty when the script starts; RFC 6785 §3.8: on an IMAP event, the message's.
        self.internal_flags: list[str] = list(context.flags)
        self.notes: list[str] = []
        self.body_root: Part | None = None  # the MIME structure, parsed at the first body test
        # RFC 5260 §5: every currentdate of a run sees one moment.
        self.now = context.now or datetime.now().astimezone()
        self.vacation_ran = False
        self.cpu_started = limits.cpu_clock()  # one read, so a limit set later counts from here
        self.cpu_position = Position(1, 1)  # the command or test running now, for the error
        self.cpu_steps = 0

    def check_cpu(self, position: Position) -> None:
        """End the run when it used up its CPU time; called at each command and test, so a loop
        or a long script ends itself (a single step in C code is delivery's wall-time guard's)."""
        self.cpu_position = position
        limit = self.limits.max_cpu_time
        if limit is not None and self.limits.cpu_clock() - self.cpu_started > limit:
            raise SieveRuntimeError(position, f"CPU time limit of {limit:g} s exceeded")

    def cpu_step(self) -> None:
        """One step of an inner loop (a value matched against a key, a part read): the clock is
        read every ``_STEPS_PER_CHECK`` steps, which keeps the check cheap."""
        self.cpu_steps += 1
        if self.cpu_steps % _STEPS_PER_CHECK == 0:
            self.check_cpu(self.cpu_position)

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
        self.notified.clear()  # RFC 5436 §2.7's once per address is per run, as the result is

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
            value = MODIFIER_FUNCTIONS[modifier](value)
            if modifier in _ESCAPING:
                # RFC 5229 §6: a value past the limit is cut, never inside an escape it made.
                value = _cut_escaped(value, self.limits.max_variable_size, modifier)
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

    def header_names(self, names: tuple[Text, ...]) -> list[str]:
        # A name built from variables that is not a field name matches nothing.
        return [name for name in (self.expand(text) for text in names) if header_name_ok(name)]

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
        if matching.match_type == "list":
            member = self.in_lists(values, expanded)
            if member is not None and self.keep_match_values and sets_variables:
                self.match_values = (member,)  # as Pigeonhole: ${0} is the member found
            return member is not None
        for value in values:
            for key in expanded:
                self.cpu_step()
                found = match(matching.comparator, matching.match_type, value, key, matching.relation)
                if found is not None:
                    if (
                        matching.match_type in ("matches", "regex")
                        and self.keep_match_values
                        and sets_variables
                    ):
                        self.match_values = found
                    return True
        return False

    def in_lists(self, values: list[str], names: list[str]) -> str | None:
        """RFC 6134 section 2: the first value that is a member of one of the named lists (the
        keys of a :list match are list names); None when none is. A name the server has no list
        for matches nothing."""
        lists = [found for name in names if (found := self.context.external_list(name)) is not None]
        for value in values:
            self.cpu_step()
            if value and any(member(value) for member in lists):
                return value
        return None

    def edited(self) -> bytes | None:
        """The message as the edits so far left it, for an action that stores or sends it (§7)."""
        return self.message.to_bytes() if self.message.edited else None

    def root_part(self) -> Part:
        if self.body_root is None:
            self.body_root = parse_root(self.message.data)
        return self.body_root

    def mailto(self, text: Text) -> MailtoUri | None:
        try:
            return parse_mailto(self.expand(text))
        except MailtoError:
            return None

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


MODIFIER_FUNCTIONS: dict[s.Modifier, Callable[[str], str]] = {
    "lower": _ascii_lower,
    "upper": _ascii_upper,
    "lowerfirst": _lower_first,
    "upperfirst": _upper_first,
    "quotewildcard": _quote_wildcards,
    "quoteregex": quote_regex,
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


_ESCAPING = frozenset({"quotewildcard", "quoteregex", "encodeurl"})


def _cut_escaped(value: str, octets: int, modifier: str) -> str:
    """``value`` cut as ``_cut`` does, then without an escape the cut left half: "%4" of
    :encodeurl's "%40", a lone "\\" of the quoting modifiers."""
    cut = _cut(value, octets)
    if len(cut) == len(value):
        return cut
    if modifier == "encodeurl":
        percent = cut.rfind("%", max(len(cut) - 2, 0))
        cut = cut[:percent] if percent >= 0 else cut
        # Nor half a character: the escapes of a UTF-8 sequence go together.
        escapes = 0
        while len(cut) >= 3 * (escapes + 1) and cut[len(cut) - 3 * (escapes + 1)] == "%":
            escapes += 1
        for back in range(1, min(escapes, 4) + 1):
            byte = int(cut[len(cut) - 3 * back + 1 : len(cut) - 3 * back + 3], 16)
            if byte & 0xC0 != 0x80:  # the lead byte of the last sequence
                needed = 1 if byte < 0x80 else 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
                return cut if back >= needed else cut[: len(cut) - 3 * back]
        return cut
    trailing = len(cut) - len(cut.rstrip("\\"))
    return cut[:-1] if trailing % 2 else cut


def pick_fields(values: list[T], index: s.FieldIndex | None) -> list[T]:
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
