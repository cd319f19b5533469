"""The headers of a blob download (RFC 8620 section 6.2; RFC 6266 section 4.3, RFC 5987)."""

from __future__ import annotations

import pytest

from pochta.proto.jmap.download import DEFAULT_TYPE, content_disposition, content_type


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("image/png", "image/png"),
        ("text/plain; charset=utf-8", "text/plain; charset=utf-8"),
        ('text/plain;format="flowed"', 'text/plain;format="flowed"'),
        (None, DEFAULT_TYPE),
        ("", DEFAULT_TYPE),
        ("png", DEFAULT_TYPE),
        ("text/html\r\nX-Injected: 1", DEFAULT_TYPE),
        ('text/plain; charset="a\r\nb"', DEFAULT_TYPE),
        ("a/b/c", DEFAULT_TYPE),
    ],
)
def test_content_type(accept: str | None, expected: str) -> None:
    assert content_type(accept) == expected


def test_content_disposition() -> None:
    assert content_disposition("report.pdf") == 'attachment; filename="report.pdf"'
    assert content_disposition("отчёт 1.pdf") == (
        "attachment; filename=\"_____ 1.pdf\"; filename*=UTF-8''%D0%BE%D1%82%D1%87%D1%91%D1%82%201.pdf"
    )
    # Quotes, backslashes and controls never reach the quoted string.
    assert content_disposition('a"b\\c\r\n.txt') == (
        "attachment; filename=\"a_b_c__.txt\"; filename*=UTF-8''a%22b%5Cc%0D%0A.txt"
    )
    assert content_disposition("") == 'attachment; filename="download"'
