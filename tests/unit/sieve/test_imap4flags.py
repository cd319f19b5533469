"""imap4flags (RFC 5232): flag variables, hasflag, :flags on keep and fileinto, the implicit keep."""

from __future__ import annotations

import pytest
from sieve_helpers import assert_compile_error

from pochta.sieve import (
    Envelope,
    FileIntoAction,
    KeepAction,
    SieveMessage,
    compile_script,
    run,
)
from pochta.sieve.flags import add_flags, flag_words, remove_flags

HEAD = 'require ["imap4flags", "fileinto", "variables", "relational", "comparator-i;ascii-numeric"];\n'


def outcome(script: str, message: bytes = b"From: a@example.org\r\n\r\nbody\r\n") -> list[object]:
    result = run(
        compile_script(HEAD + script), SieveMessage.from_bytes(message), Envelope("", "me@example.org")
    )
    assert result.error is None, result.error
    return list(result.actions)


def test_flag_lists() -> None:
    # RFC 5232 §2: spaces separate, empty strings and invalid flags are ignored, case-insensitive.
    assert flag_words(["  \\seen  $Junk ", "", "$junk", "\\Recent", "bad(flag", "näive", "\\Frob"]) == [
        "\\Seen",
        "$Junk",
    ]
    assert add_flags(["\\Deleted"], ["\\Answered"]) == add_flags([], ["\\Deleted \\Answered"])
    assert remove_flags(["A", "b", "C"], ["a c", "not-there"]) == ["b"]


def test_the_examples_of_rfc_5232() -> None:
    # §3.1
    assert outcome('setflag "flagvar" "\\\\Flagged"; fileinto :flags "${flagvar}" "INBOX.From Boss";') == [
        FileIntoAction("INBOX.From Boss", ("\\Flagged",))
    ]
    # §3.3
    script = (
        'addflag "flagvar" "$MDNRequired";\n'
        'removeflag "flagvar" "$MDNRequired";\n'
        'fileinto :flags "${flagvar}" "INBOX.imap-list";\n'
    )
    assert outcome(script) == [FileIntoAction("INBOX.imap-list", ())]
    # §4
    assert outcome('setflag "A B"; if hasflag :is "b A" { fileinto "yes"; }')[0] == FileIntoAction(
        "yes", ("A", "B")
    )
    assert outcome('setflag "A B"; if hasflag ["b", "A"] { fileinto "yes"; }')[0] == FileIntoAction(
        "yes", ("A", "B")
    )
    my_var = 'set "MyVar" "NonJunk Junk gnus-forward $Forwarded NotJunk JunkRecorded $Junk $NotJunk";\n'
    for keys in ('"Junk"', '"forward"', '["label", "forward"]', '["junk", "forward"]', '"junk forward"'):
        assert FileIntoAction("yes") in outcome(
            my_var + f'if hasflag :contains "MyVar" {keys} {{ fileinto "yes"; }}'
        )
    for keys in ('"label"', '["label1", "label2"]'):
        assert FileIntoAction("yes") not in outcome(
            my_var + f'if hasflag :contains "MyVar" {keys} {{ fileinto "yes"; }}'
        )
    count = (
        'set "MyFlags" "A B";\n'
        'if hasflag :count "ge" :comparator "i;ascii-numeric" "MyFlags" "2" { fileinto "yes"; }'
    )
    assert FileIntoAction("yes") in outcome(count)


def test_the_extended_example_of_rfc_5232() -> None:
    # §9, with its two slips mended ("anyof (...)" needs parentheses; "remove" is removeflag).
    script = (
        'if size :over 1M { addflag "MyFlags" "Big";\n'
        '  if header :is "From" "boss@company.example.com" { addflag "MyFlags" "\\\\Flagged"; }\n'
        '  fileinto :flags "${MyFlags}" "Big messages"; }\n'
        'if header :is "From" "grandma@example.net" {\n'
        '  addflag "MyFlags" ["\\\\Answered", "$MDNSent"]; fileinto :flags "${MyFlags}" "GrandMa"; }\n'
        'if header :is "Sender" "owner-ietf-mta-filters@example.org" {\n'
        '  set "MyFlags" "\\\\Flagged $Work"; keep :flags "${MyFlags}"; }\n'
        'elsif anyof (address :domain :is ["From", "To"] "company.example.com") {\n'
        '  keep :flags "${MyFlags}"; }\n'
        'elsif anyof (not address :all :contains ["To", "Cc"] "me@company.example.com",\n'
        '             header :matches "subject" ["*make*money*fast*", "*university*dipl*mas*"]) {\n'
        '  removeflag "MyFlags" "\\\\Flagged"; fileinto :flags "${MyFlags}" "spam"; }\n'
        'else { fileinto :flags "${MyFlags}" "personal"; }\n'
    )
    big_from_grandma = b"From: grandma@example.net\r\nTo: me@company.example.com\r\n\r\n" + b"x" * (
        1024 * 1024 + 1
    )
    assert outcome(script, big_from_grandma) == [
        FileIntoAction("Big messages", ("Big",)),
        FileIntoAction("GrandMa", ("Big", "\\Answered", "$MDNSent")),
        KeepAction(flags=("Big", "\\Answered", "$MDNSent")),  # To: is in the company's domain
    ]
    outside = (
        b"From: someone@example.org\r\nTo: me@company.example.com.evil\r\nSubject: make money fast\r\n\r\n"
    )
    assert outcome(script, outside) == [FileIntoAction("spam", ())]
    from_the_list = b"Sender: owner-ietf-mta-filters@example.org\r\n\r\n"
    assert outcome(script, from_the_list) == [KeepAction(flags=("\\Flagged", "$Work"))]


def test_internal_variable_and_the_implicit_keep() -> None:
    # The internal variable flags keep, fileinto and the implicit keep (§3, §5).
    assert outcome('addflag "\\\\Seen"; addflag "$Later";') == [
        KeepAction(implicit=True, flags=("\\Seen", "$Later"))
    ]
    assert outcome('setflag "\\\\Seen"; fileinto "A"; keep;') == [
        FileIntoAction("A", ("\\Seen",)),
        KeepAction(flags=("\\Seen",)),
    ]
    # The last flags win when one action repeats (§3).
    assert outcome('fileinto :flags "a" "A"; fileinto :flags "b" "A";') == [FileIntoAction("A", ("b",))]
    assert outcome('keep :flags "a"; fileinto :flags "b" "inbox";') == [KeepAction(flags=("b",))]


@pytest.mark.parametrize(
    ("script", "says"),
    [
        ('require "fileinto"; addflag "a";', "'addflag' needs require \"imap4flags\""),
        ('require "fileinto"; fileinto :flags "a" "A";', "':flags' needs require \"imap4flags\""),
        ('require "imap4flags"; addflag "var" "a";', 'a variable name needs require "variables"'),
        ('require ["imap4flags", "variables"]; addflag "1" "a";', "'1' cannot be set"),
        ('require "imap4flags"; if hasflag "v" "a" {}', "a variable list in 'hasflag' needs require"),
        ('require "imap4flags"; addflag "a" "b" "c";', "'addflag' takes 1 positional argument"),
    ],
)
def test_errors(script: str, says: str) -> None:
    assert_compile_error(script, says)
