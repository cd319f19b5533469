"""Running scripts over messages (RFC 5228 §2.10, §4, §5; RFC 3894; RFC 5429)."""

from __future__ import annotations

import pytest

from pochta.sieve import (
    Envelope,
    FileIntoAction,
    KeepAction,
    Outcome,
    RedirectAction,
    RejectAction,
    RunLimits,
    SieveMessage,
    compile_script,
    run,
)
from shared_dir import corpus_messages

MESSAGE = (
    b"From: Alice Example <alice@Example.ORG>\r\n"
    b'To: team: bob@example.net, "carol x"@example.com;, dave@example.org\r\n'
    b"Cc: not an address\r\n"
    b"Subject: =?UTF-8?B?w5xiZXIgdGhlIG1lZXRpbmc=?=\r\n"
    b"X-Spam-Score:   7  \r\n"
    b"X-Caffeine: C8H10N4O2\r\n"
    b"Received: one\r\n"
    b"Received: two\r\n"
    b"\r\n"
    b"body\r\n"
)
ENVELOPE = Envelope("bounce+123@lists.example.org", "me@example.com")


def outcome(script: str, message: bytes = MESSAGE, envelope: Envelope = ENVELOPE, **limits: int) -> Outcome:
    return run(compile_script(script), SieveMessage.from_bytes(message), envelope, RunLimits(**limits))


def actions(script: str, **kwargs: object) -> list[object]:
    result = outcome(script, **kwargs)  # type: ignore[arg-type]
    assert result.error is None
    return list(result.actions)


KEEP = KeepAction()
IMPLICIT = KeepAction(implicit=True)


def test_implicit_keep_and_what_cancels_it() -> None:
    # RFC 5228 §2.10.2: an empty script keeps; discard, fileinto and redirect cancel the implicit keep.
    assert actions("") == [IMPLICIT]
    assert actions("discard;") == []
    assert actions('require "fileinto"; fileinto "Lists";') == [FileIntoAction("Lists")]
    assert actions('redirect "x@example.org";') == [RedirectAction("x@example.org")]
    # RFC 3894: :copy does not.
    assert actions('require ["fileinto", "copy"]; fileinto :copy "Lists";') == [
        FileIntoAction("Lists"),
        IMPLICIT,
    ]
    # An explicit keep stays, whatever follows (§4.4: discard only cancels the implicit keep).
    assert actions("keep; discard;") == [KEEP]


def test_duplicates_are_done_once() -> None:
    # RFC 5228 §2.10.3.
    assert actions('require "fileinto"; fileinto "A"; fileinto "A"; keep; fileinto "inbox";') == [
        FileIntoAction("A"),
        KEEP,
    ]
    assert actions('redirect "x@example.org"; redirect "x@example.org";') == [RedirectAction("x@example.org")]


def test_stop_ends_the_script() -> None:
    assert actions('require "fileinto"; fileinto "A"; stop; fileinto "B";') == [FileIntoAction("A")]
    assert actions("stop; discard;") == [IMPLICIT]


def test_header_test() -> None:
    # RFC 5228 §5.7's own example, and decoded encoded words (§2.7.2), trimmed values.
    assert actions('if header :is ["X-Caffeine"] [""] { discard; }') == [IMPLICIT]
    assert actions('if header :contains ["X-Caffeine"] [""] { discard; }') == []
    assert actions('if header :is "x-caffeine" "c8h10n4o2" { discard; }') == []  # i;ascii-casemap
    assert actions('if header :comparator "i;octet" :is "x-caffeine" "c8h10n4o2" { discard; }') == [IMPLICIT]
    assert actions('if header :contains "subject" "über" { discard; }') == [IMPLICIT]  # casemap: ASCII only
    assert actions('if header :contains "subject" "Über the" { discard; }') == []
    assert actions('if header :is "x-spam-score" "7" { discard; }') == []
    assert actions('if header :is "received" "two" { discard; }') == []  # any value of the name
    assert actions('if not header :matches "Bcc" "?*" { discard; }') == []
    assert actions('if header :matches ["nope", "subject"] ["x", "*meeting"] { discard; }') == []
    # A name that is no field name is not an error (as in Pigeonhole): it matches nothing.
    assert actions('if header :contains ["subject:", "to!", "bad name"] "" { discard; }') == [IMPLICIT]


def test_address_test() -> None:
    assert actions('if address :is "from" "alice@example.org" { discard; }') == []
    assert actions('if address :domain :is "from" "EXAMPLE.org" { discard; }') == []
    assert actions('if address :localpart :is "from" "alice" { discard; }') == []
    # Group members count; a quoted local part is compared in its RFC 5322 form for :all.
    assert actions('if address :is "to" "bob@example.net" { discard; }') == []
    assert actions('if address :localpart :is "to" "carol x" { discard; }') == []
    assert actions('if address :all :is "to" "\\"carol x\\"@example.com" { discard; }') == []
    # RFC 5228 §2.7.4: an invalid address matches only as :all.
    assert actions('if address :all :is "cc" "not an address" { discard; }') == []
    assert actions('if address :localpart :contains "cc" "" { discard; }') == [IMPLICIT]
    assert actions('if address :is "from" "Alice Example" { discard; }') == [IMPLICIT]


