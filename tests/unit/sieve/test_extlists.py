"""RFC 6134 externally stored lists: the :list match type and valid_ext_list, over the lists the
delivery context gives (the user's default address book at delivery)."""

from __future__ import annotations

import pytest

from pochta.sieve import Envelope, FileIntoAction, SieveMessage, SieveSyntaxError, compile_script, run
from pochta.sieve.message import ADDRESS_BOOK, DeliveryContext, full_list_name

BOOK = {"friend@example.net", "second@example.net"}
CONTEXT = DeliveryContext(lists={ADDRESS_BOOK: lambda value: value.lower() in BOOK})
MESSAGE = (
    b"From: Friend <Friend@Example.NET>\r\nTo: me@example.org, second@example.net\r\n"
    b"Subject: hello\r\n\r\nhi\r\n"
)


def _folders(source: str, context: DeliveryContext = CONTEXT) -> list[str]:
    outcome = run(
        compile_script(source),
        SieveMessage.from_bytes(MESSAGE),
        Envelope("a@b.example", "me@example.org"),
        None,
        context,
    )
    assert outcome.error is None
    return [action.mailbox for action in outcome.actions if isinstance(action, FileIntoAction)]


def test_short_and_full_list_names() -> None:
    assert full_list_name(":addrbook:default") == "urn:ietf:params:sieve:addrbook:default"
    assert full_list_name("tag:example.com,2010:x") == "tag:example.com,2010:x"


def test_list_match_on_address_header_and_string_with_the_member_in_match_variable() -> None:
    source = (
        'require ["extlists", "fileinto", "variables"];\n'
        'if address :list "from" ":addrbook:default" { fileinto "from-${0}"; }\n'
        'if address :list "to" "urn:ietf:params:sieve:addrbook:default" { fileinto "to-${0}"; }\n'
        'if header :list "subject" ":addrbook:default" { fileinto "subject"; }\n'
        'if string :list "second@example.net" ":addrbook:default" { fileinto "string"; }\n'
        'if address :list "from" ":addrbook:other" { fileinto "unknown list"; }\n'
    )
    assert _folders(source) == ["from-Friend@Example.NET", "to-second@example.net", "string"]
    assert _folders(source, DeliveryContext()) == []  # no lists at all: nothing is a member


def test_valid_ext_list() -> None:
    source = (
        'require ["extlists", "fileinto"];\n'
        'if valid_ext_list [":addrbook:default", "urn:ietf:params:sieve:addrbook:default"]\n'
        '{ fileinto "ok"; }\n'
        'if valid_ext_list [":addrbook:default", "frop:666"] { fileinto "unknown"; }\n'
    )
    assert _folders(source) == ["ok"]


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ('if address :list "from" ":addrbook:default" {}', 'needs require "extlists"'),
        ('require "extlists"; if address :list :comparator "i;octet" "from" "x" {}', "takes no :comparator"),
        ('require "extlists"; if valid_ext_list {}', "valid_ext_list"),
    ],
)
def test_compile_errors(source: str, says: str) -> None:
    with pytest.raises(SieveSyntaxError, match=says):
        compile_script(source)
