"""Running a checked script over one message and its envelope (RFC 5228 §2.10, §3-§5).

Pure: the result is a list of actions for delivery to carry out. A runtime error (too many
actions or redirects, reject together with an action that delivers, RFC 5429 §2.4, a redirect
address built from variables that is not an address) never loses the message: the result is then
the implicit keep alone, with the error for the user's log (RFC 5228 §2.10.6).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from pochta.sieve import script as s
from pochta.sieve.actions import (
    FileIntoAction,
    KeepAction,
    RedirectAction,
    RejectAction,
)
from pochta.sieve.arguments import special_use_ok, valid_utf8
from pochta.sieve.body import mime_parts
from pochta.sieve.flags import flag_words
from pochta.sieve.imapsieve import inapplicable
from pochta.sieve.message import DeliveryContext, Envelope, SieveMessage
from pochta.sieve.parser import parse
from pochta.sieve.regex import RegexError
from pochta.sieve.run_edit import MimeEdits
from pochta.sieve.run_message import MessageTests
from pochta.sieve.run_senders import Senders
from pochta.sieve.run_state import (
    BreakLoop,
    Outcome,
    ReturnFromScript,
    RunLimits,
    SieveRuntimeError,
    StopScript,
    pick_fields,
)
from pochta.sieve.syntax import SieveSyntaxError
from pochta.sieve.text import Text
from pochta.sieve.validate import header_name_ok, redirect_target, validate

__all__ = ["Outcome", "RunLimits", "RunPlugin", "RunState", "SieveRuntimeError", "StopScript", "run"]


class RunPlugin(Protocol):
    """Runs the commands and tests a ``validate`` plugin added."""

    def execute(self, state: RunState, node: s.Custom) -> None: ...
    def evaluate(self, state: RunState, test: s.CustomTest) -> bool: ...


class RunState(MessageTests, Senders, MimeEdits):
    """One run of a script: the commands and tests on the state and the rules of ``StateBase``."""

    def __init__(
        self,
        message: SieveMessage,
        envelope: Envelope,
        context: DeliveryContext,
        limits: RunLimits,
        variables: bool,
        plugin: RunPlugin | None = None,
    ) -> None:
        super().__init__(message, envelope, context, limits, variables)
        self.plugin = plugin

    def run(self, commands: Iterable[s.Node]) -> Outcome:
        """Run ``commands`` to the end (or a stop) and give the outcome."""
        try:
            self.execute(commands)
        except (StopScript, ReturnFromScript):
            pass
        except SieveRuntimeError as error:
            return Outcome((KeepAction(implicit=True),), str(error), tuple(self.notes))
        return Outcome(
            tuple(self.result()),
            notes=tuple(self.notes),
            duplicates=tuple(self.duplicate_records.values()),
            message=self.edited(),
        )

    def execute(self, nodes: Iterable[s.Node]) -> None:
        for node in nodes:
            self.check_cpu(node.position)
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
                if not valid_utf8(mailbox):
                    raise SieveRuntimeError(node.position, "fileinto a mailbox name that is not UTF-8")
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
                self.add(RedirectAction(address, self.unenclosed or self.edited()), node.position)
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
            elif isinstance(node, s.ForEveryPart):
                self.for_every_part(node)
            elif isinstance(node, s.Break):
                raise BreakLoop(node.name)
            elif isinstance(node, s.ExtractText):
                self.extract_text(node)
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
            elif isinstance(node, s.Replace):
                self.replace(node)
            elif isinstance(node, s.Enclose):
                self.enclose(node)
            elif isinstance(node, s.Custom):
                if self.plugin is None:
                    raise SieveRuntimeError(node.position, f"'{node.name}' cannot run here")
                self.plugin.execute(self, node)
            elif isinstance(node, s.Error):
                raise SieveRuntimeError(node.position, f"the script ended with: {self.expand(node.message)}")

    def test(self, test: s.TestNode) -> bool:
        self.check_cpu(test.position)
        try:
            return self.evaluate(test)
        except RegexError as error:  # a pattern built from variables that does not compile
            raise SieveRuntimeError(test.position, f"regular expression: {error}") from None

    def evaluate(self, test: s.TestNode) -> bool:
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
            # RFC 5703 §4.3: with :anychild, each may be in any of the parts (as Pigeonhole reads it).
            views = [view for view, _ in self.scoped(test.mime)]
            return all(header_name_ok(name) and any(view.has(name) for view in views) for name in names)
        if isinstance(test, s.SizeTest):
            return self.message.size > test.limit if test.over else self.message.size < test.limit  # §5.9
        if isinstance(test, s.HeaderTest):
            names = self.header_names(test.names)
            values = [
                value
                for view, part in self.scoped(test.mime)
                for name in names
                for value in self.mime_values(view, part, name, test.mime)
            ]
            values = pick_fields(values, test.index)
            return self.any_match(test.matching, values, test.keys, count=len(values))
        if isinstance(test, s.DateTest):
            return self.date_test(test)
        if isinstance(test, s.BodyTest):
            values = self.body_values(test)
            # RFC 5173 §6: wildcards of the body test set no match variables.
            return self.any_match(test.matching, values, test.keys, count=len(values), sets_variables=False)
        if isinstance(test, s.AddressTest):
            names = self.header_names(test.names)
            fields = [
                addresses
                for view, _ in self.scoped(test.mime)
                for name in names
                for addresses in view.address_fields(name)
            ]
            found = [address for addresses in pick_fields(fields, test.index) for address in addresses]
            # RFC 5231 §4.2: the count is of mailboxes (group members, not groups).
            count = sum(1 for address in found if address.localpart is not None)
            return self.any_match(test.matching, self.address_parts(found, test.part), test.keys, count=count)
        if isinstance(test, s.EnvelopeTest):
            if self.context.imap_event:
                raise SieveRuntimeError(test.position, "no envelope on an IMAP event (RFC 6785 §4.6)")
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
        if isinstance(test, s.ValidExtList):
            # RFC 6134 section 2: false when any name is no list the server has.
            return all(self.context.external_list(self.expand(name)) is not None for name in test.names)
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

    def for_every_part(self, node: s.ForEveryPart) -> None:
        # §3.1: at the top the message and every part below it; nested, the parts below the
        # current one; depth first, in order. Parts are taken by their place in the structure
        # as it is now: a replace in the block (RFC 5703 section 5) changes it at once, and the
        # loop neither goes into the parts it removed nor into those it put in their place.
        if len(self.part_stack) >= self.limits.max_loop_depth:
            raise SieveRuntimeError(
                node.position, f"foreverypart nested more than {self.limits.max_loop_depth} deep"
            )
        below = self.part_indexes[-1] if self.part_indexes else None
        index = 0 if below is None else below + 1
        while True:
            parts = mime_parts(self.root_part())
            end = len(parts) if below is None else below + len(mime_parts(parts[below]))
            if index >= end:
                return
            self.check_cpu(node.position)  # an empty block over many parts is a loop too
            self.part_stack.append(parts[index])
            self.part_indexes.append(index)
            self.replaced_part = None
            try:
                self.execute(node.block)
            except BreakLoop as loop:
                if loop.name is None or loop.name == node.name:
                    return  # §3.2: this loop ends
                raise
            finally:
                self.part_stack.pop()
                self.part_indexes.pop()
            if self.replaced_part == index:  # past the new entity and what it holds
                index += len(mime_parts(mime_parts(self.root_part())[index]))
            else:
                index += 1

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
        refused = inapplicable(script.extensions) if self.context.imap_event else None
        if refused is not None:
            raise SieveRuntimeError(
                node.position,
                f"{where} script '{key[1]}' requires {refused!r}: not on IMAP events (RFC 6785 §3.11)",
            )
        self.scripts[key] = script
        return script


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
    context = context or DeliveryContext()
    refused = inapplicable(script.extensions) if context.imap_event else None
    if refused is not None:
        # RFC 6785 §3.11: requiring it is an error that terminates the script on an IMAP event.
        error = f"line 1, column 1: requires {refused!r}: not on IMAP events (RFC 6785 §3.11)"
        return Outcome((KeepAction(implicit=True),), error)
    state = RunState(message, envelope, context, limits or RunLimits(), variables, plugin)
    return state.run(script.commands)
