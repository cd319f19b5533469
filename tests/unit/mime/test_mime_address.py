"""Our strict RFC 5322 address-list parser and RFC 5321 path parser."""

from __future__ import annotations

import pytest

from pochta.mime import (
    Group,
    InvalidAddress,
    Mailbox,
    SmtpPath,
    SmtpPathError,
    parse_address_list,
    parse_mailbox,
    parse_smtp_path,
)
from pochta.mime.address import mailboxes, quote_local_part


def _specs(text: str) -> list[str]:
    """Valid mailboxes as addr-specs, invalid elements as "!reason", groups as "group:[...]"."""
    out: list[str] = []
    for item in parse_address_list(text):
        if isinstance(item, Mailbox):
            out.append(item.addr_spec)
        elif isinstance(item, Group):
            members = ",".join(m.addr_spec if isinstance(m, Mailbox) else "!" for m in item.members)
            out.append(f"{item.name}:[{members}]")
        else:
            out.append("!" + item.reason)
    return out


# RFC 5322 Appendix A examples (A.1.1-A.1.3, A.2, A.5, A.6.1) and other valid forms.
VALID = [
    ("John Doe <jdoe@machine.example>", ["jdoe@machine.example"]),
    ('"Joe Q. Public" <john.q.public@example.com>', ["john.q.public@example.com"]),
    (
        "Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>",
        ["mary@x.test", "jdoe@example.org", "one@y.test"],
    ),
    (
        '<boss@nil.test>, "Giant; \\"Big\\" Box" <sysservices@example.net>',
        ["boss@nil.test", "sysservices@example.net"],
    ),
    (
        "A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
        ["A Group:[c@a.test,joe@where.test,jdoe@one.test]"],
    ),
    ("Undisclosed recipients:;", ["Undisclosed recipients:[]"]),
    ('"Mary Smith: Personal Account" <smith@home.example>', ["smith@home.example"]),
    ("Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>", ["pete@silly.test"]),
    (
        "A Group(Some people)\r\n     :Chris Jones <c@(Chris's host.)public.example>,\r\n"
        "         joe@example.org,\r\n  John <jdoe@one.test> (my dear friend); (the end of the group)",
        ["A Group:[c@public.example,joe@example.org,jdoe@one.test]"],
    ),
    ("(Empty list)(start)Hidden recipients  :(nobody(that I know))  ;", ["Hidden recipients:[]"]),
    ("Joe Q. Public <john.q.public@example.com>", ["john.q.public@example.com"]),  # A.6.1 obs-phrase
    (
        "Mary Smith <@node.test:mary@example.net>, , jdoe@test  . example",
        ["mary@example.net", "jdoe@test.example"],
    ),  # A.6.1: obs-route, empty list element, obs-domain
    ('"a@b"@c', ['"a@b"@c']),  # CVE-2023-27043: the quoted local part is the local part
    ('"alice@example.org" <bob@example.org>', ["bob@example.org"]),
    ("user@[192.0.2.1]", ["user@[192.0.2.1]"]),
    ('"john doe"@example.com', ['"john doe"@example.com']),
    ("δοκιμή@παράδειγμα.δοκιμή", ["δοκιμή@παράδειγμα.δοκιμή"]),  # RFC 6532
    ("v%remote@ours, remote!v@ours", ["v%remote@ours", "remote!v@ours"]),
    ('"first".last@example.com', ["first.last@example.com"]),  # obs-local-part
    ("a@b, ", ["a@b"]),
    ("", []),
]

