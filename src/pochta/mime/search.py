"""What IMAP SEARCH compares, computed once at delivery: folded text and folded header values.

RFC 9051 §6.4.4 string keys match "case-insensitively" a substring of the field or text. ``fold`` is
the one case folding every comparison uses (the store folds what it keeps, the search folds the
user's string), so a match is ``fold(query) in folded_value`` wherever it is evaluated.
"""

from __future__ import annotations

import re

from pochta.mime.address import mailboxes, parse_address_list
from pochta.mime.model import ParsedMessage

# Header fields whose folded, decoded values the store keeps per message (at delivery), so that
# SUBJECT/FROM/TO/CC/BCC and HEADER on these names are answered by a query, not by reading and
# decoding a parse record per message. HEADER on any other field uses the parse records.
SEARCH_FIELDS = frozenset(
    {"from", "sender", "reply-to", "to", "cc", "bcc", "subject", "message-id", "in-reply-to", "list-id"}
)


def fold(text: str) -> str:
    """Case folding for substring matches: ``str.lower``, except that U+0130 stays itself (lower()
    makes it two characters and FTS5 does not fold it; so every match here is one the index finds).
    """
    if "\u0130" not in text:
        return text.lower()
    return "\u0130".join(part.lower() for part in text.split("\u0130"))


# Fields holding address lists: their searchable value also carries each address in its canonical
# form, so that FROM "user@domain.org" finds "<user (comment)@ (comment) domain.org>" (RFC 9051
# §6.4.4: FROM/TO/CC/BCC match "the envelope structure's" field, whose addresses have no comments).
ADDRESS_FIELDS = frozenset({"from", "sender", "reply-to", "to", "cc", "bcc"})
# What can make an addr-spec read otherwise than as written: a comment, a quoted string or pair,
# white space inside it (CFWS beside "@" or "."). A value with none of these holds each of its
# addr-specs verbatim, and is not parsed again (this runs at every delivery, per address field).
_MAY_DIFFER = re.compile(r'[("\\]|\s[.@]|[.@]\s')


def searchable(name: str, value: str) -> str:
    """The folded text a SEARCH string on field ``name`` is a substring of: the decoded value as
    written, and for an address field, after a line feed each addr-spec that the written form does
    not already hold (a header value has no line feed of its own: it is unfolded)."""
    text = fold(value).replace("\x00", "")
    if name.lower() not in ADDRESS_FIELDS or not _MAY_DIFFER.search(value):
        return text
    extra = []
    for mailbox in mailboxes(parse_address_list(value)):
        spec = fold(mailbox.addr_spec)
        if spec not in text and spec not in extra:
            extra.append(spec)
    return "\n".join([text, *extra])


def folded_text(parsed: ParsedMessage) -> tuple[str, str]:
    """(body, header) text as the store keeps it for BODY/TEXT: folded; NUL removed (a query cannot
    hold one either)."""
    return fold(parsed.body_text).replace("\x00", ""), fold(parsed.header_text).replace("\x00", "")


def header_rows(parsed: ParsedMessage) -> list[tuple[str, int, str]]:
    """(field name lower-case, position, folded decoded value) of each ``SEARCH_FIELDS`` field; NUL
    removed, as from the text (an encoded word may decode to one; PostgreSQL's text refuses it)."""
    rows: list[tuple[str, int, str]] = []
    for n, (name, value) in enumerate(parsed.headers):
        key = name.lower()
        if key in SEARCH_FIELDS:
            rows.append((key, n, searchable(key, value).replace("\x00", "")))
    return rows
