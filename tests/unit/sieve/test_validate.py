"""Checking a script before any message (RFC 5228 §2.6, §3-§5; RFC 3894; RFC 5429)."""

from __future__ import annotations

import pytest
from sieve_helpers import assert_compile_error

from pochta.sieve import Envelope, SieveMessage, SieveSyntaxError, compile_script, run
from pochta.sieve import script as s


def test_require_and_defaults() -> None:
    script = compile_script(
        'require ["fileinto", "envelope"];\n'
        'if header "subject" "x" { fileinto "a"; }\n'
        'if envelope :domain "from" "example.org" { keep; }\n'
    )
    assert script.extensions == frozenset({"fileinto", "envelope"})
    first, second = script.commands
    assert isinstance(first, s.If)
    header = first.branches[0][0]
    assert isinstance(header, s.HeaderTest)
    # RFC 5228 §2.7.3 and §2.7.1: i;ascii-casemap and :is unless the script says otherwise.
    assert header.matching.comparator.name == "i;ascii-casemap"
    assert header.matching.match_type == "is"
    assert isinstance(second, s.If)
    envelope = second.branches[0][0]
    assert isinstance(envelope, s.EnvelopeTest)
    assert envelope.part == "domain"


def test_if_elsif_else_become_one_node() -> None:
    (node,) = compile_script("if false { stop; } elsif true { keep; } else { discard; }").commands
    assert isinstance(node, s.If)
    assert [condition is None for condition, _ in node.branches] == [False, False, True]


def test_tags_in_any_order_before_positionals() -> None:
    (node,) = compile_script(
        'require "comparator-i;ascii-numeric";\n'
        'if address :comparator "i;ascii-numeric" :localpart :is "to" "42" { keep; }'
    ).commands
    assert isinstance(node, s.If)
    test = node.branches[0][0]
    assert isinstance(test, s.AddressTest)
    assert test.matching.comparator.name == "i;ascii-numeric"
    assert test.part == "localpart"


def test_encoded_character() -> None:
    (node,) = compile_script(
        'require ["encoded-character", "fileinto"];\n'
        'fileinto "${hex:49 4E 42 4f 58}.${unicode:263a}${unicode:}${hex: zz}";'
    ).commands
    assert isinstance(node, s.FileInto)
    # RFC 5228 §2.4.2.4: well-formed sequences decoded, others left as written.
    assert node.mailbox.constant == "INBOX.\u263a${unicode:}${hex: zz}"
    (plain,) = compile_script('require "fileinto"; fileinto "${hex:41}";').commands
    assert isinstance(plain, s.FileInto)
    assert plain.mailbox.constant == "${hex:41}"  # without require it is just text


def test_copy_needs_its_require() -> None:
    (node,) = compile_script('require "copy"; redirect :copy "a@example.org";').commands
    assert isinstance(node, s.Redirect)
    assert node.copy


@pytest.mark.parametrize(
    ("script", "says"),
    [
        ('require "vnd.dovecot.pipe";', "unsupported extension 'vnd.dovecot.pipe'"),
        ('keep; require "fileinto";', "require must come before every other command"),
        ('fileinto "a";', "'fileinto' needs require \"fileinto\""),
        ('if envelope "from" "a" {}', "'envelope' needs require \"envelope\""),
        ('redirect :copy "a@example.org";', "':copy' needs require \"copy\""),
        ("frobnicate;", "unknown command 'frobnicate'"),
        ("if frob {}", "unknown test 'frob'"),
        ("else { keep; }", "'else' must follow 'if' or 'elsif'"),
        ("if true { keep; } stop; elsif true { }", "'elsif' must follow"),
        ("if true keep;", "'true' takes no test"),
        ("if true;", "'if' needs a block"),
        ("if true { } else true { }", "'else' takes no test"),
        ("keep true;", "'keep' takes no test"),
        ("keep { }", "'keep' takes no block"),
        ("keep 1;", "'keep' takes 0 positional arguments (none), got 1"),
        ('if header :is :contains "a" "b" {}', "':contains' conflicts with ':is'"),
        ('if header :is :is "a" "b" {}', "':is' is given twice"),
        ('if header "a" :is "b" {}', "':is' must come before the positional arguments"),
        ('if header :over 1 "a" "b" {}', "'header' has no argument ':over'"),
        ('if header "a" {}', "'header' takes 2 positional arguments (header names, keys), got 1"),
        ('if header :comparator "i;frob" "a" "b" {}', "unknown comparator 'i;frob'"),
        ('if header :comparator "i;ascii-numeric" "a" "b" {}', 'needs require "comparator-i;ascii-numeric"'),
        (
            'require "comparator-i;ascii-numeric";\n'
            'if header :contains :comparator "i;ascii-numeric" "a" "b" {}',
            "cannot be used with :contains",
        ),
        ('if header :comparator 1 "a" "b" {}', "':comparator' must be followed by a string"),
        ('if address "subject" "b" {}', "'subject' does not hold addresses"),
        ('require "envelope"; if envelope "helo" "b" {}', "unknown envelope part 'helo'"),
        ("if size 100 {}", "'size' needs :over or :under"),
        ('if size :over "1" {}', "the limit of 'size' must be a number"),
        ("if size :over :under 1 {}", "':under' conflicts with ':over'"),
        ("if not (true, false) {}", "'not' takes exactly one test"),
        ("if anyof true {}", "'anyof' takes a test list in parentheses"),
        ("if (true) {}", "'if' takes exactly one test, not a test list"),
        ("if not (true) {}", "'not' takes exactly one test, not a test list"),
        ('redirect "not an address";', "redirect to 'not an address': not a valid mail address"),
        ('redirect "";', "not a valid mail address"),
        ('require "fileinto"; fileinto ["a", "b"];', "the mailbox of 'fileinto' must be a string"),
        ('require "fileinto"; fileinto "";', "the mailbox name is empty"),
        ('require "encoded-character"; redirect "${unicode:D800}@x.org";', "is not a Unicode character"),
        ('require "reject"; reject;', "'reject' takes 1 positional argument (reason), got 0"),
        ('ereject "no";', "'ereject' needs require \"ereject\""),
    ],
)
def test_errors(script: str, says: str) -> None:
    assert_compile_error(script, says)


def test_every_command_in_error_is_reported() -> None:
    script = (
        'require ["fileinto", "nosuch"];\n'  # an unknown extension; the rest is checked still
        'keep "frop";\n'
        'if header :frop "from" "x" {\n'  # a wrong test: its block is checked too
        "  stop 13;\n"
        "}\n"
        'fileinto "${hex:ff}rop";\n'  # encoded-character gives octets that are not UTF-8
        "keep;\n"
    )
    with pytest.raises(SieveSyntaxError) as caught:
        compile_script('require "encoded-character";\n' + script)
    lines = [error.position.line for error in caught.value.errors]
    assert lines == [2, 3, 4, 5, 7]
    assert "nosuch" in caught.value.errors[0].message
    assert caught.value.errors[-1].message == "the mailbox name is not UTF-8"


def test_a_mailbox_name_built_at_run_time_must_be_utf8() -> None:
    script = compile_script(
        'require ["fileinto", "variables", "encoded-character"];\n'
        'set "box" "${hex:c3 28}";\nfileinto "${box}";'
    )
    outcome = run(
        script, SieveMessage.from_bytes(b"Subject: x\r\n\r\nbody\r\n"), Envelope("a@b.example", "c@d.example")
    )
    assert outcome.error is not None
    assert "not UTF-8" in outcome.error
    assert [type(action).__name__ for action in outcome.actions] == ["KeepAction"]