# Every element here must come back invalid: never a guessed address.
INVALID = [
    ("a@b@c", "unexpected '@' after address"),  # CVE-2023-27043
    ("alice@example.org)<bob@example.org>", "unexpected ')' after address"),
    ("alice@example.org <bob@example.org>", "unexpected '<' after address"),
    ("John Smith@example.com", "words in local part not separated by '.'"),
    ("undisclosed-recipients", "missing @domain"),
    ("a..b@example.com", "empty word in local part"),
    (".a@example.com", "empty word in local part"),
    ("a.@example.com", "local part ends with '.'"),
    ("a@example.com.", "malformed domain"),
    ("<>", "empty address <>"),
    ("<a@b", "expected '>'"),
    ("Name <a>", "missing @domain"),
    ('"unterminated <a@b>, c@d', "malformed text"),
    ("(unterminated comment a@b", "malformed text"),
    ("a@", "missing @domain"),
    ("@example.com", "empty local part"),
    ("G: a@b, c@d; e@f;", "unexpected 'e' after address"),  # missing "," after the group
]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_valid_address_lists(text: str, expected: list[str]) -> None:
    assert _specs(text) == expected


@pytest.mark.parametrize(("text", "reason"), INVALID)
def test_invalid_addresses_are_reported_not_guessed(text: str, reason: str) -> None:
    items = parse_address_list(text)
    assert any(isinstance(item, InvalidAddress) for item in items)
    invalid = [item for item in items if isinstance(item, InvalidAddress)]
    assert invalid[0].reason == reason
    # No address that appears in the text may be returned from an invalid element.
    for item in items:
        if isinstance(item, Mailbox):
            assert item.addr_spec not in ("a@b", "bob@example.org", "alice@example.org", "c@d")


def test_invalid_element_does_not_spoil_the_others() -> None:
    items = parse_address_list("a@b@c, good@example.org, John Smith@x.org, Real <real@x.org>")
    assert [type(i).__name__ for i in items] == ["InvalidAddress", "Mailbox", "InvalidAddress", "Mailbox"]
    assert isinstance(items[0], InvalidAddress)
    assert items[0].text == "a@b@c"
    assert [m.addr_spec for m in mailboxes(items)] == ["good@example.org", "real@x.org"]


def test_display_names_and_comments() -> None:
    (item,) = parse_address_list('"Giant; \\"Big\\" Box" <sysservices@example.net>')
    assert isinstance(item, Mailbox)
    assert item.name == 'Giant; "Big" Box'
    assert item.raw_name == 'Giant; "Big" Box'
    (item,) = parse_address_list("=?utf-8?q?J=C3=B6rg?= =?utf-8?q?_M=C3=BCller?= <j@x.de>")
    assert isinstance(item, Mailbox)
    assert item.name == "Jörg Müller"
    assert item.raw_name == "=?utf-8?q?J=C3=B6rg?= =?utf-8?q?_M=C3=BCller?="
    (item,) = parse_address_list('"=?utf-8?B?0JjQstCw0L0=?=" <ivan@x.ru>')  # encoded word in quotes
    assert isinstance(item, Mailbox)
    assert item.name == "Иван"
    (item,) = parse_address_list("gray@cac.washington.edu (Terry Gray)")
    assert isinstance(item, Mailbox)
    assert item.name is None
    assert item.comment == "Terry Gray"
    (item,) = parse_address_list("Joe   Q.   Public <jqp@x>")
    assert isinstance(item, Mailbox)
    assert item.name == "Joe Q. Public"
    (item,) = parse_address_list("John <@a.test,@b.test:jdoe@one.test>")
    assert isinstance(item, Mailbox)
    assert item.route == ("a.test", "b.test")


def test_group_members_and_invalid_members() -> None:
    (group,) = parse_address_list("Team: a@x.org, bad@@x.org, B <b@x.org>;")
    assert isinstance(group, Group)
    assert group.name == "Team"
    assert [type(m).__name__ for m in group.members] == ["Mailbox", "InvalidAddress", "Mailbox"]
    (group,) = parse_address_list("Team: a@x.org")  # missing ";" at the end is tolerated
    assert isinstance(group, Group)
    assert len(group.members) == 1
    assert _specs("G1: a@x;, G2: b@y;") == ["G1:[a@x]", "G2:[b@y]"]
    assert _specs("Outer: Inner: a@x;;") == ["!unexpected ';' after address"]  # no nested groups


def test_parse_mailbox_wants_exactly_one() -> None:
    assert isinstance(parse_mailbox("a@b"), Mailbox)
    assert isinstance(parse_mailbox("a@b, c@d"), InvalidAddress)
    assert isinstance(parse_mailbox("G:;"), InvalidAddress)


