"""`pochta sieve put|get|list|activate|deactivate|check|delete|rename` on a real data directory,
through the same service as ManageSieve (the name rules, the compile check, the quota)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cli_env import init_data, ok, run

SCRIPT = 'require "fileinto";\nif header :contains "subject" "[list]" { fileinto "Lists"; }\n'


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = init_data(tmp_path / "data")
    ok(run("user", "add", "alice@example.org", data=path))
    return path


def test_put_list_get_activate_rename_delete(data: Path, tmp_path: Path) -> None:
    file = tmp_path / "filter.sieve"
    file.write_text(SCRIPT)
    alice = "alice@example.org"
    assert ok(run("sieve", "put", alice, "filter", str(file), data=data)).strip() == (
        "alice@example.org: script 'filter' stored"
    )
    out = ok(
        run("sieve", "put", "Alice@Example.org", "vacation", "-", "--activate", data=data, stdin="keep;\n")
    )
    assert out.strip() == "alice@example.org: script 'vacation' stored and active"
    listed = ok(run("sieve", "list", alice, data=data))
    assert re.search(rf"^filter\s+{len(SCRIPT)}\s+\d{{4}}-", listed, re.MULTILINE)
    assert re.search(r"^vacation\s+6\s+yes\s+\d{4}-", listed, re.MULTILINE)
    assert ok(run("sieve", "get", alice, "filter", data=data)) == SCRIPT
    assert ok(run("sieve", "get", alice, data=data)) == "keep;\n"  # the active one
    ok(run("sieve", "activate", alice, "filter", data=data))
    assert ok(run("sieve", "get", alice, data=data)) == SCRIPT
    refused = run("sieve", "delete", alice, "filter", data=data)
    assert refused.returncode == 1
    assert "The active script cannot be deleted; deactivate it first (ACTIVE)" in refused.stderr
    out = ok(run("sieve", "rename", alice, "filter", "lists", data=data))
    assert out.strip() == "alice@example.org: script 'filter' renamed to 'lists'"
    assert re.search(r"^lists\s+\d+\s+yes", ok(run("sieve", "list", alice, data=data)), re.MULTILINE)
    assert (
        ok(run("sieve", "deactivate", alice, data=data)).strip() == "alice@example.org: no script is active"
    )
    no_active = run("sieve", "get", alice, data=data)
    assert no_active.returncode == 1
    assert "alice@example.org has no active script" in no_active.stderr
    assert ok(run("sieve", "delete", alice, "lists", data=data)).strip() == (
        "alice@example.org: script 'lists' deleted"
    )
    assert "lists" not in ok(run("sieve", "list", alice, data=data))


def test_check_and_refusals(data: Path, tmp_path: Path) -> None:
    alice = "alice@example.org"
    assert ok(run("sieve", "check", alice, data=data, stdin=SCRIPT)).strip() == "script is valid"
    bad = tmp_path / "bad.sieve"
    bad.write_bytes(b"\xff keep;")
    for args, stdin, fragment in [
        (["check", alice], 'fileinto "x";', "line 1, column 1"),
        (["put", alice, "x"], "if true {", "line 1"),
        (["put", alice, "x", str(bad)], None, "not valid UTF-8"),
        (["put", alice, "x", str(tmp_path / "missing")], None, "cannot read"),
        (["put", alice, "", "-"], "keep;", "must not be empty"),
        (["get", alice, "nothing"], None, "There is no script by that name (NONEXISTENT)"),
        (["activate", alice, "nothing"], None, "(NONEXISTENT)"),
        (["rename", alice, "nothing", "x"], None, "(NONEXISTENT)"),
        (["list", "carol@example.org"], None, "no such account"),
    ]:
        result = run("sieve", *args, data=data, stdin=stdin)
        assert result.returncode == 1, (args, result.stdout)
        assert fragment in result.stderr, (args, result.stderr)
    assert ok(run("sieve", "list", alice, data=data)).splitlines() == ["NAME  SIZE  ACTIVE  UPDATED (UTC)"]


def test_quota_is_the_services(data: Path) -> None:
    config = data / "pochta.toml"
    config.write_text(config.read_text() + "\n[sieve]\nmax_scripts = 1\n")
    alice = "alice@example.org"
    ok(run("sieve", "put", alice, "one", data=data, stdin="keep;"))
    ok(run("sieve", "put", alice, "one", data=data, stdin="discard;"))  # replacing: no new script
    result = run("sieve", "put", alice, "two", data=data, stdin="keep;")
    assert result.returncode == 1
    assert "(QUOTA/MAXSCRIPTS)" in result.stderr
