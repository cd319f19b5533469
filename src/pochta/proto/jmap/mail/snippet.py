"""SearchSnippet (RFC 8621 section 5), pure: an Email's subject and a fragment of its body text
with the filter's words marked ``<mark>...</mark>``, HTML-escaped.

The words are the values of the filter's ``text``, ``subject`` and ``body`` conditions (``text``
for both subject and body, ``subject`` for the subject, ``body`` for the body), wherever they
are in the tree (a NOT's words are marked too: RFC 8621 leaves that to the server). A word is
found as IMAP SEARCH finds it, a case-insensitive substring (``mime.search.fold``), so a snippet
marks what the query matched.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass

from pochta.mime.search import fold
from pochta.proto.jmap.mail.query import EmailCondition, EmailFilter, EmailOperator

__all__ = ["PREVIEW_OCTETS", "SnippetWords", "mark", "preview_snippet", "snippet_words"]

# RFC 8621 section 5: the preview "MUST NOT be more than 255 octets in size", the marks aside.
PREVIEW_OCTETS = 255
_BEFORE = 40  # characters of context kept before the first match


@dataclass(frozen=True)
class SnippetWords:
    subject: tuple[str, ...]
    body: tuple[str, ...]


def snippet_words(tree: EmailFilter | None) -> SnippetWords:
    subject: list[str] = []
    body: list[str] = []
    stack: list[EmailFilter] = [] if tree is None else [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, EmailOperator):
            stack.extend(node.conditions)
            continue
        assert isinstance(node, EmailCondition)
        for prop, value in node.content:
            if not isinstance(value, str) or not value:
                continue
            if prop in ("text", "subject"):
                subject.append(value)
            if prop in ("text", "body"):
                body.append(value)
    return SnippetWords(tuple(dict.fromkeys(subject)), tuple(dict.fromkeys(body)))


def _folded(text: str) -> tuple[str, list[int]]:
    """``text`` folded, with the index in ``text`` of each folded character (fold may lengthen)."""
    parts: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        folded = fold(char)
        parts.append(folded)
        origin.extend([index] * len(folded))
    return "".join(parts), origin


def _spans(text: str, words: Iterable[str]) -> list[tuple[int, int]]:
    """The (start, end) in ``text`` of every occurrence of the words, overlaps merged."""
    folded, origin = _folded(text)
    found: list[tuple[int, int]] = []
    for word in words:
        needle = fold(word)
        at = folded.find(needle)
        while at >= 0 and needle:
            end = at + len(needle)
            found.append((origin[at], origin[end - 1] + 1))
            at = folded.find(needle, end)
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def mark(text: str, words: Iterable[str]) -> str | None:
    """``text`` HTML-escaped with every match marked; None when nothing matches."""
    spans = _spans(text, words)
    if not spans:
        return None
    out: list[str] = []
    last = 0
    for start, end in spans:
        out.append(html.escape(text[last:start], quote=False))
        out.append("<mark>" + html.escape(text[start:end], quote=False) + "</mark>")
        last = end
    out.append(html.escape(text[last:], quote=False))
    return "".join(out)


def preview_snippet(body: str, words: Iterable[str]) -> str | None:
    """The part of ``body`` around its first match, whitespace collapsed, at most
    ``PREVIEW_OCTETS`` octets of escaped UTF-8 besides the marks; None when nothing matches."""
    text = " ".join(body.split())
    spans = _spans(text, words)
    if not spans:
        return None
    start = max(spans[0][0] - _BEFORE, 0)
    if start:
        space = text.find(" ", start, spans[0][0])
        start = space + 1 if space >= 0 else start  # begin at a word
    end = start
    size = 0
    while end < len(text):
        octets = len(html.escape(text[end], quote=False).encode())
        if size + octets > PREVIEW_OCTETS:
            break
        size += octets
        end += 1
    window = text[start:end]
    return mark(window, words) or html.escape(window, quote=False)
