"""The Identity object's rules (RFC 8621 section 6), pure: create, update, the document."""

from __future__ import annotations

import pytest

from pochta.proto.jmap import SetFailure
from pochta.proto.jmap.submission.identity import (
    IdentityDoc,
    create_identity,
    identity_object,
    parse_identity_id,
    update_identity,
)


def test_create_takes_the_properties_with_their_defaults() -> None:
    doc = create_identity({"email": "a@example.org", "bcc": [{"email": "b@example.org"}]})
    assert doc == IdentityDoc("a@example.org", bcc=({"name": None, "email": "b@example.org"},))
    shown = identity_object(7, doc)
    assert shown == {
        "id": "I7",
        "email": "a@example.org",
        "name": "",
        "replyTo": None,
        "bcc": [{"name": None, "email": "b@example.org"}],
        "textSignature": "",
        "htmlSignature": "",
        "mayDelete": True,
    }
    assert IdentityDoc.from_json(doc.to_json()) == doc


@pytest.mark.parametrize(
    ("record", "properties"),
    [
        ({}, ["email"]),
        ({"email": "not an address"}, ["email"]),
        ({"email": "a@example.org", "id": "I1"}, ["id"]),
        ({"email": "a@example.org", "mayDelete": False}, ["mayDelete"]),
        ({"email": "a@example.org", "colour": "red"}, ["colour"]),
        ({"email": "a@example.org", "name": 5}, ["name"]),
        ({"email": "a@example.org", "replyTo": "x@example.org"}, ["replyTo"]),
        ({"email": "a@example.org", "bcc": [{"email": "x@example.org", "phone": "1"}]}, ["bcc"]),
    ],
)
def test_create_refuses_bad_records(record: dict[str, object], properties: list[str]) -> None:
    with pytest.raises(SetFailure) as caught:
        create_identity(record)
    assert caught.value.error.type == "invalidProperties"
    assert list(caught.value.error.properties) == properties


def test_update_keeps_email_and_takes_defaults_back() -> None:
    doc = IdentityDoc("a@example.org", name="A", text_signature="sig", primary=True)
    changed = update_identity(3, doc, {"name": None, "htmlSignature": "<p>x</p>", "email": "a@example.org"})
    assert changed == IdentityDoc(
        "a@example.org", html_signature="<p>x</p>", text_signature="sig", primary=True
    )
    for patch in ({"email": "b@example.org"}, {"mayDelete": True}, {"id": "I4"}):
        with pytest.raises(SetFailure) as caught:
            update_identity(3, doc, patch)
        assert list(caught.value.error.properties) == list(patch)


def test_identity_ids() -> None:
    assert parse_identity_id("I12") == 12
    assert [parse_identity_id(t) for t in ("M12", "I", "I1x", "I" + "9" * 19)] == [None] * 4
