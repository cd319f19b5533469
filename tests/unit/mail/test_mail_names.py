"""Mailbox name rules (pochta.mail.names): RFC 9051 §5.1, RFC 5530 codes, modified UTF-7."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pochta.mail.errors import InvalidMailboxName
from pochta.mail.names import (
    MAX_MAILBOX_DEPTH,
    MAX_MAILBOX_NAME_BYTES,
    NameLimits,
    canonical_name,
    depth,
    is_inferior,
    modified_utf7_decode,
    modified_utf7_encode,
    parent_names,
)

VALID = [
    ("Sent", "Sent"),
    ("a/b/c", "a/b/c"),
    # RFC 9051 §5.1: INBOX is case-insensitive, canonicalised; also as the first level.
    ("INBOX", "INBOX"),
    ("inbox", "INBOX"),
    ("InBoX", "INBOX"),
    ("inbox/foo", "INBOX/foo"),
    ("iNbOx/Foo/inbox", "INBOX/Foo/inbox"),  # only the first level is special
    ("INBOXES", "INBOXES"),
    ("foo/inbox", "foo/inbox"),
    ("Entwürfe", "Entwürfe"),
    ("台北/日本語", "台北/日本語"),
    ("~peter/mail", "~peter/mail"),
    ("a.b", "a.b"),
    ("...", "..."),  # only exactly "." and ".." are refused
    ("&", "&"),  # UTF-8 names: "&" is an ordinary character here
    ("with space", "with space"),
    ('quote"back\\slash', 'quote"back\\slash'),
    ("#news", "#news"),
    ("😀 emoji", "😀 emoji"),
    # RFC 9051 §5.1: denormalised UTF-8 is converted to NFC.
    ("Entwu\u0308rfe", "Entwürfe"),
    # "ı" (dotless i) upper-cases to "I" in Python, but "ınbox" is not INBOX.
    ("ınbox", "ınbox"),
]


@pytest.mark.parametrize(("name", "canonical"), VALID)
def test_valid_names(name: str, canonical: str) -> None:
    assert canonical_name(name) == canonical
    assert canonical_name(name, creating=True) == canonical


INVALID = [
    ("", "CANNOT"),
    ("/", "CANNOT"),
    ("/a", "CANNOT"),  # leading separator: empty first level
    ("a/", "CANNOT"),  # trailing separator
    ("a//b", "CANNOT"),  # RFC 5530 §3 CANNOT example: adjacent slashes
    ("///////", "CANNOT"),
    (".", "CANNOT"),
    ("..", "CANNOT"),
    ("a/./b", "CANNOT"),
    ("a/../b", "CANNOT"),
    ("../etc/passwd", "CANNOT"),
    ("a/..", "CANNOT"),
    ("nul\x00byte", "CANNOT"),
    ("tab\there", "CANNOT"),
    ("line\r\nbreak", "CANNOT"),
    ("del\x7f", "CANNOT"),
    ("c1\x85control", "CANNOT"),
    ("line\u2028sep", "CANNOT"),
    ("para\u2029sep", "CANNOT"),
    ("surrogate\udcff", "CANNOT"),
]


@pytest.mark.parametrize(("name", "code"), INVALID)
def test_invalid_names(name: str, code: str) -> None:
    for creating in (False, True):
        with pytest.raises(InvalidMailboxName) as info:
            canonical_name(name, creating=creating)
        assert info.value.code == code


@pytest.mark.parametrize("name", ["a*", "%", "foo/*/bar", "50%"])
def test_wildcards_refused_only_when_creating(name: str) -> None:
    # RFC 9051 §5.1 item 3: wildcards are valid but unusable with LIST; refused at CREATE. A lookup
    # of such a name simply finds nothing.
    assert canonical_name(name) == name
    with pytest.raises(InvalidMailboxName) as info:
        canonical_name(name, creating=True)
    assert info.value.code == "CANNOT"


def test_error_messages_do_not_echo_the_name() -> None:
    with pytest.raises(InvalidMailboxName) as info:
        canonical_name("evil\r\nA1 OK")
    assert "\r" not in info.value.message
    assert "evil" not in info.value.message


def test_length_limit_in_octets() -> None:
    assert MAX_MAILBOX_NAME_BYTES == 1024
    ok = "a" * MAX_MAILBOX_NAME_BYTES
    assert canonical_name(ok, creating=True) == ok
    with pytest.raises(InvalidMailboxName) as info:
        canonical_name(ok + "b", creating=True)
    assert info.value.code == "LIMIT"
    # Octets, not characters: 342 x "ü" is 684 octets (fits), 513 x is 1026 (too long).
    assert canonical_name("ü" * 342, creating=True)
    with pytest.raises(InvalidMailboxName, match="octets"):
        canonical_name("ü" * 513, creating=True)
    # Lookups are not limited: a lowered limit never locks anyone out of an existing mailbox.
    assert canonical_name(ok + "b") == ok + "b"


def test_length_limit_after_normalisation() -> None:
    # U+0958 is a composition exclusion: NFC maps it to two code points (3 -> 6 octets).
    name = "\u0958" * 200  # 600 octets given, 1200 after NFC
    assert len(name.encode()) < MAX_MAILBOX_NAME_BYTES
    assert len(unicodedata.normalize("NFC", name).encode()) > MAX_MAILBOX_NAME_BYTES
    with pytest.raises(InvalidMailboxName):
        canonical_name(name, creating=True)


def test_depth_limit() -> None:
    assert MAX_MAILBOX_DEPTH == 32
    deep = "/".join(["x"] * MAX_MAILBOX_DEPTH)
    assert canonical_name(deep, creating=True) == deep
    with pytest.raises(InvalidMailboxName) as info:
        canonical_name(deep + "/x", creating=True)
    assert info.value.code == "LIMIT"


def test_custom_limits() -> None:
    limits = NameLimits(max_bytes=10, max_depth=2)
    assert canonical_name("a/b", creating=True, limits=limits) == "a/b"
    for name in ("a/b/c", "abcdefghijk"):
        with pytest.raises(InvalidMailboxName):
            canonical_name(name, creating=True, limits=limits)


def test_hierarchy_helpers() -> None:
    assert parent_names("a/b/c") == ["a", "a/b"]
    assert parent_names("a") == []
    assert is_inferior("a/b", "a")
    assert is_inferior("a/b/c", "a")
    assert not is_inferior("a", "a")
    assert not is_inferior("ab", "a")
    assert depth("a/b/c") == 3


# --- modified UTF-7 (RFC 3501 §5.1.3) ---------------------------------------------------------------

MUTF7_EXAMPLES = [
    # RFC 3501 §5.1.3 example: "~peter/mail/台北/日本語".
    ("~peter/mail/&U,BTFw-/&ZeVnLIqe-", "~peter/mail/台北/日本語"),
    ("&-", "&"),
    ("AT&-T", "AT&T"),
    ("&AOQ-", "ä"),
    ("Entw&APw-rfe", "Entwürfe"),
    ("&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-", "Отправленные"),
    ("&2D3eAA-", "😀"),  # a surrogate pair in UTF-16
    ("&AOQ-&-&APY-", "ä&ö"),
    ("plain ascii ~!@#$%^*()", "plain ascii ~!@#$%^*()"),
    ("", ""),
]


@pytest.mark.parametrize(("encoded", "decoded"), MUTF7_EXAMPLES)
def test_modified_utf7_examples(encoded: str, decoded: str) -> None:
    assert modified_utf7_decode(encoded) == decoded
    assert modified_utf7_decode(encoded.encode("ascii")) == decoded
    assert modified_utf7_encode(decoded) == encoded


MALFORMED_MUTF7 = [
    "&",  # "&" not closed
    "&U,BTFw",  # base64 not closed
    "a&b",
    "&U,BTFw-&ZeVnLIqe-",  # RFC 3501: null shift ("-&" inside BASE64) not permitted
    "&AGE-",  # encodes "a": printable ASCII MUST NOT be encoded
    "&ACY-",  # encodes "&" itself
    "&ACA-",  # encodes SP
    "&AOQ=-",  # "=" padding is not modified BASE64
    "&AO/-",  # "/" instead of ","
    "&AOR-",  # non-zero padding bits (canonical is &AOQ-)
    "&A-",  # 6 bits: not even an octet
    "&AOQA-",  # 3 octets: not whole UTF-16 units
    "&2D0-",  # lone high surrogate
    "&3gA-",  # lone low surrogate
    "&2D0-&3gA-",  # a surrogate pair split over two runs
    "ä",  # raw 8-bit / non-ASCII
    "tab\there",  # raw control character
    "&AOQ-\x7f",
]


@pytest.mark.parametrize("encoded", MALFORMED_MUTF7)
def test_malformed_modified_utf7_rejected(encoded: str) -> None:
    with pytest.raises(InvalidMailboxName) as info:
        modified_utf7_decode(encoded)
    assert info.value.code == "CANNOT"


def test_malformed_modified_utf7_bytes() -> None:
    with pytest.raises(InvalidMailboxName):
        modified_utf7_decode("ä".encode())


def test_encode_refuses_lone_surrogates() -> None:
    with pytest.raises(InvalidMailboxName):
        modified_utf7_encode("bad\udc80")


def test_control_characters_are_encoded() -> None:
    # RFC 3501 §5.1.3: octets 0x00-0x1f and 0x7f are represented in modified BASE64.
    encoded = modified_utf7_encode("a\x00\x7fb")
    assert encoded.startswith("a&")
    assert encoded.endswith("-b")
    assert modified_utf7_decode(encoded) == "a\x00\x7fb"


@given(st.text())
def test_modified_utf7_round_trip(name: str) -> None:
    encoded = modified_utf7_encode(name)
    assert all(" " <= char <= "~" for char in encoded)
    assert modified_utf7_decode(encoded) == name


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E)))
def test_modified_utf7_decode_is_canonical(encoded: str) -> None:
    # Whatever printable ASCII decodes, it is the one canonical spelling of its name.
    try:
        decoded = modified_utf7_decode(encoded)
    except InvalidMailboxName:
        return
    assert modified_utf7_encode(decoded) == encoded
