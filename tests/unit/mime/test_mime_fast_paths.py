"""The parser's fast paths for common shapes give exactly what the general code gives.

Each shortcut taken at delivery (address lists of plain mailboxes, RFC 5322 dates in their usual
form, ...) is compared with the code it shortcuts on generated text, near misses included; the
digests of whole parse records are pinned by test_mime_records.
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pochta.mime import Mailbox, parse_address_list
from pochta.mime.address import _Parser, _simple_list
from pochta.mime.fields import _COMMON_DATE, _parse_any_date, parse_date, parse_date_zone
from pochta.mime.text import collapse

FAST = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces of address lists: the common shapes and the characters that leave them.
ADDRESS_PIECES = [
    "alice", "bob.smith", "x", "example.org", "mail.example.net", "Alice", "Smith", "J.", "Bench",
    "=?utf-8?q?Caf=C3=A9?=", "=?iso-8859-1?b?SvZyZw==?=", "café", "Ĳ", "\u00a0", "\u2028",
    "@", "<", ">", ".", ",", ";", ":", '"', '"Smith, John"', '"a\\"b"', '""', "(comment)", "(", ")",
    "[1.2.3.4]", "\\", " ", "  ", "\t", "\r\n ", "\n", "\r",
]  # fmt: skip


@st.composite
def address_texts(draw: st.DrawFn) -> str:
    """Mostly well-formed lists of the common shapes, with pieces inserted to leave them."""
    elements = []
    for _ in range(draw(st.integers(1, 4))):
        local = draw(st.sampled_from(["alice", "bob.smith", "x", "café", "a.b.c"]))
        domain = draw(st.sampled_from(["example.org", "mail.example.net", "xn--80ak6aa92e.com", "b"]))
        shape = draw(st.integers(0, 4))
        name = " ".join(draw(st.lists(st.sampled_from(ADDRESS_PIECES[:16]), min_size=1, max_size=3)))
        if shape == 0:
            elements.append(f"{local}@{domain}")
        elif shape == 1:
            elements.append(f"<{local}@{domain}>")
        elif shape == 2:
            elements.append(f"{name} <{local}@{domain}>")
        elif shape == 3:
            elements.append(f'"{name}" <{local}@{domain}>')
        else:
            elements.append(f"{name}<{local}@{domain}>")
    text = draw(st.sampled_from([", ", ",", " , ", ",\r\n "])).join(elements)
    for _ in range(draw(st.integers(0, 2))):
        pos = draw(st.integers(0, len(text)))
        text = text[:pos] + draw(st.sampled_from(ADDRESS_PIECES)) + text[pos:]
    return draw(st.sampled_from(["", " ", "\t"])) + text + draw(st.sampled_from(["", " ", ",", "\r\n"]))


@given(address_texts())
@FAST
def test_simple_address_lists_read_as_the_parser_reads_them(text: str) -> None:
    fast = _simple_list(text)
    if fast is not None:
        assert fast == tuple(_Parser(text).address_list()), text


@given(st.lists(st.sampled_from(ADDRESS_PIECES), max_size=12).map("".join))
@FAST
def test_simple_address_lists_on_any_pieces(text: str) -> None:
    fast = _simple_list(text)
    if fast is not None:
        assert fast == tuple(_Parser(text).address_list()), text


def test_common_shapes_take_the_fast_path() -> None:
    text = 'Bench Sender <sender@example.net>, bob@example.org, "Smith, J." <j@x.example>, <c@d>'
    assert _simple_list(text) == (
        Mailbox("Bench Sender", "sender", "example.net", (), "Bench Sender"),
        Mailbox(None, "bob", "example.org"),
        Mailbox("Smith, J.", "j", "x.example", (), "Smith, J."),
        Mailbox(None, "c", "d", (), None),
    )
    assert parse_address_list(text) == _simple_list(text)
    assert _simple_list("=?utf-8?q?Caf=C3=A9?= Owner\t <o@cafe.example>") == (
        Mailbox("Café Owner", "o", "cafe.example", (), "=?utf-8?q?Caf=C3=A9?= Owner"),
    )
    # Left to the parser: groups, comments, quoted-pairs, literals, empty and trailing elements.
    for other in ("team: a@b;", "a@b (Alice)", '"a\\"b" <a@b>', "a@[1.2.3.4]", "a@b,,c@d", "a@b,", ""):
        assert _simple_list(other) is None, other


DATE_PIECES = [
    "Sun, ", "Mon, ", "Sun ", "Thu,", "1", "01", "22", "31", "32", "0", " ", "  ", "Nov", "nov", "Feb",
    "November", "2026", "1999", "0999", "99", "02:00:00", "23:59", "24:61:61", "2:00:00", "+0000", "-0000",
    "+0530", "-0830", "+9999", "GMT", "EST", "Z", "(UTC)", " (Pacific Standard Time)", "(", ",", ":",
]  # fmt: skip


@st.composite
def date_texts(draw: st.DrawFn) -> str:
    """Dates in the usual form, with pieces swapped in to leave it."""
    parts = [
        draw(st.sampled_from(["", "Sun, ", "Wed, "])),
        draw(st.sampled_from(["1", "22", "09", "31", "45"])),
        " ",
        draw(st.sampled_from(["Jan", "Nov", "Dec"])),
        " ",
        draw(st.sampled_from(["2026", "1970", "1969", "9999", "1000"])),
        " ",
        draw(st.sampled_from(["02:00:00", "23:59:59", "00:00", "99:99:99"])),
        " ",
        draw(st.sampled_from(["+0000", "-0000", "+0530", "-0800", "+2359", "-9999"])),
        draw(st.sampled_from(["", " (UTC)", " (Pacific Standard Time)"])),
    ]
    for _ in range(draw(st.integers(0, 2))):
        parts[draw(st.integers(0, len(parts) - 1))] = draw(st.sampled_from(DATE_PIECES))
    return "".join(parts)


@given(date_texts())
@FAST
def test_common_dates_read_as_email_utils_reads_them(text: str) -> None:
    assert parse_date_zone(text) == _parse_any_date(text), text  # the moment and its zone


def test_common_date_takes_the_fast_path() -> None:
    assert _COMMON_DATE.match("Sun, 22 Nov 2026 02:00:00 +0000") is not None
    assert parse_date("Sun, 22 Nov 2026 02:00:00 +0000") == 1795312800
    assert parse_date("2 Jan 2023 10:00:00 +0100 (CET)") == 1672650000
    assert parse_date("Mon, 2 Jan 2023 01:00 -0800") == 1672650000
    assert _COMMON_DATE.match("Sun, 22 Nov 26 02:00:00 GMT") is None  # email.utils reads that one
    assert parse_date("Sun, 22 Nov 26 02:00:00 GMT") == 1795312800


@given(
    st.text(
        alphabet=st.sampled_from(
            [
                "a",
                "b",
                " ",
                "\t",
                "\n",
                "\r",
                "\x0b",
                "\x1c",
                "\x85",
                "\u00a0",
                "\u2028",
                "\u3000",
                "\u200b",
                "é",
            ]
        ),
        max_size=60,
    ),
    st.integers(1, 20),
)
@FAST
def test_collapse_is_the_regex_it_replaced(text: str, chars: int) -> None:
    window = chars * 4
    while True:
        head = re.sub(r"\s+", " ", text[:window]).strip()
        if len(head) >= chars or window >= len(text):
            expected = head[:chars].rstrip()
            break
        window *= 4
    assert collapse(text, chars) == expected
