"""SearchSnippet's marking (RFC 8621 section 5), pure: HTML escaped, matches marked as IMAP
SEARCH finds them (case-insensitive substrings), the preview's size bound, the words of a filter."""

from __future__ import annotations

from typing import Any

from pochta.proto.jmap.mail.ids import parse_mailbox_id
from pochta.proto.jmap.mail.query import parse_email_filter
from pochta.proto.jmap.mail.snippet import PREVIEW_OCTETS, SnippetWords, mark, preview_snippet, snippet_words
from pochta.proto.jmap.standard.filter import parse_filter


def words_of(value: Any) -> SnippetWords:
    return snippet_words(
        parse_email_filter(parse_filter(value), max_depth=10, parse_mailbox=parse_mailbox_id)
    )


def test_mark_escapes_and_marks() -> None:
    assert mark("Fish & <Chips> fish", ["FISH"]) == "<mark>Fish</mark> &amp; &lt;Chips&gt; <mark>fish</mark>"
    assert mark("no match here", ["fish"]) is None
    # Overlapping and adjacent matches are one mark.
    assert mark("abcdef", ["abc", "bcd"]) == "<mark>abcd</mark>ef"
    assert mark("Дыня и ДЫНЯ", ["дыня"]) == "<mark>Дыня</mark> и <mark>ДЫНЯ</mark>"
    # A character that lengthens when folded keeps the marks on the original text.
    assert mark("\u0130stanbul", ["stan"]) == "\u0130<mark>stan</mark>bul"


def test_preview_window_and_size() -> None:
    body = "word " * 200 + "the <needle> is here " + "tail " * 200
    preview = preview_snippet(body, ["needle"])
    assert preview is not None
    assert "<mark>needle</mark>" in preview
    plain = preview.replace("<mark>", "").replace("</mark>", "")
    assert len(plain.encode()) <= PREVIEW_OCTETS
    assert plain.startswith("word ")  # begins at a word, with some context before the match
    assert preview_snippet("nothing to see", ["needle"]) is None
    assert preview_snippet("  spaced\n\n out  needle ", ["needle"]) == "spaced out <mark>needle</mark>"
    # Multi-octet text: the bound is in octets.
    long = "я" * 400 + " needle"
    found = preview_snippet(long, ["я"])
    assert found is not None
    assert len(found.replace("<mark>", "").replace("</mark>", "").encode()) <= PREVIEW_OCTETS


def test_words_of_a_filter() -> None:
    assert words_of(None) == SnippetWords((), ())
    found = words_of(
        {
            "operator": "OR",
            "conditions": [
                {"text": "alpha"},
                {"subject": "beta", "from": "carol"},
                {"operator": "NOT", "conditions": [{"body": "gamma"}, {"text": ""}]},
            ],
        }
    )
    assert sorted(found.subject) == ["alpha", "beta"]
    assert sorted(found.body) == ["alpha", "gamma"]
