"""A harness that runs Dovecot Pigeonhole's Sieve test suite (``*.svtest``, written with the
``vnd.dovecot.testsuite`` extension) against ``pochta.sieve``: a test-only plugin, never part of
the server. Its commands and tests are defined by how the suite uses them:

- ``test "name" { ... }`` runs a block as one test, which fails at ``test_fail "reason"``;
- ``test_set "message"|"envelope.from"|"envelope.to" value`` sets what the
  script sees; ``test_config_set``/``unset``/``reload`` change the limits the suite names;
- ``test_result_execute`` carries out the result into an in-memory mail store and an outbox,
  ``test_message :folder NAME N`` / ``:smtp N`` makes a stored or sent message current,
  ``test_result_action`` matches the names of the result's actions, ``test_result_reset``;
- ``test_script_compile PATH`` / ``test_script_run`` compile and run another script, and
  ``test_error`` matches the errors they gave.

What the suite needs of Dovecot itself (binary scripts, IMAP METADATA, several scripts in
sequence) fails the test that asks for it with a reason, so that it counts as not passing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from pochta.config_sieve import SieveSettings
from pochta.delivery.sieve_messages import notify_message, rejection_report
from pochta.sieve import script as s
from pochta.sieve.actions import (
    Action,
    FileIntoAction,
    KeepAction,
    NotifyAction,
    RedirectAction,
    RejectAction,
    VacationAction,
)
from pochta.sieve.arguments import COMPARATOR, MATCH_TYPE, TagSpec
from pochta.sieve.interpreter import RunLimits, RunState, SieveRuntimeError, StopScript
from pochta.sieve.message import DeliveryContext, Envelope, SieveMessage, full_list_name
from pochta.sieve.parser import parse
from pochta.sieve.redirect import envelope_from_ok, loops, redirect_sender, stamp
from pochta.sieve.run_state import ReturnFromScript
from pochta.sieve.syntax import Command, Number, SieveSyntaxError, StringList, Test
from pochta.sieve.text import Text
from pochta.sieve.validate import Checker, validate

__all__ = ["Outcome", "run_file"]

CAPABILITY = "vnd.dovecot.testsuite"
DEFAULT_MESSAGE = b"From: sender@example.com\r\nTo: recipient@example.org\r\nSubject: Frop!\r\n\r\nFriep!\r\n"
DEFAULT_ENVELOPE = Envelope("sender@example.com", "recipient@example.org")
_INDEX = {"index": TagSpec("index", "number")}
_MESSAGE_SOURCE = {"folder": TagSpec("source", "string"), "smtp": TagSpec("source")}
_NOW = datetime(2026, 1, 1, tzinfo=UTC)  # the clock of the messages the harness composes
_NOT_HERE = frozenset({"test_binary_save", "test_binary_load", "test_imap_metadata_set", "test_multiscript"})


@dataclass(frozen=True)
class Outcome:
    """One test of a file: its name, whether it passed, and why not."""

    name: str
    passed: bool
    reason: str = ""


class _TestFailed(Exception):
    pass


@dataclass
class _Stored:
    data: bytes
    flags: tuple[str, ...] = ()


@dataclass
class _World:
    """What the harness keeps between the commands of one file."""

    directory: Path
    folders: dict[str, list[_Stored]] = field(default_factory=dict)
    outbox: list[tuple[Envelope, bytes]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    compiled: s.Script | None = None
    outcomes: list[Outcome] = field(default_factory=list)
    limits: RunLimits = field(default_factory=RunLimits)
    duplicates: set[str] = field(default_factory=set)  # RFC 7352's tracking list
    extlists: dict[str, str] = field(default_factory=dict)  # the sieve_extlists_list* settings
    scanners: dict[str, Any] = field(default_factory=dict)  # [sieve] spamtest_*/virustest_*
    redirect_from: str = "sender"  # [sieve] redirect_envelope_from
    editheader: dict[str, set[str]] = field(default_factory=dict)  # configured fields, by setting
    user_email: str = ""  # the account's address (delivery's account.address); "": the recipient


class Testsuite:
    """The ``validate`` plugin and the ``run`` plugin of the harness."""

    capabilities = frozenset({CAPABILITY})

    def __init__(self, directory: Path) -> None:
        self.world = _World(directory)

    # -- checking ---------------------------------------------------------------------------

    def command(self, checker: Checker, command: Command) -> s.Node | None:
        name, at = command.name, command.position
        if not name.startswith("test") or CAPABILITY not in checker.extensions:
            return None
        if name == "test":
            scanned = checker.scan(command, {}, ("string",), names=("name",))
            if command.block is None:
                raise SieveSyntaxError(at, "'test' needs a block")
            return s.Custom(name, checker.text(scanned.positional[0]), checker.block(command.block), at)
        if name in ("test_fail", "test_mailbox_create", "test_config_unset"):
            scanned = checker.scan(command, {}, ("string",), names=("argument",))
            payload: object = checker.text(scanned.positional[0])
        elif name in ("test_set", "test_config_set"):
            scanned = checker.scan(command, {}, ("string", "string"), names=("name", "value"))
            payload = (checker.text(scanned.positional[0]), checker.text(scanned.positional[1]))
        elif name in ("test_result_reset", "test_result_print"):
            checker.scan(command, {}, ())
            payload = None
        elif name == "test_config_reload":
            checker.scan(command, {"extension": TagSpec("extension", "string")}, ())
            payload = None
        elif name == "test_message":
            payload = self._message_arguments(checker, command)
        elif name in _NOT_HERE:
            payload = None  # accepted; fails the test that runs it (see ``execute``)
        else:
            return None
        checker.no_test_or_block(command) if name != "test" else None
        return s.Custom(name, payload, None, at)

    def test(self, checker: Checker, test: Test) -> s.TestNode | None:
        name, at = test.name, test.position
        if not name.startswith("test_") or CAPABILITY not in checker.extensions:
            return None
        if name in ("test_result_execute",):
            checker.scan(test, {}, ())
            return s.CustomTest(name, None, at)
        if name == "test_script_run":
            scanned = checker.scan(test, {"append_result": TagSpec("append")}, ())
            return s.CustomTest(name, "append" in scanned.tags, at)
        if name == "test_script_compile":
            scanned = checker.scan(test, {}, ("string",), names=("path",))
            return s.CustomTest(name, checker.text(scanned.positional[0]), at)
        if name in ("test_error", "test_result_action"):
            scanned = checker.scan(test, COMPARATOR | MATCH_TYPE | _INDEX, ("string-list",), names=("keys",))
            index = scanned.tags.get("index", ("", None))[1]
            number = index.value if isinstance(index, Number) else None
            return s.CustomTest(
                name, (checker.matching(scanned, at), number, checker.texts(scanned.positional[0])), at
            )
        if name == "test_message":
            return s.CustomTest(name, self._message_arguments(checker, test), at)
        if name in _NOT_HERE:
            return s.CustomTest(name, None, at)
        return None

    def _message_arguments(self, checker: Checker, node: Command | Test) -> tuple[str, Text | None, int]:
        scanned = checker.scan(node, _MESSAGE_SOURCE, ("number",), names=("index",))
        source, folder = scanned.tags.get("source", ("smtp", None))
        number = scanned.positional[0]
        assert isinstance(number, Number)
        return source, None if not isinstance(folder, StringList) else checker.text(folder), number.value

    # -- running ----------------------------------------------------------------------------

    def execute(self, state: RunState, node: s.Custom) -> None:
        world = self.world
        if node.name == "test":
            assert isinstance(node.payload, Text)
            assert node.block is not None
            self._run_test(state, state.expand(node.payload), node.block)
        elif node.name == "test_fail":
            assert isinstance(node.payload, Text)
            raise _TestFailed(state.expand(node.payload))
        elif node.name == "test_set":
            assert isinstance(node.payload, tuple)
            what, value = (state.expand(text) for text in node.payload)
            self._set(state, what.lower(), value)
        elif node.name == "test_result_reset":
            state.reset_result()
        elif node.name == "test_config_set":
            assert isinstance(node.payload, tuple)
            key, value = (state.expand(text) for text in node.payload)
            if key == "sieve_user_email":  # the account's address, which delivery gives first
                world.user_email = value
                state.context = replace(state.context, user_addresses=(value, *state.context.user_addresses))
            elif key == "sieve_redirect_envelope_from":
                # Pigeonhole's orig_recipient (the ORCPT) has no counterpart: left at the default.
                world.redirect_from = value.strip() if envelope_from_ok(value) else "sender"
            world.limits = _configure(world, key, value)
            state.limits = _outer(world.limits)
            if key.startswith("sieve_extlists_list"):
                world.extlists[key] = value
                state.context = replace(state.context, lists=_extlists(world.extlists))
        elif node.name == "test_config_unset":
            assert isinstance(node.payload, Text)
            world.limits = _configure(world, state.expand(node.payload), None)
            state.limits = _outer(world.limits)
        elif node.name == "test_mailbox_create":
            assert isinstance(node.payload, Text)
            world.folders.setdefault(state.expand(node.payload), [])
            state.context = replace(state.context, mailboxes=frozenset(world.folders))
        elif node.name == "test_message":
            if not self._message(state, node.payload):
                raise _TestFailed("no such message")
        elif node.name in _NOT_HERE:
            raise _TestFailed(f"{node.name} needs Dovecot itself (not applicable)")
        # test_result_print, test_config_reload: nothing to do here

    def evaluate(self, state: RunState, test: s.CustomTest) -> bool:
        world = self.world
        if test.name == "test_result_execute":
            return self._execute_result(state)
        if test.name == "test_script_compile":
            assert isinstance(test.payload, Text)
            path = world.directory / state.expand(test.payload)
            world.errors = []
            world.compiled = None
            try:
                tree = parse(path.read_text(encoding="utf-8"))
            except SieveSyntaxError as error:
                # Pigeonhole's reporter ends a failed compile with one error more that says which
                # stage failed; the suite's counts include it.
                world.errors.extend([*(item.message for item in error.errors), "parse failed"])
                return False
            except (OSError, UnicodeDecodeError) as error:
                world.errors.append(str(error))
                return False
            try:
                world.compiled = validate(tree)
            except SieveSyntaxError as error:
                world.errors.extend([*(item.message for item in error.errors), "validation failed"])
                return False
            return True
        if test.name == "test_script_run":
            if world.compiled is None:
                return False
            inner = RunState(
                state.message,
                state.envelope,
                state.context,
                world.limits,
                "variables" in world.compiled.extensions,
            )
            outcome = inner.run(world.compiled.commands)
            if not test.payload:  # :append_result adds to the result so far
                state.reset_result()
            before = [action for action in state.actions if not _implicit_keep(action)]
            kept = [action for action in state.actions if _implicit_keep(action)]
            added = [action for action in outcome.actions if not _implicit_keep(action)]
            keep = [action for action in outcome.actions if _implicit_keep(action)]
            # As at delivery: the implicit keep stays only when no script cancelled it.
            state.actions[:] = [*before, *added, *(keep if keep and (kept or not test.payload) else [])]
            state.implicit_keep = False
            if outcome.error is not None:
                world.errors.append(outcome.error)
                return False
            return True
        if test.name in ("test_error", "test_result_action"):
            assert isinstance(test.payload, tuple)
            matching, number, keys = test.payload
            # Pigeonhole's result holds what the script did; the implicit keep comes at execution.
            actions = [action for action in state.result() if not _implicit_keep(action)]
            values = world.errors if test.name == "test_error" else [_action_name(a) for a in actions]
            if number is not None:
                values = values[number - 1 : number] if 1 <= number <= len(values) else []
            return state.any_match(matching, list(values), keys, count=len(values), sets_variables=False)
        if test.name == "test_message":
            return self._message(state, test.payload)
        raise _TestFailed(f"{test.name} needs Dovecot itself (not applicable)")

    def _run_test(self, state: RunState, name: str, block: tuple[s.Node, ...]) -> None:
        state.reset_result()
        self.world.outbox.clear()  # "test_message :smtp 0" is the first message this test sent
        try:
            state.execute(block)
        except _TestFailed as failure:
            self.world.outcomes.append(Outcome(name, False, str(failure)))
            return
        except (StopScript, ReturnFromScript):
            pass
        except SieveRuntimeError as error:
            self.world.outcomes.append(Outcome(name, False, f"runtime error: {error}"))
            return
        self.world.outcomes.append(Outcome(name, True))

    def _set(self, state: RunState, what: str, value: str) -> None:
        if what == "message":
            data = value.encode("utf-8", "surrogateescape")
            state.message = SieveMessage.from_bytes(data)
            state.body_root = None
            state.envelope = _envelope_of(state.message)
        elif what == "envelope.from":
            state.envelope = replace(state.envelope, sender=value.strip("<>"))
        elif what == "envelope.to":
            state.envelope = replace(state.envelope, recipient=value.strip("<>"))
        # envelope.orig_to (the ORCPT before aliases), envelope.auth and other items: not part of
        # what pochta's Sieve is given

    def _message(self, state: RunState, payload: object) -> bool:
        assert isinstance(payload, tuple)
        source, folder, number = payload
        if source == "folder":
            stored = self.world.folders.get(state.expand(folder) if isinstance(folder, Text) else "", [])
            if not 0 <= number < len(stored):
                return False
            state.message = SieveMessage.from_bytes(stored[number].data)
            state.internal_flags = list(stored[number].flags)
        else:
            outbox = self.world.outbox
            if not 0 <= number < len(outbox):
                return False
            state.envelope, data = outbox[number]
            state.message = SieveMessage.from_bytes(data)
        state.body_root = None
        return True

    def _execute_result(self, state: RunState) -> bool:
        world, data = self.world, state.message.data
        for action in state.result():
            if isinstance(action, KeepAction):
                world.folders.setdefault("INBOX", []).append(_Stored(action.message or data, action.flags))
            elif isinstance(action, FileIntoAction):
                world.folders.setdefault(action.mailbox, []).append(
                    _Stored(action.message or data, action.flags)
                )
            elif isinstance(action, RedirectAction):
                # As delivery carries it out (delivery.sieve_carry): not again past a user who
                # redirected it before (kept instead), stamped, from the configured sender.
                user = world.user_email or state.envelope.recipient
                if loops(state.message, user, state.envelope.recipient):
                    world.folders.setdefault("INBOX", []).append(_Stored(data))
                    continue
                sender = redirect_sender(world.redirect_from, state.envelope, user)
                world.outbox.append((Envelope(sender, action.address), stamp(action.message or data, user)))
            elif isinstance(action, RejectAction) and state.envelope.sender:
                # As delivery refuses after the transaction: a DSN, none to the null path.
                report = rejection_report(
                    data,
                    sender=state.envelope.sender,
                    recipient=state.envelope.recipient,
                    reason=action.reason,
                    hostname="test.example.com",
                    arrival=_NOW,
                    now=_NOW,
                )
                world.outbox.append((Envelope("", state.envelope.sender), report))
            elif isinstance(action, VacationAction):
                world.outbox.append(
                    (Envelope(action.envelope_sender, action.recipient), _reply(state, action))
                )
            elif isinstance(action, NotifyAction):
                # As delivery composes it (delivery.sieve_messages), once per recipient.
                owner = world.user_email or state.envelope.recipient
                note = notify_message(action, owner, hostname="test.example.com", now=_NOW)
                for recipient in action.recipients:
                    world.outbox.append((Envelope(action.envelope_sender, recipient), note))
        state.context = replace(state.context, mailboxes=frozenset(world.folders))
        world.duplicates.update(state.duplicate_records)  # tracked once the result was carried out
        state.duplicate_records.clear()
        state.duplicates_seen.clear()
        return True


def _envelope_of(message: SieveMessage) -> Envelope:
    """The envelope a message set by ``test_set`` comes with, as Pigeonhole's suite gives it: the
    sender from Return-Path (else From), the recipient from Envelope-To (else To)."""

    def first(*names: str) -> str:
        for name in names:
            for address in message.addresses(name):
                if address.localpart is not None:
                    return address.all
        return ""

    return Envelope(first("return-path", "from"), first("envelope-to", "to"))


def _implicit_keep(action: Action) -> bool:
    return isinstance(action, KeepAction) and action.implicit


def _action_name(action: Action) -> str:
    if isinstance(action, KeepAction):
        return "keep"
    if isinstance(action, FileIntoAction):
        return "store"  # Pigeonhole's name for the action fileinto makes
    if isinstance(action, RedirectAction):
        return "redirect"
    if isinstance(action, RejectAction):
        return "ereject" if action.extended else "reject"
    if isinstance(action, NotifyAction):
        return "notify"
    return "vacation"


def _reply(state: RunState, action: VacationAction) -> bytes:
    lines = [
        f"From: {action.sender or state.envelope.recipient}",
        f"To: {action.to or action.recipient}",
        f"Subject: {action.subject}",
        "Auto-Submitted: auto-replied",
    ]
    if action.in_reply_to:
        lines += [f"In-Reply-To: {action.in_reply_to}", f"References: {' '.join(action.references)}"]
    return ("\r\n".join(lines) + "\r\n\r\n" + action.reason + "\r\n").encode("utf-8", "surrogateescape")


_LIMITS = {
    "sieve_max_redirects": "max_redirects",
    "sieve_max_actions": "max_actions",
    "sieve_variables_max_scope_size": "max_variables",
    "sieve_variables_max_variable_size": "max_variable_size",
    "sieve_variables_max_value_size": "max_variable_size",
    "sieve_max_cpu_time": "max_cpu_time",
    "sieve_vacation_min_period": "vacation_min_period",
    "sieve_vacation_max_period": "vacation_max_period",
    "sieve_vacation_default_period": "vacation_default_period",
    "sieve_vacation_default_subject": "vacation_default_subject",
    "sieve_vacation_default_subject_template": "vacation_subject_template",
    "sieve_vacation_check_recipient": "vacation_check_recipient",
    "sieve_vacation_send_from_recipient": "vacation_send_from_recipient",
    "sieve_vacation_to_header_ignore_envelope": "vacation_to_header_ignore_envelope",
}
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "k": 1024, "M": 1024 * 1024}


def _outer(limits: RunLimits) -> RunLimits:
    """The limits of the test file's own run: those configured, but no CPU time limit (the
    configured one bounds the scripts ``test_script_run`` runs, whose CPU time the file's
    includes)."""
    return replace(limits, max_cpu_time=None)


def _configure(world: _World, key: str, value: str | None) -> RunLimits:
    limits = world.limits
    if key.startswith(("sieve_spamtest_", "sieve_virustest_")):
        return _configure_scanner(world, key, value)
    if key == "sieve_editheader_header" or key.startswith("sieve_editheader_header/"):
        return _configure_editheader(world, key, value)
    name = _LIMITS.get(key)
    if name is None:
        return limits
    default: Any = getattr(RunLimits(), name)
    setting: Any = default
    if value is not None and isinstance(default, bool):
        setting = value.strip().lower() in ("yes", "true", "1")
    elif value is not None and isinstance(default, str):
        # Pigeonhole's templates write the subject as %{subject} (older ones %$); empty: default.
        setting = value.replace("%$", "%{subject}") or default
    elif value is not None:
        number = value.strip()
        factor = 1
        if number and number[-1] in _UNITS:
            factor, number = _UNITS[number[-1]], number[:-1]
        try:
            setting = int(number) * factor
        except ValueError:
            return limits
    changes: dict[str, Any] = {name: setting}
    return replace(limits, **changes)


def _configure_editheader(world: _World, key: str, value: str | None) -> RunLimits:
    """Pigeonhole's sieve_editheader_header (the fields configured) and .../NAME/forbid_add|
    forbid_delete as [sieve] editheader_forbid_add/delete (Subject, which Pigeonhole ignores
    there, left out)."""
    settings = world.editheader
    if key == "sieve_editheader_header":
        settings["*"] = set((value or "").lower().split())
    else:
        _, name, which = [*key.split("/", 2), "", ""][:3]
        settings.setdefault(which, set()).discard(name.lower())
        if value is not None and value.strip().lower() in ("yes", "true", "1"):
            settings[which].add(name.lower())
    listed = settings.get("*", set()) - {"subject"}
    changes: dict[str, Any] = {
        f"editheader_{which}": frozenset(listed & settings.get(which, set()))
        for which in ("forbid_add", "forbid_delete")
    }
    return replace(world.limits, **changes)


def _configure_scanner(world: _World, key: str, value: str | None) -> RunLimits:
    """Pigeonhole's sieve_spamtest_*/sieve_virustest_* settings as the [sieve] settings an
    administrator of pochta sets; the sources are built by the server's own configuration code,
    and a source it refuses leaves the test unconfigured (every message "not tested")."""
    kind, _, item = key.removeprefix("sieve_").partition("_")
    item, _, level = item.partition("/")
    setting = {
        "status_header": "header",
        "status_type": "type",
        "score_max_value": "max_score",
        "score_max_header": "max_header",
        "text_value": "text_values",
    }.get(item)
    if setting is None:
        return world.limits
    name = f"{kind}_{setting}"
    if setting == "text_values":
        values: dict[str, Any] = dict(world.scanners.get(name) or {})
        if value is None:
            values.pop(level, None)
        else:
            values[level] = value
        world.scanners[name] = values
    elif value is None:
        world.scanners.pop(name, None)
    else:
        world.scanners[name] = value
    settings = {key: item for key, item in world.scanners.items() if key.startswith(kind)}
    try:
        source = SieveSettings.model_validate(settings).score_source(
            "spamtest" if kind == "spamtest" else "virustest"
        )
    except ValueError:
        source = None
    changes: dict[str, Any] = {kind: source}
    return replace(world.limits, **changes)


def _extlists(config: dict[str, str]) -> dict[str, Callable[[str], bool]]:
    """RFC 6134 lists as the suite configures Pigeonhole's: the names in ``sieve_extlists_list``,
    each with the members of its file dictionary (lines "priv/sieve/extlists/MEMBER" then a value)."""
    lists: dict[str, Callable[[str], bool]] = {}
    for name in config.get("sieve_extlists_list", "").split():
        members: set[str] = set()
        path = config.get(f"sieve_extlists_list/{name}/dict/file/path")
        if path:
            try:
                lines = Path(path).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                lines = []
            members = {line.rpartition("/")[2].lower() for line in lines[::2] if line.startswith("priv/")}
        lists[full_list_name(name)] = _member_of(frozenset(members))
    return lists


def _member_of(members: frozenset[str]) -> Callable[[str], bool]:
    return lambda value: value.lower() in members


def run_file(path: Path) -> list[Outcome]:
    """Run one ``.svtest`` file: the outcome of each of its tests (a file that does not compile
    is one failed outcome named after the file)."""
    harness = Testsuite(path.parent)
    try:
        script = validate(parse(path.read_text(encoding="utf-8")), harness)
    except SieveSyntaxError as error:
        return [Outcome(path.name, False, f"does not compile: {error}")]
    context = replace(
        _context(),
        load_script=_script_loader(path.parent),
        duplicate_seen=harness.world.duplicates.__contains__,
    )
    message = SieveMessage.from_bytes(DEFAULT_MESSAGE)
    state = RunState(message, DEFAULT_ENVELOPE, context, harness.world.limits, True, harness)
    try:
        state.execute(script.commands)
    except _TestFailed as failure:
        harness.world.outcomes.append(Outcome(path.name, False, f"outside a test: {failure}"))
    except (StopScript, SieveRuntimeError) as error:
        harness.world.outcomes.append(Outcome(path.name, False, f"outside a test: {error}"))
    return harness.world.outcomes


def _script_loader(directory: Path) -> Callable[[str, str], str | None]:
    """Included scripts as the suite lays them out: "included/NAME.sieve" beside the test file for
    the personal ones, "included-global/NAME.sieve" for the site's."""

    def load(where: str, name: str) -> str | None:
        path = directory / ("included" if where == "personal" else "included-global") / f"{name}.sieve"
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    return load


