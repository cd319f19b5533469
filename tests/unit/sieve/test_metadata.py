"""mboxmetadata and servermetadata (RFC 5490 §3.3-§4.2) over the METADATA entries delivery gives."""

from __future__ import annotations

import pytest
from sieve_helpers import assert_compile_error

from pochta.sieve import Envelope, FileIntoAction, SieveMessage, VacationAction, compile_script, run
from pochta.sieve.message import DeliveryContext

ENTRIES = {
    ("INBOX", "/private/vendor/vendor.isode/auto-replies"): "on",
    ("Lists", "/shared/comment"): "mailing lists",
    (None, "/private/vendor/vendor.isode/notification-uri"): "mailto:pager@example.com",
    (None, "/shared/admin"): "mailto:postmaster@example.org",
}


def actions(script: str) -> list[object]:
    context = DeliveryContext(metadata=lambda mailbox, entry: ENTRIES.get((mailbox, entry)))
    message = SieveMessage.from_bytes(
        b"From: a@example.net\r\nTo: me@example.org\r\nSubject: Hi\r\n\r\nx\r\n"
    )
    result = run(
        compile_script(script), message, Envelope("a@example.net", "me@example.org"), context=context
    )
    assert result.error is None, result.error
    return list(result.actions)


def test_the_metadata_example_of_rfc_5490() -> None:
    script = (
        'require ["mboxmetadata", "vacation"];\n'
        'if metadata :is "INBOX" "/private/vendor/vendor.isode/auto-replies" "on" {\n'
        '  vacation "I\'m away on holidays till March 2009.";\n'
        "}\n"
    )
    assert any(isinstance(action, VacationAction) for action in actions(script))


def test_metadata_tests() -> None:
    head = 'require ["mboxmetadata", "servermetadata", "fileinto", "variables"];\n'
    script = head + (
        'if metadata :contains "Lists" "/shared/comment" "list" { fileinto "a"; }\n'
        'if metadata "Lists" "/shared/nothing" "" { fileinto "b"; }\n'  # no value: false, even for ""
        'if metadataexists "INBOX" ["/private/vendor/vendor.isode/auto-replies"] { fileinto "c"; }\n'
        'if metadataexists "INBOX" ["/private/vendor/vendor.isode/auto-replies", "/shared/x"]\n'
        '{ fileinto "d"; }\n'
        'if servermetadata :matches "/private/vendor/vendor.isode/notification-uri" "*"\n'
        '{ set "uri" "${0}"; }\n'
        'fileinto "${uri}";\n'
        'if servermetadataexists "/shared/admin" { fileinto "e"; }\n'
    )
    assert [a.mailbox for a in actions(script) if isinstance(a, FileIntoAction)] == [
        "a",
        "c",
        "mailto:pager@example.com",
        "e",
    ]


@pytest.mark.parametrize(
    ("script", "says"),
    [
        ('if metadata "INBOX" "/shared/comment" "x" {}', "'metadata' needs require \"mboxmetadata\""),
        (
            'if servermetadataexists "/shared/admin" {}',
            "'servermetadataexists' needs require \"servermetadata\"",
        ),
        ('require "mboxmetadata"; if metadata "INBOX" "/other/x" "x" {}', "is no METADATA entry name"),
        (
            'require "servermetadata"; if servermetadataexists ["/shared/a", "/shared/*"] {}',
            "is no METADATA entry",
        ),
        (
            'require "mboxmetadata"; if metadata "/shared/comment" "x" {}',
            "'metadata' takes 3 positional arguments",
        ),
    ],
)
def test_errors(script: str, says: str) -> None:
    assert_compile_error(script, says)
