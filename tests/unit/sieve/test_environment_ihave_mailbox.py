"""environment (RFC 5183), ihave and error (RFC 5463), mailboxexists and :create (RFC 5490 §3)."""

from __future__ import annotations

import pytest
from sieve_helpers import assert_compile_error

from pochta.sieve import (
    Envelope,
    FileIntoAction,
    KeepAction,
    Outcome,
    SieveMessage,
    compile_script,
    run,
)
from pochta.sieve.message import DeliveryContext

CONTEXT = DeliveryContext(
    environment={
        "domain": "example.org",
        "host": "mx.example.org",
        "name": "pochta",
        "remote-ip": "",
        "phase": "during",
    },
    mailboxes=frozenset({"Lists", "Lists/ietf"}),
)


def outcome(script: str) -> Outcome:
    message = SieveMessage.from_bytes(b"Subject: x\r\n\r\n")
    return run(compile_script(script), message, Envelope("a@example.net", "me@example.org"), context=CONTEXT)


def filed(script: str) -> list[object]:
    result = outcome(script)
    assert result.error is None, result.error
    return [action for action in result.actions if isinstance(action, FileIntoAction)]


def test_environment() -> None:
    head = 'require ["environment", "fileinto", "relational", "comparator-i;ascii-numeric"];\n'
    assert filed(head + 'if environment :is "domain" "EXAMPLE.org" { fileinto "a"; }') == [
        FileIntoAction("a")
    ]
    assert filed(head + 'if environment :matches "host" "mx.*" { fileinto "a"; }') == [FileIntoAction("a")]
    # RFC 5183 §4: an unknown item is false, never an error; :contains "" finds a known one.
    assert filed(head + 'if environment :contains "location" "" { fileinto "a"; }') == []
    assert filed(head + 'if environment :contains "remote-ip" "" { fileinto "a"; }') == [FileIntoAction("a")]
    count = 'if environment :count "eq" :comparator "i;ascii-numeric" "remote-ip" "0" { fileinto "a"; }'
    assert filed(head + count) == [FileIntoAction("a")]


def test_ihave() -> None:
    # RFC 5463 §4: a block behind an unsupported capability may use what the server does not know.
    script = (
        'require ["ihave", "fileinto"];\n'
        'if ihave "vnd.frob" { frobnicate :hard "x"; fileinto "never"; }\n'
        'elsif ihave ["variables", "imap4flags"] { set "a" "b"; addflag "\\\\Seen"; fileinto "${a}"; }\n'
        'if allof (ihave "vnd.frob", true) { frob; }\n'
    )
    assert filed(script) == [FileIntoAction("b", ("\\Seen",))]
    # §4 (1): after a successful ihave the extension is available to the end of the script.
    assert filed('require ["ihave", "fileinto"]; if ihave "variables" {} set "x" "y"; fileinto "${x}";') == [
        FileIntoAction("y")
    ]


def test_error_ends_the_script_with_the_implicit_keep() -> None:
    result = outcome('require ["ihave", "fileinto"]; fileinto "a"; error "no frob here";')
    assert result.actions == (KeepAction(implicit=True),)
    assert result.error is not None
    assert "no frob here" in result.error


def test_mailbox() -> None:
    head = 'require ["mailbox", "fileinto", "reject"];\n'
    script = head + 'if mailboxexists "Lists" { fileinto "Lists"; } else { reject "no"; }'
    assert filed(script) == [FileIntoAction("Lists")]
    assert filed(head + 'if mailboxexists ["Lists", "inbox", "Lists/ietf"] { fileinto "a"; }') == [
        FileIntoAction("a")
    ]
    assert filed(head + 'if mailboxexists ["Lists", "Nope"] { fileinto "a"; }') == []
    assert filed(head + 'fileinto :create "New/Box";') == [FileIntoAction("New/Box", create=True)]
    assert filed(head + 'fileinto :create "A"; fileinto "A";') == [FileIntoAction("A", create=True)]


@pytest.mark.parametrize(
    ("script", "says"),
    [
        ('if environment "domain" "x" {}', "'environment' needs require \"environment\""),
        ('require "fileinto"; fileinto :create "a";', "':create' needs require \"mailbox\""),
        ('if mailboxexists "a" {}', "'mailboxexists' needs require \"mailbox\""),
        ('if ihave "fileinto" {}', "'ihave' needs require \"ihave\""),
        ('error "x";', "'error' needs require \"ihave\""),
        ('require ["ihave", "variables"]; if ihave "${x}" {}', "must be constant"),
        ('require "ihave"; if anyof (ihave "vnd.frob", false) { frob; }', "unknown command 'frob'"),
    ],
)
def test_errors(script: str, says: str) -> None:
    assert_compile_error(script, says)