def _context() -> DeliveryContext:
    # RFC 5183 §4.1's items as delivery will give them; the suite's location is "MS".
    environment = {
        "domain": "example.com",
        "host": "test.example.com",
        "location": "MS",
        "name": "pochta",
        "phase": "during",
        "version": version("pochta"),
    }
    return DeliveryContext(user_addresses=(DEFAULT_ENVELOPE.recipient,), environment=environment)


def run_suite(root: Path) -> dict[str, list[Outcome]]:
    """Every ``.svtest`` under ``root`` (without ``plugins/``, which test Dovecot's own plugins),
    by path relative to ``root``."""
    files = sorted(path for path in root.rglob("*.svtest") if "plugins" not in path.relative_to(root).parts)
    return {str(path.relative_to(root)): run_file(path) for path in files}


def passing(results: dict[str, list[Outcome]]) -> list[str]:
    """``file :: test`` of every test that passed, sorted (the form of the conformance list)."""
    return sorted(
        f"{name} :: {outcome.name}"
        for name, outcomes in results.items()
        for outcome in outcomes
        if outcome.passed
    )


if __name__ == "__main__":  # python -m pochta.testing.sieve_testsuite ROOT: the passing list
    import sys

    for line in passing(run_suite(Path(sys.argv[1]))):
        print(line)