def test_envelope_test() -> None:
    script = 'require "envelope"; if envelope :{part} :is "{name}" "{key}" {{ discard; }}'
    assert actions(script.format(part="domain", name="from", key="lists.example.org")) == []
    assert actions(script.format(part="localpart", name="from", key="bounce+123")) == []
    assert actions(script.format(part="all", name="to", key="ME@example.com")) == []
    # RFC 5228 §5.4: the null reverse-path is "" whatever the address part.
    null = Envelope("", "me@example.com")
    assert actions(script.format(part="domain", name="from", key=""), envelope=null) == []
    assert actions(script.format(part="all", name="from", key=""), envelope=ENVELOPE) == [IMPLICIT]


def test_exists_size_and_logic() -> None:
    size = len(MESSAGE)
    assert actions('if exists ["from", "x-caffeine"] { discard; }') == []
    assert actions('if exists ["from", "nope"] { discard; }') == [IMPLICIT]
    assert actions(f"if size :over {size - 1} {{ discard; }}") == []
    assert actions(f"if size :over {size} {{ discard; }}") == [IMPLICIT]
    assert actions(f"if size :under {size + 1} {{ discard; }}") == []
    assert actions(f"if size :under {size} {{ discard; }}") == [IMPLICIT]
    assert actions(
        "if allof (true, false) { discard; } elsif anyof (false, true) { stop; } else { discard; }"
    ) == [IMPLICIT]
    assert actions("if allof (true, not false) { discard; }") == []


def test_reject() -> None:
    assert actions('require "reject"; reject "go away";') == [RejectAction("go away", extended=False)]
    assert actions('require "ereject"; ereject "no";') == [RejectAction("no", extended=True)]


@pytest.mark.parametrize(
    ("script", "says"),
    [
        ('require "reject"; keep; reject "no";', "reject together with an action that delivers"),
        ('require ["reject", "fileinto"]; reject "no"; fileinto "A";', "together with reject"),
        ('require ["reject", "ereject"]; reject "no"; ereject "again";', "more than one reject"),
        (
            'redirect "a@example.org"; redirect "b@example.org"; redirect "c@example.org";',
            "more than 2 redirects",
        ),
        (
            'require "fileinto"; fileinto "A"; fileinto "B"; fileinto "C"; fileinto "D";',
            "more than 3 actions",
        ),
    ],
)
def test_runtime_errors_fall_back_to_the_implicit_keep(script: str, says: str) -> None:
    # RFC 5228 §2.10.6 and the issue: an error never loses the message.
    result = outcome(script, max_redirects=2, max_actions=3)
    assert result.actions == (IMPLICIT,)
    assert result.error is not None
    assert says in result.error
    assert result.error.startswith("line 1, column ")


CORPUS_SCRIPT = compile_script(
    'require ["envelope", "fileinto", "comparator-i;ascii-numeric"];\n'
    'if address :domain :is ["from", "sender", "to", "cc", "reply-to"] "example.com" { fileinto "a"; }\n'
    'if header :matches ["subject", "received", "content-type"] ["*a*b?c*", "*"] { fileinto "b"; }\n'
    'if header :comparator "i;ascii-numeric" :is "x-spam-score" "5" { fileinto "c"; }\n'
    'if address :localpart :contains "to" "" { fileinto "d"; }\n'
    'if envelope :all :is "from" "" { fileinto "e"; }\n'
    'if anyof (exists "date", size :over 10K) { fileinto "f"; }\n'
)


def test_every_corpus_message_runs() -> None:
    # Real-world and malformed messages (../shared/corpus): headers that do not parse, bad
    # encodings, odd addresses: the script runs to the end, never an exception.
    messages = corpus_messages()
    assert messages
    allowed = {FileIntoAction(name) for name in "abcdef"} | {IMPLICIT}
    seen: set[object] = set()
    for _, data in messages:
        result = run(CORPUS_SCRIPT, SieveMessage.from_bytes(data), Envelope("", "me@example.com"))
        assert result.error is None
        assert set(result.actions) <= allowed
        assert FileIntoAction("e") in result.actions  # the null sender matches every time
        seen.update(result.actions)
    assert FileIntoAction("b") in seen  # the corpus exercises the header test too


def test_redirect_takes_a_mailbox_as_rfc_5322_writes_it() -> None:
    # RFC 5228 §4.2: an RFC 5322 mailbox; the SMTP path it names is what delivery gets.
    assert actions('redirect " stephan@example.org";') == [RedirectAction("stephan@example.org")]
    assert actions('redirect "Stephan Bosch <stephan@example.com>";') == [
        RedirectAction("stephan@example.com")
    ]
    assert actions('redirect "\\"a b\\"@example.org";') == [RedirectAction('"a b"@example.org')]
