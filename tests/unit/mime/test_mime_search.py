"""The searchable value of header fields (``mime.search.searchable``): an address field also holds
each addr-spec in canonical form; the shortcut that skips parsing a plain value gives the same text
as parsing every value."""

from __future__ import annotations

import pytest

from pochta.config import MimeSettings
from pochta.mime import parse_message
from pochta.mime.address import mailboxes, parse_address_list
from pochta.mime.search import ADDRESS_FIELDS, fold, searchable
from shared_dir import corpus_messages

TRICKY = [
    "<user (comment)@ (comment) domain.org>",
    "a . b@c.org",
    "a @b.org",
    "a@ b.org",
    '"a b"@c.org',
    '"ab"@c.org',
    "a\\b@c.org",
    "J. Smith <j@x.org>",
    "<@route.org:a@b.org>",
    "x@[1.2.3.4]",
    "=?UTF-8?Q?J=C3=B6rg?= <j@x.de>",
    "Group: a@b.org, c@d.org;",
    "A.B@C.ORG",
    "a..b@c.org",
    "undisclosed-recipients:;",
    "",
]


def parsed_always(value: str) -> str:
    """What ``searchable`` gives an address field when every value is parsed."""
    text = fold(value).replace("\x00", "")
    extra: list[str] = []
    for mailbox in mailboxes(parse_address_list(value)):
        spec = fold(mailbox.addr_spec)
        if spec not in text and spec not in extra:
            extra.append(spec)
    return "\n".join([text, *extra])


def corpus_address_values() -> list[str]:
    values = []
    for _, data in corpus_messages():
        for name, value in parse_message(data, MimeSettings()).headers:
            if name.lower() in ADDRESS_FIELDS:
                values.append(value)
    return values


@pytest.mark.parametrize("value", TRICKY)
def test_the_shortcut_is_the_full_parse(value: str) -> None:
    assert searchable("From", value) == parsed_always(value)


def test_the_shortcut_on_every_corpus_address_field() -> None:
    values = corpus_address_values()
    assert len(values) > 100
    assert [searchable("to", v) for v in values] == [parsed_always(v) for v in values]


def test_comments_and_spaces_give_the_canonical_address() -> None:
    assert searchable("from", "<user (comment)@ (comment) Domain.org>").split("\n")[1] == "user@domain.org"
    assert searchable("cc", "a . b@c.org") == "a . b@c.org\na.b@c.org"
    assert searchable("subject", "a . b@c.org") == "a . b@c.org"  # not an address field
