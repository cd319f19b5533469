"""foreverypart, break, the :mime tests and extracttext (RFC 5703 §3, §4, §7)."""

from __future__ import annotations

import pytest
from sieve_helpers import assert_compile_error

from pochta.sieve import Envelope, FileIntoAction, SieveMessage, compile_script, run

MESSAGE = b"\r\n".join(
    [
        b"From: a@example.org",
        b"Subject: parts",
        b"Content-Type: multipart/mixed; boundary=AA",
        b"X-Test: root",
        b"",
        b"--AA",
        b'Content-Type: text/plain; charset="utf-8"',
        b"X-Test: first",
        b"",
        b"Hello there, this is the first part.",
        b"--AA",
        b'Content-Type: application/zip; name="evil.zip"',
        b'Content-Disposition: attachment; filename="evil.zip"',
        b"X-Test: second",
        b"",
        b"UEsDBA==",
        b"--AA--",
        b"",
    ]
)
HEAD = 'require ["foreverypart", "mime", "extracttext", "variables", "fileinto"];\n'


def filed(script: str) -> list[str]:
    result = run(
        compile_script(HEAD + script),
        SieveMessage.from_bytes(MESSAGE),
        Envelope("a@example.org", "b@example.org"),
    )
    assert result.error is None, result.error
    return [action.mailbox for action in result.actions if isinstance(action, FileIntoAction)]


def test_every_part_in_order_and_nested_loops() -> None:
    # §3.1: the message first, then the parts below, depth first.
    assert filed(
        'set "seen" ""; foreverypart { if header :mime :matches "X-Test" "*" { set "seen" "${seen}${1},"; } }'
        ' fileinto "${seen}";'
    ) == ["root,first,second,"]
    # A nested loop visits the parts below the current one.
    nested = (
        'set "seen" ""; foreverypart { if header :mime "X-Test" "root" {'
        ' foreverypart { if header :mime :matches "X-Test" "*" { set "seen" "${seen}${1},"; } } } }'
        ' fileinto "${seen}";'
    )
    assert filed(nested) == ["first,second,"]


def test_break_leaves_the_loop_named() -> None:
    script = (
        'set "seen" "";\n'
        'foreverypart :name "outer" {\n'
        '  foreverypart { if header :mime "X-Test" "first" { break :name "outer"; } }\n'
        '  set "seen" "${seen}x"; }\n'
        'fileinto "[${seen}]";'
    )
    assert filed(script) == ["[]"]
    assert filed('foreverypart { fileinto "once"; break; }') == ["once"]


def test_mime_options_and_anychild() -> None:
    assert filed(
        'if header :mime :anychild :contenttype "Content-Type" "application/zip" { fileinto "zip"; }'
    ) == ["zip"]
    assert filed('if header :mime :contenttype "Content-Type" "application/zip" { fileinto "top"; }') == []
    assert (
        filed('if header :mime :anychild :param "filename" "Content-Disposition" "*.zip" { fileinto "p"; }')
        == []
    )
    assert filed(
        'if header :mime :anychild :param "filename" :matches "Content-Disposition" "*.zip" { fileinto "p"; }'
    ) == ["p"]
    assert filed('if header :mime :anychild :type "Content-Disposition" "attachment" { fileinto "a"; }') == [
        "a"
    ]
    assert filed('if exists :mime :anychild ["Content-Disposition", "X-Test"] { fileinto "e"; }') == ["e"]
    assert filed('if address :mime :anychild "from" "a@example.org" { fileinto "f"; }') == ["f"]


def test_extracttext() -> None:
    script = (
        'foreverypart { if header :mime :type "Content-Type" "text" { extracttext :first 15 "t"; } }\n'
        'fileinto "${t}";'
    )
    assert filed(script) == ["Hello there, th"]
    upper = (
        'foreverypart { if header :mime :subtype "Content-Type" "plain" { extracttext :upper "t"; } }\n'
        'fileinto "${t}";'
    )
    assert filed(upper) == ["HELLO THERE, THIS IS THE FIRST PART."]


@pytest.mark.parametrize(
    ("script", "says"),
    [
        ("foreverypart { }", "'foreverypart' needs require \"foreverypart\""),
        ('require "foreverypart"; break;', "'break' must be inside a foreverypart loop"),
        ('require "foreverypart"; foreverypart { break :name "x"; }', "foreverypart named 'x'"),
        ('require "mime"; if header :anychild "a" "b" {}', ":anychild needs :mime"),
        ('require "mime"; if header :mime :type :subtype "a" "b" {}', "':subtype' conflicts with ':type'"),
        ('require ["extracttext", "variables"]; extracttext "x";', "must be inside a foreverypart loop"),
        (
            'require ["extracttext", "foreverypart"]; foreverypart { extracttext "x"; }',
            'needs require "variables"',
        ),
    ],
)
def test_errors(script: str, says: str) -> None:
    assert_compile_error(script, says)


def test_content_disposition_subtype_is_empty() -> None:
    # RFC 5703 §4.2: :type of Content-Disposition is its disposition type, :subtype the empty string.
    assert filed(
        'foreverypart { if header :mime :subtype "content-disposition" "" { fileinto "empty"; }\n'
        'if header :mime :type "content-disposition" "attachment" { fileinto "attachment"; } }'
    ) == ["empty", "attachment"]
