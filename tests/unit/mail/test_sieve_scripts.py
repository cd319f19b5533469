"""The rules for an account's Sieve scripts (pochta.mail.sieve_scripts) over a real store: names
(RFC 5804 §1.6), content (UTF-8 that compiles, §2.6), sizes and quotas (§1.3, §2.5), and the
response codes each refusal carries."""

from __future__ import annotations

import pytest

from pochta.config import SieveSettings
from pochta.mail.sieve_scripts import ScriptRefused, SieveScripts, check_name, compile_source, decode_source
from pochta.store.api import Store
from pochta.store.model import Account

SMALL = SieveSettings(max_script_size=1024, max_scripts=2, max_storage=1500)


@pytest.fixture
def scripts(store: Store) -> SieveScripts:
    return SieveScripts(store, SMALL)


def refusal(exc: pytest.ExceptionInfo[ScriptRefused]) -> tuple[str | None, str]:
    return exc.value.code, exc.value.message


@pytest.mark.parametrize(
    "bad", ["", "a\x00b", "tab\there", "del\x7f", "c1\x85", "line\u2028sep", "par\u2029"]
)
def test_names_refuse_what_rfc_5804_forbids(bad: str) -> None:
    with pytest.raises(ScriptRefused):
        check_name(bad, SMALL)


def test_names_are_nfc_and_bounded_never_truncated() -> None:
    assert check_name("cafe\u0301", SMALL) == "caf\u00e9"
    assert check_name("x" * 128, SMALL) == "x" * 128  # RFC 5804 §1.6: servers MUST allow 128
    with pytest.raises(ScriptRefused, match="at most 128"):
        check_name("x" * 129, SMALL)
    assert check_name("Ünïcödé names/with spaces", SMALL) == "Ünïcödé names/with spaces"


def test_source_must_be_utf8_nonempty_and_compile() -> None:
    assert decode_source(b"keep;") == "keep;"
    with pytest.raises(ScriptRefused, match="octet 4"):
        decode_source(b"keep\xff;")
    with pytest.raises(ScriptRefused, match="empty"):
        compile_source("  \r\n", SMALL)
    with pytest.raises(ScriptRefused) as unknown:
        compile_source('require "nosuchext";\nkeep;', SMALL)
    assert unknown.value.code is None
    assert "nosuchext" in unknown.value.message
    with pytest.raises(ScriptRefused) as syntax:
        compile_source("if true {\nkeep;\n", SMALL)
    assert "line" in syntax.value.message
    with pytest.raises(ScriptRefused) as big:
        compile_source("#" + "x" * 1024 + "\nkeep;", SMALL)
    assert big.value.code == "QUOTA/MAXSIZE"


def test_nesting_follows_settings() -> None:
    nested = "if true { " * 5 + "keep;" + " }" * 5
    compile_source(nested, SMALL)
    with pytest.raises(ScriptRefused):
        compile_source(nested, SieveSettings(max_nesting=4))


async def test_put_checks_before_storing_and_keeps_the_old_on_refusal(
    scripts: SieveScripts, account: Account
) -> None:
    await scripts.put(account.id, "main", 'require "fileinto";\nfileinto "Lists";\n')
    with pytest.raises(ScriptRefused):
        await scripts.put(account.id, "main", "fileinto;")  # RFC 5804 §2.6: the old one stays
    assert (await scripts.get(account.id, "main")).source == 'require "fileinto";\nfileinto "Lists";\n'
    with pytest.raises(ScriptRefused) as missing:
        await scripts.get(account.id, "other")
    assert refusal(missing) == ("NONEXISTENT", "There is no script by that name")


async def test_quota_codes_for_put_and_have_space(scripts: SieveScripts, account: Account) -> None:
    await scripts.have_space(account.id, "a", 1000)
    with pytest.raises(ScriptRefused) as too_big:
        await scripts.have_space(account.id, "a", 1025)
    assert too_big.value.code == "QUOTA/MAXSIZE"
    await scripts.put(account.id, "a", "#" + "a" * 900 + "\nkeep;")
    await scripts.put(account.id, "b", "keep;")
    with pytest.raises(ScriptRefused) as count:
        await scripts.have_space(account.id, "c", 10)
    assert count.value.code == "QUOTA/MAXSCRIPTS"
    await scripts.have_space(account.id, "b", 500)  # replacing b: still two scripts, 1,408 octets
    with pytest.raises(ScriptRefused) as storage:
        await scripts.have_space(account.id, "b", 700)
    assert storage.value.code == "QUOTA/MAXSIZE"
    with pytest.raises(ScriptRefused) as put_count:
        await scripts.put(account.id, "c", "keep;")
    assert put_count.value.code == "QUOTA/MAXSCRIPTS"
    with pytest.raises(ScriptRefused) as put_storage:
        await scripts.put(account.id, "b", "#" + "b" * 700 + "\nkeep;")
    assert put_storage.value.code == "QUOTA/MAXSIZE"


async def test_activate_rename_delete_answer_with_their_codes(
    scripts: SieveScripts, account: Account
) -> None:
    await scripts.put(account.id, "a", "keep;")
    await scripts.put(account.id, "b", "discard;")
    with pytest.raises(ScriptRefused) as missing:
        await scripts.activate(account.id, "zzz")
    assert missing.value.code == "NONEXISTENT"
    await scripts.activate(account.id, "a")
    active = await scripts.active(account.id)
    assert active is not None
    assert active.info.name == "a"
    with pytest.raises(ScriptRefused) as busy:
        await scripts.delete(account.id, "a")
    assert busy.value.code == "ACTIVE"
    with pytest.raises(ScriptRefused) as taken:
        await scripts.rename(account.id, "a", "b")
    assert taken.value.code == "ALREADYEXISTS"
    with pytest.raises(ScriptRefused) as gone:
        await scripts.rename(account.id, "nope", "c")
    assert gone.value.code == "NONEXISTENT"
    await scripts.activate(account.id, "")  # RFC 5804 §2.8: the empty name deactivates
    assert await scripts.active(account.id) is None
    await scripts.delete(account.id, "a")
    with pytest.raises(ScriptRefused) as deleted:
        await scripts.delete(account.id, "a")
    assert deleted.value.code == "NONEXISTENT"
    assert [info.name for info in await scripts.list(account.id)] == ["b"]
