"""The variables extension (RFC 5229): references, set and its modifiers, match variables, string."""

from __future__ import annotations

import pytest
from sieve_helpers import assert_compile_error

from pochta.sieve import (
    Envelope,
    FileIntoAction,
    RunLimits,
    SieveMessage,
    compile_script,
    run,
)
from pochta.sieve.syntax import Position
from pochta.sieve.text import MatchRef, Text, VariableRef, parse_text

AT = Position(1, 1)
MESSAGE = SieveMessage.from_bytes(
    b"List-ID: Acme Users <acme-users.example.org>\r\nSubject: [acme-users] [fwd] version 1.0 is out\r\n\r\n"
)


def filed(script: str, **limits: int) -> list[str]:
    result = run(
        compile_script(script), MESSAGE, Envelope("a@example.org", "b@example.org"), RunLimits(**limits)
    )
    assert result.error is None, result.error
    return [action.mailbox for action in result.actions if isinstance(action, FileIntoAction)]


HEAD = 'require ["variables", "fileinto", "encoded-character"];\n'


@pytest.mark.parametrize(
    ("value", "parts"),
    [
        # RFC 5229 §3's examples.
        ("&%${}!", ("&%${}!",)),
        ("${doh!}", ("${doh!}",)),
        ("${company}", (VariableRef("company"),)),
        ("${BAD${Company}", ("${BAD", VariableRef("company"))),
        ("${President, ${Company} Inc.}", ("${President, ", VariableRef("company"), " Inc.}")),
        ("${01}x${0}", (MatchRef(1), "x", MatchRef(0))),
        ("", ("",)),
        ("plain", ("plain",)),
        ("${a}${b}", (VariableRef("a"), VariableRef("b"))),
        ("${", ("${",)),
    ],
)
def test_references(value: str, parts: tuple[object, ...]) -> None:
    assert parse_text(value, AT) == Text(parts)  # type: ignore[arg-type]


def test_expansion_examples_of_rfc_5229() -> None:
    script = HEAD + (
        'set "company" "ACME";\n'
        'fileinto "${full}|${company}|${BAD${Company}|${President, ${Company} Inc.}";\n'
        # §3.1: quoting is resolved first, then encoded characters, then references.
        'fileinto "${fo\\o}|${fo\\\\o}|\\${foo}|\\\\${foo}";\n'
    )
    assert filed(script) == ["|ACME|${BADACME|${President, ACME Inc.}", "|${fo\\o}||\\"]


def test_encoded_character_before_variables() -> None:
    # RFC 5229 §3.1's example: the test string is "dear Ethelbert".
    script = HEAD + 'set "name" "Ethelbert"; set "s" "dear${hex:20 24 7b 4e}ame}"; fileinto "${s}";'
    assert filed(script) == ["dear Ethelbert"]


def test_set_modifiers() -> None:
    # RFC 5229 §4.1's examples.
    script = HEAD + (
        'set "a" "juMBlEd lETteRS";\n'
        'set :length "b" "${a}"; fileinto "${b}";\n'
        'set :lower "b" "${a}"; fileinto "${b}";\n'
        'set :upperfirst "b" "${a}"; fileinto "${b}";\n'
        'set :upperfirst :lower "b" "${a}"; fileinto "${b}";\n'
        'set :quotewildcard "b" "Rock*"; fileinto "${b}";\n'
        'set :length :upper "c" "ä"; fileinto "${c}";\n'
    )
    assert filed(script) == ["15", "jumbled letters", "JuMBlEd lETteRS", "Jumbled letters", "Rock\\*", "1"]


