"""The rights model of RFC 4314 (``pochta.mail.acl``): rights strings, SETACL changes, the rule."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pochta.mail import acl

rights_sets = st.frozensets(st.sampled_from(acl.RIGHTS))
rights_text = st.text(alphabet=acl.RIGHTS + "cd", max_size=20)


def test_rights_parse_in_any_order_and_write_in_canonical_order() -> None:
    assert acl.parse_rights("arl") == frozenset("lra")
    assert acl.format_rights(acl.parse_rights("aetlr")) == "lrtea"
    assert acl.format_rights(acl.ALL) == "lrswipkxtea"
    assert acl.parse_rights("") == acl.NONE


def test_obsolete_rights_expand_and_are_written_back() -> None:
    # RFC 4314 §2.1.1: "d" is "et" (and "c" is "kx") here; both come back after any of their members.
    assert acl.parse_rights("lrswida") == frozenset("lrswieta")
    assert acl.parse_rights("c") == frozenset("kx")
    assert acl.format_rights(frozenset("lrswieta"), legacy=True) == "lrswitead"
    assert acl.format_rights(frozenset("k"), legacy=True) == "kc"
    assert acl.format_rights(frozenset("lr"), legacy=True) == "lr"
    assert acl.format_rights(acl.ALL, legacy=True) == "lrswipkxteacd"


@pytest.mark.parametrize("text", ["lrz", "1", "L", "lr ", "+x-"])
def test_unknown_rights_are_refused(text: str) -> None:
    # RFC 4314 §3.1: "an unrecognized right MUST cause the command to return the BAD response".
    with pytest.raises(acl.RightsError):
        acl.parse_change(text)


def test_changes_add_remove_replace() -> None:
    # RFC 4314 §3.1: the example "Chris lrswi" + "+cda" -> "lrswicdakxet".
    op, rights = acl.parse_change("+cda")
    after = acl.apply_change(frozenset("lrswi"), op, rights)
    assert acl.format_rights(after, legacy=True) == "lrswikxteacd"
    assert acl.apply_change(frozenset("lrs"), *acl.parse_change("-s")) == frozenset("lr")
    assert acl.apply_change(frozenset("lrs"), *acl.parse_change("w")) == frozenset("w")
    assert acl.parse_change("-") == ("-", acl.NONE)


@given(rights_text)
def test_format_parse_round_trip(text: str) -> None:
    rights = acl.parse_rights(text)
    assert acl.parse_rights(acl.format_rights(rights)) == rights
    # The legacy form reads back as the whole group of any member (RFC 4314 §2.1.1), nothing else.
    legacy = acl.parse_rights(acl.format_rights(rights, legacy=True))
    grown = legacy - rights
    assert not grown or (grown <= frozenset("kxet") and bool(rights & frozenset("kxet")))


@given(rights_sets, st.sampled_from("+-="), rights_sets)
def test_a_change_is_set_arithmetic(current: frozenset[str], op: str, given_rights: frozenset[str]) -> None:
    text = ("" if op == "=" else op) + acl.format_rights(given_rights)
    after = acl.apply_change(current, *acl.parse_change(text))
    expected = {"+": current | given_rights, "-": current - given_rights, "=": given_rights}[op]
    assert after == expected


def test_the_owner_holds_every_right_whatever_the_acl() -> None:
    entries = {"-anyone": acl.RIGHTS, "-alice@example.org": acl.RIGHTS}
    assert acl.rights_for("alice@example.org", owner=True, acl=entries) == acl.ALL


def test_rights_are_the_union_of_own_and_anyone_less_the_negative_entries() -> None:
    entries = {"bob@example.org": "lrs", "anyone": "lw", "-bob@example.org": "w", "carol@example.org": "a"}
    assert acl.rights_for("Bob@Example.org", owner=False, acl=entries) == frozenset("lrs")
    assert acl.rights_for("dave@example.org", owner=False, acl=entries) == frozenset("lw")
    assert acl.rights_for("carol@example.org", owner=False, acl=entries) == frozenset("lwa")
    assert acl.rights_for("dave@example.org", owner=False, acl={"-anyone": "l", "anyone": "lr"}) == {"r"}
    assert acl.rights_for("dave@example.org", owner=False, acl={}) == acl.NONE


@given(st.dictionaries(st.sampled_from(["me@x", "anyone", "-me@x", "-anyone", "other@x"]), rights_sets))
def test_rights_never_exceed_the_positive_entries(entries: dict[str, frozenset[str]]) -> None:
    stored = {who: acl.format_rights(rights) for who, rights in entries.items()}
    rights = acl.rights_for("me@x", owner=False, acl=stored)
    assert rights <= entries.get("me@x", acl.NONE) | entries.get("anyone", acl.NONE)
    assert not rights & (entries.get("-me@x", acl.NONE) | entries.get("-anyone", acl.NONE))


def test_flag_rights_and_read_write() -> None:
    # RFC 4314 §4: "t" for \Deleted, "s" for \Seen, "w" for every other flag.
    rights = frozenset("lrs")
    assert acl.storable_flags(rights, ["\\Seen", "\\deleted", "\\Flagged", "$Junk"]) == {"\\Seen"}
    assert acl.storable_flags(frozenset("tw"), ["\\SEEN", "\\Deleted", "$Junk"]) == {"\\Deleted", "$Junk"}
    # RFC 4314 §5.2: READ-WRITE with "i", "e" or a flag right; READ-ONLY otherwise.
    assert not acl.may_write(frozenset("lrpkxa"))
    assert all(acl.may_write(frozenset({r})) for r in "iestw")


def test_identifiers_and_listrights() -> None:
    assert acl.identifier_key(" Bob@Example.ORG") == "bob@example.org"
    assert acl.identifier_key("-Anyone") == "-anyone"
    for bad in ("", "-", "a b"):
        with pytest.raises(acl.RightsError):
            acl.identifier_key(bad)
    assert acl.listrights(owner=True) == ("lrswipkxteacd", ())
    assert acl.listrights(owner=False) == ("", tuple("lrswipkxteacd"))