def test_quote_local_part() -> None:
    assert quote_local_part("john.doe") == "john.doe"
    assert quote_local_part("john doe") == '"john doe"'
    assert quote_local_part('a"b\\c') == '"a\\"b\\\\c"'
    assert quote_local_part("a..b") == '"a..b"'


def test_long_lists_are_linear() -> None:
    text = ", ".join(f"User {i} <u{i}@example.com>" for i in range(2000))
    assert len(mailboxes(parse_address_list(text))) == 2000
    assert len(parse_address_list("(" * 100_000 + "a@b")) == 1  # unterminated nested comments


SMTP_VALID = [
    ("<user@example.com>", SmtpPath("user", "example.com")),
    ("<User@EXAMPLE.Com>", SmtpPath("User", "example.com")),
    ("user@example.com", SmtpPath("user", "example.com", bracketed=False)),
    ("<>", SmtpPath("", "")),
    ("<@a.example,@b.example:user@c.example>", SmtpPath("user", "c.example", ("a.example", "b.example"))),
    ('<"v%remote"@ours.example>', SmtpPath("v%remote", "ours.example", quoted=True)),
    ("<v%remote@ours.example>", SmtpPath("v%remote", "ours.example")),
    ("<remote!v@ours.example>", SmtpPath("remote!v", "ours.example")),
    ('<"a@b"@c.example>', SmtpPath("a@b", "c.example", quoted=True)),
    ('<"john \\"jr\\" doe"@example.com>', SmtpPath('john "jr" doe', "example.com", quoted=True)),
    ("<u@[192.0.2.1]>", SmtpPath("u", "[192.0.2.1]")),
    ("<u@[IPv6:2001:DB8:0:0:0:0:0:1]>", SmtpPath("u", "[IPv6:2001:db8::1]")),
    ("<u@[x-tag:some-data]>", SmtpPath("u", "[x-tag:some-data]")),
    ("<u@Bücher.example>", SmtpPath("u", "xn--bcher-kva.example", utf8=True)),
    ("<用户@例子.广告>", SmtpPath("用户", "xn--fsqu00a.xn--4rr70v", utf8=True)),
    ("<u@localhost>", SmtpPath("u", "localhost")),
]

SMTP_INVALID = [
    "<user@example.com",
    "<a@b@c>",
    "<a b@c>",
    "<user>",
    "<user@>",
    "<@a.example:>",
    "<@a.example user@b>",
    "<user@-bad.example>",
    "<user@bad-.example>",
    "<user@example.com.>",
    "<user@exa_mple.com>",
    "<user@[300.1.1.1]>",
    "<user@[IPv6:zz::1]>",
    "<user@[1.2.3.4>",
    "<.user@example.com>",
    "<us..er@example.com>",
    '<"unterminated@example.com>',
    "",
    b"<\xff@example.com>",
    "<user@" + "a" * 64 + ".com>",
]


@pytest.mark.parametrize(("text", "expected"), SMTP_VALID)
def test_smtp_paths(text: str, expected: SmtpPath) -> None:
    assert parse_smtp_path(text) == expected


@pytest.mark.parametrize("text", SMTP_INVALID)
def test_smtp_paths_invalid(text: str | bytes) -> None:
    assert isinstance(parse_smtp_path(text), SmtpPathError)


def test_smtp_path_properties() -> None:
    routed = parse_smtp_path("<@relay.example:victim@target.example>")
    assert isinstance(routed, SmtpPath)
    assert routed.had_route
    assert routed.address == "victim@target.example"
    null = parse_smtp_path("<>")
    assert isinstance(null, SmtpPath)
    assert null.is_null
    assert null.address == ""
    spaced = parse_smtp_path('<"a b"@x.example>')
    assert isinstance(spaced, SmtpPath)
    assert spaced.address == '"a b"@x.example'
    assert parse_smtp_path(b"<u@x.example>") == SmtpPath("u", "x.example")
