"""include, return and global (RFC 6609)."""

from __future__ import annotations

import pytest
from sieve_helpers import assert_compile_error

from pochta.sieve import (
    Envelope,
    FileIntoAction,
    KeepAction,
    Outcome,
    RunLimits,
    SieveMessage,
    compile_script,
    run,
)
from pochta.sieve.message import DeliveryContext

SCRIPTS = {
    ("personal", "subject_tests"): (
        'require ["include", "variables"];\n'
        'global ["test", "test_mailbox"];\n'
        'if header :contains "Subject" "${test}" { set "test_mailbox" "spam-${test}"; }\n'
    ),
    ("personal", "files_a"): 'require "fileinto"; fileinto "a";',
    ("personal", "returns"): 'require ["include", "fileinto"]; fileinto "before"; return; fileinto "after";',
    ("personal", "stops"): 'require ["include", "fileinto"]; fileinto "x"; stop;',
    ("personal", "self"): 'require "include"; include "self";',
    ("personal", "once_self"): 'require ["include", "fileinto"]; fileinto "once"; include :once "once_self";',
    ("personal", "own_variable"): 'require "variables"; set "mine" "inner";',
    ("personal", "broken"): "frobnicate;",
    ("global", "files_a"): 'require "fileinto"; fileinto "site";',
    ("personal", "deep"): 'require "include"; include "deep2";',
    ("personal", "deep2"): 'require "include"; include "deep3";',
    ("personal", "deep3"): 'require "fileinto"; fileinto "bottom";',
}


def outcome(script: str, **limits: int) -> Outcome:
    context = DeliveryContext(load_script=lambda where, name: SCRIPTS.get((where, name)))
    message = SieveMessage.from_bytes(b"Subject: Make money fast\r\n\r\nx\r\n")
    return run(
        compile_script(script),
        message,
        Envelope("a@example.org", "b@example.org"),
        RunLimits(**limits),
        context,
    )


def filed(script: str) -> list[str]:
    result = outcome(script)
    assert result.error is None, result.error
    return [action.mailbox for action in result.actions if isinstance(action, FileIntoAction)]


def test_the_global_example_of_rfc_6609() -> None:
    # §3.4.1: the included script leaves its finding in a global the main script reads.
    script = (
        'require ["fileinto", "include", "variables", "relational"];\n'
        'global "test"; global "test_mailbox";\n'
        'set "test" "$$"; include "subject_tests";\n'
        'set "test" "Make money"; include "subject_tests";\n'
        'if string :count "eq" "${test_mailbox}" "1" { fileinto "${test_mailbox}"; stop; }\n'
    )
    assert filed(script) == ["spam-Make money"]
    # §3.4.2: "global.name" is the same variable; a non-global of that name is another one.
    shared = (
        'require ["fileinto", "include", "variables"];\n'
        'global "i_am_on_vacation"; set "global.i_am_on_vacation" "1";\n'
        'if string :is "${i_am_on_vacation}" "1" { fileinto "yes"; }\n'
        'include "own_variable"; fileinto "[${mine}]";\n'
    )
    assert filed(shared) == ["yes", "[]"]  # the included script's "mine" stays its own


def test_return_stop_once_optional() -> None:
    assert filed('require ["include", "fileinto"]; include "returns"; fileinto "main";') == ["before", "main"]
    assert filed('require ["include", "fileinto"]; include "stops"; fileinto "main";') == ["x"]  # §3.2
    assert filed('require ["include", "fileinto"]; return; fileinto "main";') == []  # §3.3: as stop
    assert filed('require "include"; include "files_a"; include :once "files_a";') == ["a"]
    assert filed('require "include"; include :global "files_a";') == ["site"]
    assert filed('require "include"; include "once_self";') == ["once"]  # a recursive :once is done
    assert filed('require ["include", "fileinto"]; include :optional "missing"; fileinto "on";') == ["on"]
    assert filed('require "include"; include "deep";') == ["bottom"]


@pytest.mark.parametrize(
    ("script", "says"),
    [
        ('require "include"; include "missing";', "personal script 'missing' does not exist"),
        ('require "include"; include "self";', "includes itself"),
        ('require "include"; include "broken";', "unknown command 'frobnicate'"),
    ],
)
def test_runtime_errors_keep(script: str, says: str) -> None:
    result = outcome(script)
    assert result.actions == (KeepAction(implicit=True),)
    assert result.error is not None
    assert says in result.error


def test_include_limits() -> None:
    result = outcome('require "include"; include "deep";', max_include_depth=2)
    assert result.error is not None
    assert "includes nested more than 2 deep" in result.error


@pytest.mark.parametrize(
    ("script", "says"),
    [
        ('include "a";', "'include' needs require \"include\""),
        ('require "include"; include "../frop";', "is not a script name"),
        ('require ["include", "encoded-character"]; include "a${unicode:2028}";', "is not a script name"),
        ('require "include"; include :personal :global "a";', "':global' conflicts with ':personal'"),
        ('require "include"; global "a";', "'global' needs require \"variables\""),
        ('require ["include", "variables"]; global "1";', "'1' cannot be a global variable"),
        ('require ["include", "variables"]; set "global.1" "x";', "'global.1' cannot be set"),
        (
            'require ["include", "variables"]; set "x" "${global.a.b}";',
            "is no variable of the global namespace",
        ),
        ('require "variables"; set "x" "${global.a}";', "names the unknown namespace 'global'"),
    ],
)
def test_errors(script: str, says: str) -> None:
    assert_compile_error(script, says)
