"""`pochta shared` and `pochta acl` on public mailboxes (docs/imap.md "Shared mailboxes"), run as the
administrator runs them, over one data directory."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cli_env import PORT0, ok, run


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    ok(run("init", "--domain", "example.org", *PORT0, data=path))
    ok(run("domain", "add", "example.net", data=path))
    ok(run("user", "add", "bob@example.org", data=path))
    return path


def _fails(data: Path, *args: str) -> str:
    result = run(*args, data=data)
    assert result.returncode != 0, (args, result.stdout)
    return result.stderr


def test_shared_create_list_delete(data: Path) -> None:
    assert ok(run("shared", "create", "example.org", "support", data=data)).strip() == (
        "created Shared/support in example.org"
    )
    ok(run("shared", "create", "Example.ORG", "Shared/announcements/2026", data=data))  # superiors too
    ok(run("shared", "create", "example.net", "support", data=data))
    listed = ok(run("shared", "list", data=data)).splitlines()
    assert listed[0].split() == ["DOMAIN", "MAILBOX", "MESSAGES", "ACL"]
    assert sorted(line.split()[:3] for line in listed[1:]) == [
        ["example.net", "Shared/support", "0"],
        ["example.org", "Shared/announcements", "0"],
        ["example.org", "Shared/announcements/2026", "0"],
        ["example.org", "Shared/support", "0"],
    ]
    assert len(ok(run("shared", "list", "example.net", data=data)).splitlines()) == 2
    # The hidden owner is no user: not listed, not counted.
    users = ok(run("user", "list", data=data))
    assert "shared" not in users
    assert "bob@example.org" in users
    assert re.search(r"^example\.org\s+1\s", ok(run("domain", "list", data=data)), re.MULTILINE)
    assert "INBOX is no name" in _fails(data, "shared", "create", "example.org", "inbox")
    assert "already exists" in _fails(data, "shared", "create", "example.org", "support")
    assert "no domain" in _fails(data, "shared", "create", "nowhere.example", "support")
    assert "still has" in _fails(data, "domain", "del", "example.net")  # a public mailbox left
    ok(run("shared", "delete", "example.net", "Shared/support", data=data))
    ok(run("domain", "del", "example.net", data=data))  # the hidden owner goes with the domain
    assert "has children" in _fails(data, "shared", "delete", "example.org", "announcements")
    assert "No such mailbox" in _fails(data, "shared", "delete", "example.org", "nothing")


def test_acl_of_a_public_mailbox(data: Path) -> None:
    ok(run("shared", "create", "example.org", "support", data=data))
    # A new public mailbox has no entry: nobody sees it until the administrator grants.
    assert ok(run("acl", "list", "example.org", "Shared/support", data=data)).splitlines() == [
        "MAILBOX  IDENTIFIER  RIGHTS"
    ]
    out = ok(run("acl", "set", "example.org", "Shared/support", "anyone", "+p", data=data))
    assert out.strip() == "example.org Shared/support: anyone p"
    ok(run("acl", "set", "example.org", "Shared/support", "bob@example.org", "lrsd", data=data))
    listed = ok(run("acl", "list", "example.org", data=data))
    # No owner's entry: a public mailbox belongs to no user.
    assert re.findall(r"^(\S+)\s+(\S+)\s+(\S+)$", listed, re.MULTILINE)[1:] == [
        ("Shared/support", "anyone", "p"),
        ("Shared/support", "bob@example.org", "lrsted"),  # RFC 4314 §2.1.1: "d" after its members
    ]
    assert "anyone=p" in ok(run("shared", "list", "example.org", data=data))
    # The quota root of the public mailboxes (IMAP's "Shared"), beside the domain's.
    shown = ok(run("shared", "quota", "example.org", "--storage", "10M", "--messages", "5", data=data))
    assert re.findall(r"^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)$", shown, re.MULTILINE)[1:] == [
        ("Shared", "storage", "0", "10M"),
        ("Shared", "messages", "0", "5"),
        ("example.org", "storage", "0", "unlimited"),
        ("example.org", "messages", "0", "unlimited"),
    ]
    assert "no public mailbox in example.net" in _fails(data, "shared", "quota", "example.net")
    out = ok(run("acl", "delete", "example.org", "Shared/support", "anyone", data=data))
    assert out.strip() == "example.org Shared/support: anyone removed"
    for args, fragment in [
        (["set", "example.org", "Shared/none", "anyone", "l"], "no mailbox 'Shared/none'"),
        (["set", "example.net", "Shared/support", "anyone", "l"], "no public mailbox 'Shared/support'"),
        (["set", "nowhere.example", "Shared/support", "anyone", "l"], "no domain nowhere.example"),
        (["set", "example.org", "INBOX", "anyone", "l"], "Shared/NAME"),
        (["set", "example.org", "Shared/support", "(shared)@example.org", "l"], "'anyone' or the address"),
    ]:
        assert fragment in _fails(data, "acl", *args), args
