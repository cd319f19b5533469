"""`pochta filter add|list|del`, `pochta vacation set|off|show`, `pochta forward set|off|show` on a
real data directory: what they print, the managed script they leave, their refusals and warnings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cli_env import init_data, ok, run

ALICE = "alice@example.org"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = init_data(tmp_path / "data")
    ok(run("user", "add", ALICE, data=path))
    return path


def test_filters_add_list_delete(data: Path) -> None:
    out = ok(
        run(
            "filter",
            "add",
            ALICE,
            "--from",
            'boss"x',
            "--subject",
            "report",
            "--star",
            "--mark-read",
            data=data,
        )
    )
    assert out.strip() == "alice@example.org: filter 1 added"
    ok(run("filter", "add", ALICE, "--has-words", "unsubscribe", "--skip-inbox", data=data))
    listed = ok(run("filter", "list", ALICE, data=data))
    assert re.search(r"^1\s+from 'boss\"x', subject 'report' -> mark read, star$", listed, re.MULTILINE)
    assert re.search(r"^2\s+has words 'unsubscribe' -> skip inbox \(archive\)$", listed, re.MULTILINE)
    scripts = ok(run("sieve", "list", ALICE, data=data))
    assert re.search(r"^pochta-settings\s+\d+\s+yes", scripts, re.MULTILINE)
    source = ok(run("sieve", "get", ALICE, "pochta-settings", data=data))
    assert 'address :all :contains "from" "boss\\"x"' in source
    assert ok(run("filter", "del", ALICE, "1", data=data)).strip() == "alice@example.org: filter 1 deleted"
    assert "boss" not in ok(run("filter", "list", ALICE, data=data))


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--subject", "x"], "a filter needs an action"),
        (["--star"], "a filter needs a criterion"),
        (
            ["--subject", "x", "--to-folder", "Nope"],
            "alice@example.org has no folder 'Nope' (create it first)",
        ),
        (["--subject", "x", "--delete", "--skip-inbox"], "--delete moves the message to Trash"),
        (["--subject", "x", "--forward", ALICE], "forwarding to the account's own address would loop"),
    ],
)
def test_filter_refusals(data: Path, args: list[str], says: str) -> None:
    refused = run("filter", "add", ALICE, *args, data=data)
    assert refused.returncode == 1
    assert says in refused.stderr
    assert "Traceback" not in refused.stderr


def test_vacation_set_show_off(data: Path, tmp_path: Path) -> None:
    text = tmp_path / "away.txt"
    text.write_text("I am away.\nBack on the 2nd.\n")
    out = ok(
        run(
            "vacation", "set", ALICE, "--subject", "Away", "--message-file", str(text),
            "--until", "2027-01-02", "--contacts-only", "--days", "3", data=data,
        )
    )  # fmt: skip
    assert out.strip() == "alice@example.org: vacation reply on"
    shown = ok(run("vacation", "show", ALICE, data=data))
    assert re.search(r"^until\s+2027-01-02$", shown, re.MULTILINE)
    assert re.search(r"^contacts only\s+yes$", shown, re.MULTILINE)
    assert shown.endswith("I am away.\nBack on the 2nd.\n")
    source = ok(run("sieve", "get", ALICE, data=data))
    assert 'currentdate :value "le" "date" "2027-01-02"' in source
    assert 'address :all :list "from" ":addrbook:default"' in source
    ok(run("vacation", "set", ALICE, "--message-file", "-", data=data, stdin="Replaced.\n"))
    assert "contacts only  no" in ok(run("vacation", "show", ALICE, data=data))
    bad_date = run("vacation", "set", ALICE, "--message-file", "-", "--until", "soon", data=data, stdin="x")
    assert bad_date.returncode == 2
    assert "'soon' does not match the format '%Y-%m-%d'" in bad_date.stderr
    assert ok(run("vacation", "off", ALICE, data=data)).strip() == "alice@example.org: vacation reply off"
    assert ok(run("vacation", "show", ALICE, data=data)).strip() == "alice@example.org: vacation reply off"
    assert "pochta-settings" not in ok(run("sieve", "list", ALICE, data=data))  # no rules, no script


def test_forward_and_the_warning_for_a_users_own_script(data: Path) -> None:
    ok(run("sieve", "put", ALICE, "mine", "-", "--activate", data=data, stdin="keep;\n"))
    result = run("forward", "set", ALICE, "friend@remote.example", "--archive", data=data)
    assert ok(result).strip() == "alice@example.org: forwarding to friend@remote.example (archive)"
    assert (
        "warning: alice@example.org's active script 'mine' is the user's own and does not run these "
        'settings: add the line include :personal "pochta-settings"; to it'
    ) in result.stderr
    shown = ok(run("forward", "show", ALICE, data=data))
    assert shown.strip() == "alice@example.org: forwarding to friend@remote.example (archive)"
    refused = run("sieve", "put", ALICE, "pochta-settings", "-", data=data, stdin="keep;\n")
    assert refused.returncode == 1
    assert "'pochta-settings' is generated from the account's filters" in refused.stderr
    assert ok(run("forward", "off", ALICE, data=data)).strip() == "alice@example.org: forwarding off"
    assert ok(run("forward", "show", ALICE, data=data)).strip() == "alice@example.org: forwarding off"
