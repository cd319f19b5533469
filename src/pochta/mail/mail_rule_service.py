"""Reading and changing an account's Gmail-style settings (``pochta.mail.mail_rules`` says what a
rule is and what Sieve it becomes): what the CLI uses now and JMAP's VacationResponse and the web
settings will. Each change writes the rules and the managed script in one store transaction; the
script is compiled there with the server's own compiler and the ``[sieve]`` limits, so rules whose
script would not compile, break the script quota, or redirect more than ``sieve.max_redirects``
times are refused and nothing changes.

When the account's active script is one of the user's own that does not include the managed one,
the rules are saved but do not run: ``include_warning`` says so, naming the line to add.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pochta.config_sieve import SieveSettings
from pochta.mail.mail_rules import (
    INCLUDE_LINE,
    MANAGED_SCRIPT,
    AccountRules,
    Filter,
    Forward,
    RuleInvalid,
    Vacation,
    dump,
    load_rules,
    parse,
    redirect_count,
    render,
)
from pochta.mail.sieve_scripts import ScriptRefused, compile_source
from pochta.naming import normalize_address
from pochta.sieve import SieveSyntaxError, compile_script
from pochta.sieve.script import If, Include, Node
from pochta.store.api import NotFound, SieveQuotaExceeded, Store
from pochta.store.model import Account
from pochta.store.sieve_model import ManagedScript, RuleEdit, StoredRule

__all__ = ["MailRuleService", "Saved", "includes_managed"]


@dataclass(frozen=True)
class Saved:
    rules: AccountRules
    warning: str | None  # the rules do not run: why, and what to do


def includes_managed(source: str, settings: SieveSettings) -> bool:
    """Whether the script includes the managed one (anywhere: a conditional include counts)."""
    try:
        script = compile_script(source, settings.parse_limits())
    except SieveSyntaxError:
        return False
    stack: list[Node] = list(script.commands)
    while stack:
        node = stack.pop()
        if isinstance(node, Include):
            if node.personal and node.name == MANAGED_SCRIPT:
                return True
        elif isinstance(node, If):
            for _, block in node.branches:
                stack.extend(block)
        else:
            inner: tuple[Node, ...] | None = getattr(node, "block", None)
            if inner:
                stack.extend(inner)
    return False


@dataclass
class MailRuleService:
    store: Store
    settings: SieveSettings

    async def rules(self, account: Account) -> AccountRules:
        return load_rules(await self.store.mail_rules(account.id))

    async def include_warning(self, account: Account) -> str | None:
        active = await self.store.active_sieve_script(account.id)
        if active is None or active.info.name == MANAGED_SCRIPT:
            return None
        if includes_managed(active.source, self.settings):
            return None
        return (
            f"{account.address}'s active script {active.info.name!r} is the user's own and does not run "
            f"these settings: add the line {INCLUDE_LINE} to it (after its require)"
        )

    async def add_filter(self, account: Account, data: dict[str, object]) -> tuple[int, Saved]:
        rule = parse(Filter, data)
        assert isinstance(rule, Filter)
        if rule.to_folder is not None and await self.store.get_mailbox(account.id, rule.to_folder) is None:
            # Gmail's labels exist before a filter names them: a typo is refused here, not at delivery.
            raise RuleInvalid(f"{account.address} has no folder {rule.to_folder!r} (create it first)")
        if rule.forward is not None:
            self._forward_target(account, rule.forward)
        saved = await self._edit(account, RuleEdit(add=("filter", dump(rule))))
        return saved.rules.filters[-1][0], saved

    async def delete_filter(self, account: Account, rule_id: int) -> Saved:
        current = await self.rules(account)
        if rule_id not in {found for found, _ in current.filters}:
            raise RuleInvalid(f"{account.address} has no filter {rule_id}")
        return await self._edit(account, RuleEdit(remove_ids=(rule_id,)))

    async def set_vacation(self, account: Account, data: dict[str, object] | None) -> Saved:
        if data is None:
            return await self._edit(account, RuleEdit(remove_kind="vacation"))
        rule = parse(Vacation, data)
        assert isinstance(rule, Vacation)
        return await self._edit(account, RuleEdit(remove_kind="vacation", add=("vacation", dump(rule))))

    async def set_forward(self, account: Account, data: dict[str, object] | None) -> Saved:
        if data is None:
            return await self._edit(account, RuleEdit(remove_kind="forward"))
        rule = parse(Forward, data)
        assert isinstance(rule, Forward)
        self._forward_target(account, rule.address)
        return await self._edit(account, RuleEdit(remove_kind="forward", add=("forward", dump(rule))))

    def _forward_target(self, account: Account, address: str) -> None:
        try:
            target = normalize_address(address)
        except ValueError:
            raise RuleInvalid(f"{address!r} is not an email address") from None
        if "@" not in target:
            raise RuleInvalid(f"{address!r} is not an email address")
        if target.lower() == account.address.lower():
            raise RuleInvalid("forwarding to the account's own address would loop")

    def _source(self, rows: Sequence[StoredRule]) -> str:
        """Runs inside the store's write: a refusal here rolls the edit back."""
        rules = load_rules(rows)
        redirects = redirect_count(rules)
        if redirects > self.settings.max_redirects:
            # RFC 5228 §10: the redirect limit; counted as if every filter matched.
            raise RuleInvalid(
                f"these settings could redirect a message {redirects} times; "
                f"at most {self.settings.max_redirects} (sieve.max_redirects)"
            )
        source = render(rules)
        compile_source(source, self.settings)  # ScriptRefused: a generator bug, never a silent bad script
        return source

    async def _edit(self, account: Account, edit: RuleEdit) -> Saved:
        managed = ManagedScript(MANAGED_SCRIPT, self._source, self.settings.quota())
        try:
            rows = await self.store.edit_mail_rules(account.id, edit, managed)
        except SieveQuotaExceeded as exc:
            raise ScriptRefused(exc.reason, exc.code) from None
        except NotFound as exc:
            raise RuleInvalid(str(exc)) from None
        return Saved(load_rules(rows), await self.include_warning(account) if rows else None)
