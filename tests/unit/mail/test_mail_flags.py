"""Flag rules (pochta.mail.flags): RFC 9051 §2.3.2 and §9, RFC 5530 LIMIT."""

from __future__ import annotations

import pytest

from pochta.mail.errors import InvalidFlag, OpsError
from pochta.mail.flags import (
    ANY_KEYWORD,
    MAX_KEYWORD_LENGTH,
    MAX_KEYWORDS_PER_MAILBOX,
    SYSTEM_FLAGS,
    apply_stored,
    canonical_flag,
    has_flag,
    mailbox_flags,
    mailbox_keywords,
    normalize_flags,
    parse_stored,
    permanent_flags,
    resolve_keywords,
    stored_flags,
    stored_text,
)


@pytest.mark.parametrize(
    ("flag", "canonical"),
    [
        ("\\Seen", "\\Seen"),
        ("\\SEEN", "\\Seen"),  # RFC 9051 §9 note 1: system flag names are case-insensitive
        ("\\answered", "\\Answered"),
        ("\\fLaGgEd", "\\Flagged"),
        ("\\Deleted", "\\Deleted"),
        ("\\draft", "\\Draft"),
        ("$Forwarded", "$Forwarded"),  # RFC 9051 §2.3.2 keywords
        ("$MDNSent", "$MDNSent"),
        ("$Junk", "$Junk"),
        ("NonJunk", "NonJunk"),
        ("$label1", "$label1"),
        ("a.b-c_d+e/f:g~h'i!j", "a.b-c_d+e/f:g~h'i!j"),
        ("[brackets", "[brackets"),  # "[" is an ATOM-CHAR; only "]" is a resp-special
    ],
)
def test_valid_flags(flag: str, canonical: str) -> None:
    assert canonical_flag(flag) == canonical


@pytest.mark.parametrize("flag", ["\\Recent", "\\RECENT", "\\recent"])
def test_recent_is_dropped(flag: str) -> None:
    # RFC 3501 §2.3.2: \Recent can not be used as an argument in a STORE or APPEND command.
    assert canonical_flag(flag) is None
    assert normalize_flags([flag, "\\Seen"]) == {"\\Seen"}


@pytest.mark.parametrize(
    "flag",
    [
        "",
        "\\",
        "\\Foo",  # RFC 9051 §9 flag-extension: reserved for future standards
        "\\*",  # only meaningful in PERMANENTFLAGS
        "two words",
        "paren(",
        "paren)",
        "brace{",
        "wild*",
        "wild%",
        'quote"',
        "back\\slash",
        "bracket]",
        "ctl\x01",
        "del\x7f",
        "tab\t",
        "ümlaut",  # atoms are US-ASCII
    ],
)
def test_invalid_flags(flag: str) -> None:
    with pytest.raises(InvalidFlag) as info:
        canonical_flag(flag)
    assert info.value.code == "CLIENTBUG"


def test_keyword_length_limit() -> None:
    assert canonical_flag("k" * MAX_KEYWORD_LENGTH)
    with pytest.raises(InvalidFlag) as info:
        canonical_flag("k" * (MAX_KEYWORD_LENGTH + 1))
    assert info.value.code == "LIMIT"


def test_normalize_merges_case_variants_keeping_first() -> None:
    assert normalize_flags(["\\seen", "\\SEEN", "$Label", "$LABEL", "$label"]) == {"\\Seen", "$Label"}
    assert normalize_flags([]) == frozenset()


def test_has_flag_is_case_insensitive() -> None:
    assert has_flag({"\\Deleted"}, "\\deleted")
    assert has_flag({"$Junk"}, "$JUNK")
    assert not has_flag({"\\Seen"}, "\\Deleted")


def test_mailbox_keywords_keep_first_seen_case() -> None:
    found = mailbox_keywords([{"\\Seen", "$Work"}, {"$work", "Todo"}, set()])
    assert found == {"$work": "$Work", "todo": "Todo"}


def test_resolve_keywords_uses_stored_case() -> None:
    existing = {"$work": "$Work"}
    assert resolve_keywords(frozenset({"$WORK", "\\Seen", "New"}), existing) == {"$Work", "\\Seen", "New"}


def test_keyword_limit_per_mailbox() -> None:
    # RFC 5530 §3 LIMIT: "the number of flags used in a mailbox".
    assert MAX_KEYWORDS_PER_MAILBOX == 256
    existing = {f"k{i}": f"k{i}" for i in range(MAX_KEYWORDS_PER_MAILBOX - 1)}
    assert resolve_keywords(frozenset({"last"}), existing) == {"last"}
    existing["last"] = "last"
    with pytest.raises(OpsError) as info:
        resolve_keywords(frozenset({"one-more"}), existing)
    assert info.value.code == "LIMIT"
    # Reusing a keyword, any case, or removing one, is always fine.
    assert resolve_keywords(frozenset({"K1", "\\Seen"}), existing) == {"k1", "\\Seen"}
    assert resolve_keywords(frozenset({"one-more"}), existing, creating=False) == {"one-more"}
    with pytest.raises(OpsError):
        resolve_keywords(frozenset({"x", "y"}), {}, max_keywords=1)


def test_permanent_flags() -> None:
    # RFC 9051 §7.1 PERMANENTFLAGS: "\*" while new keywords can be created, not once the limit is hit.
    assert permanent_flags([]) == (*SYSTEM_FLAGS, ANY_KEYWORD)
    assert permanent_flags(["b", "A"]) == (*SYSTEM_FLAGS, "A", "b", ANY_KEYWORD)
    assert permanent_flags(["a", "b"], max_keywords=2) == (*SYSTEM_FLAGS, "a", "b")
    assert "\\Recent" not in permanent_flags([])


def test_mailbox_flags() -> None:
    assert mailbox_flags(["$Junk"]) == (*SYSTEM_FLAGS, "$Junk")
    assert mailbox_flags([]) == ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")


def test_stored_form_round_trip_and_spelling() -> None:
    stored = stored_flags(["\\seen", "$Work", "$work", "\\DELETED"])
    # System flags canonical, a keyword's first spelling kept, one entry per comparison key.
    assert stored == {"\\seen": "\\Seen", "$work": "$Work", "\\deleted": "\\Deleted"}
    text = stored_text(stored)
    assert text == "$Work \\Deleted \\Seen"  # sorted by comparison key
    assert parse_stored(text) == stored


@pytest.mark.parametrize("bad", ["", "a b", "x\tz"])
def test_stored_form_refuses_what_cannot_be_one_word(bad: str) -> None:
    with pytest.raises(ValueError, match="not a flag"):
        stored_flags([bad])


def test_apply_stored_operations_keep_first_spelling() -> None:
    current = stored_flags(["$Work", "\\Seen"])
    wanted = stored_flags(["$WORK", "\\Flagged"])
    assert stored_text(apply_stored(current, "add", wanted)) == "$Work \\Flagged \\Seen"
    assert stored_text(apply_stored(current, "remove", wanted)) == "\\Seen"
    assert stored_text(apply_stored(current, "replace", wanted)) == "$Work \\Flagged"
    with pytest.raises(ValueError, match="unknown flag operation"):
        apply_stored(current, "toggle", wanted)  # type: ignore[arg-type]
