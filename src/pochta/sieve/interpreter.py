"""Running a checked script over one message and its envelope (RFC 5228 §2.10, §3-§5).

Pure: the result is a list of actions for delivery to carry out. A runtime error (too many
actions or redirects, reject together with an action that delivers, RFC 5429 §2.4) never loses
the message: the result is then the implicit keep alone, with the error for the user's log
(RFC 5228 §2.10.6).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pochta.sieve import script as s
from pochta.sieve.actions import Action, FileIntoAction, KeepAction, RedirectAction, RejectAction
from pochta.sieve.comparators import match
from pochta.sieve.message import AddressValue, Envelope, SieveMessage
from pochta.sieve.syntax import Position

__all__ = ["Outcome", "RunLimits", "run"]

INBOX = "INBOX"


@dataclass(frozen=True)
class RunLimits:
    """Per-run bounds (RFC 5228 §10: administrators MUST be able to limit redirects)."""

    max_actions: int = 32
    max_redirects: int = 4


@dataclass(frozen=True)
class Outcome:
    """The actions to carry out, in script order; ``error`` says why a failed run fell back to
    the implicit keep (its position and cause), None when the script ran."""

    actions: tuple[Action, ...]
    error: str | None = None


class _RuntimeError(Exception):
    def __init__(self, position: Position, message: str) -> None:
        super().__init__(f"{position}: {message}")


class _Stop(Exception):
    pass


class _Run:
    def __init__(self, message: SieveMessage, envelope: Envelope, limits: RunLimits) -> None:
        self.message = message
        self.envelope = envelope
        self.limits = limits
        self.actions: list[Action] = []
        self.implicit_keep = True
        self.redirects = 0

    # -- actions (RFC 5228 §2.10, §4) ---------------------------------------------------------

    def add(self, action: Action, position: Position) -> None:
        if isinstance(action, FileIntoAction) and action.mailbox.upper() == INBOX:
            action = KeepAction()  # §2.10.3: fileinto "INBOX" and keep store one copy
        if action in self.actions:
            return  # §2.10.3: the same action twice is done once
        rejects = [done for done in self.actions if isinstance(done, RejectAction)]
        if isinstance(action, RejectAction):
            if rejects:
                raise _RuntimeError(position, "more than one reject (RFC 5429 §2.4)")
            if self.actions:
                raise _RuntimeError(position, "reject together with an action that delivers (RFC 5429 §2.4)")
        elif rejects:
            raise _RuntimeError(position, "an action that delivers together with reject (RFC 5429 §2.4)")
        if isinstance(action, RedirectAction):
            self.redirects += 1
            if self.redirects > self.limits.max_redirects:
                raise _RuntimeError(position, f"more than {self.limits.max_redirects} redirects")
        if len(self.actions) >= self.limits.max_actions:
            raise _RuntimeError(position, f"more than {self.limits.max_actions} actions")
        self.actions.append(action)

    def execute(self, nodes: Iterable[s.Node]) -> None:
        for node in nodes:
            if isinstance(node, s.If):
                for condition, block in node.branches:
                    if condition is None or self.test(condition):
                        self.execute(block)
                        break
            elif isinstance(node, s.Stop):
                raise _Stop  # §3.3
            elif isinstance(node, s.Keep):
                self.add(KeepAction(), node.position)  # §4.3
                self.implicit_keep = False
            elif isinstance(node, s.Discard):
                self.implicit_keep = False  # §4.4: only cancels the implicit keep
            elif isinstance(node, s.FileInto):
                self.add(FileIntoAction(node.mailbox), node.position)
                self.implicit_keep = self.implicit_keep and node.copy  # RFC 3894 §3: :copy keeps it
            elif isinstance(node, s.Redirect):
                self.add(RedirectAction(node.address), node.position)
                self.implicit_keep = self.implicit_keep and node.copy
            elif isinstance(node, s.Reject):
                self.add(RejectAction(node.reason, node.extended), node.position)
                self.implicit_keep = False  # RFC 5429 §2.4

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
            return all(self.message.has(name) for name in test.names)  # §5.5
        if isinstance(test, s.SizeTest):
            return self.message.size > test.limit if test.over else self.message.size < test.limit  # §5.9
        if isinstance(test, s.HeaderTest):
            values = [value for name in test.names for value in self.message.header_texts(name)]
            return self.any_match(test.matching, values, test.keys)
        if isinstance(test, s.AddressTest):
            found = [address for name in test.names for address in self.message.addresses(name)]
            return self.any_match(test.matching, _address_parts(found, test.part), test.keys)
        return self.any_match(test.matching, self.envelope_values(test), test.keys)

    def envelope_values(self, test: s.EnvelopeTest) -> list[str]:
        values: list[str] = []
        for part in test.names:
            if part == "from" and not self.envelope.sender:
                values.append("")  # §5.4: the null reverse-path matches "" whatever the part
                continue
            address = self.envelope.sender if part == "from" else self.envelope.recipient
            local, at, domain = address.rpartition("@")
            parsed = AddressValue(address, local, domain) if at else AddressValue(address, None, None)
            values.extend(_address_parts([parsed], test.part))
        return values

    @staticmethod
    def any_match(matching: s.Matching, values: list[str], keys: tuple[str, ...]) -> bool:
        # §5.7 (and §2.7): true when any value matches any key.
        return any(
            match(matching.comparator, matching.match_type, value, key) is not None
            for value in values
            for key in keys
        )


def _address_parts(addresses: list[AddressValue], part: s.AddressPart) -> list[str]:
    if part == "all":
        return [address.all for address in addresses]
    # §2.7.4: an address that is not valid does not match :localpart or :domain.
    picked = (address.localpart if part == "localpart" else address.domain for address in addresses)
    return [value for value in picked if value is not None]


def run(
    script: s.Script, message: SieveMessage, envelope: Envelope, limits: RunLimits | None = None
) -> Outcome:
    """Run ``script``: the actions for delivery, the implicit keep last when nothing cancelled it."""
    state = _Run(message, envelope, limits or RunLimits())
    try:
        state.execute(script.commands)
    except _Stop:
        pass
    except _RuntimeError as error:
        return Outcome((KeepAction(implicit=True),), str(error))
    if state.implicit_keep and KeepAction() not in state.actions:
        state.actions.append(KeepAction(implicit=True))  # §2.10.2
    return Outcome(tuple(state.actions))
