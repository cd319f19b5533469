"""The imapsieve extension's pure part (RFC 6785): require, the environment items, what cannot run
on an IMAP event, imap4flags starting from the message's flags, and the decision on the message."""

from __future__ import annotations

import pytest
from sieve_helpers import assert_compile_error

from pochta.sieve import SUPPORTED_EXTENSIONS, Envelope, KeepAction, SieveMessage, compile_script, run
from pochta.sieve.actions import FileIntoAction, RedirectAction, RejectAction
from pochta.sieve.imapsieve import (
    DELIVERY_ITEMS,
    changed_flags,
    decide,
    event_items,
    inapplicable,
)
from pochta.sieve.message import DeliveryContext

MESSAGE = b"From: a@example.org\r\nSubject: hello\r\n\r\nbody\r\n"
ENVELOPE = Envelope("owner@example.org", "owner@example.org")


def _event(**items: str) -> DeliveryContext:
    environment = event_items(cause="FLAG", mailbox="INBOX", user="bob", email="bob@example.org") | items
    return DeliveryContext(environment=environment, imap_event=True, flags=("\\Seen", "$Work"))


def _run(source: str, context: DeliveryContext, load: dict[str, str] | None = None) -> object:
    if load is not None:
        context = DeliveryContext(
            environment=context.environment,
            imap_event=context.imap_event,
            flags=context.flags,
            load_script=lambda where, name: load.get(name),
        )
    return run(compile_script(source), SieveMessage.from_bytes(MESSAGE), ENVELOPE, context=context)


def test_imapsieve_is_a_capability_that_require_accepts() -> None:
    assert "imapsieve" in SUPPORTED_EXTENSIONS  # RFC 6785 §2.1, §7.2
    compile_script('require ["imapsieve", "environment"];\nkeep;\n')
    assert_compile_error('require "imapsieve2";\nkeep;\n', "unsupported extension")


def test_event_items_and_the_empty_delivery_items() -> None:
    items = event_items(cause="FLAG", mailbox="Work", user="bob", email="bob@x.org", changed=["\\Seen", "$A"])
    assert items == {
        "location": "MS",  # RFC 6785 §4.1
        "phase": "post",
        "imap.user": "bob",  # §4.2
        "imap.email": "bob@x.org",
        "imap.cause": "FLAG",  # §4.3
        "imap.mailbox": "Work",  # §4.4
        "imap.changedflags": "\\Seen $A",  # §4.5
    }
    assert (
        event_items(cause="COPY", mailbox="W", user="b", email="b", changed=["x"])["imap.changedflags"] == ""
    )
    with pytest.raises(ValueError, match="cause"):
        event_items(cause="EXPUNGE", mailbox="W", user="b", email="b")
    assert DELIVERY_ITEMS == {"imap.user": "", "imap.email": ""}  # §4.2: empty at delivery


def test_environment_test_sees_the_event_and_hasflag_the_message_flags() -> None:
    source = (
        'require ["imapsieve", "environment", "imap4flags"];\n'
        'if allof (environment :is "imap.cause" "FLAG", environment :is "imap.user" "bob",\n'
        '          environment :contains "imap.changedflags" "\\\\Flagged", hasflag "$Work") {\n'
        '    addflag "\\\\Answered";\n}\n'
    )
    outcome = _run(source, _event(**{"imap.changedflags": "\\Flagged"}))
    # RFC 6785 §3.8: the internal variable started as the message's flags; the keep carries them.
    assert outcome.actions == (KeepAction(implicit=True, flags=("\\Seen", "$Work", "\\Answered")),)


def test_reject_ereject_and_vacation_fail_on_an_imap_event_only() -> None:
    for extension in ("reject", "ereject", "vacation", "vacation-seconds"):
        source = f'require ["imapsieve", "{extension}"];\nkeep;\n'
        outcome = _run(source, _event())
        assert outcome.error is not None
        assert "RFC 6785 §3.11" in outcome.error  # §3.11: in the require already
        assert outcome.actions == (KeepAction(implicit=True),)
        delivered = _run(source, DeliveryContext())
        assert delivered.error is None
    assert inapplicable(["fileinto", "vacation", "reject"]) == "reject"
    assert inapplicable(["fileinto", "imap4flags"]) is None


def test_an_included_script_with_vacation_fails_on_an_imap_event() -> None:
    source = 'require ["imapsieve", "include"];\ninclude "auto";\n'
    outcome = _run(source, _event(), {"auto": 'require "vacation";\nvacation "away";\n'})
    assert outcome.error is not None
    assert "RFC 6785 §3.11" in outcome.error


def test_the_envelope_test_is_a_runtime_error_on_an_imap_event() -> None:
    source = 'require ["envelope", "fileinto"];\nif envelope :all "from" "x@y" { stop; }\nfileinto "A";\n'
    outcome = _run(source, _event())
    assert outcome.error is not None
    assert "RFC 6785 §4.6" in outcome.error
    assert outcome.actions == (KeepAction(implicit=True),)  # nothing of what it did before stands
    assert _run(source, DeliveryContext()).error is None


def test_changed_flags_is_the_symmetric_difference_without_case() -> None:
    assert changed_flags(["\\Seen", "$Work"], ["\\seen", "\\Flagged"]) == ("$Work", "\\Flagged")
    assert changed_flags(["\\Seen"], ["\\SEEN"]) == ()


def test_decide_keep_flags_fileinto_redirect_and_discard() -> None:
    held = ("\\Seen",)
    kept = decide([KeepAction(implicit=True, flags=("\\Seen",))], held)
    assert (kept.keep, kept.flags, kept.changes) == (True, None, False)  # nothing to do
    flagged = decide([KeepAction(flags=("\\Seen", "\\Flagged"))], held)
    assert (flagged.keep, flagged.flags) == (True, ("\\Seen", "\\Flagged"))  # RFC 6785 §3.8
    # RFC 6785 §3.3, §3.4: fileinto or redirect without keep: the original is marked \Deleted.
    moved = decide([FileIntoAction("Archive", ("\\Seen",))], held)
    assert (moved.keep, moved.fileinto[0].mailbox, moved.changes) == (False, "Archive", True)
    sent = decide([RedirectAction("a@b.example"), KeepAction(implicit=True, flags=held)], held)
    assert (sent.keep, sent.redirect[0].address) == (True, "a@b.example")
    discarded = decide([], held)  # RFC 6785 §3.5: discard leaves no keep
    assert (discarded.keep, discarded.changes) == (False, True)
    with pytest.raises(ValueError, match=r"3\.11"):
        decide([RejectAction("no", extended=False)], held)
