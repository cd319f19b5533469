"""editheader (RFC 5293): addheader, deleteheader, what later tests and actions see."""

from __future__ import annotations

import pytest
from sieve_helpers import assert_compile_error

from pochta.sieve import (
    Envelope,
    FileIntoAction,
    KeepAction,
    Outcome,
    RedirectAction,
    SieveMessage,
    compile_script,
    run,
)

MESSAGE = (
    b"Received: from a by b; Mon, 26 Feb 2007 09:30:00 -0500\r\n"
    b"X-Hello: one\r\n"
    b"Subject: Hi\r\n"
    b"X-Hello: two\r\n"
    b"Delivered-To: bob@example.com\r\n"
    b"X-Hello: three\r\n"
    b"Auto-Submitted: no\r\n"
    b"\r\n"
    b"body\r\n"
)
HEAD = 'require ["editheader", "fileinto", "variables"];\n'


def outcome(script: str) -> Outcome:
    return run(
        compile_script(HEAD + script),
        SieveMessage.from_bytes(MESSAGE),
        Envelope("a@example.org", "me@example.org"),
    )


def stored(script: str) -> bytes:
    result = outcome(script)
    assert result.error is None, result.error
    keeps = [action for action in result.actions if isinstance(action, KeepAction)]
    assert len(keeps) == 1
    assert keeps[0].message is not None
    return keeps[0].message


def test_addheader_first_or_last_and_seen_by_later_tests() -> None:
    message = stored('addheader "X-Sieve-Filtered" "<kim@job.example.com>"; addheader :last "X-End" "yes";')
    assert message.startswith(b"X-Sieve-Filtered: <kim@job.example.com>\r\nReceived: ")
    assert message.endswith(b"Auto-Submitted: no\r\nX-End: yes\r\n\r\nbody\r\n")
    # §7: tests see the current header.
    result = outcome(
        'addheader "X-Hello" "World"; if header :contains "X-Hello" "World" { fileinto "international"; }'
    )
    assert FileIntoAction("international", message=result.actions[0].message) in result.actions  # type: ignore[union-attr]


def test_deleteheader_by_index_and_pattern() -> None:
    # §7's examples: add then delete index 1 leaves the message as it was.
    result = outcome('addheader "X-Hello" "World"; deleteheader :index 1 "X-Hello";')
    assert result.actions == (KeepAction(implicit=True, message=MESSAGE),)
    # Deleting index 1 and then index 2 deletes the first and third of three.
    message = stored('deleteheader :index 1 "X-Hello"; deleteheader :index 2 "X-Hello";')
    assert b"X-Hello: two\r\n" in message
    assert b"one" not in message
    assert b"three" not in message
    # §5: :index counts before the patterns decide; :last counts from the end.
    assert b"Delivered-To" not in stored('deleteheader :index 1 :contains "Delivered-To" "bob@example.com";')
    kept = outcome('deleteheader :index 1 :contains "X-Hello" "two";')
    assert kept.actions == (KeepAction(implicit=True),)  # nothing matched: unchanged
    assert b"X-Hello: three" not in stored('deleteheader :index 1 :last "X-Hello";')
    assert b"X-Hello" not in stored('deleteheader "x-hello";')
    assert b"X-Hello: one" in stored('deleteheader :matches "X-Hello" ["t*"];')


def test_protected_fields_are_silently_kept() -> None:
    # §6: never Received or Auto-Submitted; a change to them is ignored, not an error.
    result = outcome('deleteheader "Received"; deleteheader "auto-submitted"; addheader "Received" "x";')
    assert result.error is None
    assert result.actions == (KeepAction(implicit=True),)


def test_values_are_made_valid_field_bodies() -> None:
    message = stored('addheader "X-Note" "Grüße aus Köln";')
    line = message.split(b"\r\n")[0]
    assert line.startswith(b"X-Note: =?UTF-8?B?")
    assert SieveMessage.from_bytes(message).header_texts("x-note") == ("Grüße aus Köln",)
    long = stored(
        'set "v" "word"; set "w" "${v} ${v} ${v} ${v} ${v} ${v} ${v} ${v} ${v} ${v}";\n'
        'set "x" "${w} ${w} ${w} ${w} ${w} ${w} ${w} ${w} ${w} ${w}";\n'
        'addheader "X-Long" "${x} ${x} ${x}";'
    )
    assert max(len(line) for line in long.split(b"\r\n")) <= 998


def test_actions_carry_the_message_as_it_was_then() -> None:
    result = outcome(
        'redirect "a@example.org"; addheader "X-Flavor" "vanilla"; redirect "b@example.org"; keep;'
    )
    first, second, keep = result.actions
    assert isinstance(first, RedirectAction)
    assert first.message is None  # §7: before the edit, as it came
    assert isinstance(second, RedirectAction)
    assert second.message is not None
    assert second.message.startswith(b"X-Flavor: vanilla\r\n")
    assert isinstance(keep, KeepAction)
    assert keep.message == second.message
    # An error falls back to the implicit keep of the original message (§7).
    failed = outcome('addheader "X-A" "b"; set "n" "bad name"; addheader "${n}" "x";')
    assert failed.actions == (KeepAction(implicit=True),)
    assert failed.error is not None
    assert "is not a header field name" in failed.error


@pytest.mark.parametrize(
    ("script", "says"),
    [
        ('addheader "X-A" "b";', "'addheader' needs require \"editheader\""),
        ('require "editheader"; addheader "X A" "b";', "'X A' is not a header field name"),
        ('require "editheader"; deleteheader :last "X-A";', ":last needs :index"),
        ('require "editheader"; deleteheader "X-A" "a" "b";', "'deleteheader' takes 1 positional argument"),
        ('require "editheader"; addheader :index 1 "X-A" "b";', "'addheader' has no argument ':index'"),
    ],
)
def test_errors(script: str, says: str) -> None:
    assert_compile_error(script, says)


def test_fields_the_administrator_protects() -> None:
    # RFC 5293 §6: a site may keep fields from being added or deleted; the attempt is ignored.
    from pydantic import ValidationError

    from pochta.config_sieve import SieveSettings

    settings = SieveSettings(editheader_forbid_add=["X-Spam-Flag"], editheader_forbid_delete=["Delivered-To"])
    result = run(
        compile_script(
            HEAD + 'addheader "X-Spam-Flag" "NO"; deleteheader "delivered-to"; deleteheader "subject";'
            'addheader "X-Other" "yes";'
        ),
        SieveMessage.from_bytes(MESSAGE),
        Envelope("a@example.org", "me@example.org"),
        settings.run_limits(),
    )
    [keep] = result.actions
    assert isinstance(keep, KeepAction)
    assert keep.message is not None
    assert b"X-Spam-Flag" not in keep.message
    assert b"Delivered-To: bob@example.com" in keep.message
    assert b"Subject:" not in keep.message  # Subject stays editable
    assert keep.message.startswith(b"X-Other: yes\r\n")
    with pytest.raises(ValidationError, match="Subject must stay editable"):
        SieveSettings(editheader_forbid_delete=["Subject"])
    with pytest.raises(ValidationError, match="not a header field name"):
        SieveSettings(editheader_forbid_add=["X Bad"])
