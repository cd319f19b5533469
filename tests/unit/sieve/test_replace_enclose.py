"""replace and enclose (RFC 5703 section 5 and section 6): the message they make is what later
tests see and what keep, fileinto and the implicit keep store; redirect sends the message
without its enclosure."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from sieve_helpers import assert_compile_error

from pochta.sieve import (
    SUPPORTED_EXTENSIONS,
    Envelope,
    FileIntoAction,
    KeepAction,
    RedirectAction,
    SieveMessage,
    compile_script,
    run,
)
from pochta.sieve.message import DeliveryContext
from pochta.sieve.run_state import Outcome

MIXED = (
    b"From: Carol <carol@example.net>\r\nTo: alice@example.org\r\nSubject: files\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=OUT\r\n\r\n"
    b"--OUT\r\nContent-Type: multipart/alternative; boundary=ALT\r\n\r\n"
    b"--ALT\r\nContent-Type: text/plain\r\n\r\nplain\r\n"
    b"--ALT\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--ALT--\r\n"
    b"--OUT\r\nContent-Type: application/octet-stream\r\n\r\nMZ\r\n--OUT--\r\n"
)
NOW = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)


def outcome(script: str, data: bytes = MIXED) -> Outcome:
    context = DeliveryContext(user_addresses=("alice@example.org",), now=NOW)
    return run(
        compile_script(script),
        SieveMessage.from_bytes(data),
        Envelope("carol@example.net", "alice@example.org"),
        context=context,
    )


def stored(script: str, data: bytes = MIXED) -> EmailMessage:
    result = outcome(script, data)
    assert result.error is None, result.error
    [keep] = [action for action in result.actions if isinstance(action, KeepAction)]
    assert keep.message is not None
    parsed = email.message_from_bytes(keep.message, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_capability_is_advertised() -> None:
    assert {"replace", "enclose"} <= SUPPORTED_EXTENSIONS


def test_replace_the_whole_message_keeps_other_fields() -> None:
    message = stored('require "replace"; replace "Gone.";')
    assert message["Subject"] == "files"
    assert message["From"] == "Carol <carol@example.net>"
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert message.get_content() == "Gone."
    assert len(message.get_all("MIME-Version") or []) == 1


def test_replace_subject_and_from_keep_the_originals_which_editheader_cannot_touch() -> None:
    message = stored(
        'require ["replace", "editheader"];\n'
        'replace :subject "Räumung" :from "Filter <filter@example.org>" "Gone.";\n'
        'deleteheader "Original-Subject"; deleteheader "Original-From";\n'
    )
    assert message["Subject"] == "Räumung"  # RFC 2047 encoded in the field
    assert message["Original-Subject"] == "files"
    assert message["From"] == "Filter <filter@example.org>"
    assert message["Original-From"] == "Carol <carol@example.net>"


def test_replace_with_a_mime_entity() -> None:
    message = stored(
        'require "replace";\n'
        "replace :mime text:\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n<b>new</b>\r\n.\r\n;"
    )
    assert message.get_content_type() == "text/html"
    assert message.get_content().strip() == "<b>new</b>"


def test_replace_a_part_in_foreverypart_and_the_loop_skips_what_it_removed() -> None:
    script = (
        'require ["foreverypart", "mime", "replace", "variables", "fileinto", "body"];\n'
        "foreverypart {\n"
        '  if header :mime :contenttype :matches "content-type" "*" { set "seen" "${seen} ${1}"; }\n'
        '  if header :mime :subtype "content-type" "alternative" { replace "was alternative"; }\n'
        "}\n"
        'fileinto "${seen}";\n'
        'if body :text :contains "was alternative" { fileinto "replaced"; }\n'
        'if size :under 400 { fileinto "smaller"; }\n'
    )
    result = outcome(script)
    assert result.error is None, result.error
    names = [action.mailbox for action in result.actions if isinstance(action, FileIntoAction)]
    # The text/plain and text/html parts went with their multipart and were never visited.
    assert names == [
        " multipart/mixed multipart/alternative application/octet-stream",
        "replaced",
        "smaller",
    ]
    filed = result.actions[0]
    assert isinstance(filed, FileIntoAction)
    assert filed.message is not None
    parsed = email.message_from_bytes(filed.message, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    first, second = parsed.iter_parts()
    assert first.get_content_type() == "text/plain"
    assert first.get_content().strip() == "was alternative"
    assert second.get_content_type() == "application/octet-stream"


def test_replace_of_8bit_text_is_quoted_printable() -> None:
    result = outcome('require "replace"; replace "Grüße";')
    [keep] = result.actions
    assert isinstance(keep, KeepAction)
    assert keep.message is not None
    assert keep.message.isascii()
    assert b"Content-Transfer-Encoding: quoted-printable" in keep.message
    parsed = email.message_from_bytes(keep.message, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed.get_content() == "Grüße"


def test_enclose() -> None:
    message = stored('require "enclose"; enclose :headers ["to", "subject"] "Please look at this.";')
    assert message["Subject"] == "files"  # section 6: the enclosed message's without :subject
    assert message["To"] == "alice@example.org"  # copied, as :headers asks
    assert message["From"] == "alice@example.org"  # made: the user
    assert message["Date"] == "Mon, 07 Dec 2026 05:00:00 +0000"
    assert message.get_content_type() == "multipart/mixed"
    note, attached = message.iter_parts()
    assert note.get_content().strip() == "Please look at this."
    assert attached.get_content_type() == "message/rfc822"
    [inner] = attached.iter_parts()
    assert inner["Subject"] == "files"
    assert [part.get_content_type() for part in inner.walk()][:2] == [
        "multipart/mixed",
        "multipart/alternative",
    ]


def test_enclose_twice_nests_and_redirect_sends_the_message_without_enclosure() -> None:
    result = outcome(
        'require ["enclose"]; enclose :subject "one" "1"; enclose :subject "two" "2";\n'
        'redirect "bob@example.org"; keep;'
    )
    assert result.error is None, result.error
    [redirect, keep] = result.actions
    assert isinstance(redirect, RedirectAction)
    assert isinstance(keep, KeepAction)
    assert redirect.message == MIXED
    assert keep.message is not None
    outer = email.message_from_bytes(keep.message, policy=email.policy.default)
    assert outer["Subject"] == "two"
    inner = next(part for part in outer.walk() if part.get_content_type() == "message/rfc822")
    [middle] = inner.iter_parts()
    assert middle["Subject"] == "one"


@pytest.mark.parametrize(
    ("script", "says"),
    [
        ('replace "x";', "'replace' needs require \"replace\""),
        ('enclose "x";', "'enclose' needs require \"enclose\""),
        ('require "replace"; replace :from "not an address" "x";', "is not a valid address"),
        ('require "replace"; replace :mime;', "replace"),
        ('require "enclose"; enclose :headers "x";', "enclose"),
    ],
)
def test_errors(script: str, says: str) -> None:
    assert_compile_error(script, says)


def test_runtime_errors_keep_the_message() -> None:
    bad_from = outcome('require ["replace", "variables"]; set "f" "nobody"; replace :from "${f}" "x";')
    assert bad_from.error is not None
    assert "not a valid address" in bad_from.error
    in_loop = outcome('require ["enclose", "foreverypart"]; foreverypart { enclose "x"; }')
    assert in_loop.error is not None
    assert "inside foreverypart" in in_loop.error