def test_match_variables() -> None:
    # RFC 5229 §3.2's examples.
    script = HEAD + (
        'if header :matches "List-ID" "*<*@*" { fileinto "INBOX.lists.${2}"; }\n'
        'if header :matches "List-ID" "*<*.*" { fileinto "INBOX.lists.${2}"; }\n'
        'if header :matches "Subject" "[*] *" { fileinto "${1}|${2}|${3}|${0}"; }\n'
        'if header :is "Subject" "no" { fileinto "x"; }\n'
        'fileinto "after a failed match: ${1}";\n'
        'if header :contains "Subject" "fwd" { fileinto "contains leaves them: ${1}"; }\n'
    )
    subject = "[acme-users] [fwd] version 1.0 is out"
    assert filed(script) == [
        "INBOX.lists.acme-users",
        f"acme-users|[fwd] version 1.0 is out||{subject}",
        "after a failed match: acme-users",
        "contains leaves them: acme-users",
    ]


def test_string_test() -> None:
    # RFC 5229 §5's example, and no white space stripped.
    script = HEAD + (
        'set "state" "${state} pending";\n'
        'if string :matches " ${state} " "* pending *" { fileinto "always"; }\n'
        'if string :is " a " "a" { fileinto "never"; }\n'
        'if string :is ["x", "${state}"] " pending" { fileinto "list"; }\n'
    )
    assert filed(script) == ["always", "list"]


def test_variable_limits_cut_values_and_bound_names() -> None:
    assert filed(HEAD + 'set "a" "abcdef"; fileinto "${a}";', max_variable_size=3) == ["abc"]
    script = compile_script(HEAD + 'set "a" "1"; set "b" "2"; set "c" "3";')
    result = run(script, MESSAGE, Envelope("", "b@example.org"), RunLimits(max_variables=2))
    assert result.error is not None
    assert "more than 2 variables" in result.error


def test_runtime_checks_of_built_values() -> None:
    script = compile_script(HEAD + 'set "to" "not an address"; redirect "${to}";')
    result = run(script, MESSAGE, Envelope("", "b@example.org"))
    assert result.error is not None
    assert "not a valid mail address" in result.error
    # A header name built from variables that is not a name matches nothing.
    assert filed(HEAD + 'set "h" "bad name"; if exists "${h}" { fileinto "x"; }') == []


@pytest.mark.parametrize(
    ("script", "says"),
    [
        ('set "a" "b";', "'set' needs require \"variables\""),
        ('if string "a" "b" {}', "'string' needs require \"variables\""),
        ('require "variables"; set "1" "b";', "'1' cannot be set"),
        ('require "variables"; set "a-b" "c";', "'a-b' cannot be set"),
        ('require "variables"; set "env.a" "c";', "'env.a' cannot be set"),
        ('require "variables"; set :lower :upper "a" "b";', "':upper' conflicts with ':lower'"),
        ('require "variables"; set :frob "a" "b";', "'set' has no argument ':frob'"),
        ('require "variables"; redirect "${env.x}@example.org";', "names the unknown namespace 'env'"),
        ('require "variables"; redirect "${100}@example.org";', "match variables go up to 99"),
    ],
)
def test_errors(script: str, says: str) -> None:
    assert_compile_error(script, says)


@pytest.mark.parametrize(
    ("modifier", "value", "size", "expected"),
    [
        ("encodeurl", "@" * 10, 8, "%40%40"),  # not "%40%40%4": an escape stays whole
        ("encodeurl", "\u4e03" * 3, 8, ""),  # a character is 9 octets of escapes: none fits
        ("encodeurl", "a\u4e03\u4e03", 12, "a%E4%B8%83"),
        ("quotewildcard", "****", 7, "\\*\\*\\*"),  # not a lone backslash at the end
    ],
)
def test_a_cut_never_splits_an_escape(modifier: str, value: str, size: int, expected: str) -> None:
    # RFC 5229 §6: a value past the limit is cut; the cut keeps the modifier's escapes whole.
    script = compile_script(
        f'require ["variables", "fileinto", "enotify"]; set :{modifier} "v" "{value}"; fileinto "x${{v}}";'
    )
    limits = RunLimits(max_variable_size=size)
    result = run(script, SieveMessage.from_bytes(b"\r\n"), Envelope("", "b@example.org"), limits)
    assert result.actions[0] == FileIntoAction("x" + expected)
