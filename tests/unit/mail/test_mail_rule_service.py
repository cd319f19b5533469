"""The mail rule service over a real store: the rules and the managed script change together (and
not at all on a refusal), which script is active, the warning for a user's own script, and the
managed script refused to ManageSieve's and the CLI's writes."""

from __future__ import annotations

import pytest

from pochta.config import SieveSettings
from pochta.mail.mail_rule_service import MailRuleService, includes_managed
from pochta.mail.mail_rules import MANAGED_SCRIPT, RuleInvalid
from pochta.mail.sieve_scripts import ScriptRefused, SieveScripts
from pochta.store.api import Store
from pochta.store.model import Account

SETTINGS = SieveSettings()


@pytest.fixture
def rules(store: Store) -> MailRuleService:
    return MailRuleService(store, SETTINGS)


async def _active(store: Store, account: Account) -> str | None:
    active = await store.active_sieve_script(account.id)
    return None if active is None else active.info.name


async def _managed(store: Store, account: Account) -> str | None:
    found = await store.sieve_script(account.id, MANAGED_SCRIPT)
    return None if found is None else found.source


async def test_first_rule_activates_the_managed_script_last_rule_removes_it(
    store: Store, account: Account, rules: MailRuleService
) -> None:
    first, saved = await rules.add_filter(account, {"subject": "a", "star": True})
    assert saved.warning is None
    assert await _active(store, account) == MANAGED_SCRIPT
    second, _ = await rules.add_filter(account, {"subject": "b", "mark_read": True})
    assert second > first
    assert [rule_id for rule_id, _ in (await rules.rules(account)).filters] == [first, second]
    await rules.delete_filter(account, first)
    source = await _managed(store, account)
    assert source is not None
    assert f"Filter {second}" in source
    assert f"Filter {first}:" not in source
    await rules.delete_filter(account, second)
    assert await _managed(store, account) is None
    assert await _active(store, account) is None


async def test_own_script_keeps_control_and_gets_a_warning_until_it_includes(
    store: Store, account: Account, rules: MailRuleService
) -> None:
    scripts = SieveScripts(store, SETTINGS)
    await scripts.put(account.id, "mine", "keep;\n")
    await scripts.activate(account.id, "mine")
    saved = await rules.set_vacation(account, {"message": "Away."})
    assert saved.warning is not None
    assert "'mine'" in saved.warning
    assert 'include :personal "pochta-settings";' in saved.warning
    assert await _active(store, account) == "mine"
    await scripts.put(account.id, "mine", 'require "include";\ninclude :personal "pochta-settings";\n')
    assert await rules.include_warning(account) is None
    # Without rules the managed script stays (empty of rules): the include still finds it.
    await rules.set_vacation(account, None)
    source = await _managed(store, account)
    assert source is not None
    assert "# No rules." in source


def test_includes_managed_looks_inside_blocks() -> None:
    nested = 'require ["include"];\nif true { if false {} else { include :personal "pochta-settings"; } }\n'
    assert includes_managed(nested, SETTINGS)
    assert not includes_managed('require ["include"];\ninclude :global "pochta-settings";\n', SETTINGS)
    assert not includes_managed("not sieve {", SETTINGS)


async def test_refusals_change_nothing(store: Store, account: Account, rules: MailRuleService) -> None:
    with pytest.raises(RuleInvalid, match="has no folder 'Nope'"):
        await rules.add_filter(account, {"subject": "x", "to_folder": "Nope"})
    with pytest.raises(RuleInvalid, match="own address would loop"):
        await rules.set_forward(account, {"address": "Alice@Example.org"})
    with pytest.raises(RuleInvalid, match="not an email address"):
        await rules.set_forward(account, {"address": "nobody"})
    with pytest.raises(RuleInvalid, match="has no filter 99"):
        await rules.delete_filter(account, 99)
    assert await store.mail_rules(account.id) == []
    assert await _managed(store, account) is None


async def test_redirect_limit_counts_every_forward(store: Store, account: Account) -> None:
    rules = MailRuleService(store, SieveSettings(max_redirects=2))
    await rules.add_filter(account, {"subject": "a", "forward": "one@remote.example"})
    await rules.set_forward(account, {"address": "two@remote.example"})
    before = await _managed(store, account)
    with pytest.raises(RuleInvalid, match=r"redirect a message 3 times; at most 2 \(sieve.max_redirects\)"):
        await rules.add_filter(account, {"subject": "b", "forward": "three@remote.example"})
    assert len(await store.mail_rules(account.id)) == 2
    assert await _managed(store, account) == before


async def test_script_quota_refusal_rolls_the_rules_back(store: Store, account: Account) -> None:
    rules = MailRuleService(store, SieveSettings(max_storage=1024, max_script_size=1024))
    await rules.add_filter(account, {"subject": "a", "star": True})
    with pytest.raises(ScriptRefused) as refused:
        await rules.set_vacation(account, {"message": "x" * 900})
    assert refused.value.code == "QUOTA/MAXSIZE"
    assert [rule.kind for rule in await store.mail_rules(account.id)] == ["filter"]


async def test_managesieve_and_cli_cannot_write_the_managed_script(
    store: Store, account: Account, rules: MailRuleService
) -> None:
    await rules.add_filter(account, {"subject": "a", "star": True})
    scripts = SieveScripts(store, SETTINGS)
    for attempt in (
        scripts.put(account.id, MANAGED_SCRIPT, "keep;"),
        scripts.delete(account.id, MANAGED_SCRIPT),
        scripts.rename(account.id, MANAGED_SCRIPT, "other"),
        scripts.have_space(account.id, MANAGED_SCRIPT, 10),
    ):
        with pytest.raises(ScriptRefused, match="generated from the account's filters"):
            await attempt
    await scripts.put(account.id, "other", "keep;")
    with pytest.raises(ScriptRefused, match="generated from the account's filters"):
        await scripts.rename(account.id, "other", MANAGED_SCRIPT)
    # Readable, and activatable like any script.
    assert "Filter" in (await scripts.get(account.id, MANAGED_SCRIPT)).source
    await scripts.activate(account.id, "other")
    await scripts.activate(account.id, MANAGED_SCRIPT)
    assert await _active(store, account) == MANAGED_SCRIPT
