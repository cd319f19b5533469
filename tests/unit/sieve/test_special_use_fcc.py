"""special-use (RFC 8579) and fcc (RFC 8580)."""

from __future__ import annotations

import pytest
from sieve_helpers import assert_compile_error

from pochta.sieve import Envelope, FileIntoAction, Outcome, SieveMessage, VacationAction, compile_script, run
from pochta.sieve.actions import Fcc, NotifyAction
from pochta.sieve.message import DeliveryContext

CONTEXT = DeliveryContext(
    mailboxes=frozenset({"Spam", "Sent Items"}),
    special_uses={"Spam": frozenset({"\\Junk"}), "Sent Items": frozenset({"\\Sent"})},
)
MESSAGE = b"From: a@example.net\r\nTo: me@example.org\r\nSubject: Hi\r\n\r\nx\r\n"


def outcome(script: str) -> Outcome:
    return run(
        compile_script(script),
        SieveMessage.from_bytes(MESSAGE),
        Envelope("a@example.net", "me@example.org"),
        context=CONTEXT,
    )


def test_fileinto_specialuse() -> None:
    head = 'require ["special-use", "fileinto", "mailbox"];\n'
    # RFC 8579 §4: the mailbox holding the attribute, else the one named.
    assert outcome(head + 'fileinto :specialuse "\\\\Junk" "Junk";').actions == (
        FileIntoAction("Spam", special_use="\\Junk"),
    )
    assert outcome(head + 'fileinto :specialuse "\\\\Archive" :create "Archive";').actions == (
        FileIntoAction("Archive", create=True, special_use="\\Archive"),
    )


def test_specialuse_exists() -> None:
    head = 'require ["special-use", "fileinto"];\n'
    found = outcome(
        head
        + 'if specialuse_exists "\\\\Junk" { fileinto "a"; }\n'
        + 'if specialuse_exists ["\\\\Junk", "\\\\Sent"] { fileinto "b"; }\n'
        + 'if specialuse_exists "\\\\Trash" { fileinto "c"; }\n'
        + 'if specialuse_exists "Spam" "\\\\junk" { fileinto "d"; }\n'
        + 'if specialuse_exists "INBOX" "\\\\Junk" { fileinto "e"; }\n'
    )
    assert [a.mailbox for a in found.actions if isinstance(a, FileIntoAction)] == ["a", "b", "d"]


def test_fcc_on_vacation_and_notify() -> None:
    script = (
        'require ["vacation", "enotify", "fcc", "imap4flags", "special-use", "mailbox"];\n'
        'vacation :fcc "Sent" :flags "\\\\Seen" :specialuse "\\\\Sent" "away";\n'
        'notify :fcc "Notes" :create "mailto:b@example.com";\n'
    )
    result = outcome(script)
    assert result.error is None, result.error
    vacation = next(a for a in result.actions if isinstance(a, VacationAction))
    notify = next(a for a in result.actions if isinstance(a, NotifyAction))
    assert vacation.fcc == Fcc("Sent Items", ("\\Seen",), False, "\\Sent")
    assert notify.fcc == Fcc("Notes", (), True, None)


@pytest.mark.parametrize(
    ("script", "says"),
    [
        (
            'require "fileinto"; fileinto :specialuse "\\\\Junk" "a";',
            "':specialuse' needs require \"special-use\"",
        ),
        (
            'require ["fileinto", "special-use"]; fileinto :specialuse "Junk" "a";',
            "is no special-use attribute",
        ),
        ('require "special-use"; if specialuse_exists "Junk" {}', "is no special-use attribute"),
        ('require "vacation"; vacation :fcc "Sent" "x";', "':fcc' needs require \"fcc\""),
        ('require ["vacation", "fcc", "mailbox"]; vacation :create "x";', ":create needs :fcc here"),
    ],
)
def test_errors(script: str, says: str) -> None:
    assert_compile_error(script, says)
